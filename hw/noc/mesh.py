"""W x H mesh of routers, with the host on the west port of tile (0, 0).

Each tile's local port is exposed (``local_in[t]``/``local_out[t]``, ``t`` in directory
order, :func:`~hw.spec.memmap.tile_coords`) so that the chip attaches cores to them and
testbenches attach traffic generators. Counters (saturating, ``counter_bits``):
``injected`` (flits entering at local and host ports), ``delivered`` (flits leaving at
local and host ports), ``misrouted`` (flits dropped because their route left the
mesh; also the sticky ``misrouted_flag``). ``empty`` is high when no router holds a
flit.
"""

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..counters import saturating
from ..spec.config import ChipConfig
from ..spec.packet import Port, packet_layout
from ..spec.memmap import tile_coords
from .router import Router

__all__ = ["Mesh"]


class Mesh(wiring.Component):
    def __init__(self, config: ChipConfig):
        self.config = config
        self.coords = tile_coords(config)
        self.routers = {(x, y): Router(config, x, y) for x, y in self.coords}
        layout = packet_layout(config)
        cb = config.core.counter_bits
        super().__init__({
            "local_in": In(stream.Signature(layout)).array(len(self.coords)),
            "local_out": Out(stream.Signature(layout)).array(len(self.coords)),
            "host_in": In(stream.Signature(layout)),
            "host_out": Out(stream.Signature(layout)),
            "injected": Out(cb), "delivered": Out(cb), "misrouted": Out(cb),
            "misrouted_flag": Out(1), "empty": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.config.noc
        for (x, y), r in self.routers.items():
            m.submodules[f"router{x}_{y}"] = r
        for t, (x, y) in enumerate(self.coords):
            r = self.routers[(x, y)]
            wiring.connect(m, wiring.flipped(self.local_in[t]), r.i[Port.L])
            wiring.connect(m, r.o[Port.L], wiring.flipped(self.local_out[t]))
            if x + 1 < n.width:
                e = self.routers[(x + 1, y)]
                wiring.connect(m, r.o[Port.E], e.i[Port.W])
                wiring.connect(m, e.o[Port.W], r.i[Port.E])
            if y + 1 < n.height:
                s = self.routers[(x, y + 1)]
                wiring.connect(m, r.o[Port.S], s.i[Port.N])
                wiring.connect(m, s.o[Port.N], r.i[Port.S])
        home = self.routers[(0, 0)]
        wiring.connect(m, wiring.flipped(self.host_in), home.i[Port.W])
        wiring.connect(m, home.o[Port.W], wiring.flipped(self.host_out))

        def fires(s):
            return (s.valid & s.ready).as_unsigned()
        ins = sum(fires(s) for s in [*self.local_in, self.host_in])
        outs = sum(fires(s) for s in [*self.local_out, self.host_out])
        drops = sum(r.misrouted.as_unsigned() for r in self.routers.values())
        top = (1 << len(self.injected)) - 1
        saturating(m, self.injected, ins)
        saturating(m, self.delivered, outs)
        m.d.comb += [self.misrouted.eq(Mux(drops > top, top, drops)),
                     self.misrouted_flag.eq(Cat(*(r.misrouted_flag
                                                  for r in self.routers.values())).any()),
                     self.empty.eq(~Cat(*(r.busy for r in self.routers.values())).any())]
        return m
