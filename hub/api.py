"""JSON API (/api/v1) for scripts and other systems: bearer-token auth, the same rules
and scoping as the console, described by /api/v1/openapi.json."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
