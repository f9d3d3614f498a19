"""Synaptic delays: the Shared Circular Delay Queue and the ring-buffer baseline.

Standalone units, not yet part of the neurocore, the compiler or the chip
(``docs/delay.md``).
"""

from .ring import RingBuffer, add_layout, ring_item_layout, ring_memory
from .scdq import (DelayQueue, entry_layout, group_bits, item_layout, pointer_bits,
                   push_layout, queue_memory, slot_bits)

__all__ = ["DelayQueue", "RingBuffer", "push_layout", "item_layout", "entry_layout",
           "add_layout", "ring_item_layout", "queue_memory", "ring_memory", "slot_bits",
           "group_bits", "pointer_bits"]
