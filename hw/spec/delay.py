"""Formats of the Shared Circular Delay Queue (:mod:`hw.delay.scdq`): what a push carries,
what the drain yields, a queue memory word, and the widths of slots, groups and entry
pointers, all derived from ``config.delay`` and ``config.core``.

Entry (memory word, :func:`entry_layout`): ``axon`` (``core.axon_bits``), ``group``
(:func:`group_bits`), ``payload`` (signed ``core.payload_bits``), then ``next``
(:func:`pointer_bits`): the item's fields at the same offsets as :func:`item_layout`.
"""

from __future__ import annotations

from amaranth import signed, unsigned
from amaranth.lib import data
from amaranth.utils import ceil_log2

from .config import ChipConfig

__all__ = ["slot_bits", "group_bits", "pointer_bits", "push_layout", "item_layout",
           "entry_layout", "OUT_FIFO_DEPTH"]

#: Entries of the output FIFO between the queue and ``drain``.
OUT_FIFO_DEPTH = 2


def slot_bits(config: ChipConfig) -> int:
    """Bits of a delay / slot number: ``log2(slots)`` (``slots`` is a power of two)."""
    return ceil_log2(config.delay.slots)


def group_bits(config: ChipConfig) -> int:
    """Bits of a delay-group number (at least 1)."""
    return max(1, ceil_log2(config.delay.groups))


def pointer_bits(config: ChipConfig) -> int:
    """Bits of an entry index of the delay queue (at least 1)."""
    return max(1, ceil_log2(config.delay.capacity))


def item_layout(config: ChipConfig) -> data.StructLayout:
    """What leaves on ``drain``: ``{axon, group, payload}``."""
    c = config.core
    return data.StructLayout({"axon": unsigned(c.axon_bits),
                              "group": unsigned(group_bits(config)),
                              "payload": signed(c.payload_bits)})


def push_layout(config: ChipConfig) -> data.StructLayout:
    """What enters on ``push``: ``{axon, group, delay, payload}``; ``delay`` in timesteps."""
    c = config.core
    return data.StructLayout({"axon": unsigned(c.axon_bits),
                              "group": unsigned(group_bits(config)),
                              "delay": unsigned(slot_bits(config)),
                              "payload": signed(c.payload_bits)})


def entry_layout(config: ChipConfig) -> data.StructLayout:
    """A memory word: the item's fields (same order and offsets) then ``next``."""
    return data.StructLayout({**dict(item_layout(config).members),
                              "next": unsigned(pointer_bits(config))})
