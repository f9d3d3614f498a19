"""Byte transports of the driver's backends: one abstract :class:`Transport`, one class
per backend.

A transport moves host-protocol bytes (:mod:`hw.spec.host`) between the driver
(:class:`sw.runtime.driver.Chip`) and a chip; it knows nothing of frames. The backend
string ``NAME[:ARG]`` names the class (its :attr:`~Transport.names`) and the argument it
is opened with (:meth:`Transport.open`)::

    golden              GoldenTransport   the golden host in this process, fast path
    golden:interp       GoldenTransport   the same, instruction-level interpreter alone
    verilator           PipeTransport     the RTL as a Verilator executable on pipes
    serial:PORT[@BAUD]  SerialTransport   a board's UART through pyserial

A new backend is one subclass with ``names`` set: :func:`open_transport` finds it.
"""

from __future__ import annotations

import abc
import os
import select
import subprocess
import time

from hw.spec.config import ChipConfig
from hw.spec.host import ProtocolError

__all__ = ["Transport", "GoldenTransport", "PipeTransport", "SerialTransport",
           "open_transport", "backends", "VERILATOR_OPT"]

#: C++ optimisation of the ``verilator`` backend's model (``benchmarks meshes`` reports
#: what building and checking a mesh at this level costs).
VERILATOR_OPT = "-O2"


class Transport(abc.ABC):
    """A duplex byte link to one chip. Writes are whole (they return when every byte is
    handed over); reads return what has arrived, possibly nothing."""

    #: backend names this class opens (``NAME`` of ``NAME[:ARG]``); empty: not by name
    names: tuple[str, ...] = ()
    _registry: dict[str, type["Transport"]] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        # only names the class sets itself: a subclass that tweaks a backend (a test's
        # recording link) does not take over the backend's name
        for name in cls.__dict__.get("names", ()):
            Transport._registry[name] = cls

    @classmethod
    def open(cls, arg: str, config: ChipConfig, **options) -> "Transport":
        """The transport of backend ``NAME:arg`` (``arg`` is ``""`` without a colon)
        for a chip built from ``config``. Raises :class:`ValueError` naming a bad
        argument."""
        if arg:
            raise ValueError(f"backend {cls.names[0]!r} takes no argument, not {arg!r}")
        return cls(config, **options)

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Send ``data``."""

    @abc.abstractmethod
    def read(self, timeout: float) -> bytes:
        """Bytes that arrived, waiting at most ``timeout`` seconds for the first;
        ``b""`` if none. Raises :class:`ProtocolError` if the chip is gone."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the link (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class GoldenTransport(Transport):
    """The golden host (:class:`sim.golden.host.GoldenHost`) in this process: every write
    is executed at once and its replies wait for the next read. ``fast=False``
    (``golden:interp``): the instruction-level interpreter alone."""

    names = ("golden",)

    def __init__(self, config: ChipConfig, fast: bool = True):
        from sim.golden.host import GoldenHost
        self.host = GoldenHost(config, fast=fast)
        self._out = bytearray()

    @classmethod
    def open(cls, arg, config, **options):
        if arg not in ("", "interp"):
            raise ValueError(f"backend 'golden:{arg}': use 'golden' (fast path) or "
                             "'golden:interp' (the interpreter alone)")
        return cls(config, fast=arg != "interp")

    def write(self, data: bytes):
        self._out += self.host.feed(data)

    def read(self, timeout: float) -> bytes:
        data, self._out = bytes(self._out), bytearray()
        return data

    def close(self):
        pass


class PipeTransport(Transport):
    """A process that speaks the protocol on stdin/stdout: ``argv`` (the Verilator
    harness, :func:`sim.rtl.hostchip_exe`). Its stderr is kept in :attr:`stderr` after
    :meth:`close`."""

    names = ("verilator",)

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0, env=env)
        self.stderr = ""

    @classmethod
    def open(cls, arg, config, *, opt: str = VERILATOR_OPT, **options):
        if arg:
            raise ValueError(f"backend 'verilator' takes no argument, not {arg!r}")
        from sim.rtl import hostchip_exe
        return cls([str(hostchip_exe(config, opt=opt))])

    def write(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read(self, timeout: float) -> bytes:
        fd = self.proc.stdout.fileno()
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return b""
        data = os.read(fd, 1 << 16)
        if not data:
            err = self.proc.stderr.read().decode(errors="replace")
            raise ProtocolError(f"the simulator exited ({self.proc.poll()}): {err.strip()}")
        return data

    def close(self):
        if self.proc.stdout.closed:
            return
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.stderr = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()


class SerialTransport(Transport):
    """A board's UART through pyserial: ``port`` is a device (``/dev/ttyUSB1``) or any
    pyserial URL (``socket://host:port``, ``loop://``); ``baud`` defaults to the
    config's ``host.baud``."""

    names = ("serial",)

    def __init__(self, port: str, baud: int):
        import serial
        self.port = serial.serial_for_url(port, baudrate=baud, timeout=0)

    @classmethod
    def open(cls, arg, config, **options):
        port, _, baud = arg.partition("@")
        if not port:
            raise ValueError("serial backend needs a port: 'serial:/dev/ttyUSB1' or "
                             "'serial:socket://host:port'")
        if baud and not baud.isdigit():
            raise ValueError(f"serial backend: baud rate {baud!r} is not a number")
        return cls(port, int(baud) if baud else config.host.baud)

    def write(self, data: bytes):
        self.port.write(data)
        self.port.flush()

    def read(self, timeout: float) -> bytes:
        end = time.monotonic() + timeout
        while True:
            n = self.port.in_waiting
            if n:
                return self.port.read(n)
            if time.monotonic() >= end:
                return b""
            time.sleep(0.0005)

    def close(self):
        self.port.close()


def backends() -> tuple[str, ...]:
    """The backend names :func:`open_transport` knows."""
    return tuple(Transport._registry)


def open_transport(backend: str, config: ChipConfig, **options) -> Transport:
    """The transport of a backend string ``NAME[:ARG]`` (see the module docstring);
    ``options`` go to the class's :meth:`~Transport.open` (``opt=`` for verilator)."""
    name, _, arg = backend.partition(":")
    cls = Transport._registry.get(name)
    if cls is None:
        raise ValueError(f"unknown backend {backend!r}: use 'golden', 'golden:interp', "
                         "'verilator' or 'serial:PORT[@BAUD]'")
    return cls.open(arg, config, **options)
