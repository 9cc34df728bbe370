"""The web hub's one MQTT client (user "hub"): commands and retained configs to stations,
QoS 1, over MQTT v5 so a refused publish is an error rather than a silent success."""
from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tem import messages, topics

HUB_USER = "hub"


class PublishError(RuntimeError):
    pass


class Publisher:
    def __init__(self, host: str, port: int, password: str, timeout: float = 10):
        self.host, self.port, self.password, self.timeout = host, port, password, timeout
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()

    def _connect(self) -> mqtt.Client:
        if self._client is not None and self._connected.is_set():
            return self._client
        if self._client is None:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tem-hub-web-{uuid.uuid4().hex[:8]}",
                            protocol=mqtt.MQTTv5)
            c.username_pw_set(HUB_USER, self.password)
            c.reconnect_delay_set(1, 10)
            c.on_connect = lambda _c, _u, _f, reason, _p: None if reason.is_failure else self._connected.set()
            c.on_disconnect = lambda *_a: self._connected.clear()
            c.connect_async(self.host, self.port, keepalive=30, clean_start=True)
            c.loop_start()
            self._client = c
        if not self._connected.wait(self.timeout):
            raise PublishError(f"the MQTT broker at {self.host}:{self.port} did not accept the hub's login")
        return self._client

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish with QoS 1 and wait for the broker's PUBACK (v5: a refusal raises)."""
        with self._lock:
            client = self._connect()
            info = client.publish(topic, payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError) as exc:
            raise PublishError(f"publish to {topic} failed: {exc}") from None
        if not info.is_published():
            raise PublishError(f"the broker did not confirm the message on {topic}")

    def command(self, station_id: str, cmd: messages.Command) -> None:
        self.publish(topics.topic(station_id, "cmd"), cmd.dump())

    def config(self, station_id: str, msg: messages.ConfigMessage) -> None:
        self.publish(topics.topic(station_id, "cfg"), msg.dump(), retain=True)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.disconnect()
                self._client.loop_stop()
                self._client = None
                self._connected.clear()


def for_app(app) -> Publisher:  # type: ignore[no-untyped-def]
    """The app's publisher, made on first use (a test may put its own in app.extensions)."""
    pub = app.extensions.get("tem.publisher")
    if pub is None:
        s = app.extensions["tem.settings"]
        pub = Publisher(app.config.get("MQTT_HOST", s.mqtt_host), int(app.config.get("MQTT_PORT", s.mqtt_port)),
                        app.config.get("HUB_MQTT_PASSWORD") or s.hub_mqtt_password,
                        timeout=float(app.config.get("TEM_MQTT_TIMEOUT_S", 10)))
        app.extensions["tem.publisher"] = pub
    return pub
