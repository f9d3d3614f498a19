"""Memory-bus formats: the status and counts words (:mod:`hw.spec.memory`)."""

from hypothesis import given, strategies as st

from hw.spec.memory import (STATUS_FIELDS, pack_counts, pack_status, status_layout,
                            unpack_counts, unpack_status)


def test_status_word_bit_positions():
    # the MemoryBus's STATUS answer: corrected | detected << cb | overflows << 2cb |
    # error << 3cb | fault_overflow << 3cb + 1
    cb = 6
    word = pack_status(cb, {"corrected": 1, "detected": 2, "fault_overflows": 3,
                            "error": 1, "fault_overflow": 1})
    assert word == 1 | 2 << cb | 3 << 2 * cb | 1 << 3 * cb | 1 << 3 * cb + 1
    assert [n for n, _ in status_layout(cb)] == list(STATUS_FIELDS)


@given(st.integers(1, 24), st.integers(0, 2**30), st.integers(0, 2**30))
def test_counts_wrap_and_round_trip(bits, reads, writes):
    word = pack_counts(bits, {"reads": reads, "writes": writes})
    top = (1 << bits) - 1
    assert unpack_counts(bits, word) == {"reads": reads & top, "writes": writes & top}


@given(st.integers(1, 16), st.data())
def test_status_round_trip(bits, data):
    vals = {n: data.draw(st.integers(0, (1 << (1 if n in ("error", "fault_overflow") else bits)) - 1))
            for n in STATUS_FIELDS}
    assert unpack_status(bits, pack_status(bits, vals)) == vals
