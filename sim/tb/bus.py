"""Testbench side of :class:`hw.mem.bus.MemoryBus`: requests, answers and image loads
through a design's ``mem_req``/``mem_resp`` ports (a core's or the chip's)."""

from __future__ import annotations

from hw.spec.isa import Isa
from hw.spec.memory import BusOp, bus_request_layout, bus_widths
from sim.tb import Divergence, SignalAccess

__all__ = ["BusDriver"]


class BusDriver:
    """Base of the core and chip drivers: ``specs`` are the memories in bus order."""

    def __init__(self, dut: SignalAccess, config, specs):
        self.dut, self.config, self.specs = dut, config, list(specs)
        aw, dw = bus_widths(self.specs, config)
        self.req_layout = bus_request_layout(len(self.specs), aw, dw)
        self._dbits = dw
        self.cycles = 0
        dut.set("mem_req.valid", 0)
        dut.set("mem_resp.ready", 1)

    async def tick(self, n=1):
        await self.dut.tick(n)
        self.cycles += n

    def counters(self, path: str = "counters", names=None) -> dict:
        """A packed counter port as ``{name: value}`` (``names`` default: a core's
        :data:`hw.spec.counters.CORE_COUNTERS`)."""
        from hw.spec.counters import CORE_COUNTERS as COUNTERS
        raw = self.dut.get(path)
        cb = self.config.core.counter_bits
        return {n: raw >> (k * cb) & ((1 << cb) - 1) for k, n in enumerate(names or COUNTERS)}

    async def bus(self, op, mem=0, addr=0, data=0, kind=0):
        """One memory-bus request; returns ``(data, corrected, detected, error)`` for
        requests that answer (READ, STATUS, COUNTS), else None."""
        d = self.dut
        d.set("mem_req.payload", Isa.pack(self.req_layout, {
            "op": op, "mem": mem, "addr": addr, "data": int(data), "kind": kind}))
        d.set("mem_req.valid", 1)
        for _ in range(1000):
            await d.settle()
            ready = d.get("mem_req.ready")
            await self.tick()
            if ready:
                break
        else:
            raise Divergence(f"memory bus did not accept {BusOp(op).name} of memory {mem}")
        d.set("mem_req.valid", 0)
        if op not in (BusOp.READ, BusOp.STATUS, BusOp.COUNTS):
            return None
        for _ in range(10):
            if d.get("mem_resp.valid"):
                r = d.get("mem_resp.payload")
                await self.tick()
                dbits = self._dbits
                return (r & ((1 << dbits) - 1), r >> dbits & 1, r >> (dbits + 1) & 1,
                        r >> (dbits + 2) & 1)
            await self.tick()
        raise Divergence(f"memory bus gave no answer to {BusOp(op).name} of memory {mem}")

    async def read(self, mem: int, addr: int) -> int:
        return (await self.bus(BusOp.READ, mem, addr))[0]

    async def load(self, images: dict, *, skip_zero: bool = False):
        """Write every word (``skip_zero``: only non-zero ones, for memories known to be
        zero, as after power-up). Memories without an image (a delay queue's) are left
        alone."""
        for i, spec in enumerate(self.specs):
            for addr, word in enumerate(images.get(spec.name, ())):
                if int(word) or not skip_zero:
                    await self.bus(BusOp.WRITE, i, addr, int(word))
