"""A scan station's question to the hub about one stamp its cache cannot judge, with a
bounded wait: the hub answers with a `sync_stamps` command in the changes form (stored in
the cache like any other) whose `answer` names the question."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tem import messages

if TYPE_CHECKING:
    from station.runtime import Station

WAIT_S = 1.5  # a vendor waits this long for the hub before the offline verdict


@dataclass
class _Waiting:
    done: threading.Event = field(default_factory=threading.Event)
    result: str = "silent"


class HubQuestions:
    def __init__(self, station: Station, wait_s: float = WAIT_S):
        self.station = station
        self.wait_s = wait_s
        self._waiting: dict[str, _Waiting] = {}
        self._lock = threading.Lock()

    def ask(self, serial: str, gtin: str | None) -> str:
        """"answered" (its row is in the cache now), "unknown" (the hub never issued it) or
        "silent" (link down, or no answer within the wait)."""
        question = messages.VerifyRequest(serial=serial, gtin=gtin)
        key, waiting = str(question.id), _Waiting()
        with self._lock:
            self._waiting[key] = waiting
        try:
            if self.station.ask(question):
                waiting.done.wait(self.wait_s)
            return waiting.result
        finally:
            with self._lock:
                self._waiting.pop(key, None)

    def answered(self, args: dict[str, Any]) -> None:
        """Called once an answer is stored; wakes whoever is waiting for it."""
        with self._lock:
            waiting = self._waiting.get(str(args.get("answer")))
        if waiting is not None:
            waiting.result = "unknown" if args.get("unknown") else "answered"
            waiting.done.set()
