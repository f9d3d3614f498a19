"""Transports: the backend registry, clear errors for bad backend strings, and a new
backend as one class."""

import pytest

from hw.spec.config import ChipConfig, CoreConfig, NocConfig
from sw.runtime.driver import Chip
from sw.runtime.transports import (GoldenTransport, PipeTransport, SerialTransport,
                                   Transport, backends, open_transport)

CONFIG = ChipConfig(core=CoreConfig(lanes=2, neurons=32, axons=64, synapses=512,
                                    microcode_depth=16, layers=2, out_fifo_depth=32),
                    noc=NocConfig(width=1, height=1, routes=64))


def test_registry_names_every_backend():
    assert {"golden", "verilator", "serial"} <= set(backends())
    assert type(open_transport("golden", CONFIG)) is GoldenTransport   # not _Tap below
    assert open_transport("golden", CONFIG).host.fast
    assert not open_transport("golden:interp", CONFIG).host.fast
    for cls in (GoldenTransport, PipeTransport, SerialTransport):
        assert issubclass(cls, Transport)


@pytest.mark.parametrize("backend, message", [
    ("fpga", "unknown backend 'fpga'"),
    ("golden:fastest", "backend 'golden:fastest'"),
    ("verilator:x", "backend 'verilator' takes no argument, not 'x'"),
    ("serial:", "serial backend needs a port"),
    ("serial:loop://@fast", "baud rate 'fast' is not a number"),
])
def test_bad_backend_strings_say_what_is_wrong(backend, message):
    with pytest.raises(ValueError, match=message):
        open_transport(backend, CONFIG)


def test_a_transport_must_implement_the_link():
    class Half(Transport):
        def write(self, data):
            pass

    with pytest.raises(TypeError, match="read"):
        Half()


class _Tap(GoldenTransport):
    """A new backend in one class: the golden host, counting the bytes it carries."""
    names = ("test-tap",)

    def write(self, data):
        self.bytes_out = getattr(self, "bytes_out", 0) + len(data)
        super().write(data)


def test_a_new_backend_is_one_class():
    assert "test-tap" in backends()
    with Chip("test-tap", CONFIG) as chip:
        assert isinstance(chip.link, _Tap)
        assert chip.identity and chip.link.bytes_out > 0


def test_serial_transport_on_a_loopback_url():
    t = open_transport("serial:loop://@9600", CONFIG)
    try:
        assert t.port.baudrate == 9600
        t.write(b"\x01\x02")
        assert t.read(1.0) == b"\x01\x02"
    finally:
        t.close()
