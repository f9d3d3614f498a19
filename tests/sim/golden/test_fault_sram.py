"""Golden FaultSRAM: the codes do what their names promise, for every width and bit."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hw.spec.config import Protection
from hw.spec.protection import code_layout, encode_word
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


_OPS = st.lists(st.tuples(st.sampled_from(["write", "read", "flip", "stuck0", "stuck1",
                                           "clear", "bits", "stored", "status"]),
                          st.integers(0, 7), st.integers(0, 2 ** 72 - 1),
                          st.integers(1, 3)),
                min_size=1, max_size=40)


@given(st.sampled_from([1, 5, 8, 24, 63, 64, 80]), st.sampled_from(list(Protection)), _OPS)
@settings(max_examples=300, deadline=None)
def test_decoded_mirror_equals_the_reference(width, prot, ops):
    """A memory with the decoded mirror (lazy encoding, clean reads from the mirror)
    and one without give the same reads, flags, tallies, stored bits and stuck-at
    faults after any sequence of writes, reads, flips, stuck-at faults, clears and
    assignments of the bit matrix."""
    depth = 8
    fast = GoldenFaultSRAM(width, depth, prot, fault_slots=2, counter_bits=3)
    ref = GoldenFaultSRAM(width, depth, prot, fault_slots=2, counter_bits=3, mirror=False)
    for k, (op, addr, value, n) in enumerate(ops):
        where = f"op {k} {op}({addr}, {value:#x}, {n}) of {ops}"
        if op == "write":
            addrs = [(addr + i) % depth for i in range(n)]
            data = np.array([(value >> (3 * i)) % (1 << width) for i in range(n)],
                            dtype=object if width >= 63 else np.int64)
            for m in (fast, ref):
                m.write(np.array(addrs), data)
        elif op == "read":
            addrs = np.array([(addr + i) % depth for i in range(n)])
            a, b = fast.read(addrs), ref.read(addrs)
            assert [int(x) for x in a.data] == [int(x) for x in b.data], where
            assert a.corrected.tolist() == b.corrected.tolist(), where
            assert a.detected.tolist() == b.detected.tolist(), where
            a, b = fast.read(addr), ref.read(addr)
            assert (a.data, a.corrected, a.detected) == (b.data, b.corrected, b.detected), where
        elif op in ("flip", "stuck0", "stuck1"):
            mask = value % (1 << fast.stored_width) or 1
            kind = {"flip": FaultKind.FLIP, "stuck0": FaultKind.STUCK_AT_0,
                    "stuck1": FaultKind.STUCK_AT_1}[op]
            assert fast.inject(addr, mask, kind) == ref.inject(addr, mask, kind), where
        elif op == "clear":
            for m in (fast, ref):
                m.inject(0, 0, FaultKind.CLEAR)
        elif op == "bits":
            bits = np.array(ref.bits)
            for m in (fast, ref):
                m.bits = bits
        elif op == "stored":
            assert fast.stored(addr) == ref.stored(addr), where
        else:
            for m in (fast, ref):
                m.clear_status()
        assert np.array_equal(fast.bits, ref.bits), where
        assert (fast.corrected_count, fast.detected_count, fast.overflow_count, fast.error,
                fast.fault_overflow) == (ref.corrected_count, ref.detected_count,
                                         ref.overflow_count, ref.error, ref.fault_overflow), where
    a, b = fast.read(np.arange(depth)), ref.read(np.arange(depth))
    assert [int(x) for x in a.data] == [int(x) for x in b.data]


def test_bits_and_stuck_at_slots_cannot_be_edited_behind_the_mirror():
    g = GoldenFaultSRAM(8, 4)
    with pytest.raises(ValueError, match="read-only"):
        g.bits[0, 0] = 1
    assert isinstance(g.stuck_faults, tuple)
    with pytest.raises(ValueError, match=r"bits must be \(4, 8\), not \(3, 8\)"):
        g.bits = np.zeros((3, 8))


def test_version_counts_every_change_of_stored_bits_or_faults():
    g = GoldenFaultSRAM(8, 4, Protection.SECDED)
    v = g.version
    g.read(np.arange(4))
    g.clear_status()
    assert g.version == v
    for change in (lambda: g.write(0, 5), lambda: g.inject(1, 1, FaultKind.FLIP),
                   lambda: g.inject(1, 1, FaultKind.STUCK_AT_1),
                   lambda: g.inject(0, 0, FaultKind.CLEAR),
                   lambda: setattr(g, "bits", np.array(g.bits))):
        change()
        assert g.version > v
        v = g.version
