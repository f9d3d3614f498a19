"""The chip: a W x H mesh of tiles (router + core + route expander) and a host port.

A tile's core is a neurocore, or, for the last ``sdsp.tiles`` tiles
(:func:`hw.spec.memmap.sdsp_tiles`), an SDSP core (:mod:`hw.sdsp`). An SDSP core is
event-driven: it processes each event as it arrives (axon ``kind * N + index``,
:func:`hw.spec.sdsp.split_axon`) and takes no part in the tick, so its spikes reach
their destinations within the same step, and a neurocore integrates them before its
next tick. Its input FIFO back-pressures the mesh. Its events must come from one
source per phase of a step (the host before the step, one core after the tick) for
the learning to be deterministic (DESIGN.md section 4); routes that lead from SDSP
tiles back into SDSP tiles in a cycle could deadlock and are the user's to avoid.

Timestep protocol (what the driver does):

1. send the timestep's input events on ``host_in`` (packets to ``(x, y, axon)``);
2. send one ``step`` request; the chip waits until it is quiescent (every core idle,
   every route expander idle, no flit in the mesh, nothing offered on ``host_in``),
   then ticks every core at once;
3. ``step_done`` pulses once every core has finished its tick and every spike has
   reached its destination core (or the host, on ``host_out``) and been integrated: the
   chip is quiescent again and the next timestep may begin.

Spikes of a tick are integrated at the next timestep wherever they go, so the result
does not depend on arrival order (DESIGN.md section 4). Each core's output FIFO holds a
whole tick's spikes (``out_fifo_depth >= neurons``, checked here), so every tick
completes whatever the mesh is doing, and the mesh drains because integration never
waits on output: the chip cannot deadlock. The host must keep taking ``host_out``.

Memories: every FaultSRAM of every tile, in :func:`hw.spec.memmap.chip_memories` order,
is in the memory directory and on the chip's memory bus (``mem_req``/``mem_resp``,
index = that order), usable while the chip is idle (faults at any time).

Counters: ``counters`` (chip: cycles busy/idle, steps, host events in/out, misrouted
flits) and ``core_counters[t]`` (each core's, :data:`hw.spec.counters.CORE_COUNTERS`).
"""

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .spec.config import ChipConfig
from .spec.counters import CHIP_COUNTERS, counter_layout
from .counters import saturating
from .core import Neurocore
from .spec.directory import MemoryDirectory
from .mem.bus import MemoryBus
from .noc.mesh import Mesh
from .spec.packet import packet_layout
from .spec.memmap import sdsp_tiles, tile_coords, tile_prefix
from .noc.route_expander import RouteExpander
from .sdsp.core import SdspCore

__all__ = ["Chip"]



