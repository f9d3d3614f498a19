"""Counter names and words (:mod:`hw.spec.counters`)."""

from hypothesis import given, strategies as st

from hw.spec.counters import (CHIP_COUNTERS, CORE_COUNTERS, CYCLE_COUNTERS,
                              NEUROCORE_MODEL_COUNTERS, SDSP_MODEL_COUNTERS, counter_bytes,
                              counter_layout, pack_counters, saturate, unpack_counters)


def test_model_counters_are_in_the_core_word():
    assert set(NEUROCORE_MODEL_COUNTERS) <= set(CORE_COUNTERS)
    assert set(SDSP_MODEL_COUNTERS) <= set(CORE_COUNTERS)
    assert not set(CYCLE_COUNTERS) & set(NEUROCORE_MODEL_COUNTERS + SDSP_MODEL_COUNTERS)
    assert CHIP_COUNTERS[:2] == CORE_COUNTERS[:2] == CYCLE_COUNTERS


def test_layout_matches_pack_order():
    lay = counter_layout(CORE_COUNTERS, 20)
    assert [n for n, _ in lay] == list(CORE_COUNTERS)
    assert lay.size == 20 * len(CORE_COUNTERS) and counter_bytes(CORE_COUNTERS, 20) == 30


@given(st.integers(1, 32), st.lists(st.integers(0, 2**40), min_size=len(CHIP_COUNTERS),
                                    max_size=len(CHIP_COUNTERS)))
def test_pack_saturates_and_round_trips(bits, values):
    vals = dict(zip(CHIP_COUNTERS, values))
    word = pack_counters(CHIP_COUNTERS, bits, vals)
    assert word < 1 << bits * len(CHIP_COUNTERS)
    assert unpack_counters(CHIP_COUNTERS, bits, word) == {
        n: saturate(v, bits) for n, v in vals.items()}
