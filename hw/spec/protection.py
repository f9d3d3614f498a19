"""Layout of protected memory words: which stored bit holds which data or check bit.

This module is the one definition of the codes; the RTL encoder/decoder
(:mod:`hw.mem.fault_sram`) and the NumPy golden model (:mod:`sim.golden.fault_sram`)
both build from it, so that "flip stored bit b of word a" means the same in both.

Stored word layouts, bit 0 = least significant:

``NONE``
    ``stored = data`` (``stored_width = width``).

``PARITY``
    Bits ``0..width-1`` hold the data, bit ``width`` holds even parity: the XOR of all
    stored bits of a good word is 0. Detects any odd number of flipped bits.

``SECDED``
    Extended Hamming code (Hamming, 1950). With ``r`` the least integer such that
    ``2**r >= width + r + 1``, the word has ``n = width + r`` Hamming positions
    ``1..n`` plus an overall parity bit. Stored bit ``p`` (``1 <= p <= n``) is Hamming
    position ``p``; positions that are powers of two hold check bits, the rest hold the
    data bits in ascending order. Stored bit 0 holds the overall parity (XOR of all
    stored bits of a good word is 0). ``stored_width = width + r + 1``.

    Check bit ``j`` (at position ``2**j``) is the XOR of the data bits whose position
    has bit ``j`` set. On read, the syndrome ``s`` is the XOR of the positions of all set
    bits among ``1..n`` and ``q`` is the XOR of all stored bits:

    =========  ========  ==================================================
    ``q``      ``s``     result
    =========  ========  ==================================================
    0          0         no error
    1          0         overall parity bit flipped: corrected (data intact)
    1          1..n      single error at position ``s``: corrected
    1          > n       odd number (>= 3) of errors: detected, data raw
    0          != 0      double error: detected, data returned uncorrected
    =========  ========  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .config import Protection

__all__ = ["Protection", "CodeLayout", "code_layout", "encode_word"]


@dataclass(frozen=True)
class CodeLayout:
    """Bit positions of one protected word.

    Attributes
    ----------
    protection : Protection
    width : int
        Data bits.
    stored_width : int
        Bits per stored word (data + check bits).
    data_pos : tuple[int, ...]
        ``data_pos[i]`` is the stored bit holding data bit ``i``.
    check_pos : tuple[int, ...]
        Stored bits holding check bits. For SECDED: Hamming check bit ``j`` at
        ``check_pos[j] = 2**j``, then the overall parity at ``check_pos[-1] = 0``.
        For PARITY: the single parity bit.
    check_sets : tuple[tuple[int, ...], ...]
        For SECDED, ``check_sets[j]`` is the set of Hamming positions (``1..n``)
        that have bit ``j`` set; check bit ``j`` makes the XOR over that set zero.
    """

    protection: Protection
    width: int
    stored_width: int
    data_pos: tuple[int, ...]
    check_pos: tuple[int, ...]
    check_sets: tuple[tuple[int, ...], ...] = ()

    @property
    def hamming_n(self) -> int:
        """Highest Hamming position (SECDED only)."""
        return self.stored_width - 1


@lru_cache(maxsize=None)
def code_layout(width: int, protection: Protection) -> CodeLayout:
    """The stored-word layout for ``width`` data bits under ``protection``."""
    protection = Protection(protection)
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"Memory data width must be a positive integer, not {width!r}")
    if protection is Protection.NONE:
        return CodeLayout(protection, width, width, tuple(range(width)), ())
    if protection is Protection.PARITY:
        return CodeLayout(protection, width, width + 1, tuple(range(width)), (width,))
    r = 1
    while (1 << r) < width + r + 1:
        r += 1
    n = width + r
    data_pos = tuple(p for p in range(1, n + 1) if p & (p - 1))
    assert len(data_pos) == width
    check_sets = tuple(tuple(p for p in range(1, n + 1) if p >> j & 1) for j in range(r))
    return CodeLayout(protection, width, n + 1, data_pos,
                      tuple(1 << j for j in range(r)) + (0,), check_sets)


def encode_word(layout: CodeLayout, data: int) -> int:
    """Stored word for one data word (used for memory initial contents)."""
    bits = [0] * layout.stored_width
    for i, p in enumerate(layout.data_pos):
        bits[p] = data >> i & 1
    if layout.protection is Protection.PARITY:
        bits[layout.width] = sum(bits) & 1
    elif layout.protection is Protection.SECDED:
        for j, members in enumerate(layout.check_sets):
            bits[1 << j] = sum(bits[p] for p in members) & 1
        bits[0] = sum(bits) & 1
    return sum(b << i for i, b in enumerate(bits))
