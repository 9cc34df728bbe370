"""The station's local touch page (served by the station itself, works offline).
Each flow may offer a Flask blueprint (`flow.blueprint()`); the kiosk mounts it at /."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from station.runtime import Station


def create_app(station: "Station") -> Flask:
    app = Flask(__name__)
    app.extensions["tem.station"] = station
    blueprint = getattr(station.flow, "blueprint", None)
    if blueprint is not None:
        app.register_blueprint(blueprint())
    return app


def serve(station: "Station") -> threading.Thread | None:
    """Run the page in a background thread when the config asks for it."""
    kiosk = station.cfg.kiosk
    if kiosk is None:
        return None
    from werkzeug.serving import make_server
    server = make_server(kiosk.bind, kiosk.port, create_app(station), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="kiosk", daemon=True)
    thread.start()
    station.kiosk_server = server
    return thread
