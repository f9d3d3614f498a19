"""The vectorised grouped accumulation equals the sequential per-accumulator one."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.golden.npe import mac_sums, mac_sums_grouped


@settings(max_examples=300, deadline=None)
@given(st.integers(4, 24), st.lists(st.tuples(st.integers(0, 5), st.integers(-300, 300)),
                                    min_size=1, max_size=40),
       st.integers(0, 2**32 - 1))
def test_grouped_equals_sequential(bits, items, seed):
    groups = sorted({g for g, _ in items})
    index = {g: k for k, g in enumerate(groups)}
    group = np.array([index[g] for g, _ in items])
    contrib = np.array([c for _, c in items], np.int64)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    old = np.random.default_rng(seed).integers(lo, hi + 1, len(groups))
    got, got_ovf = mac_sums_grouped(old, contrib, group, bits)
    want_ovf = 0
    for k in range(len(groups)):
        value, ovf = mac_sums(old[k], contrib[group == k], bits)
        assert got[k] == value
        want_ovf += ovf
    assert got_ovf == want_ovf
