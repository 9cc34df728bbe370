"""Tem's shared core: stamp codes, GS1 identifiers, wire messages, topics and
lifecycle rules. Pure functions and pydantic models only; no I/O."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("tem")  # what stations report as their software (station.runtime)
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
