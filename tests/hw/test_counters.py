"""amaranth.sim tests of the saturating counter helper (:mod:`hw.counters`)."""

import pytest
from amaranth import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from hw.counters import saturating


class _Dut(Elaboratable):
    def __init__(self, width, inc_width, with_clear=True):
        self.counter = Signal(width)
        self.inc = Signal(inc_width)
        self.clear = Signal() if with_clear else None

    def elaborate(self, platform):
        m = Module()
        saturating(m, self.counter, self.inc, self.clear)
        return m


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_counts_increment_per_cycle_and_saturates_at_all_ones():
    dut = _Dut(4, 3)

    async def bench(ctx):
        expect = 0
        for inc in [1, 0, 3, 7, 2, 7, 7, 1, 0, 5]:
            ctx.set(dut.inc, inc)
            await ctx.tick()
            expect = min(expect + inc, 15)
            assert ctx.get(dut.counter) == expect
        assert expect == 15
    _run(dut, bench)


def test_clear_wins_over_a_same_cycle_increment():
    dut = _Dut(3, 1)

    async def bench(ctx):
        ctx.set(dut.inc, 1)
        for _ in range(3):
            await ctx.tick()
        assert ctx.get(dut.counter) == 3
        ctx.set(dut.clear, 1)
        await ctx.tick()
        assert ctx.get(dut.counter) == 0
        ctx.set(dut.clear, 0)
        await ctx.tick()
        assert ctx.get(dut.counter) == 1
    _run(dut, bench)


def test_increment_zero_holds_the_value():
    dut = _Dut(4, 2)

    async def bench(ctx):
        ctx.set(dut.inc, 2)
        await ctx.tick()
        ctx.set(dut.inc, 0)
        for _ in range(5):
            await ctx.tick()
            assert ctx.get(dut.counter) == 2
    _run(dut, bench)


def test_increment_wider_than_the_counter_still_saturates():
    dut = _Dut(2, 5, with_clear=False)

    async def bench(ctx):
        ctx.set(dut.inc, 31)                   # the sum must not wrap before the cap
        await ctx.tick()
        assert ctx.get(dut.counter) == 3
    _run(dut, bench)


@pytest.mark.parametrize("width", [1, 8])
def test_saturated_counter_stays_until_cleared(width):
    dut = _Dut(width, 1)

    async def bench(ctx):
        ctx.set(dut.inc, 1)
        for _ in range((1 << width) + 4):
            await ctx.tick()
        assert ctx.get(dut.counter) == (1 << width) - 1
        ctx.set(dut.clear, 1)
        await ctx.tick()
        assert ctx.get(dut.counter) == 0
    _run(dut, bench)
