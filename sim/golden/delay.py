"""Golden model of the shared circular delay queue (:mod:`hw.delay`), and the memory
cost of the SCDQ and of the ring buffer.

The model is transaction-level: no cycles, only the order of operations. The RTL's
cross-check (``sim/tb/delay.py``) applies the operations of one clock cycle in this
order: push, drain, advance, clear. A push sees the occupancy and ``now`` from before
the cycle's drain and advance; the counters show each cycle's operations at its end.
(The ring buffer is the lanes' accumulator banks with ``delay.slots`` words per neuron;
its semantics are in :mod:`sim.golden.core`.)

Semantics shared with the RTL
-----------------------------
Delay queue: D = ``delay.slots`` FIFOs; ``push(axon, group, delay, payload)`` appends
to slot ``(now + delay) mod D`` unless ``delay == 0`` (refused: ``bad_delay`` + 1) or
``capacity`` events are held (refused: ``overflows`` + 1, sticky ``overflow``); else
``pushes`` + 1. ``drain()`` removes the oldest event of slot ``now``; ``advance()``
moves ``now`` on, and only when slot ``now`` is empty (it returns whether it did).
``occupancy`` = events held, ``max_occupancy`` its high-water mark. ``clear_counters()``
zeroes ``pushes``, ``overflows``, ``bad_delay``, ``overflow`` and sets
``max_occupancy = occupancy``. Counters saturate at ``2**core.counter_bits - 1``.

"""

from __future__ import annotations

import enum
from collections import deque

import numpy as np

from hw.spec.config import ChipConfig
from hw.spec.delay import OUT_FIFO_DEPTH, entry_layout, item_layout, pointer_bits
from hw.spec.protection import code_layout

__all__ = ["PushResult", "GoldenDelayQueue", "memory_bits"]


class PushResult(enum.IntEnum):
    STORED = 0
    BAD_DELAY = 1
    OVERFLOW = 2


def _check_config(owner, config):
    if not isinstance(config, ChipConfig):
        raise TypeError(f"{owner}: config must be a ChipConfig, not {config!r}")


def _check_range(owner, name, values, lo, hi):
    """Every value in lo..hi (inclusive), else ValueError naming the parameter."""
    v = np.asarray(values, dtype=np.int64)
    if v.size and (v.min() < lo or v.max() > hi):
        bad = int(v[(v < lo) | (v > hi)][0])
        raise ValueError(f"{owner}: {name} = {bad} is out of range {lo}..{hi}")
    return v


class GoldenDelayQueue:
    """Model of :class:`hw.delay.scdq.DelayQueue` (semantics in the module docstring).

    Slots hold ``(axon, group, payload)`` tuples. ``push_many`` and ``drain_slot`` are the
    vectorised paths for bulk traffic; ``push`` and ``drain`` the per-event ones.
    """

    def __init__(self, config: ChipConfig):
        _check_config("GoldenDelayQueue", config)
        self.config = config
        c, d = config.core, config.delay
        self.slots_n, self.capacity = d.slots, d.capacity
        self._top = (1 << c.counter_bits) - 1
        self._axon_max = (1 << c.axon_bits) - 1
        self._group_max = (1 << item_layout(config).members["group"].width) - 1
        self._pay_lo, self._pay_hi = -(1 << (c.payload_bits - 1)), (1 << (c.payload_bits - 1)) - 1
        self.now = 0
        self.slots = [deque() for _ in range(self.slots_n)]
        self.occupancy = 0
        self.max_occupancy = 0
        self.pushes = self.overflows = self.bad_delay = 0
        self.overflow = False

    # -- counters ---------------------------------------------------------------------

    def _sat(self, v):
        return min(v, self._top)

    def counters(self) -> dict:
        """The RTL's counter ports, saturated as the RTL shows them."""
        return {"occupancy": self._sat(self.occupancy),
                "max_occupancy": self._sat(self.max_occupancy),
                "pushes": self.pushes, "overflows": self.overflows,
                "bad_delay": self.bad_delay, "overflow": int(self.overflow)}

    def clear_counters(self) -> None:
        self.pushes = self.overflows = self.bad_delay = 0
        self.overflow = False
        self.max_occupancy = self.occupancy

    # -- operations -------------------------------------------------------------------

    def push(self, axon: int, group: int, delay: int, payload: int) -> PushResult:
        """One event; returns what became of it."""
        self._check(axon, group, delay, payload)
        if delay == 0:
            self.bad_delay = self._sat(self.bad_delay + 1)
            return PushResult.BAD_DELAY
        if self.occupancy >= self.capacity:
            self.overflows = self._sat(self.overflows + 1)
            self.overflow = True
            return PushResult.OVERFLOW
        self.slots[(self.now + delay) % self.slots_n].append((int(axon), int(group), int(payload)))
        self.occupancy += 1
        self.max_occupancy = max(self.max_occupancy, self.occupancy)
        self.pushes = self._sat(self.pushes + 1)
        return PushResult.STORED

    def push_many(self, axons, groups, delays, payloads) -> np.ndarray:
        """Events in order (vectorised); returns a :class:`PushResult` code per event."""
        axons, groups, delays, payloads = self._check(axons, groups, delays, payloads)
        n = len(delays)
        result = np.full(n, PushResult.BAD_DELAY, dtype=np.int64)
        good = delays != 0
        # the first (capacity - occupancy) good events are stored, the rest overflow
        rank = np.cumsum(good)
        stored = good & (rank <= self.capacity - self.occupancy)
        over = good & ~stored
        result[stored] = PushResult.STORED
        result[over] = PushResult.OVERFLOW
        targets = (self.now + delays) % self.slots_n
        idx = np.flatnonzero(stored)
        for s in np.unique(targets[idx]):
            k = idx[targets[idx] == s]            # in order
            self.slots[s].extend(zip(axons[k].tolist(), groups[k].tolist(),
                                     payloads[k].tolist()))
        n_stored, n_over = int(stored.sum()), int(over.sum())
        self.occupancy += n_stored
        self.max_occupancy = max(self.max_occupancy, self.occupancy)
        self.pushes = self._sat(self.pushes + n_stored)
        self.overflows = self._sat(self.overflows + n_over)
        self.bad_delay = self._sat(self.bad_delay + int(n - good.sum()))
        self.overflow = self.overflow or n_over > 0
        return result

    @property
    def due_empty(self) -> bool:
        return not self.slots[self.now]

    def drain(self):
        """The oldest ``(axon, group, payload)`` of slot ``now`` (removed), or None."""
        slot = self.slots[self.now]
        if not slot:
            return None
        self.occupancy -= 1
        return slot.popleft()

    def drain_slot(self) -> np.ndarray:
        """Every event of slot ``now`` in order, as an ``(n, 3)`` int64 array
        (axon, group, payload); the slot is left empty."""
        slot = self.slots[self.now]
        out = np.array(slot, dtype=np.int64).reshape(len(slot), 3)
        self.occupancy -= len(slot)
        slot.clear()
        return out

    def advance(self) -> bool:
        """Move ``now`` on if slot ``now`` is empty; returns whether it moved."""
        if self.slots[self.now]:
            return False
        self.now = (self.now + 1) % self.slots_n
        return True

    def _check(self, axon, group, delay, payload):
        o = "GoldenDelayQueue"
        return (_check_range(o, "axon", axon, 0, self._axon_max),
                _check_range(o, "group", group, 0, self._group_max),
                _check_range(o, "delay", delay, 0, self.slots_n - 1),
                _check_range(o, "payload", payload, self._pay_lo, self._pay_hi))


