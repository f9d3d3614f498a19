"""Chip golden model: tiles of :class:`~sim.golden.core.GoldenCore` joined by the
routing tables, one timestep at a time (the reference for chip cross-checks).

A timestep (:meth:`GoldenChip.step`): the host's packets are integrated by their cores,
every core ticks, and each spike is expanded through its tile's
``route_table``/``dest_table`` into output events for the host or events that their
cores integrate at once, for the next timestep (as the RTL does before ``step_done``). Arrival order inside a timestep does not
change any result (integration is exact), so the RTL's mesh order is irrelevant; the
host's output events are returned sorted.

Event programs are modelled as the compiler writes them: MACs (and NOPs) only. A program
that makes an event issue VEC (custom microcode, or a fault) updates neurons at event
time; the spikes it emits are counted (``events_out``) but not routed here, while the
RTL sends them into the mesh before the tick, where their order against other arriving
events depends on the mesh's timing. :class:`sim.golden.batched.BatchedChip` refuses such
programs, and fault campaigns class such runs ``unmodelled``.

SDSP tiles (:func:`hw.spec.memmap.sdsp_tiles`) are :class:`~sim.golden.sdsp.GoldenSdsp`
and process each event when it arrives, as the RTL's do: host packets before the tick
(their spikes reach neurocores in time for this tick), the neurocores' spikes after it
(their spikes reach neurocores for the next tick, and the host in this step). Events
reach an SDSP tile in the order their single source sent them.

Memories are :class:`~sim.golden.fault_sram.GoldenFaultSRAM` with the RTL's names, so
faults act as in the RTL; reads and writes are counted per memory like the RTL's
access counters. An SDSP core's memories are its images (``GoldenSdsp.images``).

Speed (``GoldenChip(config, fast=True)``, the default; ``fast=False`` is the reference
interpreter throughout, and the two agree in everything above, tested in
``tests/sim/golden/test_fast.py``): neurocores run their fast path
(:mod:`sim.golden.fast`), each core getting all of a timestep's events in one call; a
spike's route is decoded once from the route and destination tables and reused while
both tables keep their ``version`` and the words it reads are clean. A route whose
words are unclean or out of range, or that reaches an SDSP tile (which runs each event
as it arrives and may refuse it), is read word by word as before (``_expand_interp``).
Host packets go straight to the neurocores' lists when the chip has no SDSP tile.
"""

from __future__ import annotations

from collections import defaultdict

from hw.spec.config import ChipConfig
from hw.spec.isa import decode
from hw.spec.packet import dest_layout, route_layout
from hw.spec.memmap import MemoryName, sdsp_tiles, tile_coords, tile_memories, tile_prefix
from hw.spec.sdsp import split_axon
from sim.golden.core import GoldenCore
from sim.golden.fault_sram import GoldenFaultSRAM
from sim.golden.sdsp import GoldenSdsp

__all__ = ["GoldenChip"]


