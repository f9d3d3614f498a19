"""Shared Circular Delay Queue (SCDQ): synaptic delays whose memory scales with the
delayed events in flight, not with neurons x slots.

``D = config.delay.slots`` time slots share ONE buffer, a FaultSRAM of
``config.delay.capacity`` entries (``{prefix}.delay_queue``, role ``delay``). Each slot
is a FIFO of entries linked through the entries' ``next`` field; the free entries form
a free list threaded through the same field. The golden twin is
:class:`sim.golden.delay.GoldenDelayQueue`.

A pushed event ``{axon, group, delay, payload}`` goes to slot ``(now + delay) mod D``
and leaves on ``drain`` (``{axon, group, payload}``) while that slot is ``now``, in
insertion order. ``advance`` moves ``now`` to the next slot once slot ``now`` is empty.
The ports are meant to sit between a core's axon-table walker (which knows an
event's delay group and its delay) and its integrate path: the caller sends delay-0
events straight on and pushes the others; at each timestep it drains slot ``now`` into
the integrate path and then advances.

Storage
-------
Entry (memory word, :func:`entry_layout`): ``axon`` (``core.axon_bits``), ``group``
(:func:`group_bits`), ``payload`` (signed ``core.payload_bits``), ``next``
(:func:`pointer_bits`). Registers per slot: ``head``, ``tail`` (pointers), ``count``
(``capacity.bit_length()`` bits) and the **tail entry's** ``{axon, group, payload}``.
The tail is held in registers because a memory word is only written whole: the tail's
word is written once, when its successor arrives and its ``next`` becomes known, so a
push costs one memory write whether or not the slot is empty. A 2-entry output FIFO
decouples ``drain`` from the memory's write port.

Cycle behaviour
---------------
* **Reset**: the free list is built by a walk that writes ``next = i + 1`` into entry
  ``i`` for ``i = 0 .. capacity-1``, one per cycle: ``ready`` rises ``capacity`` cycles
  after reset. Until then ``push.ready`` and ``advance.ready`` are low.
* **push** (``lib.stream``): taken in any cycle where ``push.ready`` is high. A
  transfer with ``delay = 0`` is refused (counted in ``bad_delay``, not stored: such an
  event bypasses the queue); one that finds ``capacity`` events held (in slots or in
  the output FIFO) is refused, counted in ``overflows`` and sets the sticky
  ``overflow``; otherwise it is stored at the end of the cycle (``pushes`` + 1). Fullness
  is judged on the occupancy at the start of the cycle.
* **drain** (``lib.stream``): entries of slot ``now`` move into the output FIFO one per
  cycle (the entry's word is read ahead, so back-to-back moves need no bubble) and are
  returned to the free list as they move; ``drain.valid`` follows one cycle later. With
  the consumer always ready, one entry leaves per cycle.
* **Sharing the write port**: moving an entry into the output FIFO and storing a push
  both use the free list and the one memory write port. When both want the same cycle
  they take turns (a push, then a move, ...); a push that is refused does not use
  them. ``push.ready`` depends on registers only (never combinationally on ``drain``),
  so back-pressure on ``drain`` halves, at worst, the push rate.
* **advance** (``lib.stream``, payload unused): ``advance.ready = ready & due_empty``;
  a transfer moves ``now`` to ``(now + 1) mod D`` at the end of the cycle. A push in
  the same cycle uses the old ``now`` (a delay-1 push lands in the slot that becomes
  due). The first entry of the new slot moves after one read cycle (two if a push in
  the advance cycle wrote that word).
* **due_empty**: slot ``now`` holds no entry and the output FIFO is empty.
* **Counters** (``core.counter_bits``, saturating): ``occupancy`` (events held),
  ``max_occupancy`` (its high-water mark, counting a push before a same-cycle drain),
  ``pushes`` (stored), ``overflows``, ``bad_delay``. ``clear_counters`` zeroes
  ``pushes``, ``overflows``, ``bad_delay`` and ``overflow``, and sets ``max_occupancy``
  to the occupancy at the end of the cycle; it wins over same-cycle events.

Protection and faults come from the FaultSRAM (role ``delay``, protected as
``memory.protection.other``). The tail entries live in registers, so a fault injected
into a slot's last entry has no effect until its successor is pushed (which rewrites
that word).
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..counters import saturating
from ..mem import FaultSRAM
from ..spec.config import ChipConfig
from ..spec.delay import (OUT_FIFO_DEPTH, entry_layout, group_bits, item_layout,
                          pointer_bits, push_layout, slot_bits)
from ..spec.memmap import queue_memory

__all__ = ["DelayQueue"]

def check_args(owner: str, config, prefix) -> None:
    """Constructor checks shared by the delay units; errors name the parameter."""
    if not isinstance(config, ChipConfig):
        raise TypeError(f"{owner}: config must be a ChipConfig, not {config!r}")
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(f"{owner}: prefix must be a non-empty string, not {prefix!r}")


class DelayQueue(wiring.Component):
    """Shared Circular Delay Queue (see the module docstring for the cycle rules).

    Parameters
    ----------
    config : ChipConfig
        ``delay.slots`` (D), ``delay.capacity``, ``delay.groups``; ``core.axon_bits``,
        ``core.payload_bits``, ``core.counter_bits``; ``memory`` for the FaultSRAM.
    prefix : str
        Names the memory ``{prefix}.delay_queue``.
    directory : MemoryDirectory, optional
        Registers the memory.

    Members
    -------
    push : ``In(stream.Signature(push_layout))``
    drain : ``Out(stream.Signature(item_layout))``
    advance : ``In(stream.Signature(1))``, payload unused.
    now : ``Out(slot_bits)``, the due slot.
    due_empty : ``Out(1)``
    ready : ``Out(1)``, the free list is built (``capacity`` cycles after reset).
    occupancy, max_occupancy, pushes, overflows, bad_delay : ``Out(counter_bits)``
    overflow : ``Out(1)``, sticky: a push found the queue full.
    clear_counters : ``In(1)``
    """

    def __init__(self, config: ChipConfig, *, prefix: str = "core", directory=None):
        check_args("DelayQueue", config, prefix)
        self.config, self.prefix = config, prefix
        self.memory = FaultSRAM.for_chip(queue_memory(config, prefix), config, directory,
                                         read_ports=2)
        self.srams = [self.memory]
        cb = config.core.counter_bits
        super().__init__({
            "push": In(stream.Signature(push_layout(config))),
            "drain": Out(stream.Signature(item_layout(config))),
            "advance": In(stream.Signature(1)),
            "now": Out(slot_bits(config)),
            "due_empty": Out(1),
            "ready": Out(1),
            "occupancy": Out(cb),
            "max_occupancy": Out(cb),
            "pushes": Out(cb),
            "overflows": Out(cb),
            "bad_delay": Out(cb),
            "overflow": Out(1),
            "clear_counters": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        D, C = cfg.delay.slots, cfg.delay.capacity
        pb = pointer_bits(cfg)
        il, el = item_layout(cfg), entry_layout(cfg)
        m.submodules.memory = mem = self.memory
        m.submodules.out = out = fifo.SyncFIFO(width=il.size, depth=OUT_FIFO_DEPTH)
        wr, rd_head, rd_free = mem.write, mem.read[0], mem.read[1]
        head_word = data.View(el, rd_head.data)
        free_word = data.View(el, rd_free.data)

        # --- state ---------------------------------------------------------------------
        head = [Signal(pb, name=f"head{i}") for i in range(D)]
        tail = [Signal(pb, name=f"tail{i}") for i in range(D)]
        count = [Signal(range(C + 1), name=f"count{i}") for i in range(D)]
        tail_item = [Signal(il.size, name=f"tail_item{i}") for i in range(D)]
        now = self.now
        initialising = Signal(init=1)
        init_addr = Signal(range(C))
        free_head = Signal(pb)
        # Events held: in the slots plus in the output FIFO. Fullness is judged on it (not
        # on the free list) so that the queue holds exactly ``capacity`` events, as the
        # golden model does, whatever the consumer's pace.
        held = Signal(range(C + 1))
        # Read port 0 shows the word of head[now] when head_ok is high.
        head_ok = Signal()
        # mem[free_head].next: read port 1's data, or the value just written there.
        free_bypass = Signal()
        free_bypass_next = Signal(pb)
        pop_turn = Signal()     # a move has priority in the next contention

        now_count = Array(count)[now]
        now_head = Array(head)[now]
        now_tail_item = Array(tail_item)[now]
        free_next = Mux(free_bypass, free_bypass_next, free_word.next)

        # --- decisions -------------------------------------------------------------------
        p = self.push.payload
        target = Signal.like(now)
        m.d.comb += target.eq(now + p.delay)
        target_count = Array(count)[target]
        target_tail = Array(tail)[target]
        target_tail_item = Array(tail_item)[target]
        bad = p.delay == 0
        full = held == C

        pop_req = Signal()      # slot now has an entry whose data is at hand, FIFO has room
        m.d.comb += pop_req.eq(~initialising & (now_count != 0)
                               & ((now_count == 1) | head_ok) & out.w_rdy)
        m.d.comb += [
            self.ready.eq(~initialising),
            self.push.ready.eq(~initialising & ~(pop_req & pop_turn)),
            self.due_empty.eq((now_count == 0) & ~out.r_rdy),
            self.advance.ready.eq(~initialising & self.due_empty),
        ]
        push_go = self.push.valid & self.push.ready
        store = Signal()
        m.d.comb += store.eq(push_go & ~bad & ~full)
        pop_go = Signal()
        m.d.comb += pop_go.eq(pop_req & ~store)
        adv_go = self.advance.valid & self.advance.ready
        with m.If(pop_req):
            m.d.sync += pop_turn.eq(store)

        # --- free-list walk after reset ----------------------------------------------------
        with m.If(initialising):
            m.d.comb += [wr.en.eq(1), wr.addr.eq(init_addr),
                         wr.data.eq(Cat(Const(0, il.size), (init_addr + 1)[:pb]))]
            m.d.sync += init_addr.eq(init_addr + 1)
            with m.If(init_addr == C - 1):
                m.d.sync += [initialising.eq(0), free_head.eq(0)]

        # --- store a push ------------------------------------------------------------------
        new = free_head
        item_in = Cat(p.axon, p.group, p.payload)
        with m.If(store):
            m.d.sync += free_head.eq(free_next)
            with m.If(target_count != 0):
                # The old tail's word is complete now that its successor is known.
                m.d.comb += [wr.en.eq(1), wr.addr.eq(target_tail),
                             wr.data.eq(Cat(target_tail_item, new))]
        for i in range(D):
            with m.If(store & (target == i)):
                m.d.sync += [tail[i].eq(new), tail_item[i].eq(item_in),
                             count[i].eq(count[i] + 1)]
                with m.If(count[i] == 0):
                    m.d.sync += head[i].eq(new)

        # --- move the head of slot now into the output FIFO ----------------------------------
        m.d.comb += [
            out.w_data.eq(Mux(now_count == 1, now_tail_item, rd_head.data[:il.size])),
            out.w_en.eq(pop_go),
        ]
        with m.If(pop_go):
            # The entry joins the free list: its next is the old free head.
            m.d.comb += [wr.en.eq(1), wr.addr.eq(now_head),
                         wr.data.eq(Cat(Const(0, il.size), free_head))]
            m.d.sync += [free_head.eq(now_head), free_bypass_next.eq(free_head)]
        m.d.sync += free_bypass.eq(pop_go)
        for i in range(D):
            with m.If(pop_go & (now == i)):
                m.d.sync += [head[i].eq(head_word.next), count[i].eq(count[i] - 1)]

        # --- advance ---------------------------------------------------------------------
        with m.If(adv_go):
            m.d.sync += now.eq(now + 1)

        # --- read-ahead ----------------------------------------------------------------------
        # Port 0 reads the word of the head of the slot that is due next cycle, whenever
        # that head changes or the word held on the port went stale; a write to that
        # address in the same cycle (read-before-write) leaves it stale for a cycle.
        head_next = Signal(pb)
        with m.If(adv_go):
            m.d.comb += head_next.eq(Array(head)[(now + 1)[:len(now)]])
        with m.Elif(pop_go):
            m.d.comb += head_next.eq(head_word.next)
        with m.Else():
            m.d.comb += head_next.eq(now_head)
        m.d.comb += [rd_head.addr.eq(head_next),
                     rd_head.en.eq(~initialising & (adv_go | pop_go | ~head_ok))]
        # A host access (memory bus) takes over port 0 (and may rewrite the word): read again.
        m.d.sync += head_ok.eq(~initialising & ~(wr.en & (wr.addr == head_next))
                               & ~mem.host.re & ~mem.host.we)
        # Port 1 reads mem[free_head].next for the next cycle's free head. A move writes
        # that word in the same cycle (bypassed), so it is read again the cycle after.
        free_head_next = Signal(pb)
        with m.If(initialising):
            m.d.comb += free_head_next.eq(0)
        with m.Elif(store):
            m.d.comb += free_head_next.eq(free_next)
        with m.Elif(pop_go):
            m.d.comb += free_head_next.eq(now_head)
        with m.Else():
            m.d.comb += free_head_next.eq(free_head)
        m.d.comb += [rd_free.addr.eq(free_head_next),
                     rd_free.en.eq(initialising | store | pop_go | free_bypass)]

        # --- output ------------------------------------------------------------------------
        m.d.comb += [self.drain.valid.eq(out.r_rdy), self.drain.payload.eq(out.r_data),
                     out.r_en.eq(self.drain.ready)]
        leave = self.drain.valid & self.drain.ready

        # --- counters ----------------------------------------------------------------------
        cb = cfg.core.counter_bits
        top = (1 << cb) - 1
        clear = self.clear_counters
        held_peak = Signal(range(C + 1))      # a same-cycle push counts before the drain
        held_next = Signal(range(C + 1))
        m.d.comb += [held_peak.eq(held + store), held_next.eq(held_peak - leave)]
        m.d.sync += held.eq(held_next)

        def sat(v):
            return Mux(v > top, top, v)

        m.d.comb += self.occupancy.eq(sat(held))
        with m.If(clear):
            m.d.sync += self.max_occupancy.eq(sat(held_next))
        with m.Elif(held_peak > self.max_occupancy):
            m.d.sync += self.max_occupancy.eq(sat(held_peak))
        saturating(m, self.pushes, store, clear)
        saturating(m, self.overflows, push_go & ~bad & full, clear)
        saturating(m, self.bad_delay, push_go & bad, clear)
        with m.If(clear):
            m.d.sync += self.overflow.eq(0)
        with m.Elif(push_go & ~bad & full):
            m.d.sync += self.overflow.eq(1)
        return m
