"""The print station's PRINT button, status lamp and buzzer through gpiozero (pins from
[gpio]). A short press prints, a long press reprints the last label; the lamp and the
buzzer say ok / error / offline so a worker in gloves and noise knows without a screen."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gpiozero import LED, Button, Buzzer

from station.config import GpioConfig

log = logging.getLogger(__name__)

# Lamp: steady when all is well, fast blink when a person is needed, slow blink without the hub.
LAMP = {"ok": None, "error": (0.2, 0.2), "offline": (1.0, 1.0)}
# Buzzer: (on, off, count).
BEEPS = {"printed": (0.06, 0.0, 1), "error": (0.15, 0.1, 3), "offline": (0.4, 0.0, 1)}


class StationIO:
    def __init__(self, cfg: GpioConfig, on_press: Callable[[], object], on_long_press: Callable[[], object],
                 pin_factory=None):  # type: ignore[no-untyped-def]
        self.cfg = cfg
        self.on_press = on_press
        self.on_long_press = on_long_press
        self.presses = 0
        self.long_presses = 0
        self._down = False
        self._down_at = 0.0
        self._held = False
        self._edges: list[tuple[float, bool]] = []
        self._lock = threading.Lock()
        self._settle: threading.Timer | None = None
        self._hold: threading.Timer | None = None
        self.button = self.led = self.buzzer = None
        if cfg.button_pin is not None:
            # Debounced here, not by gpiozero: its bounce_time depends on the pin library (the mock
            # factory ignores it), and a press must count once on every Pi the same way.
            self.button = Button(cfg.button_pin, pull_up=True, bounce_time=None, pin_factory=pin_factory)
            self.button.when_pressed = self._edge
            self.button.when_released = self._edge
        if cfg.led_pin is not None:
            self.led = LED(cfg.led_pin, pin_factory=pin_factory)
        if cfg.buzzer_pin is not None:
            self.buzzer = Buzzer(cfg.buzzer_pin, pin_factory=pin_factory)

    # -- the button: a level counts once it held still for debounce_s ---------------------------
    # Judged from the edges' own timestamps, not from when a timer thread got to run: on a busy
    # Pi a late timer must not turn a 100 ms press into nothing.
    def _edge(self) -> None:
        assert self.button is not None
        with self._lock:
            self._edges.append((time.monotonic(), self.button.is_pressed))
            if self._settle is not None:
                self._settle.cancel()
            self._settle = threading.Timer(self.cfg.debounce_s, self._settled)
            self._settle.daemon = True
            self._settle.start()

    def _settled(self) -> None:
        actions = []
        with self._lock:
            now, edges = time.monotonic(), self._edges
            for i, (at, pressed) in enumerate(edges):
                until = edges[i + 1][0] if i + 1 < len(edges) else now
                if until - at >= self.cfg.debounce_s and pressed != self._down:
                    actions += self._level(pressed, at, now)
            self._edges = edges[-1:] if edges and now - edges[-1][0] < self.cfg.debounce_s else []
        for action in actions:
            self._call(action)

    def _level(self, pressed: bool, at: float, now: float) -> list[Callable[[], object]]:
        self._down = pressed
        if pressed:
            self._down_at, self._held = at, False
            self._hold = threading.Timer(max(0.0, self.cfg.long_press_s - (now - at)), self._long)
            self._hold.daemon = True
            self._hold.start()
            return []
        if self._hold is not None:
            self._hold.cancel()
        if self._held:
            return []
        # A short press acts on release: only then is it known not to be a long press.
        if at - self._down_at >= self.cfg.long_press_s:
            self._held = True
            self.long_presses += 1
            return [self.on_long_press]
        self.presses += 1
        return [self.on_press]

    def _long(self) -> None:
        with self._lock:
            if not self._down or self._held or time.monotonic() - self._down_at < self.cfg.long_press_s - 0.01:
                return
            self._held = True
            self.long_presses += 1
        self._call(self.on_long_press)

    @staticmethod
    def _call(action: Callable[[], object]) -> None:
        try:
            action()
        except Exception:
            log.exception("button action failed")

    # -- lamp and buzzer ---------------------------------------------------------------------
    def indicate(self, kind: str, word: str) -> None:
        """("lamp", ok|error|offline) sets the lamp; ("beep", printed|error|offline) sounds once."""
        if kind == "lamp" and self.led is not None:
            pattern = LAMP.get(word, LAMP["error"])
            if pattern is None:
                self.led.on()
            else:
                self.led.blink(on_time=pattern[0], off_time=pattern[1])
        elif kind == "beep" and self.buzzer is not None and word in BEEPS:
            on, off, n = BEEPS[word]
            self.buzzer.beep(on_time=on, off_time=off or 0.05, n=n)

    def close(self) -> None:
        for timer in (self._settle, self._hold):
            if timer is not None:
                timer.cancel()
        for dev in (self.button, self.led, self.buzzer):
            if dev is not None:
                dev.close()