class GoldenChip:
    """The chip of ``config``. ``fast`` (default): neurocores and routes run through
    their traces where that is equal (:mod:`sim.golden.fast`); ``fast=False``: the
    instruction-level interpreter on reference FaultSRAMs throughout (the reference)."""

    def __init__(self, config: ChipConfig, *, fast: bool = True):
        self.config = config
        self.fast = fast
        self.coords = tile_coords(config)
        self.plastic = set(sdsp_tiles(config))
        self.cores = {xy: GoldenSdsp(config, prefix=tile_prefix(*xy)) if xy in self.plastic
                      else GoldenCore(config, prefix=tile_prefix(*xy), fast=fast)
                      for xy in self.coords}
        self.tables = {}
        for x, y in self.coords:
            for spec in tile_memories(config, x, y)[-2:]:      # route and dest tables
                self.tables[spec.name] = GoldenFaultSRAM.for_chip(spec, config, mirror=fast)
        self.mems = {**{k: v for xy, core in self.cores.items() if xy not in self.plastic
                        for k, v in core.mems.items()},
                     **self.tables}
        self.pending = defaultdict(list)
        self.counters = {"steps": 0, "host_events_in": 0, "host_events_out": 0}
        self.reads = defaultdict(int)
        #: Routers passed by packets, summed (XY routing; the host is west of (0, 0)):
        #: the NoC activity of the energy model (:mod:`sw.runtime.energy`). Not an RTL counter.
        self.router_hops = 0
        self._rlay, self._dlay = route_layout(config), dest_layout(config)
        #: per tile: ((route, dest table versions), {neuron: decoded route or None})
        self._routes = {}

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
        out = []
        if self.fast and not self.plastic:
            # every packet goes to a neurocore's list: nothing depends on their order
            # but the lists'
            pending = self.pending
            for x, y, axon, payload in host_packets:
                pending[(x, y)].append((axon, payload))
            self.counters["host_events_in"] += len(host_packets)
            self.router_hops += sum(x + y + 1 for x, y, _, _ in host_packets)
        else:
            for x, y, axon, payload in host_packets:
                self.counters["host_events_in"] += 1
                self.router_hops += x + y + 1
                self._deliver((x, y), axon, payload, out)
        self._integrate()
        for xy in self.coords:
            if xy not in self.plastic:
                spikes = self.cores[xy].tick()
                if self.fast:
                    self._expand_all(xy, spikes, out)
                else:
                    for n, payload in spikes:
                        self._expand(xy, n, payload, out)
        self._integrate()
        self.counters["steps"] += 1
        self.counters["host_events_out"] += len(out)
        return sorted(out)

    def _deliver(self, xy, axon, payload, out):
        """An event arrives at tile ``xy``: an SDSP core processes it now (and its spikes
        travel on), a neurocore integrates it with the others at :meth:`_integrate`."""
        if xy in self.plastic:
            kind, index = split_axon(self.config.sdsp, axon)
            for n in self.cores[xy].event(kind, index, payload):
                self._expand(xy, n, 1, out)
        else:
            self.pending[xy].append((axon, payload))

    def _expand(self, xy, n, payload, out):
        """Neuron ``n`` of tile ``xy`` fired: one event per entry of its route."""
        route = self._route(xy, n) if self.fast else None
        if route is None:
            return self._expand_interp(xy, n, payload, out)
        rname, dname, count, hops, dests = route
        self.reads[rname] += 1
        self.reads[dname] += count
        self.router_hops += hops
        for to_host, x, y, axon in dests:
            if to_host:
                out.append((x, y, axon, payload))
            else:
                self.pending[(x, y)].append((axon, payload))

    def _expand_all(self, xy, spikes, out):
        """:meth:`_expand` of every spike of a tick, in order."""
        if not spikes:
            return
        cache = self._route_cache(xy)
        pending = self.pending
        nr = nd = hops = 0
        rname = dname = None
        for n, payload in spikes:
            route = cache.get(n, False)
            if route is False:
                route = self._route(xy, n)
            if route is None:
                if nr:
                    self.reads[rname] += nr
                    self.reads[dname] += nd
                    nr = nd = 0
                self._expand_interp(xy, n, payload, out)
                continue
            rname, dname, count, h, dests = route
            nr += 1
            nd += count
            hops += h
            for to_host, x, y, axon in dests:
                if to_host:
                    out.append((x, y, axon, payload))
                else:
                    pending[(x, y)].append((axon, payload))
        if nr:
            self.reads[rname] += nr
            self.reads[dname] += nd
        self.router_hops += hops

    def _route_cache(self, xy) -> dict:
        """Tile ``xy``'s decoded routes, emptied when its route or dest table changed."""
        p = tile_prefix(*xy)
        versions = (self.tables[MemoryName.of(p, "route_table")].version,
                    self.tables[MemoryName.of(p, "dest_table")].version)
        cache = self._routes.get(xy)
        if cache is None or cache[0] != versions:
            cache = self._routes[xy] = (versions, {})
        return cache[1]

    def _route(self, xy, n):
        """Neuron ``n``'s route decoded once from clean table words: (route table,
        dest table, entries, router hops, [(to_host, x, y, axon)]); None where the
        interpreter must read the tables (an unclean word, an address outside them)."""
        cache = self._route_cache(xy)
        hit = cache.get(n, False)
        if hit is not False:
            return hit
        p = tile_prefix(*xy)
        rname, dname = MemoryName.of(p, "route_table"), MemoryName.of(p, "dest_table")
        rmem, dmem = self.tables[rname], self.tables[dname]
        route = None
        rword = rmem.clean_data(n) if 0 <= n < rmem.depth else None
        if rword is not None:
            r = decode(self._rlay, rword)
            addrs = range(r.first, r.first + r.count)
            words = [dmem.clean_data(a) if 0 <= a < dmem.depth else None for a in addrs]
            if all(w is not None for w in words):
                dests, hops = [], 0
                for w in words:
                    d = decode(self._dlay, w)
                    hops += (sum(xy) if d.to_host else
                             abs(d.x - xy[0]) + abs(d.y - xy[1])) + 1
                    dests.append((bool(d.to_host), d.x, d.y, d.axon))
                # an SDSP tile runs an event as it arrives (and may refuse it): the
                # interpreter's order of reads and deliveries
                if not any(not h and (x, y) in self.plastic for h, x, y, _ in dests):
                    route = (rname, dname, r.count, hops, dests)
        cache[n] = route
        return route

    def _expand_interp(self, xy, n, payload, out):
        p = tile_prefix(*xy)
        r = decode(self._rlay, self._read(MemoryName.of(p, "route_table"), n))
        for i in range(r.count):
            d = decode(self._dlay, self._read(MemoryName.of(p, "dest_table"), r.first + i))
            self.router_hops += (sum(xy) if d.to_host else
                                 abs(d.x - xy[0]) + abs(d.y - xy[1])) + 1
            if d.to_host:
                out.append((d.x, d.y, d.axon, payload))
            else:
                self._deliver((d.x, d.y), d.axon, payload, out)

    def _integrate(self):
        for xy in self.coords:
            events = self.pending.pop(xy, None)
            if events:
                self.cores[xy].events(events)

    def run(self, image, inputs) -> list:
        """Run network inputs (per step: (index, payload)) of a ChipImage; returns the
        decoded output-layer events per step."""
        return [image.decode_outputs(self.step(image.host_packets(ev))) for ev in inputs]
