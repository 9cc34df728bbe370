"""The station's MQTT v5 link: retained online/offline state with a will, events
sent from the outbox in order and resent until the hub acknowledges them,
commands and pushed config handed to the station, telemetry out.

Flows never touch paho: they append to the outbox and call `wake()`."""
from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections import OrderedDict
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from station.config import StationConfig
from station.outbox import Outbox
from tem import messages, topics

log = logging.getLogger(__name__)
WINDOW = 500  # events published but not yet acknowledged by the hub


class Link:
    def __init__(self, cfg: StationConfig, outbox: Outbox, software: str = "tem-station"):
        self.cfg = cfg
        self.outbox = outbox
        self.software = software
        self.inbox: queue.Queue[messages.Command | messages.ConfigMessage] = queue.Queue()
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the broker confirmed ack/cmd/cfg subscriptions
        self.last_error = ""
        self._wake = threading.Event()
        self._acks: queue.Queue[list[str]] = queue.Queue()
        self._resend = threading.Event()
        self._stop = threading.Event()
        self._sent: OrderedDict[str, float] = OrderedDict()  # event id -> when published, this round
        self._cursor = 0
        self._progress_at = 0.0  # last time the hub acknowledged something (or sending began)
        self._resend_wait = cfg.resend_after_s
        sid = cfg.station_id
        self._t = {k: topics.topic(sid, k) for k in topics.KINDS}
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=sid, protocol=mqtt.MQTTv5)
        c.username_pw_set(cfg.username, cfg.password())
        c.will_set(self._t["state"], messages.StateMessage(state="offline").dump(), qos=1, retain=True)
        if cfg.mqtt.tls_ca:
            c.tls_set(ca_certs=str(cfg.mqtt.tls_ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.max_inflight_messages_set(100)
        c.reconnect_delay_set(min_delay=1, max_delay=15)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = lambda *_a: self.subscribed.set()
        self._client = c
        self._sender = threading.Thread(target=self._run, name="link-sender", daemon=True)

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.cfg.mqtt.session_expiry_s
        self._client.connect_async(self.cfg.mqtt.host, self.cfg.mqtt.port, self.cfg.mqtt.keepalive_s,
                                   clean_start=False, properties=props)
        self._client.loop_start()
        self._sender.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self.connected.is_set():
            info = self._client.publish(self._t["state"], messages.StateMessage(state="offline").dump(),
                                        qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except RuntimeError:
                pass
        self._client.disconnect()
        self._client.loop_stop()
        self._sender.join(timeout=5)

    def wake(self) -> None:
        """Tell the sender that the outbox has something new."""
        self._wake.set()

    def publish_telemetry(self, tele: messages.Telemetry) -> None:
        if self.connected.is_set():
            self._client.publish(self._t["tele"], tele.dump(), qos=0)

    # -- paho callbacks (paho's thread: never block here) --------------------------------
    def _on_connect(self, client: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            log.error("%s", self.last_error)
            return
        self.last_error = ""
        client.subscribe([(self._t[kind], 1) for kind in ("ack", "cmd", "cfg")])
        client.publish(self._t["state"], messages.StateMessage(state="online", software=self.software).dump(),
                       qos=1, retain=True)
        self.connected.set()
        self._resend.set()
        self._wake.set()
        log.info("connected to %s:%s", self.cfg.mqtt.host, self.cfg.mqtt.port)

    def _on_disconnect(self, _c: Any, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if not self._stop.is_set():
            self.last_error = f"lost the broker: {reason}"
            log.warning("%s", self.last_error)

    def _on_publish(self, _c: Any, _ud: Any, mid: int, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            # With MQTT v5 the broker says when its ACL refuses a publish (0x87).
            self.last_error = f"broker refused a message: {reason}"
            log.error("%s (mid %s)", self.last_error, mid)

    def _on_message(self, _c: Any, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        kind = msg.topic.rsplit("/", 1)[-1]
        try:
            if kind == "ack":
                self._acks.put([str(i) for i in messages.parse(messages.Ack, msg.payload).ids])
                self._wake.set()
            elif kind == "cmd":
                self.inbox.put(messages.parse(messages.Command, msg.payload))
            elif kind == "cfg" and msg.payload:
                self.inbox.put(messages.parse(messages.ConfigMessage, msg.payload))
        except messages.MessageError as exc:
            log.error("ignored a bad %s message from the hub: %s", kind, exc)

    # -- sender thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self._drain_acks()
                if self.connected.is_set():
                    self._send()
            except Exception:  # the link must outlive any single failure
                log.exception("sender error")
                time.sleep(1)

    def _drain_acks(self) -> None:
        ids: list[str] = []
        while True:
            try:
                ids += self._acks.get_nowait()
            except queue.Empty:
                break
        if ids:
            self.outbox.ack(ids)
            for event_id in ids:
                self._sent.pop(event_id, None)
            self._progress_at = time.monotonic()
            self._resend_wait = self.cfg.resend_after_s

    def _send(self) -> None:
        now = time.monotonic()
        silent = bool(self._sent) and now - self._progress_at > self._resend_wait
        if self._resend.is_set() or silent:
            # After a reconnect, or when the hub acknowledged nothing for a while (an
            # ingestor died holding our messages): start again from the oldest. Only
            # silence counts, not slowness, and the wait doubles so that a hub that is
            # catching up is not buried under resends.
            if silent:
                log.warning("no ack for %.0fs: resending %d events", now - self._progress_at, len(self._sent))
                self._resend_wait = min(self._resend_wait * 2, 300)
            self._resend.clear()
            self._sent.clear()
            self._cursor = 0
        if not self._sent:
            self._progress_at = now
        room = WINDOW - len(self._sent)
        if room <= 0:
            return
        for seq, event_id, body in self.outbox.pending(self._cursor, limit=room):
            if not self.connected.is_set():
                return
            self._client.publish(self._t["evt"], body, qos=1)
            self._sent[event_id] = now
            self._cursor = seq
