"""What a worker or vendor hears and sees without reading: beep patterns (WAV files made
with the stdlib, played with `aplay` where there is one, and by the station page) and a
lamp/buzzer on GPIO pins (gpiozero where installed; otherwise only the state is kept)."""
from __future__ import annotations

import logging
import math
import shutil
import struct
import subprocess
import threading
import wave
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
RATE = 16000
# name -> [(frequency Hz or 0 for silence, seconds)]
PATTERNS = {
    "ok": [(1760, 0.08), (0, 0.05), (1760, 0.08)],  # two short high beeps
    "bad": [(330, 0.6)],  # one long low buzz
    "unsure": [(880, 0.15), (0, 0.1), (660, 0.25)],  # falling two-tone
}


def write_wav(path: Path, pattern: list[tuple[float, float]]) -> Path:
    frames = bytearray()
    for freq, secs in pattern:
        n = int(RATE * secs)
        for i in range(n):
            # 5 ms ramps stop the clicks a square start would make
            ramp = min(1.0, i / (RATE * 0.005), (n - i) / (RATE * 0.005))
            value = math.sin(2 * math.pi * freq * i / RATE) * 0.6 * ramp if freq else 0.0
            frames += struct.pack("<h", int(value * 32767))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))
    return path


def sound_files(folder: Path) -> dict[str, Path]:
    return {name: write_wav(folder / f"{name}.wav", pattern) if not (folder / f"{name}.wav").exists()
            else folder / f"{name}.wav" for name, pattern in PATTERNS.items()}


class Speaker:
    """Plays a pattern without blocking the scan loop; silent when sound is off or there is no player."""

    def __init__(self, folder: Path, enabled: bool = True):
        self.files = sound_files(folder)
        self.enabled = enabled
        self._player = shutil.which("aplay")
        self.played: list[str] = []  # for the page and for tests

    def play(self, name: str) -> None:
        if not self.enabled:
            return
        self.played = (self.played + [name])[-20:]
        if self._player:
            try:
                subprocess.Popen([self._player, "-q", str(self.files[name])],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except OSError as exc:
                log.warning("cannot play sound: %s", exc)


class Lamp:
    """A status lamp and buzzer. `colour` is what the lamp shows (also drawn on the page)."""

    def __init__(self, led_pin: int | None = None, buzzer_pin: int | None = None):
        self.colour = "off"
        self.buzzes = 0
        self._led = self._buzzer = None
        if led_pin is not None or buzzer_pin is not None:
            try:
                from gpiozero import LED, Buzzer  # only on a Pi
                self._led = LED(led_pin) if led_pin is not None else None
                self._buzzer = Buzzer(buzzer_pin) if buzzer_pin is not None else None
            except Exception as exc:  # noqa: BLE001 -- no gpiozero, or no GPIO on this machine
                log.warning("lamp/buzzer pins configured but unavailable: %s", exc)

    def show(self, colour: str, hold_s: float = 2.0) -> None:
        self.colour = colour
        if self._led is not None:
            if colour == "red":
                self._led.blink(on_time=0.15, off_time=0.15, n=int(hold_s / 0.3) or 1)
            elif colour == "green":
                self._led.on()
                threading.Timer(hold_s, self._led.off).start()

    def buzz(self, seconds: float = 0.6) -> None:
        self.buzzes += 1
        if self._buzzer is not None:
            self._buzzer.beep(on_time=seconds, off_time=0.1, n=1)


def for_station(cfg: Any) -> tuple[Lamp, Speaker]:
    """The scan station's lamp/buzzer (GPIO pins from its config, none without) and speaker."""
    gpio = cfg.gpio
    return (Lamp(gpio.led_pin if gpio else None, gpio.buzzer_pin if gpio else None),
            Speaker(cfg.data_dir / "sounds", cfg.scan.sound))