def memory_bits(config: ChipConfig, neurons: int | None = None, *,
                capacity: int | None = None) -> dict:
    """Stored bits of each approach for ``neurons`` target neurons (default
    ``core.neurons``) and a queue of ``capacity`` entries (default ``delay.capacity``).

    With ``D = delay.slots``, ``p = pointer_bits``, ``w(b)`` the stored width of a
    ``b``-bit word under the ``delay`` role's protection (``memory.protection.other``):

    * ``scdq_sram = capacity * w(axon_bits + group_bits + payload_bits + p)``
    * ``scdq_regs = D * (2 p + bitlen(capacity) + axon_bits + group_bits + payload_bits)
      + 2 * (axon_bits + group_bits + payload_bits)`` (per-slot head, tail, count and
      tail entry; the 2-entry output FIFO)
    * ``ring_sram = neurons * (D - 1) * s(acc_bits)``, with ``s`` the stored width under
      the ``state`` role's protection: the accumulator slots the ring adds to the
      core's one accumulator per neuron; ``ring_regs = log2 D`` (``now``)

    ``scdq`` and ``ring`` are the totals. The SCDQ grows with the events in flight
    (``capacity``), the ring with ``neurons * D``. Both need the same delay groups in
    the axon table, which this does not count.
    """
    _check_config("memory_bits", config)
    if neurons is None:
        neurons = config.core.neurons
    if capacity is None:
        capacity = config.delay.capacity
    if not isinstance(neurons, int) or neurons < 1:
        raise ValueError(f"memory_bits: neurons must be a positive integer, not {neurons!r}")
    if not isinstance(capacity, int) or capacity < 2:
        raise ValueError(f"memory_bits: capacity must be an integer >= 2, not {capacity!r}")
    cfg = config.replace(delay=config.delay.replace(capacity=capacity))
    D = cfg.delay.slots
    prot = cfg.memory.protection.for_role("delay")
    item = item_layout(cfg).size
    p = pointer_bits(cfg)
    entry = code_layout(entry_layout(cfg).size, prot).stored_width
    acc = code_layout(cfg.core.acc_bits, cfg.memory.protection.for_role("state")).stored_width
    scdq_sram = capacity * entry
    scdq_regs = D * (2 * p + capacity.bit_length() + item) + OUT_FIFO_DEPTH * item
    ring_sram = neurons * (D - 1) * acc
    ring_regs = (D - 1).bit_length()
    return {"scdq_sram": scdq_sram, "scdq_regs": scdq_regs, "scdq": scdq_sram + scdq_regs,
            "ring_sram": ring_sram, "ring_regs": ring_regs, "ring": ring_sram + ring_regs}
