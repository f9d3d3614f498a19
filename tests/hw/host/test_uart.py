"""UART in amaranth.sim: loopback of random bytes, exact transmit timing, a receiver
tolerating a 2% baud mismatch, framing errors and overruns counted, divisor choice."""

import random

import pytest
from amaranth import Module
from amaranth.lib import wiring

from hw.host.uart import Uart, UartRx, UartTx, uart_divisor
from sim.tb import run_amaranth


def frame(byte):
    """Line levels of one 8N1 frame, one per bit: start, data LSB first, stop."""
    return [0] + [(byte >> k) & 1 for k in range(8)] + [1]


class Loopback(wiring.Component):
    """A :class:`Uart` whose ``tx`` drives its own ``rx``."""

    def __init__(self, divisor):
        self.uart = Uart(divisor)
        super().__init__({name: member for name, member in self.uart.signature.members.items()
                          if name not in ("rx", "tx")})

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart = u = self.uart
        m.d.comb += u.rx.eq(u.tx)
        wiring.connect(m, wiring.flipped(self.i), u.i)
        wiring.connect(m, u.o, wiring.flipped(self.o))
        m.d.comb += [self.framing_errors.eq(u.framing_errors), self.overruns.eq(u.overruns)]
        return m


async def exchange(ctx, dut, data, *, rng, gaps=True, limit=None):
    """Send ``data`` on ``dut.i`` (with random idle gaps) while taking every byte from
    ``dut.o``; returns the bytes received."""
    limit = limit or 12 * dut_divisor(dut) * (len(data) + 4) * (3 if gaps else 1)
    got, k, wait = [], 0, 0
    ctx.set(dut.o.ready, 1)
    for _ in range(limit):
        if k < len(data) and wait == 0:
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, data[k])
        else:
            ctx.set(dut.i.valid, 0)
        accepted = ctx.get(dut.i.valid) and ctx.get(dut.i.ready)
        if ctx.get(dut.o.valid):
            got.append(ctx.get(dut.o.payload))
        await ctx.tick()
        if accepted:
            k += 1
            wait = rng.choice([0, 0, 1, rng.randrange(30)]) if gaps else 0
        elif wait:
            wait -= 1
        if len(got) == len(data):
            break
    return got


def dut_divisor(dut):
    return dut.uart.divisor if isinstance(dut, Loopback) else dut.divisor


@pytest.mark.parametrize("divisor", [4, 7, 16])
@pytest.mark.parametrize("gaps", [False, True])
def test_loopback_random_bytes(divisor, gaps):
    rng = random.Random(divisor * 2 + gaps)
    data = [rng.randrange(256) for _ in range(40)] + [0x00, 0xFF, 0x55, 0xAA]
    dut = Loopback(divisor)

    async def bench(ctx):
        assert await exchange(ctx, dut, data, rng=rng, gaps=gaps) == data
        assert ctx.get(dut.framing_errors) == 0 and ctx.get(dut.overruns) == 0
    run_amaranth(dut, bench)


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_tx_bit_timing_is_exact(divisor):
    """Two bytes back to back: the tx line, cycle by cycle, is start, data bits LSB
    first, stop, each exactly ``divisor`` cycles, and the second frame follows the
    first's stop bit with no idle cycle."""
    dut = UartTx(divisor)
    a, b = 0xA6, 0x3D

    async def bench(ctx):
        assert ctx.get(dut.tx) == 1 and ctx.get(dut.i.ready) == 1
        await ctx.tick().repeat(5)
        assert ctx.get(dut.tx) == 1          # idle high
        ctx.set(dut.i.payload, a)
        ctx.set(dut.i.valid, 1)
        await ctx.tick()                     # a accepted at this edge
        ctx.set(dut.i.payload, b)
        trace, accepted_at = [], []
        for cycle in range(22 * divisor):
            trace.append(ctx.get(dut.tx))
            if ctx.get(dut.i.valid) and ctx.get(dut.i.ready):
                accepted_at.append(cycle)
            await ctx.tick()
            if accepted_at:
                ctx.set(dut.i.valid, 0)
        want = [level for bit in frame(a) + frame(b) for level in [bit] * divisor]
        want += [1] * (len(trace) - len(want))
        assert trace == want
        # b is taken in the last cycle of a's stop bit
        assert accepted_at == [10 * divisor - 1]

        # the same, measured as run lengths, for a lone 0x01 followed by idle
        ctx.set(dut.i.payload, 0x01)
        ctx.set(dut.i.valid, 1)
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        levels = []
        for _ in range(12 * divisor):
            levels.append(ctx.get(dut.tx))
            await ctx.tick()
        runs = []
        for level in levels:
            if runs and runs[-1][0] == level:
                runs[-1][1] += 1
            else:
                runs.append([level, 1])
        # start + bit0=1 + bits 1..7 = 0 + stop and idle
        assert runs[:3] == [[0, divisor], [1, divisor], [0, 7 * divisor]]
        assert runs[3][0] == 1 and len(runs) == 4
    run_amaranth(dut, bench)


