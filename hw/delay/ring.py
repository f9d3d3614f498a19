"""Ring-buffer delays (Loihi-style baseline): D future input accumulators per neuron.

Every neuron ``n`` owns ``D = config.delay.slots`` accumulators, one per future
timestep, in one FaultSRAM of ``neurons x D`` words of ``core.acc_bits``
(``{prefix}.delay_ring``, role ``delay``; word ``n * D + slot``). ``add`` accumulates a
weighted contribution ``{neuron, delay, value}`` into accumulator ``(now + delay) mod D``
of that neuron, wrapping at ``acc_bits`` like the core's accumulators; ``drain`` streams
the due slot's nonzero accumulators ``{neuron, value}`` in neuron order and clears them;
``advance`` moves ``now`` on. Its memory is ``neurons x D x acc_bits`` whatever the
activity: the baseline that :mod:`hw.delay.scdq` is measured against. The golden twin is
:class:`sim.golden.delay.GoldenRingBuffer`.

Cycle behaviour
---------------
* **Reset**: a walk writes 0 into every word, one per cycle: ``ready`` rises
  ``neurons * D`` cycles after reset; until then ``add.ready`` and ``advance.ready`` are
  low. Slot 0 is then due and already scanned.
* **One read-modify-write pipeline** carries both kinds of operation: in the issue
  cycle the word is read; in the next cycle the result is written (an add's wrapped sum,
  or 0 after a scan found a nonzero accumulator). A result written in the cycle a later
  operation reads the same word is forwarded, so back-to-back adds to one accumulator
  cost nothing extra.
* **add** (``lib.stream``): one per cycle. ``delay = 0`` is refused (``bad_delay``), so
  is ``neuron >= neurons`` (``bad_neuron``, possible only when ``neurons`` is not a power
  of two); neither touches the memory.
* **Scan** of slot ``now``: after each ``advance`` the neurons ``0 .. neurons-1`` are
  read one per cycle; nonzero ones enter a 4-entry output FIFO (``drain`` one cycle
  after their read's result) and are cleared. A scan step is issued only while the FIFO
  has room for it (counting the step in flight), so ``drain`` back-pressure stalls the
  scan, never loses an item. A scan costs ``neurons`` cycles per timestep whatever the
  activity.
* **Sharing the pipeline**: when an add and a scan step want the same cycle they take
  turns. ``add.ready`` depends on registers only.
* **advance** (``lib.stream``): ``advance.ready = ready & due_empty``, where
  ``due_empty`` means the scan of slot ``now`` has finished and the FIFO is empty. An
  add in the same cycle uses the old ``now``.
* **Counters** (``core.counter_bits``, saturating) update one cycle after the add is
  taken, when its sum is written: ``adds`` (stored), ``overflows`` (sums that wrapped;
  also the sticky ``overflow``), ``bad_delay``, ``bad_neuron``. ``clear_counters``
  zeroes them and ``overflow`` and wins over the updates of its cycle (which belong to
  the add taken the cycle before).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import ChipConfig
from ..isa import MemorySpec
from ..mem import FaultSRAM
from .scdq import check_args, saturating, slot_bits

__all__ = ["RingBuffer", "add_layout", "ring_item_layout", "ring_memory", "RING_FIFO_DEPTH"]

#: Entries of the output FIFO between the scan and ``drain``.
RING_FIFO_DEPTH = 4


def add_layout(config: ChipConfig) -> data.StructLayout:
    """What enters on ``add``: ``{neuron, delay, value}``; ``value`` signed ``acc_bits``."""
    c = config.core
    return data.StructLayout({"neuron": unsigned(c.neuron_bits),
                              "delay": unsigned(slot_bits(config)),
                              "value": signed(c.acc_bits)})


def ring_item_layout(config: ChipConfig) -> data.StructLayout:
    """What leaves on ``drain``: ``{neuron, value}``."""
    c = config.core
    return data.StructLayout({"neuron": unsigned(c.neuron_bits), "value": signed(c.acc_bits)})


def ring_memory(config: ChipConfig, prefix: str = "core") -> MemorySpec:
    """The ring's FaultSRAM: ``{prefix}.delay_ring``, role ``delay``, ``neurons * D`` words."""
    return MemorySpec(f"{prefix}.delay_ring", "delay", config.core.acc_bits,
                      config.core.neurons * config.delay.slots)


