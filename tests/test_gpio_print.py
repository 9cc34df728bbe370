"""PRINT button, lamp and buzzer on gpiozero's mock pins (the same classes as on a Pi):
bounces count once, a long press reprints, the lamp and buzzer follow the station."""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from station.config import GpioConfig
from station.gpio import StationIO
from tests.print_helpers import events, make_station, wait_until

BUTTON, LAMP, BUZZER = 17, 27, 22


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    Device.pin_factory = f
    yield f
    f.reset()
    Device.pin_factory = None


@pytest.fixture
def io(factory: MockFactory) -> Iterator[tuple[StationIO, list[str]]]:
    calls: list[str] = []
    dev = StationIO(GpioConfig(button_pin=BUTTON, led_pin=LAMP, buzzer_pin=BUZZER, long_press_s=0.4,
                               debounce_s=0.03),
                    on_press=lambda: calls.append("press"), on_long_press=lambda: calls.append("long"))
    yield dev, calls
    dev.close()


def _bouncy_press(pin, hold: float) -> None:  # type: ignore[no-untyped-def]
    for _ in range(4):  # a worn switch chatters for a few milliseconds on the way down...
        pin.drive_low()
        time.sleep(0.002)
        pin.drive_high()
        time.sleep(0.002)
    pin.drive_low()
    time.sleep(hold)
    for _ in range(3):  # ...and on the way up
        pin.drive_high()
        time.sleep(0.002)
        pin.drive_low()
        time.sleep(0.002)
    pin.drive_high()


def test_a_chattering_press_counts_once(io, factory: MockFactory) -> None:  # type: ignore[no-untyped-def]
    _, calls = io
    pin = factory.pin(BUTTON)
    _bouncy_press(pin, hold=0.1)
    wait_until(lambda: calls, timeout=2)
    time.sleep(0.2)
    assert calls == ["press"]
    _bouncy_press(pin, hold=0.1)
    wait_until(lambda: len(calls) == 2, timeout=2)
    assert calls == ["press", "press"]


def test_a_blip_shorter_than_the_debounce_is_ignored(io, factory: MockFactory) -> None:  # type: ignore[no-untyped-def]
    _, calls = io
    pin = factory.pin(BUTTON)
    pin.drive_low()
    time.sleep(0.005)
    pin.drive_high()
    time.sleep(0.2)
    assert calls == []


def test_holding_the_button_reprints_instead_of_printing(io, factory: MockFactory) -> None:  # type: ignore[no-untyped-def]
    _, calls = io
    pin = factory.pin(BUTTON)
    _bouncy_press(pin, hold=0.6)
    time.sleep(0.2)
    assert calls == ["long"]


def test_lamp_is_steady_when_ok_and_blinks_fast_for_error_slow_offline(io, factory: MockFactory) -> None:  # type: ignore[no-untyped-def]
    dev, _ = io
    lamp = factory.pin(LAMP)
    dev.indicate("lamp", "ok")
    time.sleep(0.3)
    assert lamp.state == 1
    lamp.clear_states()
    dev.indicate("lamp", "error")
    time.sleep(1.0)
    fast = len(lamp.states)
    lamp.clear_states()
    dev.indicate("lamp", "offline")
    time.sleep(1.0)
    slow = len(lamp.states)
    assert fast >= 4 and slow <= 3 and fast > slow


def test_an_error_beeps_three_times_a_print_once(io, factory: MockFactory) -> None:  # type: ignore[no-untyped-def]
    dev, _ = io
    buzzer = factory.pin(BUZZER)
    dev.indicate("beep", "error")
    time.sleep(1.0)
    assert [s.state for s in buzzer.states] == [0, 1, 0, 1, 0, 1, 0]
    buzzer.clear_states()
    dev.indicate("beep", "printed")
    time.sleep(0.4)
    assert [s.state for s in buzzer.states] == [0, 1, 0]


def test_the_station_button_prints_a_label_and_a_long_press_reprints_it(
        tmp_path: Path, factory: MockFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEM_TEST_MQTT_PASSWORD", "unused")
    st = make_station(tmp_path, {"driver": "file"},
                      gpio={"button_pin": BUTTON, "led_pin": LAMP, "buzzer_pin": BUZZER, "long_press_s": 0.4})
    st.flow.start()
    try:
        pin = factory.pin(BUTTON)
        _bouncy_press(pin, hold=0.1)
        wait_until(lambda: events(tmp_path, "printed"), what="a label from the button")
        _bouncy_press(pin, hold=0.7)
        wait_until(lambda: len(events(tmp_path, "printed")) == 2, what="the reprint")
        first, again = events(tmp_path, "printed")
        assert again["serial"] == first["serial"] and again["reprint"] is True
        assert len(list((tmp_path / "labels").glob("*.png"))) == 2
        # No hub in this test: the lamp blinks slowly for "offline".
        wait_until(lambda: st.flow.lamp == "offline", what="offline lamp")
    finally:
        st.flow.stop()
        st.outbox.close()
