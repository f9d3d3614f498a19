"""Chip golden model: tiles of :class:`~sim.golden.core.GoldenCore` joined by the
routing tables, one timestep at a time (the reference for chip cross-checks).

A timestep (:meth:`GoldenChip.step`): the host's packets are integrated by their cores,
every core ticks, and each spike is expanded through its tile's
``route_table``/``dest_table`` into output events for the host or events that their
cores integrate at once, for the next timestep (as the RTL does before ``step_done``). Arrival order inside a timestep does not
change any result (integration is exact), so the RTL's mesh order is irrelevant; the
host's output events are returned sorted.

Memories are :class:`~sim.golden.fault_sram.GoldenFaultSRAM` with the RTL's names, so
faults act as in the RTL; reads and writes are counted per memory like the RTL's
access counters.
"""

from __future__ import annotations

from collections import defaultdict

from hw.config import ChipConfig
from hw.isa import decode
from hw.noc.packet import dest_layout, route_layout, tile_coords, tile_prefix
from sim.golden.core import GoldenCore
from sim.golden.fault_sram import GoldenFaultSRAM

__all__ = ["GoldenChip"]


class GoldenChip:
    def __init__(self, config: ChipConfig):
        self.config = config
        self.coords = tile_coords(config)
        self.cores = {xy: GoldenCore(config, prefix=tile_prefix(*xy)) for xy in self.coords}
        m = config.memory
        self.tables = {}
        for x, y in self.coords:
            p = tile_prefix(x, y)
            for name, width, depth in ((f"{p}.route_table", route_layout(config).size,
                                        config.core.neurons),
                                       (f"{p}.dest_table", dest_layout(config).size,
                                        config.noc.routes)):
                self.tables[name] = GoldenFaultSRAM(width, depth,
                                                    m.protection.for_role("tables"),
                                                    fault_slots=m.fault_slots,
                                                    counter_bits=m.counter_bits, name=name)
        self.mems = {**{k: v for core in self.cores.values() for k, v in core.mems.items()},
                     **self.tables}
        self.pending = defaultdict(list)
        self.counters = {"steps": 0, "host_events_in": 0, "host_events_out": 0}
        self.reads = defaultdict(int)
        self._rlay, self._dlay = route_layout(config), dest_layout(config)

    def load(self, images: dict) -> None:
        for name, words in images.items():
            if name in self.tables:
                self.tables[name].write(range(len(words)), words)
            else:
                prefix = name.split(".", 1)[0]
                xy = next(xy for xy in self.coords if tile_prefix(*xy) == prefix)
                self.cores[xy].load({name: words})

    def _read(self, name, addr) -> int:
        self.reads[name] += 1
        return int(self.tables[name].read(addr).data)

    def step(self, host_packets) -> list:
        """One timestep. ``host_packets``: (x, y, axon, payload). Returns the host's
        output events (x, y, neuron, payload), sorted."""
        for x, y, axon, payload in host_packets:
            if (x, y) not in self.cores:
                raise ValueError(f"host packet for tile {(x, y)}, outside the "
                                 f"{self.config.noc.width} x {self.config.noc.height} mesh")
            self.pending[(x, y)].append((axon, payload))
            self.counters["host_events_in"] += 1
        self._integrate()
        out = []
        for xy in self.coords:
            p = tile_prefix(*xy)
            for n, payload in self.cores[xy].tick():
                r = decode(self._rlay, self._read(f"{p}.route_table", n))
                for i in range(r.count):
                    d = decode(self._dlay, self._read(f"{p}.dest_table", r.first + i))
                    if d.to_host:
                        out.append((d.x, d.y, d.axon, payload))
                    else:
                        self.pending[(d.x, d.y)].append((d.axon, payload))
        self._integrate()
        self.counters["steps"] += 1
        self.counters["host_events_out"] += len(out)
        return sorted(out)

    def _integrate(self):
        for xy in self.coords:
            for axon, payload in self.pending.pop(xy, []):
                self.cores[xy].event(axon, payload)

    def run(self, image, inputs) -> list:
        """Run network inputs (per step: (index, payload)) of a ChipImage; returns the
        decoded output-layer events per step."""
        return [image.decode_outputs(self.step(image.host_packets(ev))) for ev in inputs]