class RingBuffer(wiring.Component):
    """Per-neuron ring of D future accumulators (see the module docstring).

    Parameters
    ----------
    config : ChipConfig
        ``delay.slots`` (D); ``core.neurons``, ``core.acc_bits``, ``core.counter_bits``;
        ``memory`` for the FaultSRAM.
    prefix : str
        Names the memory ``{prefix}.delay_ring``.
    directory : MemoryDirectory, optional
        Registers the memory.

    Members
    -------
    add : ``In(stream.Signature(add_layout))``
    drain : ``Out(stream.Signature(ring_item_layout))``
    advance : ``In(stream.Signature(1))``, payload unused.
    now : ``Out(slot_bits)``
    due_empty : ``Out(1)``
    ready : ``Out(1)``, the memory is cleared (``neurons * D`` cycles after reset).
    adds, overflows, bad_delay, bad_neuron : ``Out(counter_bits)``
    overflow : ``Out(1)``, sticky: a sum wrapped.
    clear_counters : ``In(1)``
    """

    def __init__(self, config: ChipConfig, *, prefix: str = "core", directory=None):
        check_args("RingBuffer", config, prefix)
        self.config, self.prefix = config, prefix
        self.memory = FaultSRAM.for_chip(ring_memory(config, prefix), config, directory)
        self.srams = [self.memory]
        cb = config.core.counter_bits
        super().__init__({
            "add": In(stream.Signature(add_layout(config))),
            "drain": Out(stream.Signature(ring_item_layout(config))),
            "advance": In(stream.Signature(1)),
            "now": Out(slot_bits(config)),
            "due_empty": Out(1),
            "ready": Out(1),
            "adds": Out(cb),
            "overflows": Out(cb),
            "bad_delay": Out(cb),
            "bad_neuron": Out(cb),
            "overflow": Out(1),
            "clear_counters": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        N, D = cfg.core.neurons, cfg.delay.slots
        ab = cfg.core.acc_bits
        il = ring_item_layout(cfg)
        m.submodules.memory = mem = self.memory
        m.submodules.out = out = fifo.SyncFIFO(width=il.size, depth=RING_FIFO_DEPTH)
        wr, rd = mem.write, mem.read[0]
        aw = mem.addr_width
        now = self.now

        def addr(neuron, slot):
            # word n * D + slot; D is a power of two, so this is a concatenation
            return Cat(slot, neuron)[:aw]

        # --- reset walk ----------------------------------------------------------------
        initialising = Signal(init=1)
        init_addr = Signal(range(N * D))
        with m.If(initialising):
            m.d.comb += [wr.en.eq(1), wr.addr.eq(init_addr), wr.data.eq(0)]
            m.d.sync += init_addr.eq(init_addr + 1)
            with m.If(init_addr == N * D - 1):
                m.d.sync += initialising.eq(0)

        # --- issue stage ---------------------------------------------------------------
        scan_n = Signal(range(N + 1), init=N)   # next neuron to scan; N: slot scanned
        b_valid = Signal()      # an operation is in the write stage
        b_add = Signal()        # ... an add (else a scan step)
        b_addr = Signal(aw)
        b_value = Signal(signed(ab))
        b_neuron = Signal(cfg.core.neuron_bits)
        b_bad_delay = Signal()  # refused adds, counted in the write stage like the rest
        b_bad_neuron = Signal()
        scan_turn = Signal()    # a scan step has priority in the next contention
        room = Signal()
        m.d.comb += room.eq(out.level + (b_valid & ~b_add) < RING_FIFO_DEPTH)
        scan_req = Signal()
        m.d.comb += scan_req.eq(~initialising & (scan_n != N) & room)
        m.d.comb += [
            self.ready.eq(~initialising),
            self.add.ready.eq(~initialising & ~(scan_req & scan_turn)),
            self.due_empty.eq((scan_n == N) & ~(b_valid & ~b_add) & ~out.r_rdy),
            self.advance.ready.eq(~initialising & self.due_empty),
        ]
        a = self.add.payload
        add_go = self.add.valid & self.add.ready
        bad_delay = a.delay == 0
        bad_neuron = a.neuron >= N if N < (1 << len(a.neuron)) else Const(0)
        add_issue = Signal()
        m.d.comb += add_issue.eq(add_go & ~bad_delay & ~bad_neuron)
        scan_go = Signal()
        m.d.comb += scan_go.eq(scan_req & ~add_issue)
        with m.If(scan_req):
            m.d.sync += scan_turn.eq(add_issue)
        adv_go = self.advance.valid & self.advance.ready

        issue_addr = Signal(aw)
        with m.If(add_issue):
            m.d.comb += issue_addr.eq(addr(a.neuron, (now + a.delay)[:len(now)]))
        with m.Else():
            m.d.comb += issue_addr.eq(addr(scan_n, now))
        m.d.comb += [rd.addr.eq(issue_addr), rd.en.eq(add_issue | scan_go)]
        m.d.sync += [
            b_valid.eq(add_issue | scan_go), b_add.eq(add_issue), b_addr.eq(issue_addr),
            b_value.eq(a.value), b_neuron.eq(scan_n),
            b_bad_delay.eq(add_go & bad_delay), b_bad_neuron.eq(add_go & ~bad_delay & bad_neuron),
        ]
        with m.If(scan_go):
            m.d.sync += scan_n.eq(scan_n + 1)
        with m.If(adv_go):
            m.d.sync += [now.eq(now + 1), scan_n.eq(0)]

        # --- write stage ---------------------------------------------------------------
        fwd = Signal()          # the word read in the issue stage was written meanwhile
        fwd_value = Signal(signed(ab))
        old = Signal(signed(ab))
        m.d.comb += old.eq(Mux(fwd, fwd_value, rd.data))
        wide = Signal(signed(ab + 1))
        m.d.comb += wide.eq(old + b_value)
        result = Signal(signed(ab))
        m.d.comb += result.eq(Mux(b_add, wide[:ab], 0))
        wrapped = b_valid & b_add & (wide[ab] != wide[ab - 1])
        emit = b_valid & ~b_add & (old != 0)
        b_writes = b_valid & (b_add | emit)
        with m.If(b_writes):
            m.d.comb += [wr.en.eq(1), wr.addr.eq(b_addr), wr.data.eq(result)]
        m.d.sync += [fwd.eq(b_writes & (rd.en & (rd.addr == b_addr))), fwd_value.eq(result)]
        item = data.View(il, out.w_data)
        m.d.comb += [item.neuron.eq(b_neuron), item.value.eq(old), out.w_en.eq(emit)]

        # --- output ------------------------------------------------------------------------
        m.d.comb += [self.drain.valid.eq(out.r_rdy), self.drain.payload.eq(out.r_data),
                     out.r_en.eq(self.drain.ready)]

        # --- counters ----------------------------------------------------------------------
        clear = self.clear_counters
        saturating(m, self.adds, b_valid & b_add, clear)
        saturating(m, self.overflows, wrapped, clear)
        saturating(m, self.bad_delay, b_bad_delay, clear)
        saturating(m, self.bad_neuron, b_bad_neuron, clear)
        with m.If(clear):
            m.d.sync += self.overflow.eq(0)
        with m.Elif(wrapped):
            m.d.sync += self.overflow.eq(1)
        return m
