"""Five-port mesh router: input FIFOs, XY routing, round-robin arbitration per output.

Ports ``i[p]``/``o[p]`` for ``p`` in :class:`~hw.spec.packet.Port` (N, E, S, W, L), all
:mod:`~amaranth.lib.stream` channels of :func:`~hw.spec.packet.packet_layout`.

Cycle behaviour
---------------
* A flit accepted on ``i[p]`` in cycle *t* is in that input's FIFO (depth
  ``noc.fifo_depth``) and can leave on an output in *t+1*: one cycle per hop at zero
  load, plus one for the ejection.
* Each FIFO head requests one output, by XY routing: east/west until ``x`` matches,
  then south/north, then local (or, for a ``to_host`` packet at tile (0, 0), west to
  the host). Packets for the host head for (0, 0).
* Each output grants one requesting input per cycle, round robin (the input after the
  last one served has priority), so an output moves one flit per cycle when ready and
  every input is served within five grants. ``valid`` never waits for ``ready``.
* A head whose route leaves the mesh (a destination outside it, or the host's port on
  another tile) has no output: it is consumed, counted in ``misrouted`` and flagged
  (sticky), so that a bad packet never blocks the mesh.
"""

from amaranth import Array, Cat, Module, Mux, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import ChipConfig
from ..spec.packet import Port, packet_layout

__all__ = ["Router"]


class Router(wiring.Component):
    """Router of tile ``(x, y)``. ``edges`` lists the ports that lead somewhere (a
    mesh-edge port without a neighbour is absent, except W at (0, 0), the host's)."""

    def __init__(self, config: ChipConfig, x: int, y: int):
        self.config, self.x, self.y = config, x, y
        n = config.noc
        self.layout = packet_layout(config)
        self.edges = {Port.L}
        if y > 0:
            self.edges.add(Port.N)
        if y < n.height - 1:
            self.edges.add(Port.S)
        if x < n.width - 1:
            self.edges.add(Port.E)
        if x > 0 or y == 0:
            self.edges.add(Port.W)   # at (0, 0) west is the host
        super().__init__({
            "i": In(stream.Signature(self.layout)).array(5),
            "o": Out(stream.Signature(self.layout)).array(5),
            "misrouted": Out(16),
            "misrouted_flag": Out(1),
            "busy": Out(1),
        })

    def route(self, m, head, name):
        """Output port requested by a packet at this router (combinational)."""
        out = Signal(3, name=f"{name}_route")
        dx = Mux(head.to_host, 0, head.x)
        dy = Mux(head.to_host, 0, head.y)
        with m.If(dx > self.x):
            m.d.comb += out.eq(Port.E)
        with m.Elif(dx < self.x):
            m.d.comb += out.eq(Port.W)
        with m.Elif(dy > self.y):
            m.d.comb += out.eq(Port.S)
        with m.Elif(dy < self.y):
            m.d.comb += out.eq(Port.N)
        with m.Elif(head.to_host):
            m.d.comb += out.eq(Port.W)
        with m.Else():
            m.d.comb += out.eq(Port.L)
        return out

    def elaborate(self, platform):
        m = Module()
        depth = self.config.noc.fifo_depth
        fifos, heads, valid, req = [], [], [], []
        for p in Port:
            m.submodules[f"fifo_{p.name}"] = q = fifo.SyncFIFO(width=self.layout.size,
                                                               depth=depth)
            m.d.comb += [q.w_data.eq(self.i[p].payload), q.w_en.eq(self.i[p].valid),
                         self.i[p].ready.eq(q.w_rdy)]
            head = Signal(self.layout, name=f"head_{p.name}")
            m.d.comb += head.eq(q.r_data)
            fifos.append(q)
            heads.append(head)
            valid.append(q.r_rdy)
            req.append(self.route(m, head, f"in_{p.name}"))

        # a head routed to a port that does not exist is dropped and counted
        missing = [o for o in Port if o not in self.edges]
        drop = [Signal(name=f"drop_{p.name}") for p in Port]
        for p in Port:
            if missing:
                m.d.comb += drop[p].eq(valid[p] & Cat(*(req[p] == o for o in missing)).any())

        # outputs: round-robin grant among the inputs requesting them
        taken = [Signal(name=f"taken_{p.name}") for p in Port]
        for o in self.edges:
            want = Cat(*(valid[p] & (req[p] == o) for p in Port))
            last = Signal(3, name=f"last_{o.name}", init=4)
            grant = Signal(3, name=f"grant_{o.name}")
            # priority order last+1, last+2, ... (cyclic); the last assignment wins
            for k in reversed(range(1, 6)):
                for l in range(5):
                    with m.If((last == l) & want[(l + k) % 5]):
                        m.d.comb += grant.eq((l + k) % 5)
            m.d.comb += [self.o[o].valid.eq(want.any()),
                         self.o[o].payload.eq(Array(heads)[grant])]
            with m.If(self.o[o].valid & self.o[o].ready):
                m.d.sync += last.eq(grant)
                for p in Port:
                    with m.If(grant == p):
                        m.d.comb += taken[p].eq(1)
        for p in Port:
            m.d.comb += fifos[p].r_en.eq(taken[p] | drop[p])

        n_drop = Signal(3)
        m.d.comb += n_drop.eq(sum(d.as_unsigned() for d in drop))
        with m.If(n_drop != 0):
            total = self.misrouted + n_drop
            m.d.sync += [self.misrouted.eq(Mux(total > 0xFFFF, 0xFFFF, total)),
                         self.misrouted_flag.eq(1)]
        m.d.comb += self.busy.eq(Cat(*valid).any())
        return m
