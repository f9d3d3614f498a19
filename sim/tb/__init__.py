"""Testbench helpers shared by cocotb (Verilator) and ``amaranth.sim`` testbenches.

A cross-check is written once, as a coroutine over a :class:`SignalAccess`, and runs
on both simulators:

* :class:`AmaranthAccess` wraps an ``amaranth.sim`` testbench context;
* :class:`CocotbAccess` wraps a cocotb ``dut`` handle.

Signals are named by their path in the component's signature (``"read.0.addr"``,
``"fault.payload"``); struct-shaped ports are read and written as packed integers.
``await access.tick()`` advances one clock: afterwards, outputs show the state after
that edge and inputs set now apply at the next edge. An output that depends
combinationally on an input set in the same cycle is read after ``await
access.settle()`` (Verilator evaluates the design only then).
"""

from __future__ import annotations

import json
import os

__all__ = ["params", "SignalAccess", "AmaranthAccess", "CocotbAccess", "Divergence",
           "run_amaranth", "start_cocotb"]


def params() -> dict:
    """Parameters the runner passed to this testbench (``SPIKEFORGE_TB_PARAMS``)."""
    return json.loads(os.environ.get("SPIKEFORGE_TB_PARAMS", "{}"))


class Divergence(AssertionError):
    """RTL and golden model disagree; the message says where first and with which seed."""


class SignalAccess:
    """Uniform access to a DUT's ports by signature path."""

    def set(self, path: str, value: int) -> None:
        raise NotImplementedError

    def get(self, path: str) -> int:
        raise NotImplementedError

    async def tick(self, n: int = 1) -> None:
        raise NotImplementedError

    async def settle(self) -> None:
        """Let combinational outputs follow the inputs set in this cycle (before
        ``get``-ting an output that depends on them)."""


class AmaranthAccess(SignalAccess):
    """Ports of an Amaranth component inside an ``amaranth.sim`` testbench."""

    def __init__(self, ctx, component):
        self.ctx, self.component = ctx, component
        self._cache = {}

    def _resolve(self, path):
        if path not in self._cache:
            obj = self.component
            for part in path.split("."):
                obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
            if hasattr(obj, "as_value"):
                obj = obj.as_value()
            self._cache[path] = obj
        return self._cache[path]

    def set(self, path, value):
        self.ctx.set(self._resolve(path), value)

    def get(self, path):
        return self.ctx.get(self._resolve(path))

    async def tick(self, n=1):
        for _ in range(n):
            await self.ctx.tick()


class CocotbAccess(SignalAccess):
    """Ports of the Verilog top converted from an Amaranth component (``a.b`` -> ``a__b``).

    Drives and samples on the falling clock edge, half a period away from the rising
    edge where the design's registers change.
    """

    def __init__(self, dut, clk_name="clk"):
        from cocotb.triggers import FallingEdge
        self.dut = dut
        self._edge = FallingEdge(getattr(dut, clk_name))
        self._cache = {}

    def _resolve(self, path):
        if path not in self._cache:
            self._cache[path] = getattr(self.dut, path.replace(".", "__"))
        return self._cache[path]

    def set(self, path, value):
        self._resolve(path).value = int(value)

    def get(self, path):
        return int(self._resolve(path).value)

    async def tick(self, n=1):
        for _ in range(n):
            await self._edge

    async def settle(self):
        from cocotb.triggers import ReadWrite
        await ReadWrite()

    async def reset(self, cycles: int = 2):
        """Pulse the design's reset (registers, not memories: a delay queue starts empty
        and rebuilds its free list)."""
        self.dut.rst.value = 1
        await self.tick(cycles)
        self.dut.rst.value = 0
        await self.tick()


def run_amaranth(dut, bench, *, period: float = 1e-8) -> None:
    """Run one async testbench ``bench(ctx)`` on ``dut`` in amaranth.sim (one clock).
    ``SPIKEFORGE_WAVES=<file.vcd>`` records waveforms."""
    from amaranth.sim import Simulator
    sim = Simulator(dut)
    sim.add_clock(period)
    sim.add_testbench(bench)
    waves = os.environ.get("SPIKEFORGE_WAVES")
    if waves and waves.endswith(".vcd"):
        with sim.write_vcd(waves):
            sim.run()
    else:
        sim.run()


async def start_cocotb(dut, period_ns: int = 10) -> CocotbAccess:
    """Start the clock, pulse reset for two cycles, return an access at a falling edge."""
    import cocotb
    from cocotb.clock import Clock

    cocotb.start_soon(Clock(dut.clk, period_ns, unit="ns").start())
    access = CocotbAccess(dut)
    await access.reset()
    return access
