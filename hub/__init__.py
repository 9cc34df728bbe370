"""Tem hub: Flask site (resolver, operator UI, API), ingestor and broker control."""