def bitbang(data, period, *, phase=0.0, idle=5, stop_bits=None):
    """Line level per clock cycle for frames sent back to back at ``period`` cycles per
    bit (a float: the sender's clock is not ours); ``stop_bits`` overrides the stop
    bit of each frame."""
    bits = [1] * idle
    for n, byte in enumerate(data):
        f = frame(byte)
        if stop_bits is not None:
            f[-1] = stop_bits[n]
        bits += f
    bits += [1] * idle
    return [bits[int((c - phase) / period)] if c >= phase else 1
            for c in range(int(len(bits) * period))]


async def drive(ctx, dut, levels, *, ready=1):
    """Drive ``rx`` with ``levels``; returns the bytes taken from ``o``."""
    got = []
    ctx.set(dut.o.ready, ready)
    for level in levels + [1] * (4 * dut.divisor):
        ctx.set(dut.rx, level)
        if ctx.get(dut.o.valid) and ready:
            got.append(ctx.get(dut.o.payload))
        await ctx.tick()
    return got


@pytest.mark.parametrize("divisor", [4, 7, 16, 50])
@pytest.mark.parametrize("mismatch", [-0.02, 0.02])
def test_rx_tolerates_2_percent_baud_mismatch(divisor, mismatch):
    rng = random.Random(divisor)
    data = [rng.randrange(256) for _ in range(30)] + [0x00, 0xFF, 0x01, 0x80]
    dut = UartRx(divisor)

    async def bench(ctx):
        for phase in (0.0, 0.3, 0.7):
            levels = bitbang(data, divisor * (1 + mismatch), phase=phase)
            assert await drive(ctx, dut, levels) == data, f"phase {phase}"
        assert ctx.get(dut.framing_errors) == 0 and ctx.get(dut.overruns) == 0
    run_amaranth(dut, bench)


def test_framing_error_counted_and_byte_dropped():
    divisor = 8
    dut = UartRx(divisor)

    async def bench(ctx):
        # the second frame's stop bit is low; then the line is held low (a break)
        levels = (bitbang([0x11], divisor) + bitbang([0x22], divisor, stop_bits=[0])
                  + bitbang([0x33], divisor))
        assert await drive(ctx, dut, levels) == [0x11, 0x33]
        assert ctx.get(dut.framing_errors) == 1
        assert await drive(ctx, dut, [0] * 30 * divisor) == []
        assert ctx.get(dut.framing_errors) == 2     # one for the break, not one per frame
        assert await drive(ctx, dut, bitbang([0x44], divisor)) == [0x44]
        assert ctx.get(dut.framing_errors) == 2 and ctx.get(dut.overruns) == 0
    run_amaranth(dut, bench)


def test_glitch_is_not_a_start_bit():
    divisor = 16
    dut = UartRx(divisor)

    async def bench(ctx):
        glitch = [1] * 10 + [0] * (divisor // 2 - 2) + [1] * 30 * divisor
        assert await drive(ctx, dut, glitch + bitbang([0x5A], divisor)) == [0x5A]
        assert ctx.get(dut.framing_errors) == 0
    run_amaranth(dut, bench)


def test_overrun_counted_when_o_not_ready():
    divisor = 5
    dut = UartRx(divisor)

    async def bench(ctx):
        assert await drive(ctx, dut, bitbang([0x01, 0x02, 0x03], divisor), ready=0) == []
        # the first byte waits; the two after it were dropped and counted
        assert ctx.get(dut.o.valid) == 1 and ctx.get(dut.o.payload) == 0x01
        assert ctx.get(dut.overruns) == 2
        ctx.set(dut.o.ready, 1)
        await ctx.tick()
        assert ctx.get(dut.o.valid) == 0
        assert await drive(ctx, dut, bitbang([0x04], divisor)) == [0x04]
        assert ctx.get(dut.overruns) == 2 and ctx.get(dut.framing_errors) == 0
    run_amaranth(dut, bench)


def test_counters_saturate():
    divisor = 4
    dut = UartRx(divisor, counter_bits=2)

    async def bench(ctx):
        await drive(ctx, dut, bitbang([1, 2, 3, 4, 5, 6], divisor), ready=0)
        assert ctx.get(dut.overruns) == 3
        bad = [level for _ in range(5) for level in bitbang([7], divisor, stop_bits=[0])]
        await drive(ctx, dut, bad, ready=0)
        assert ctx.get(dut.framing_errors) == 3
    run_amaranth(dut, bench)


def test_uart_divisor():
    assert uart_divisor(50_000_000, 115_200) == 434
    assert uart_divisor(12_000_000, 115_200) == 104      # 115384.6 baud, 0.16% off
    assert uart_divisor(100, 20) == 5
    assert uart_divisor(1005, 10) == 101                  # 100.5 rounds up
    with pytest.raises(ValueError, match=r"^UART clock 1000000 Hz cannot make baud 230400: "
                                         r"divisor 4 gives 250000\.0 baud, 8\.51% off"):
        uart_divisor(1_000_000, 230_400)
    with pytest.raises(ValueError, match=r"UART clock 1000000 Hz is too slow for baud 500000: "
                                         r"divisor 2 is below the minimum of 4"):
        uart_divisor(1_000_000, 500_000)
    with pytest.raises(ValueError, match="must be positive"):
        uart_divisor(0, 9600)
    for cls in (UartTx, UartRx, Uart):
        with pytest.raises(ValueError, match="at least 4 cycles per bit, not 3"):
            cls(3)
