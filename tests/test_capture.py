"""Frame sources: replay plays like a camera, and a camera that vanishes is reported and reopened."""
from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from station.config import CameraConfig
from station.scanner.capture import CameraError, ReplaySource, ResilientSource, open_source


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((48, 64, 3), 20 * (i + 1), np.uint8) for i in range(n)]


def _write_dir(path, frames):
    path.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(path / f"{i:03d}.png"), f)
    return path


class FakeClock:
    """Time that moves only when the source sleeps (or the test says so)."""

    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_replay_directory_plays_images_in_name_order_then_ends(tmp_path):
    src = open_source(CameraConfig(source="replay", device=str(_write_dir(tmp_path / "d", _frames(3))), fps=30))
    got = [src.read() for _ in range(4)]
    assert [int(f[0, 0, 0]) for f in got[:3]] == [20, 40, 60]
    assert got[3] is None
    src.close()


def test_replay_paces_frames_at_the_configured_rate(tmp_path):
    clock = FakeClock()
    src = ReplaySource(_write_dir(tmp_path / "d", _frames(5)), fps=10, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        src.read()
    assert clock.now == pytest.approx(0.4)


def test_replay_loops_when_asked(tmp_path):
    src = ReplaySource(_write_dir(tmp_path / "d", _frames(2)), loop=True)
    assert [int(src.read()[0, 0, 0]) for _ in range(5)] == [20, 40, 20, 40, 20]


def test_replay_plays_a_video_file(tmp_path):
    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for f in _frames(4):
        writer.write(f)
    writer.release()
    src = open_source(CameraConfig(source="replay", device=str(path), fps=100))
    count = 0
    while src.read() is not None:
        count += 1
    assert count == 4


def test_a_missing_replay_source_is_a_clear_camera_error(tmp_path):
    with pytest.raises(CameraError) as err:
        open_source(CameraConfig(source="replay", device=str(tmp_path / "none")))
    assert "does not exist" in str(err.value)
    assert err.value.message_vi


def test_a_camera_device_that_does_not_exist_is_a_clear_camera_error():
    with pytest.raises(CameraError) as err:
        open_source(CameraConfig(source="v4l2", device="/dev/video-tem-missing"))
    assert "cannot open camera" in str(err.value)
    assert "camera" in err.value.message_vi.lower()


def test_replay_directory_deleted_mid_run_is_reported_then_reopened(tmp_path):
    folder = _write_dir(tmp_path / "cam", _frames(3))
    clock = FakeClock()
    errors = []
    cam = ResilientSource(CameraConfig(source="replay", device=str(folder), loop=True),
                          backoff_s=(1.0, 8.0), clock=clock, on_error=errors.append)
    assert cam.read() is not None
    shutil.rmtree(folder)
    # the camera is gone: no exception, no frame, a reason to show
    assert cam.read() is None
    assert isinstance(cam.error, CameraError) and cam.error.message_vi
    # retries back off while it stays gone
    for _ in range(3):
        clock.now += 100
        assert cam.read() is None
    assert len(errors) == 4
    # the camera comes back: frames flow again and the error clears
    _write_dir(folder, _frames(2))
    clock.now += 100
    assert cam.read() is not None
    assert cam.error is None and cam.reopens == 1


def test_reopen_waits_for_the_backoff(tmp_path):
    clock = FakeClock()
    opened = []

    def opener(cfg):
        opened.append(clock.now)
        return open_source(cfg)

    cam = ResilientSource(CameraConfig(source="v4l2", device="/dev/video-tem-missing"), opener=opener,
                          backoff_s=(1.0, 4.0), clock=clock)
    for _ in range(40):
        assert cam.read() is None
        clock.now += 0.25
    # tries at 0, then after 1, 2, 4, 4, ... seconds: never hammering the bus
    gaps = np.diff(opened)
    assert list(gaps[:3]) == pytest.approx([1.0, 2.0, 4.0], abs=0.26)
    assert "cannot open camera" in str(cam.error)


def test_a_source_that_raises_an_unexpected_error_does_not_crash_the_caller():
    class Broken:
        def read(self):
            raise OSError("USB reset")

        def close(self):
            pass

    cam = ResilientSource(CameraConfig(source="replay", device="x"), opener=lambda cfg: Broken())
    assert cam.read() is None
    assert "USB reset" in str(cam.error)
