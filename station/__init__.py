"""Tem station runtime: config, outbox, MQTT link, commands and flows."""
