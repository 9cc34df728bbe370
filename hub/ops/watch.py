"""The hub-side liveness timer (DESIGN.md, device liveness): alerts that fire while a
station is still offline or silent, out of paper, short of codes or with a growing
outbox, and that resolve themselves when the condition clears. `sweep` is one pass;
`Watcher` runs it every few seconds in a thread of every web process; a row lock makes the
processes (gunicorn workers, several web nodes) take turns, so an alert is raised and posted
once, not once per process."""
from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import TYPE_CHECKING

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.models import Alert, Counter, Station, aware, utcnow
from hub.ops.registry import liveness

if TYPE_CHECKING:
    from hub.ops.mail import Mailer

log = logging.getLogger(__name__)
OFFLINE_GRACE_S = 60  # a reboot is not an incident
CODES_LOW = 100
OUTBOX_HIGH = 500


def _conditions(st: Station, interval_s: float, now: dt.datetime) -> dict[str, str]:
    """kind -> message for every condition that holds now."""
    out: dict[str, str] = {}
    status, reason = liveness(st, interval_s, now)
    if status != "online" and st.last_seen is not None:
        quiet = (now - aware(st.last_seen)).total_seconds()
        if quiet >= OFFLINE_GRACE_S:
            out["station_offline"] = f"station {st.id} is {status} ({reason}), last seen {int(quiet)} s ago"
    tele = st.telemetry or {}
    if status == "online":
        if tele.get("paper") == "out":
            out["paper_out"] = f"printer of station {st.id} is out of paper"
        elif tele.get("printer") not in (None, "ready", "ok", "printing", "unknown"):
            out["printer_error"] = f"printer of station {st.id} reports {tele.get('printer')}"
        if st.kind == "print" and tele.get("codes_left") is not None and tele["codes_left"] < CODES_LOW:
            out["codes_low"] = f"station {st.id} has {tele['codes_left']} codes left"
        if (tele.get("outbox") or 0) > OUTBOX_HIGH:
            out["outbox_backlog"] = f"station {st.id} has {tele['outbox']} events waiting for the hub"
    return out


SWEEP_LOCK = "watch_sweep"  # counter row held for the length of a sweep
WEBHOOK_CURSOR = "alert_webhook"  # counter row: id of the last alert posted to the webhook


def locked_counter(s: Session, name: str, initial: Callable[[], int]) -> Counter:
    """The counter row `name`, locked until the transaction ends (made with `initial()` the
    first time; when two processes make it at once, one makes it and both lock it)."""
    row = s.get(Counter, name, with_for_update=True)
    if row is None:
        try:
            with s.begin_nested():
                s.add(Counter(name=name, value=initial()))
        except IntegrityError:
            pass
        row = s.get(Counter, name, with_for_update=True, populate_existing=True)
    return row  # type: ignore[return-value]


WATCHED = ("station_offline", "paper_out", "printer_error", "codes_low", "outbox_backlog")


def sweep(s: Session, interval_s: float, now: dt.datetime | None = None) -> tuple[int, int]:
    """Raise and clear the watched alerts; returns (raised, resolved). The caller commits."""
    now = now or utcnow()
    open_alerts: dict[tuple[str, str], Alert] = {
        (a.station_id or "", a.kind): a for a in s.scalars(
            select(Alert).where(Alert.kind.in_(WATCHED), Alert.resolved_at.is_(None)))}
    raised = resolved = 0
    for st in s.scalars(select(Station)):
        holds = _conditions(st, interval_s, now)
        for kind, message in holds.items():
            if (st.id, kind) not in open_alerts:
                s.add(Alert(kind=kind, station_id=st.id, message=message, created_at=now))
                raised += 1
        for kind in WATCHED:
            alert = open_alerts.get((st.id, kind))
            if alert is not None and kind not in holds:
                alert.resolved_at, alert.resolved_by = now, "hub"
                resolved += 1
    return raised, resolved


def post_webhook(url: str, alert: Alert, timeout: float = 5) -> None:
    """POST one alert as JSON; raises OSError when the receiver cannot be reached or refuses."""
    import json
    import urllib.request
    body = json.dumps({"id": alert.id, "kind": alert.kind, "station_id": alert.station_id, "serial": alert.serial,
                       "message": alert.message, "created_at": aware(alert.created_at).isoformat()}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json",
                                                                         "User-Agent": "tem-hub"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (the operator's own URL)
        if resp.status >= 300:
            raise OSError(f"webhook answered {resp.status}")


class Watcher:
    """Runs `sweep` every `every_s` seconds and, with a webhook URL, posts every new alert
    (the sweep's and the ingestor's: clones, unknown stamps, paper out) to it once; with a
    mailer (hub.ops.mail), mails them as the console's SMTP setting says."""

    def __init__(self, sessions: sessionmaker[Session], every_s: float, interval_s: float,
                 webhook: str | None = None, mailer: "Mailer | None" = None):
        self.sessions, self.every_s, self.interval_s, self.webhook = sessions, every_s, interval_s, webhook
        self.mailer = mailer
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="tem-watch", daemon=True)

    def run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                with self.sessions() as s, s.begin():
                    locked_counter(s, SWEEP_LOCK, lambda: 0)
                    sweep(s, self.interval_s)
                if self.webhook:
                    self.notify()
                if self.mailer:
                    self._mail()
            except Exception:  # a database hiccup must not end the timer
                log.exception("liveness sweep failed")

    def _mail(self) -> None:
        from hub.ops.mail import MailError
        try:
            self.mailer.notify()  # type: ignore[union-attr]
        except MailError as exc:
            log.warning("alert mail not sent, will retry: %s", exc)

    def notify(self) -> int:
        """Post the alerts raised since the last one posted, in order; returns how many. The
        cursor row stays locked meanwhile, so another process never posts the same alert."""
        with self.sessions() as s, s.begin():
            # alerts from before the webhook was first set up are not posted
            cursor = locked_counter(s, WEBHOOK_CURSOR, lambda: s.scalar(select(func.max(Alert.id))) or 0)
            fresh = list(s.scalars(select(Alert).where(Alert.id > cursor.value).order_by(Alert.id).limit(100)))
            for n, alert in enumerate(fresh):
                try:
                    post_webhook(self.webhook, alert)  # type: ignore[arg-type]
                except OSError as exc:
                    log.warning("alert %s not delivered to the webhook, will retry: %s", alert.id, exc)
                    return n
                cursor.value = alert.id
            return len(fresh)

    def stop(self) -> None:
        self._stop.set()
