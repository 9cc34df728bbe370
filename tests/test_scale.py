"""The scale simulation itself, small: simulated stations with their own broker logins
send real wire messages through Mosquitto into PostgreSQL via `tem ingest` processes, and
every offered event is stored and acknowledged."""
from __future__ import annotations

import argparse

from bench import scale


def test_small_simulation_delivers_and_acknowledges_every_event() -> None:
    args = argparse.Namespace(stations=20, rate=40.0, duration=3.0, drain=20.0, procs=2, print_share=0.5,
                              pool=200, autosave=1000)
    r = scale.run_once(2, args)
    assert r["connected"] == 20
    assert r["offered"] >= 100
    assert r["delivered"] == r["offered"] == r["acked"]
    assert r["unacked"] == 0 and r["quarantined"] == 0
    assert r["telemetry_rows"] >= 1
    assert set(r["cpu"]) >= {"mosquitto", "postgres", "ingestors", "simulators", "machine"}
