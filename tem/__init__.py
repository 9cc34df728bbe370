"""Tem's shared core: stamp codes, GS1 identifiers, wire messages, topics and
lifecycle rules. Pure functions and pydantic models only; no I/O."""
