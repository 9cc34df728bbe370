"""Byte pipes to a printer (serial port, device file, TCP port, USB bulk endpoints),
each able to say whether the printer can answer on it and to read with a deadline."""
from __future__ import annotations

import os
import select
import socket
import time
import tty
from typing import Protocol
from urllib.parse import parse_qs, urlsplit


class TransportError(OSError):
    """The printer's connection cannot be opened or was lost."""


class Transport(Protocol):
    target: str
    can_read: bool  # False: the printer cannot answer here (a write-only file); status is unknown

    def write(self, data: bytes) -> None: ...

    def read(self, size: int, timeout: float) -> bytes:
        """Up to size bytes; returns early with what arrived when the deadline passes."""

    def drain(self) -> None:
        """Drop answers left over from an earlier exchange."""

    def close(self) -> None: ...


class DeviceTransport:
    """/dev/usb/lp0 (the kernel's USB printer class), a pseudo-terminal, or any device file."""

    can_read = True

    def __init__(self, path: str):
        self.target = path
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        except OSError as exc:
            raise TransportError(exc.errno, f"cannot open {path}: {exc.strerror}") from None
        if os.isatty(self.fd):
            # A terminal device would rewrite bytes (newline translation, line buffering).
            tty.setraw(self.fd)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except OSError as exc:
            raise TransportError(exc.errno, f"write to {self.target} failed: {exc.strerror}") from None

    def read(self, size: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        out = b""
        while len(out) < size:
            left = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                break
            try:
                chunk = os.read(self.fd, size - len(out))
            except OSError as exc:
                raise TransportError(exc.errno, f"read from {self.target} failed: {exc.strerror}") from None
            if not chunk:
                break
            out += chunk
        return out

    def drain(self) -> None:
        while self.read(4096, 0.0):
            pass

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


class SerialTransport:
    """serial:///dev/ttyUSB0?baudrate=9600&rtscts=1"""

    can_read = True

    def __init__(self, port: str, **options):
        import serial  # pyserial; only needed for serial printers

        self.target = f"serial://{port}"
        try:
            self.port = serial.Serial(port, timeout=0, write_timeout=10, **options)
        except (serial.SerialException, ValueError) as exc:
            raise TransportError(f"cannot open {port}: {exc}") from None
        self._error = serial.SerialException

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except self._error as exc:
            raise TransportError(f"write to {self.target} failed: {exc}") from None

    def read(self, size: int, timeout: float) -> bytes:
        self.port.timeout = max(timeout, 0)
        try:
            return self.port.read(size)
        except self._error as exc:
            raise TransportError(f"read from {self.target} failed: {exc}") from None

    def drain(self) -> None:
        self.port.reset_input_buffer()

    def close(self) -> None:
        self.port.close()


class TcpTransport:
    """tcp://host:9100, the raw port of network label printers."""

    can_read = True

    def __init__(self, host: str, port: int, connect_timeout: float = 3.0):
        self.target = f"tcp://{host}:{port}"
        try:
            self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as exc:
            raise TransportError(f"cannot connect to {self.target}: {exc}") from None

    def write(self, data: bytes) -> None:
        try:
            self.sock.settimeout(30)
            self.sock.sendall(data)
        except OSError as exc:
            raise TransportError(f"send to {self.target} failed: {exc}") from None

    def read(self, size: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        out = b""
        while len(out) < size:
            left = deadline - time.monotonic()
            self.sock.settimeout(max(left, 0.0))  # 0 = non-blocking: take only what is waiting
            try:
                chunk = self.sock.recv(size - len(out))
            except (TimeoutError, BlockingIOError):
                break
            except OSError as exc:
                raise TransportError(f"receive from {self.target} failed: {exc}") from None
            if not chunk:
                raise TransportError(f"{self.target} closed the connection")
            out += chunk
        return out

    def drain(self) -> None:
        while self.read(4096, 0.0):
            pass

    def close(self) -> None:
        self.sock.close()


class UsbTransport:
    """usb://0x04f9:0x209b[/serial]: bulk endpoints through pyusb (no kernel driver needed)."""

    can_read = True

    def __init__(self, vendor: int, product: int, serial_number: str | None = None):
        import usb.core
        import usb.util

        self.target = f"usb://0x{vendor:04x}:0x{product:04x}"
        matches = {"idVendor": vendor, "idProduct": product}
        if serial_number:
            matches["serial_number"] = serial_number
        dev = usb.core.find(**matches)
        if dev is None:
            raise TransportError(f"no USB printer {self.target} is plugged in")
        try:
            if dev.is_kernel_driver_active(0):
                dev.detach_kernel_driver(0)
        except (NotImplementedError, usb.core.USBError):
            pass
        try:
            dev.set_configuration()
        except usb.core.USBError:
            pass  # already configured by the kernel
        intf = dev.get_active_configuration()[(0, 0)]
        direction = usb.util.endpoint_direction
        self.ep_out = usb.util.find_descriptor(
            intf, custom_match=lambda e: direction(e.bEndpointAddress) == usb.util.ENDPOINT_OUT)
        self.ep_in = usb.util.find_descriptor(
            intf, custom_match=lambda e: direction(e.bEndpointAddress) == usb.util.ENDPOINT_IN)
        if self.ep_out is None:
            raise TransportError(f"{self.target} has no bulk OUT endpoint")
        self.can_read = self.ep_in is not None
        self.dev = dev
        self._usb = usb

    def write(self, data: bytes) -> None:
        try:
            self.ep_out.write(data, timeout=30000)
        except self._usb.core.USBError as exc:
            raise TransportError(f"write to {self.target} failed: {exc}") from None

    def read(self, size: int, timeout: float) -> bytes:
        if self.ep_in is None:
            return b""
        deadline = time.monotonic() + timeout
        out = b""
        while len(out) < size:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            try:
                out += bytes(self.ep_in.read(max(size - len(out), self.ep_in.wMaxPacketSize), timeout=left_ms))
            except self._usb.core.USBTimeoutError:
                break
            except self._usb.core.USBError as exc:
                raise TransportError(f"read from {self.target} failed: {exc}") from None
        return out

    def drain(self) -> None:
        while self.read(64, 0.01):
            pass

    def close(self) -> None:
        self._usb.util.dispose_resources(self.dev)


class Reopening:
    """A driver's connection: opened on first use and dropped after any failure, so the
    next job opens it again (a printer unplugged and plugged back in comes back by itself).
    Subclasses set `self.target` and `self._conn = None`."""

    target: str
    _conn: Transport | None

    def _connection(self) -> Transport:
        if self._conn is None:
            self._conn = open_target(self.target)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def open_target(target: str) -> Transport:
    """serial:///dev/ttyUSB0, /dev/usb/lp0 (or file:///dev/usb/lp0), tcp://host:9100, usb://0x04f9:0x209b."""
    parts = urlsplit(target)
    if parts.scheme == "serial":
        options = {k: _number(v[-1]) for k, v in parse_qs(parts.query).items()}
        return SerialTransport(parts.netloc + parts.path, **options)
    if parts.scheme == "tcp":
        if not parts.hostname:
            raise ValueError(f"printer target {target!r} has no host")
        return TcpTransport(parts.hostname, parts.port or 9100)
    if parts.scheme == "usb":
        ids = (parts.netloc + parts.path).split("/", 1)
        vendor, _, product = ids[0].partition(":")
        try:
            return UsbTransport(int(vendor, 16), int(product, 16), ids[1] if len(ids) > 1 else None)
        except ValueError:
            raise ValueError(f"printer target {target!r}: write usb://0xVVVV:0xPPPP") from None
    if parts.scheme == "file":
        return DeviceTransport(parts.path)
    if parts.scheme == "" and target.startswith("/"):
        return DeviceTransport(target)
    raise ValueError(f"printer target {target!r} not understood: use serial://, tcp://, usb:// or a /dev path")


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        return text
