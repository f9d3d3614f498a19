"""Golden FaultSRAM: the codes do what their names promise, for every width and bit."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hw.config import Protection
from hw.mem.protection import code_layout, encode_word
from sim.golden.fault_sram import FaultKind, GoldenFaultSRAM


@pytest.mark.parametrize("width,stored", [(1, 4), (4, 8), (8, 13), (11, 16), (16, 22),
                                          (26, 32), (32, 39), (57, 64), (64, 72)])
def test_secded_stored_width(width, stored):
    assert code_layout(width, Protection.SECDED).stored_width == stored


@pytest.mark.parametrize("width", [1, 2, 5, 8, 13, 16, 24, 32, 57, 64, 80])
def test_secded_corrects_every_single_and_detects_every_double_flip(width):
    g = GoldenFaultSRAM(width, 1, Protection.SECDED)
    rng = np.random.default_rng(width)
    value = int(rng.integers(1 << min(width, 62)))
    g.write(0, value)
    sw = g.stored_width
    for b in range(sw):
        g.inject(0, 1 << b, FaultKind.FLIP)
        r = g.read(0)
        assert (r.data, r.corrected, r.detected) == (value, True, False), b
        g.inject(0, 1 << b, FaultKind.FLIP)
    for b1 in range(sw):
        for b2 in range(b1 + 1, sw):
            g.inject(0, 1 << b1 | 1 << b2, FaultKind.FLIP)
            r = g.read(0)
            assert (r.corrected, r.detected) == (False, True), (b1, b2)
            g.inject(0, 1 << b1 | 1 << b2, FaultKind.FLIP)
    assert g.read(0).data == value
    assert g.corrected_count == sw
    assert g.detected_count == sw * (sw - 1) // 2
    assert g.error


@pytest.mark.parametrize("width", [1, 7, 8, 33])
def test_parity_detects_odd_flips_only(width):
    g = GoldenFaultSRAM(width, 1, Protection.PARITY)
    g.write(0, (1 << width) - 1)
    for mask in range(1, min(1 << (width + 1), 256)):
        g.inject(0, mask, FaultKind.FLIP)
        assert g.read(0).detected == (bin(mask).count("1") % 2 == 1)
        g.inject(0, mask, FaultKind.FLIP)


@given(st.integers(1, 70), st.data())
@settings(max_examples=200, deadline=None)
def test_vectorised_encoder_matches_scalar_encoder(width, data):
    for prot in Protection:
        value = data.draw(st.integers(0, (1 << width) - 1))
        g = GoldenFaultSRAM(width, 1, prot)
        g.write(0, value)
        assert g.stored(0) == encode_word(g.layout, value)
        assert g.read(0).data == value


def test_stuck_at_slots_overflow_and_clear():
    g = GoldenFaultSRAM(8, 8, fault_slots=3, counter_bits=2)
    g.write(np.arange(8), np.full(8, 0x0F))
    assert g.inject(1, 0x01, FaultKind.STUCK_AT_0)
    assert g.inject(1, 0x80, FaultKind.STUCK_AT_1)   # same word: a second slot
    assert g.inject(2, 0xF0, FaultKind.STUCK_AT_1)
    assert g.read(1).data == 0x8E and g.read(2).data == 0xFF
    for _ in range(5):                               # no slot left
        assert not g.inject(1, 0x01, FaultKind.STUCK_AT_1)
    assert g.read(1).data == 0x8E
    assert g.fault_overflow and g.overflow_count == 3  # saturates at 2**2 - 1
    g.write(1, 0x00)  # stuck bits persist across writes
    assert g.read(1).data == 0x80
    g.inject(0, 0, FaultKind.CLEAR)
    assert g.read(1).data == 0x00 and g.read(2).data == 0x0F
    assert g.inject(3, 0x01, FaultKind.STUCK_AT_0)


def test_later_stuck_at_wins_where_masks_overlap():
    g = GoldenFaultSRAM(8, 2, fault_slots=2)
    g.write(0, 0x00)
    g.inject(0, 0x0F, FaultKind.STUCK_AT_1)
    g.inject(0, 0x03, FaultKind.STUCK_AT_0)
    assert g.read(0).data == 0x0C


def test_flip_persists_until_written():
    g = GoldenFaultSRAM(8, 2)
    g.write(0, 0x10)
    g.inject(0, 0x01, FaultKind.FLIP)
    assert g.read(0).data == 0x11
    g.inject(0, 0, FaultKind.CLEAR)  # clear does not undo stored upsets
    assert g.read(0).data == 0x11
    g.write(0, 0x10)
    assert g.read(0).data == 0x10


def test_vectorised_reads_count_like_scalar_reads():
    g = GoldenFaultSRAM(16, 64, Protection.SECDED)
    g.write(np.arange(64), np.arange(64) * 1000)
    for a in range(0, 64, 3):
        g.inject(a, 1 << (a % g.stored_width), FaultKind.FLIP)
    r = g.read(np.arange(64))
    assert list(r.data) == list(np.arange(64) * 1000)
    assert g.corrected_count == len(range(0, 64, 3)) == int(r.corrected.sum())


@pytest.mark.parametrize("call,message", [
    (lambda g: g.write(8, 0), "mem: address 8 is outside 0..7"),
    (lambda g: g.read(-1), "mem: address -1 is outside 0..7"),
    (lambda g: g.write(0, 256), "mem: data 256 does not fit in 8 unsigned bits"),
    (lambda g: g.inject(0, 1 << 13, FaultKind.FLIP),
     "mem: fault mask 0x2000 has bits beyond the 13 stored bits"),
    (lambda g: g.write([0, 1], [1]), "mem: 2 addresses but 1 data words"),
])
def test_errors_name_the_memory(call, message):
    g = GoldenFaultSRAM(8, 8, Protection.SECDED, name="mem")
    with pytest.raises(ValueError) as e:
        call(g)
    assert str(e.value) == message