class Chip(wiring.Component):
    def __init__(self, config: ChipConfig, directory: MemoryDirectory | None = None,
                 images=None):
        c = config.core
        plastic = sdsp_tiles(config)
        if c.out_fifo_depth < c.neurons and len(plastic) < config.noc.tiles:
            raise ValueError(f"core.out_fifo_depth ({c.out_fifo_depth}) must be at least "
                             f"core.neurons ({c.neurons}) on a chip: one tick's spikes must "
                             "fit in a core's output FIFO, or cores can deadlock")
        self.config = config
        self.directory = directory if directory is not None else MemoryDirectory(config.hash)
        self.coords = tile_coords(config)
        self.cores, self.expanders = [], []
        srams = []
        for x, y in self.coords:
            kind = SdspCore if (x, y) in plastic else Neurocore
            core = kind(config, prefix=tile_prefix(x, y), directory=self.directory,
                        images=images, own_bus=False)
            exp = RouteExpander(config, x, y, directory=self.directory, images=images)
            self.cores.append(core)
            self.expanders.append(exp)
            srams += core.srams + exp.srams
        self.srams = srams
        self.mesh = Mesh(config)
        self.bus = MemoryBus(srams)
        layout = packet_layout(config)
        self.counter_layout = counter_layout(CHIP_COUNTERS, c.counter_bits)
        super().__init__({
            "host_in": In(stream.Signature(layout)),
            "host_out": Out(stream.Signature(layout)),
            "step": In(stream.Signature(1)),
            "step_done": Out(1),
            "idle": Out(1),
            "mem_req": In(stream.Signature(self.bus.req.payload.shape())),
            "mem_resp": Out(stream.Signature(self.bus.resp.payload.shape())),
            "counters": Out(self.counter_layout),
            "core_counters": Out(self.cores[0].counter_layout).array(len(self.coords)),
            "clear_counters": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config.core
        n = len(self.coords)
        m.submodules.mesh = mesh = self.mesh
        m.submodules.bus = bus = self.bus
        wiring.connect(m, wiring.flipped(self.mem_req), bus.req)
        wiring.connect(m, bus.resp, wiring.flipped(self.mem_resp))
        wiring.connect(m, wiring.flipped(self.host_in), mesh.host_in)
        wiring.connect(m, mesh.host_out, wiring.flipped(self.host_out))
        for t, (x, y) in enumerate(self.coords):
            core, exp = self.cores[t], self.expanders[t]
            m.submodules[f"core{x}_{y}"] = core
            m.submodules[f"routes{x}_{y}"] = exp
            wiring.connect(m, core.spikes, exp.spikes)
            wiring.connect(m, exp.packets, mesh.local_in[t])
            arrive = mesh.local_out[t]
            m.d.comb += [core.events.valid.eq(arrive.valid),
                         arrive.ready.eq(core.events.ready),
                         core.clear_counters.eq(self.clear_counters),
                         self.core_counters[t].eq(core.counters)]
            if isinstance(core, SdspCore):
                bits = self.config.sdsp.index_bits
                m.d.comb += [core.events.payload.kind.eq(arrive.payload.axon[bits:bits + 2]),
                             core.events.payload.index.eq(arrive.payload.axon[:bits]),
                             core.events.payload.arg.eq(arrive.payload.payload)]
            else:
                m.d.comb += [core.events.payload.axon.eq(arrive.payload.axon),
                             core.events.payload.payload.eq(arrive.payload.payload)]

        quiet = Signal()
        m.d.comb += quiet.eq(mesh.empty & ~self.host_in.valid
                             & Cat(*(k.idle for k in self.cores)).all()
                             & Cat(*(e.idle for e in self.expanders)).all())
        accepted = Signal(n)
        done = Signal(n)
        ticked = [not isinstance(core, SdspCore) for core in self.cores]
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.step.valid & quiet):
                    m.d.sync += [accepted.eq(0), done.eq(0)]
                    m.next = "TICK"
            with m.State("TICK"):
                for t, core in enumerate(self.cores):
                    if ticked[t]:
                        m.d.comb += core.tick.valid.eq(~accepted[t])
                        with m.If(core.tick.ready):
                            m.d.sync += accepted[t].eq(1)
                with m.If(Cat(*(accepted[t] | core.tick.ready if ticked[t] else 1
                                 for t, core in enumerate(self.cores))).all()):
                    m.d.comb += self.step.ready.eq(1)
                    m.next = "RUN"
            with m.State("RUN"):
                # an SDSP core has no tick to finish
                with m.If(Cat(*(done[t] if ticked[t] else Const(1, 1) for t in range(n))).all() & quiet):
                    m.d.comb += self.step_done.eq(1)
                    m.next = "IDLE"
        for t, core in enumerate(self.cores):
            if ticked[t]:
                with m.If(core.tick_done):
                    m.d.sync += done[t].eq(1)
        idle = Signal()
        m.d.comb += [idle.eq(fsm.ongoing("IDLE") & quiet), self.idle.eq(idle),
                     bus.enable.eq(idle)]

        def fires(s):
            return (s.valid & s.ready).as_unsigned()
        increments = {"cycles_busy": ~idle, "cycles_idle": idle, "steps": self.step_done,
                      "host_events_in": fires(self.host_in),
                      "host_events_out": fires(self.host_out)}
        for name, inc in increments.items():
            saturating(m, getattr(self.counters, name), inc, self.clear_counters,
                       name=f"chip_{name}")
        m.d.comb += self.counters.misrouted.eq(mesh.misrouted)
        return m
