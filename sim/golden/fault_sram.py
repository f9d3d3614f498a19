"""Golden model of :class:`hw.mem.fault_sram.FaultSRAM`, in vectorised NumPy.

Stored words are kept as a bit matrix (``depth x stored_width`` of 0/1), so that every
code, any width and every fault act on exactly the bits the RTL stores: "flip stored bit
``b`` of word ``a``" has the same effect here and in the RTL. The stored-word layouts
come from :mod:`hw.spec.protection`; the encoder and decoder below are written
independently of the RTL's.

Semantics (the RTL matches them; the cross-check test in
``tests/hw/mem/test_fault_sram_verilator.py`` proves it):

* ``write`` encodes the data and replaces the whole stored word, which also repairs any
  bit flips in it.
* ``read`` takes the stored word, applies the stuck-at faults registered for that
  address in the order they were injected (``(stored & ~mask) | (mask if value 1)``,
  so a later fault wins where masks overlap), then decodes it. Every read whose decode reports a
  corrected (detected) error adds one to ``corrected_count`` (``detected_count``); a
  detected error also sets the sticky ``error`` flag. Counters saturate at
  ``2**counter_bits - 1``.
* ``inject(addr, mask, FLIP)`` XORs ``mask`` into the stored word (a single-event upset
  when one bit is set, a multi-bit upset otherwise).
* ``inject(addr, mask, STUCK_AT_0 / STUCK_AT_1)`` holds the bits of ``mask`` of word
  ``addr`` at 0/1 on every read. Each such fault takes one of ``fault_slots`` slots;
  when all are taken the fault is not applied, ``overflow_count`` counts it and the
  sticky ``fault_overflow`` flag is set.
* ``inject(..., CLEAR)`` removes all stuck-at faults. Bit flips are stored data: only a
  write (or a second flip) repairs them.
* ``clear_status()`` zeroes the counters and both sticky flags.

Decoded mirror (``mirror=True``, the default; a model detail, invisible in every result):
next to the bit matrix each memory keeps the data of every word (``_data``: uint64, or
Python ints past 64 bits), whether the word is *unclean* (``_unclean``: a flip since its
last write, or a stuck-at fault on it) and whether its stored bits are *stale*
(``_stale``: written since the bits were last encoded). A write stores the data and
marks the word stale; the bits are encoded when something looks at them (``bits``,
``stored``, ``inject``, a read of an unclean word, ``_forced``). A read whose words are
all clean returns the mirror's data and flags nothing, which is what decoding the
codeword of that data returns; a read that touches an unclean word decodes the stored
bits as above and counts. ``version`` goes up with every write, fault and assignment of
``bits``, so that a model that traced what a memory holds can tell when it changed.
``bits`` reads as a read-only array (change words with :meth:`write`/:meth:`inject`,
or assign a whole matrix) and ``stuck_faults`` as a tuple, so that nothing edits them
behind the mirror's back. ``mirror=False`` encodes every write at once and decodes every read:
the reference the mirror is tested against (``tests/sim/golden/test_fault_sram.py``).

Other models look at a memory through public methods only: :meth:`~GoldenFaultSRAM.peek`
(what reads would return, uncounted), :meth:`~GoldenFaultSRAM.readback` (a word written
then read through its stuck-at faults), :meth:`~GoldenFaultSRAM.clean_data` and
:meth:`~GoldenFaultSRAM.unclean` (the mirror, for fast paths that trace control words)
and :attr:`~GoldenFaultSRAM.stuck_faults`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.spec.config import Protection
from hw.spec.memory import FaultKind
from hw.spec.protection import code_layout

__all__ = ["GoldenFaultSRAM", "ReadResult", "FaultKind"]


@dataclass
class ReadResult:
    """Data read (unsigned, ``width`` bits) and the per-read error flags."""

    data: object
    corrected: object
    detected: object


def int_to_bits(values, width: int) -> np.ndarray:
    """``(m,)`` unsigned ints -> ``(m, width)`` uint8 bit matrix, bit 0 first."""
    values = np.asarray(values)
    if width <= 64 and values.dtype != object:
        v = values.astype(np.uint64)
        return ((v[:, None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    return np.array([[(int(x) >> i) & 1 for i in range(width)] for x in values],
                    dtype=np.uint8).reshape(len(values), width)


def bits_to_int(bits: np.ndarray) -> np.ndarray:
    """``(m, w)`` bit matrix -> ``(m,)`` unsigned ints (uint64 when ``w <= 64``)."""
    w = bits.shape[1]
    if w <= 64:
        weights = np.uint64(1) << np.arange(w, dtype=np.uint64)
        return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return np.array([sum(int(b) << i for i, b in enumerate(row)) for row in bits], dtype=object)


class GoldenFaultSRAM:
    """Bit-exact NumPy model of one FaultSRAM.

    Parameters
    ----------
    width : int
        Data bits per word.
    depth : int
        Words.
    protection : Protection
    fault_slots : int
        Stuck-at slots (distinct faulty addresses at once).
    counter_bits : int
        Width of the saturating error and overflow counters.
    init : sequence of int, optional
        Initial data words (encoded like writes); the rest are zero.
    name : str, optional
        Used in error messages.
    mirror : bool
        Keep the decoded mirror (module docstring; default). ``False`` encodes every
        write at once and decodes every read from the stored bits: the reference the
        mirror is tested against.
    views : tuple of arrays, optional
        ``(data, unclean, stale)`` arrays of ``depth`` elements to hold the mirror in
        (a core keeps its lanes' banks as rows of one block, so that its fast path
        indexes every lane at once); zeroed here.
    """

    def __init__(self, width: int, depth: int, protection=Protection.NONE, *,
                 fault_slots: int = 4, counter_bits: int = 16, init=None, name=None,
                 mirror: bool = True, views=None):
        self.layout = code_layout(width, Protection(protection))
        self.width, self.depth = width, depth
        self.protection = self.layout.protection
        self.stored_width = self.layout.stored_width
        self.fault_slots, self.counter_bits = fault_slots, counter_bits
        self.name = name or f"FaultSRAM({width}x{depth})"
        self.mirror = bool(mirror)
        self._bits = np.zeros((depth, self.stored_width), dtype=np.uint8)
        self._data_pos = np.array(self.layout.data_pos, dtype=np.intp)
        self._check_sets = [np.array(s, dtype=np.intp) for s in self.layout.check_sets]
        self._slot_list: list[tuple[int, np.ndarray, int]] = []   # (addr, mask bits, value)
        dtype = np.uint64 if width <= 64 else object
        if views is None:
            views = (np.zeros(depth, dtype), np.zeros(depth, bool), np.zeros(depth, bool))
        self._data, self._unclean, self._stale = views
        if self._data.dtype != dtype or any(len(v) != depth for v in views):
            raise ValueError(f"{self.name}: mirror views must be {depth} words of {dtype}")
        self._data[:] = 0
        self._stale[:] = False
        self._stuck = np.zeros(depth, bool)
        #: Bumped by every change of stored bits or faults (write, inject, ``bits = ``):
        #: what a trace of this memory's words compares to see that it still holds.
        self.version = 0
        # all-zero stored bits are the codeword of 0 in every code; the reference mode
        # marks every word unclean so that every read decodes
        self._unclean[:] = not self.mirror
        self.clear_status()
        if init is not None:
            init = np.asarray(init)
            self.write(np.arange(len(init)), init)

    @classmethod
    def for_chip(cls, spec, config, **kwargs) -> "GoldenFaultSRAM":
        """Model of the memory a :class:`hw.spec.memmap.MemorySpec` describes in a chip
        configured by ``config`` (protection by the spec's role, fault slots and counter
        widths from ``config.memory``), as :meth:`hw.mem.fault_sram.FaultSRAM.for_chip`
        builds the RTL's; ``kwargs`` as for the constructor (``mirror``, ``views``,
        ``init``)."""
        m = config.memory
        return cls(spec.width, spec.depth, m.protection.for_role(spec.role),
                   fault_slots=m.fault_slots, counter_bits=m.counter_bits, name=spec.name,
                   **kwargs)

    # -- stored bits -----------------------------------------------------------------

    @property
    def bits(self) -> np.ndarray:
        """The stored bits, ``depth x stored_width`` of 0/1 (read-only: change them with
        :meth:`write` and :meth:`inject`, or assign a whole new matrix)."""
        self._flush()
        view = self._bits.view()
        view.flags.writeable = False
        return view

    @bits.setter
    def bits(self, value) -> None:
        value = np.array(value, dtype=np.uint8)
        if value.shape != self._bits.shape:
            raise ValueError(f"{self.name}: bits must be {self._bits.shape}, not {value.shape}")
        self._bits = value
        self._stale[:] = False
        self.version += 1
        self._resync(np.arange(self.depth))

    @property
    def stuck_faults(self) -> tuple:
        """Stuck-at faults ``(addr, mask bits, value)`` in injection order (``mask
        bits``: a ``stored_width`` vector of 0/1; ``value``: 0 or 1). Read-only: add and
        clear them with :meth:`inject`."""
        return tuple(self._slot_list)

    def _flush(self) -> None:
        """Encode the words written since the stored bits were last brought up to date."""
        if self.mirror and self._stale.any():
            rows = np.flatnonzero(self._stale)
            self._bits[rows] = self.encode(self._data[rows])
            self._stale[rows] = False

    def _resync(self, rows: np.ndarray) -> None:
        """Mirror of ``rows`` from their stored bits: the decoded data, unclean where
        the stored word is not the codeword of its data or a stuck-at fault holds it."""
        if not self.mirror or not len(rows):
            return
        raw = self._bits[rows]
        data = self.decode(raw)[0]
        self._data[rows] = data
        self._unclean[rows] = (self.encode(data) != raw).any(axis=1) | self._stuck[rows]

    # -- status ----------------------------------------------------------------------

    def clear_status(self):
        self.corrected_count = 0
        self.detected_count = 0
        self.overflow_count = 0
        self.error = False
        self.fault_overflow = False

    def _bump(self, counter: str, n: int):
        setattr(self, counter, min(getattr(self, counter) + int(n), (1 << self.counter_bits) - 1))

    # -- coding --------------------------------------------------------------------------

    def _check_data(self, data) -> None:
        if data.dtype.kind == "u" and self.width >= 64:
            return                              # every uint64 fits
        if data.dtype.kind in "iu" and self.width < 63:
            bad = data[(data < 0) | (data >= (1 << self.width))]
        else:
            bad = [d for d in data if int(d) < 0 or int(d) >> self.width]
        if len(bad):
            raise ValueError(f"{self.name}: data {int(bad[0])} does not fit in "
                             f"{self.width} unsigned bits")

    def encode(self, data) -> np.ndarray:
        """Data words -> stored-word bit matrix."""
        data = np.atleast_1d(np.asarray(data))
        self._check_data(data)
        dbits = int_to_bits(data, self.width)
        stored = np.zeros((len(data), self.stored_width), dtype=np.uint8)
        stored[:, self._data_pos] = dbits
        if self.protection is Protection.PARITY:
            stored[:, self.width] = dbits.sum(axis=1) & 1
        elif self.protection is Protection.SECDED:
            for j, cols in enumerate(self._check_sets):
                # check positions are still 0 here, so the XOR covers the data bits only
                stored[:, 1 << j] = stored[:, cols].sum(axis=1) & 1
            stored[:, 0] = stored[:, 1:].sum(axis=1) & 1
        return stored

    def decode(self, stored: np.ndarray):
        """Stored-word bit matrix -> (data, corrected, detected) arrays."""
        stored = stored.copy()
        m = len(stored)
        corrected = np.zeros(m, dtype=bool)
        detected = np.zeros(m, dtype=bool)
        if self.protection is Protection.PARITY:
            detected = (stored.sum(axis=1) & 1).astype(bool)
        elif self.protection is Protection.SECDED:
            n = self.layout.hamming_n
            syndrome = np.zeros(m, dtype=np.int64)
            for j, cols in enumerate(self._check_sets):
                syndrome |= (stored[:, cols].sum(axis=1).astype(np.int64) & 1) << j
            q = (stored.sum(axis=1) & 1).astype(bool)
            corrected = q & (syndrome <= n)
            detected = (~q & (syndrome != 0)) | (q & (syndrome > n))
            fix = np.nonzero(corrected & (syndrome > 0))[0]
            stored[fix, syndrome[fix]] ^= 1
        return bits_to_int(stored[:, self._data_pos]), corrected, detected

    # -- access --------------------------------------------------------------------------

    def _check_addr(self, addr) -> np.ndarray:
        addr = np.atleast_1d(np.asarray(addr, dtype=np.int64))
        bad = addr[(addr < 0) | (addr >= self.depth)]
        if len(bad):
            raise ValueError(f"{self.name}: address {int(bad[0])} is outside 0..{self.depth - 1}")
        return addr

    def write(self, addr, data):
        """Write data words (vectorised; for repeated addresses the last one wins)."""
        scalar = np.ndim(addr) == 0
        addr = self._check_addr(addr)
        data = np.atleast_1d(np.asarray(data))
        if scalar and len(data) != 1 or not scalar and len(data) != len(addr):
            raise ValueError(f"{self.name}: {len(addr)} addresses but {len(data)} data words")
        self.version += 1
        if not self.mirror:
            self._bits[addr] = self.encode(data)
            return
        self._check_data(data)
        self._data[addr] = data if self._data.dtype == object else data.astype(np.uint64)
        self._stale[addr] = True
        # a write replaces the whole stored word: a flip in it is gone, a stuck bit stays
        self._unclean[addr] = self._stuck[addr]

    def _forced(self, addr: np.ndarray) -> np.ndarray:
        self._flush()
        raw = self._bits[addr]
        for a, mbits, value in self._slot_list:
            rows = addr == a
            if rows.any():
                raw[rows] = (raw[rows] & (1 - mbits)) | (mbits * value)
        return raw

    def read(self, addr) -> ReadResult:
        """Read through stuck-at faults and the decoder; counts errors like the RTL."""
        scalar = np.ndim(addr) == 0
        addr = self._check_addr(addr)
        if not self._unclean[addr].any():
            # every word is its data's codeword and no stuck bit holds it: the decoder
            # returns the data and flags nothing
            data = self._data[addr]
            if scalar:
                return ReadResult(int(data[0]), False, False)
            return ReadResult(data, np.zeros(len(addr), bool), np.zeros(len(addr), bool))
        data, corrected, detected = self.decode(self._forced(addr))
        self._bump("corrected_count", corrected.sum())
        self._bump("detected_count", detected.sum())
        self.error |= bool(detected.any())
        if scalar:
            return ReadResult(int(data[0]), bool(corrected[0]), bool(detected[0]))
        return ReadResult(data, corrected, detected)

    def peek(self, addr=None):
        """``(data, corrected, detected)`` arrays of what reads of words ``addr``
        (default: every word) would return now, through stuck-at faults and the
        decoder, without counting anything or changing the memory."""
        addr = np.arange(self.depth) if addr is None else self._check_addr(addr)
        return self.decode(self._forced(addr))

    def readback(self, addr: int, data):
        """``(data, corrected, detected)`` arrays: for each word of ``data``, what a read
        of word ``addr`` would return right after that word was written there (encoded,
        then forced by the stuck-at faults of ``addr``, then decoded); changes and counts
        nothing."""
        addr = int(self._check_addr(addr)[0])
        stored = self.encode(data)
        for a, mbits, value in self._slot_list:
            if a == addr:
                stored = (stored & (1 - mbits)) | (mbits * value)
        return self.decode(stored)

    def clean_data(self, addr):
        """Data of words ``addr`` (an int: an int; an array: an array) straight from the
        decoded mirror, when every one of them is clean (a read would return exactly
        that and flag nothing), else None; counts nothing. Always None without the
        mirror. What the fast paths trace control words with."""
        if np.ndim(addr) == 0:
            return None if self._unclean[addr] else int(self._data[addr])
        if self._unclean[addr].any():
            return None
        return self._data[addr]

    def unclean(self, addr=None) -> bool:
        """Whether any of words ``addr`` (default: any word) is unclean (module
        docstring): a read of it decodes the stored bits."""
        return bool(self._unclean.any() if addr is None else self._unclean[addr].any())

    def stored(self, addr) -> int:
        """Raw stored word (no stuck-at forcing, no decoding, no counting)."""
        self._flush()
        return int(bits_to_int(self._bits[self._check_addr(addr)])[0])

    def inject(self, addr: int, mask: int, kind) -> bool:
        """Apply one fault; returns False when a stuck-at fault found no free slot."""
        kind = FaultKind(kind)
        if kind is FaultKind.CLEAR:
            rows = np.array(sorted({a for a, _, _ in self._slot_list}), dtype=np.int64)
            self._slot_list.clear()
            self._stuck[:] = False
            self.version += 1
            self._flush()
            self._resync(rows)
            return True
        addr = int(self._check_addr(addr)[0])
        if mask < 0 or mask >> self.stored_width:
            raise ValueError(f"{self.name}: fault mask {mask:#x} has bits beyond the "
                             f"{self.stored_width} stored bits")
        mbits = int_to_bits([mask], self.stored_width)[0]
        if kind is FaultKind.FLIP:
            self._flush()
            self._bits[addr] ^= mbits
            self.version += 1
            if self.mirror:
                clean = (self.encode(self._data[addr:addr + 1])[0] == self._bits[addr]).all()
                self._unclean[addr] = self._stuck[addr] or not clean
            return True
        if len(self._slot_list) >= self.fault_slots:
            self._bump("overflow_count", 1)
            self.fault_overflow = True
            return False
        self._slot_list.append((addr, mbits, int(kind is FaultKind.STUCK_AT_1)))
        self._stuck[addr] = True
        self._unclean[addr] = True
        self.version += 1
        return True
