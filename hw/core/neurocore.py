"""Neurocore: loop controller, N NPE lanes, target table, event generator, counters.

Data flow
---------
``events`` (axon, payload) and ``tick`` requests enter the loop controller's task queue
(a tick is queued ahead of an event offered in the same cycle: such an event can only
belong to the next timestep). Each event runs its axon's program (typically one looping
MAC over the axon's synapse rows: ``A[T[row]] += W[row] * payload`` in every lane);
each tick runs every layer's neuron program (a looping VEC over the layer's rows) and
then raises ``tick_done`` for one cycle, once every spike of the tick is in the output
FIFO.

Event generator: when a VEC instruction retires, the lanes whose spike condition holds
(``emit_req``) go as one row into a queue of ``ROW_QUEUE`` rows; the row at its head is
loaded into a pending set and sent one spike per cycle, lowest lane first, as
(neuron = row * lanes + lane, payload) into the output FIFO (``spikes``). While the row
queue is full the VEC pipeline is frozen (``freeze`` is a register, since every VEC
stage register of every lane obeys it): a full output FIFO back-pressures the core; no
spike is dropped.

Memories (FaultSRAMs, directory order): microcode, axon table, layer table, target
table, then per lane weights, acc, state (:func:`hw.spec.memmap.core_memories`). The ``mem``
bus (:class:`hw.mem.bus.MemoryBus`, memory index = that order) loads and reads them
while the core is idle, and injects faults at any time.

Counters (``counter_bits``, saturating, cleared by ``clear_counters``): cycles busy and
idle, events in (taken from the queue), events out (spikes sent), synaptic ops (enabled
lanes of issued MACs), neuron updates (enabled lanes of issued VECs that store the
membrane ``v``), ticks, accumulator overflows (also the sticky ``overflow`` flag), and
the delay queue's pushes, overflows (also the sticky ``delay_overflow`` flag) and peak
occupancy. Synaptic ops and neuron updates land one cycle after their issue (the
increment is registered, which keeps it off the critical path); the core is not
``idle`` before they have.

Delays (``config.delay.unit``)
------------------------------
``scdq``: a :class:`~hw.delay.scdq.DelayQueue` (memory ``{prefix}.delay_queue``, last in
directory order) takes the groups of nonzero delay from the loop controller's walker. A
tick request is taken in four phases, with ``events`` held off meanwhile: wait until the
controller is idle (every earlier event walked, so every push of this timestep is in);
drain the due slot into the controller as ``delayed`` tasks, in push order; hand the
tick to the controller; advance the queue. So an event of timestep ``t`` on a group of
delay ``d`` is integrated just before tick ``t + d``. A full queue refuses the push,
counts it and raises ``delay_overflow`` (sticky). The queue is ready ``capacity`` cycles
after reset (its free list is built by then); events wait for it.
``ring``: the lanes' accumulator banks hold ``delay.slots`` slots; the controller
issues MACs into slot ``now + delay`` and the tick's VECs read slot ``now``.
"""

from amaranth import Array, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..spec.config import ChipConfig, DelayUnit
from ..spec.counters import CORE_COUNTERS, counter_layout
from ..counters import saturating
from ..delay.scdq import DelayQueue
from ..spec.isa import Isa, StoreSel
from ..spec.memmap import core_memories
from ..loopctl import LoopController
from ..mem import FaultSRAM
from ..mem.bus import MemoryBus
from ..npe import NpeLane

#: Rows of spikes that can wait between the VEC store stage and the event generator.
ROW_QUEUE = 4

__all__ = ["Neurocore"]



