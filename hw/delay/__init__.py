"""Synaptic delays: the Shared Circular Delay Queue (SCDQ).

The neurocore instantiates it with ``delay.unit = scdq`` (``docs/delay.md``); the
ring-buffer alternative (``delay.unit = ring``) lives in the lanes' accumulator banks
(:mod:`hw.npe.lane`) and needs no unit of its own.
"""

from .scdq import (DelayQueue, entry_layout, group_bits, item_layout, pointer_bits,
                   push_layout, queue_memory, slot_bits)

__all__ = ["DelayQueue", "push_layout", "item_layout", "entry_layout", "queue_memory",
           "slot_bits", "group_bits", "pointer_bits"]
