"""Route expander: fired neuron -> routing table -> packets (multicast by replication).

Sits between a core's spike stream and its router's local input. For a spike of neuron
``n`` with payload ``p`` it reads ``route_table[n] = (first, count)`` and sends one packet
``dest_table[first + i] + p`` per entry, in order; a neuron with ``count = 0`` sends
nothing. Both tables are FaultSRAMs (role ``tables``) in the memory directory, named
``<tile>.route_table`` and ``<tile>.dest_table``.

Cycle behaviour: a spike is taken in cycle *t*, its route is read in *t* and known in
*t+1*, the first destination is read in *t+1* and offered from *t+2*; further
destinations follow one per cycle while the router takes them. The next spike's route
is read in the cycle the last packet leaves, so single-destination spikes cost two
cycles each. ``sent`` counts packets sent (saturating, ``counter_bits``, never cleared).
"""

from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..counters import saturating
from ..spec.config import ChipConfig
from ..spec.isa import Isa
from ..mem import FaultSRAM
from ..spec.packet import dest_layout, packet_layout, route_layout
from ..spec.memmap import tile_memories

__all__ = ["RouteExpander"]


class RouteExpander(wiring.Component):
    def __init__(self, config: ChipConfig, x: int, y: int, *, directory=None, images=None):
        self.config = config
        specs = {s.name: s for s in tile_memories(config, x, y)}
        prefix = f"tile{x}_{y}"
        self.route_table = FaultSRAM.for_chip(specs[f"{prefix}.route_table"], config,
                                              directory, images=images)
        self.dest_table = FaultSRAM.for_chip(specs[f"{prefix}.dest_table"], config,
                                             directory, images=images)
        self.srams = [self.route_table, self.dest_table]
        # one route per neuron of the tile's core (a neurocore's or an SDSP core's)
        spike = data.StructLayout({"neuron": self.route_table.addr_width,
                                   "payload": Isa.of(config).spike.members["payload"]})
        super().__init__({
            "spikes": In(stream.Signature(spike)),
            "packets": Out(stream.Signature(packet_layout(config))),
            "sent": Out(config.core.counter_bits),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.route_table = rt = self.route_table
        m.submodules.dest_table = dt = self.dest_table
        route = data.View(route_layout(self.config), rt.read[0].data)
        dest = data.View(dest_layout(self.config), dt.read[0].data)
        payload = Signal.like(self.spikes.payload.payload)
        idx = Signal.like(route.count)
        first = Signal.like(route.first)
        count = Signal.like(route.count)
        out = self.packets
        m.d.comb += [rt.read[0].addr.eq(self.spikes.payload.neuron),
                     out.payload.to_host.eq(dest.to_host), out.payload.x.eq(dest.x),
                     out.payload.y.eq(dest.y), out.payload.axon.eq(dest.axon),
                     out.payload.payload.eq(payload)]

        def take_spike():
            m.d.comb += [self.spikes.ready.eq(1), rt.read[0].en.eq(self.spikes.valid)]
            with m.If(self.spikes.valid):
                m.d.sync += payload.eq(self.spikes.payload.payload)
                m.next = "ROUTE"
            with m.Else():
                m.next = "IDLE"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.idle.eq(~self.spikes.valid)
                take_spike()
            with m.State("ROUTE"):
                m.d.sync += [first.eq(route.first), count.eq(route.count), idx.eq(1)]
                m.d.comb += [dt.read[0].addr.eq(route.first), dt.read[0].en.eq(route.count != 0)]
                with m.If(route.count == 0):
                    m.next = "IDLE"
                with m.Else():
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += out.valid.eq(1)
                with m.If(out.ready):
                    with m.If(idx == count):
                        take_spike()
                    with m.Else():
                        m.d.comb += [dt.read[0].addr.eq(first + idx), dt.read[0].en.eq(1)]
                        m.d.sync += idx.eq(idx + 1)
        # out.valid is high only in SEND
        saturating(m, self.sent, out.valid & out.ready)
        return m