class Neurocore(wiring.Component):
    """One SENECA-style neurocore.

    ``images`` (``{memory name: words}``, e.g. ``CoreImage.images``) initialises the
    memories, which bakes a network into the bitstream.

    Members
    -------
    events : ``In(stream.Signature(isa.event))``
    tick : ``In(stream.Signature(1))``, a tick request (payload unused).
    spikes : ``Out(stream.Signature(isa.spike))``
    tick_done : ``Out(1)``
    idle : ``Out(1)``, nothing queued or running and no spike waiting to leave (the
        output FIFO is empty too).
    counters : ``Out(counter_layout)``
    clear_counters : ``In(1)``
    overflow : ``Out(1)``, sticky: an accumulator overflowed.
    mem_req, mem_resp : the memory bus's request and response streams (absent with
        ``own_bus=False``, when a chip-level bus drives the memories).
    """

    def __init__(self, config: ChipConfig, *, prefix: str = "core", directory=None,
                 images=None, own_bus: bool = True):
        self.config = config
        self.isa = isa = Isa.of(config)
        c = config.core
        self.prefix = prefix
        self.controller = LoopController(config, prefix=prefix, directory=directory,
                                         images=images)
        specs = {s.name: s for s in core_memories(isa, prefix)}
        self.target_table = FaultSRAM.for_chip(specs[f"{prefix}.target_table"], config,
                                               directory, images=images)
        self.lanes = [NpeLane(config, i, prefix=prefix, directory=directory, images=images,
                              mask_bit=0) for i in range(c.lanes)]
        self.srams = [self.controller.microcode, self.controller.axon_table,
                      self.controller.layer_table, self.target_table]
        for lane in self.lanes:
            self.srams += [lane.weights, lane.acc, lane.state]
        self.queue = None
        if isa.unit is DelayUnit.SCDQ:
            self.queue = DelayQueue(config, prefix=prefix, directory=directory)
            self.srams.append(self.queue.memory)
        assert [s.name for s in self.srams] == list(specs)
        # A chip drives all its memories from one bus of its own instead.
        self.bus = MemoryBus(self.srams) if own_bus else None
        bus_ports = {
            "mem_req": In(stream.Signature(self.bus.req.payload.shape())),
            "mem_resp": Out(stream.Signature(self.bus.resp.payload.shape())),
        } if own_bus else {}
        self.counter_layout = counter_layout(CORE_COUNTERS, c.counter_bits)
        super().__init__({
            "events": In(stream.Signature(isa.event)),
            "tick": In(stream.Signature(1)),
            "spikes": Out(stream.Signature(isa.spike)),
            "tick_done": Out(1),
            "idle": Out(1),
            "counters": Out(self.counter_layout),
            "clear_counters": In(1),
            "overflow": Out(1),
            "delay_overflow": Out(1),
            **bus_ports,
        })

    def elaborate(self, platform):
        m = Module()
        c, isa = self.config.core, self.isa
        N = c.lanes
        m.submodules.controller = ctl = self.controller
        m.submodules.target_table = ttab = self.target_table
        for i, lane in enumerate(self.lanes):
            m.submodules[f"lane{i}"] = lane
        bus = self.bus
        if bus is not None:
            m.submodules.bus = bus
            wiring.connect(m, wiring.flipped(self.mem_req), bus.req)
            wiring.connect(m, bus.resp, wiring.flipped(self.mem_resp))

        # tasks: a tick goes ahead of an event offered in the same cycle
        task = ctl.tasks.payload
        queue = self.queue
        seq_idle = Signal(init=1)
        if queue is None:
            m.d.comb += [
                ctl.tasks.valid.eq(self.tick.valid | self.events.valid),
                task.tick.eq(self.tick.valid),
                task.axon.eq(self.events.payload.axon),
                task.payload.eq(self.events.payload.payload),
                self.tick.ready.eq(ctl.tasks.ready),
                self.events.ready.eq(ctl.tasks.ready & ~self.tick.valid),
            ]
        else:
            m.submodules.delay_queue = queue
            wiring.connect(m, ctl.delayed, queue.push)
            m.d.comb += [queue.clear_counters.eq(self.clear_counters),
                         seq_idle.eq(0)]
            with m.FSM(name="tick_seq"):
                with m.State("EVENTS"):
                    m.d.comb += [
                        seq_idle.eq(1),
                        ctl.tasks.valid.eq(self.events.valid & ~self.tick.valid),
                        task.axon.eq(self.events.payload.axon),
                        task.payload.eq(self.events.payload.payload),
                        self.events.ready.eq(ctl.tasks.ready & ~self.tick.valid),
                    ]
                    with m.If(self.tick.valid):
                        m.next = "WAIT"
                with m.State("WAIT"):
                    with m.If(ctl.idle & queue.ready):
                        m.next = "DRAIN"
                with m.State("DRAIN"):
                    item = queue.drain.payload
                    m.d.comb += [
                        ctl.tasks.valid.eq(queue.drain.valid), task.delayed.eq(1),
                        task.axon.eq(item.axon), task.group.eq(item.group),
                        task.payload.eq(item.payload),
                        queue.drain.ready.eq(ctl.tasks.ready),
                    ]
                    with m.If(queue.due_empty):
                        m.next = "TICK"
                with m.State("TICK"):
                    m.d.comb += [ctl.tasks.valid.eq(1), task.tick.eq(1),
                                 self.tick.ready.eq(ctl.tasks.ready)]
                    with m.If(ctl.tasks.ready):
                        m.next = "ADVANCE"
                with m.State("ADVANCE"):
                    m.d.comb += queue.advance.valid.eq(1)
                    with m.If(queue.advance.ready):
                        m.next = "EVENTS"
        if self.isa.unit is DelayUnit.RING:
            for lane in self.lanes:
                m.d.comb += lane.now.eq(ctl.now)

        # broadcast issue; target table read for MACs
        iss = ctl.issue
        m.d.comb += [ttab.read[0].addr.eq(iss.row), ttab.read[0].en.eq(iss.mac & iss.mac_t)]
        for i, lane in enumerate(self.lanes):
            # each lane reads bit 0 of its own shifted mask (see NpeLane's mask_bit)
            m.d.comb += [lane.issue.eq(iss), lane.issue.mask.eq(iss.mask >> i),
                         lane.t_row.eq(ttab.read[0].data)]

        # event generator
        m.submodules.out = ofifo = fifo.SyncFIFOBuffered(width=isa.spike.size,
                                                         depth=c.out_fifo_depth)
        m.d.comb += [self.spikes.payload.eq(ofifo.r_data), self.spikes.valid.eq(ofifo.r_rdy),
                     ofifo.r_en.eq(self.spikes.ready)]
        req = Signal(N)
        m.d.comb += req.eq(Cat(*(lane.emit_req for lane in self.lanes)))
        # Rows that spiked wait in a short queue (spike mask, row, payloads) between the
        # store stage and the serializer, so that `freeze` (which every VEC stage
        # register of every lane obeys) is a register: the queue is full.
        row_l = data.StructLayout({"req": N, "row": len(ctl.store_row),
                                   "pay": data.ArrayLayout(self.lanes[0].emit_payload.shape(),
                                                           N)})
        m.submodules.rows = rows = fifo.SyncFIFO(width=row_l.size, depth=ROW_QUEUE)
        freeze = Signal()
        push = Signal()
        pushed = data.View(row_l, rows.w_data)
        m.d.comb += [push.eq(ctl.store_valid & req.any() & ~freeze),
                     rows.w_en.eq(push), pushed.req.eq(req), pushed.row.eq(ctl.store_row)]
        m.d.comb += [pushed.pay[i].eq(lane.emit_payload) for i, lane in enumerate(self.lanes)]

        pending = Signal(N)
        head = data.View(row_l, rows.r_data)
        pend_pay = [Signal.like(self.lanes[0].emit_payload, name=f"pend_pay{i}")
                    for i in range(N)]
        pend_row = Signal.like(ctl.store_row)
        first = Signal(range(N) if N > 1 else unsigned(1))
        for i in reversed(range(N)):
            with m.If(pending[i]):
                m.d.comb += first.eq(i)
        send = Signal()
        m.d.comb += send.eq(pending.any() & ofifo.w_rdy)
        spike = data.View(isa.spike, ofifo.w_data)
        lane_bits = ceil_log2(N)
        m.d.comb += [
            spike.neuron.eq(Cat(first[:lane_bits], pend_row) if lane_bits else pend_row),
            spike.payload.eq(Array(pend_pay)[first]),
            ofifo.w_en.eq(send),
        ]
        after = Signal(N)
        m.d.comb += after.eq(Mux(send, pending & ~(1 << first), pending))
        pop = Signal()
        m.d.comb += [pop.eq(rows.r_rdy & ~after.any()), rows.r_en.eq(pop)]
        with m.If(pop):
            m.d.sync += [pending.eq(head.req), pend_row.eq(head.row)]
            m.d.sync += [p.eq(head.pay[i]) for i, p in enumerate(pend_pay)]
        with m.Else():
            m.d.sync += pending.eq(after)
        # full in the next cycle: at most one row enters per cycle
        m.d.sync += freeze.eq(rows.level + push - pop >= ROW_QUEUE)
        m.d.comb += [ctl.freeze.eq(freeze),
                     ctl.emit_idle.eq(~pending.any() & ~rows.r_rdy)]
        for lane in self.lanes:
            m.d.comb += lane.freeze.eq(freeze)

        idle, counting = Signal(), Signal()
        m.d.comb += [idle.eq(ctl.idle & ~pending.any() & ~rows.r_rdy & (ofifo.level == 0) & seq_idle
                             & ~counting),
                     self.idle.eq(idle),
                     self.tick_done.eq(ctl.tick_done)]
        if bus is not None:
            m.d.comb += bus.enable.eq(idle)

        # counters
        def popcount(v):
            return sum(v[i].as_unsigned() for i in range(len(v)))
        writes_v = iss.ctl.st_v != StoreSel.KEEP
        increments = {
            "cycles_busy": ~idle, "cycles_idle": idle,
            "events_in": ctl.event_taken, "events_out": send,
            "synops": Mux(iss.mac, popcount(iss.mask), 0),
            "neuron_updates": Mux(iss.vec & writes_v, popcount(iss.mask), 0),
            "ticks": ctl.tick_done,
            "acc_overflows": popcount(Cat(*(lane.overflow for lane in self.lanes))),
        }
        if queue is not None:
            m.d.comb += [self.counters.delay_pushes.eq(queue.pushes),
                         self.counters.delay_overflows.eq(queue.overflows),
                         self.counters.delay_max_occupancy.eq(queue.max_occupancy),
                         self.delay_overflow.eq(queue.overflow)]
        # synops and neuron_updates are decoded from the controller's issue; adding them
        # in the issue cycle put the microcode read, the issue decode and the counter's
        # carry chain on one path (the chip's critical path on ECP5). Their increments
        # are registered, and the core is not idle while one is still to be added, so a
        # count read when the core is idle is complete.
        late = {}
        for name in ("synops", "neuron_updates"):
            late[name] = Signal(len(increments[name].as_unsigned()), name=f"{name}_inc")
            with m.If(self.clear_counters):
                m.d.sync += late[name].eq(0)
            with m.Else():
                m.d.sync += late[name].eq(increments[name])
            increments[name] = late[name]
        m.d.comb += counting.eq(Cat(*late.values()).any())
        for name, inc in increments.items():
            saturating(m, getattr(self.counters, name), inc, self.clear_counters, name=name)
        with m.If(self.clear_counters):
            m.d.sync += self.overflow.eq(0)
        with m.Elif(increments["acc_overflows"] != 0):
            m.d.sync += self.overflow.eq(1)
        return m
