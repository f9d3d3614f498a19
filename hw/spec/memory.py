"""Memory formats shared by the FaultSRAM, the memory bus, the host and the drivers:
fault-port transfers, bus requests and responses, the status and access-counter words.

Status word (bus ``STATUS``, host ``MEMSTAT``; :func:`status_layout`), lowest field
first: ``corrected``, ``detected``, ``fault_overflows`` (``memory.counter_bits`` each,
the FaultSRAM's saturating event counters: corrected and detected errors, refused
stuck-at requests), ``error`` (sticky: a detected-uncorrectable read happened),
``fault_overflow`` (sticky: a stuck-at request found no free slot).

Counts word (bus ``COUNTS``; :func:`counts_layout`): ``reads``, ``writes``, each
:func:`hw.spec.counters.access_bits` wide (the core's counter width).
"""

from __future__ import annotations

from amaranth.lib import data, enum

from .protection import code_layout

__all__ = ["FaultKind", "fault_layout", "BusOp", "bus_request_layout", "bus_response_layout",
           "bus_widths", "status_layout", "counts_layout", "STATUS_FIELDS", "COUNTS_FIELDS",
           "unpack_status", "unpack_counts", "pack_status", "pack_counts", "word_bits"]


class FaultKind(enum.Enum, shape=2):
    """What a fault-port transfer does."""

    #: XOR the mask into the stored word (single- or multi-bit upset).
    FLIP = 0
    #: Force the masked stored bits to 0 on every read of this address.
    STUCK_AT_0 = 1
    #: Force the masked stored bits to 1 on every read of this address.
    STUCK_AT_1 = 2
    #: Remove every stuck-at fault (address and mask are ignored).
    CLEAR = 3


def fault_layout(addr_width: int, stored_width: int) -> data.StructLayout:
    """Payload of the fault port: word address, mask over the stored bits, kind."""
    return data.StructLayout({"addr": addr_width, "mask": stored_width, "kind": FaultKind})


class BusOp(enum.Enum, shape=3):
    WRITE = 0
    READ = 1
    FAULT = 2
    STATUS = 3
    COUNTS = 4
    CLEAR = 5


def bus_request_layout(n_mems: int, addr_bits: int, data_bits: int) -> data.StructLayout:
    return data.StructLayout({"op": BusOp, "mem": max(1, (n_mems - 1).bit_length()),
                              "addr": addr_bits, "data": data_bits, "kind": FaultKind})


def bus_widths(specs, config) -> tuple:
    """``(addr_bits, data_bits)`` of the bus over memories given as specs (name, role,
    width, depth) of ``config``: what :class:`MemoryBus` derives from the FaultSRAM
    instances, for software that has only the config (drivers, testbenches)."""
    m = config.memory
    addr_bits = max(max(1, (s.depth - 1).bit_length()) for s in specs)
    status_counts = word_bits(m.counter_bits, config.core.counter_bits)
    data_bits = max(max(s.width, code_layout(s.width, m.protection.for_role(s.role)).stored_width,
                        status_counts) for s in specs)
    return addr_bits, data_bits


def bus_response_layout(data_bits: int) -> data.StructLayout:
    return data.StructLayout({"data": data_bits, "corrected": 1, "detected": 1, "error": 1})


#: Fields of the status word, lowest first.
STATUS_FIELDS = ("corrected", "detected", "fault_overflows", "error", "fault_overflow")
#: Fields of the counts word, lowest first.
COUNTS_FIELDS = ("reads", "writes")


def status_layout(counter_bits: int) -> data.StructLayout:
    """The status word of a memory whose event counters are ``counter_bits`` wide."""
    cb = counter_bits
    return data.StructLayout({"corrected": cb, "detected": cb, "fault_overflows": cb,
                              "error": 1, "fault_overflow": 1})


def counts_layout(counter_bits: int) -> data.StructLayout:
    """The counts word: read and write counters, each ``counter_bits`` wide."""
    return data.StructLayout({"reads": counter_bits, "writes": counter_bits})


def word_bits(counter_bits: int, access_bits: int) -> int:
    """Bits the memory bus's data must hold for the status and counts words of a memory
    with ``counter_bits`` event counters and ``access_bits`` access counters."""
    return max(status_layout(counter_bits).size, counts_layout(access_bits).size)


def _pack(layout: data.StructLayout, values: dict) -> int:
    word = 0
    for name, field in layout:
        word |= (int(values.get(name, 0)) & ((1 << field.width) - 1)) << field.offset
    return word


def _unpack(layout: data.StructLayout, word: int) -> dict:
    word = int(word)
    return {name: (word >> f.offset) & ((1 << f.width) - 1) for name, f in layout}


def pack_status(counter_bits: int, values: dict) -> int:
    """The status word of ``values`` (a dict of :data:`STATUS_FIELDS`; missing = 0)."""
    return _pack(status_layout(counter_bits), values)


def unpack_status(counter_bits: int, word: int) -> dict:
    """The fields of a status word as ints (``error`` and ``fault_overflow`` 0 or 1)."""
    return _unpack(status_layout(counter_bits), word)


def pack_counts(counter_bits: int, values: dict) -> int:
    return _pack(counts_layout(counter_bits), values)


def unpack_counts(counter_bits: int, word: int) -> dict:
    return _unpack(counts_layout(counter_bits), word)
