"""The vectorised grouped accumulation equals the sequential per-accumulator one."""

import numpy as np
import pytest
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


def _edge_operands(rng, c, n=10):
    """Operands within their widths, the extremes included (where wraps and
    saturations bite)."""
    lo, hi = -(1 << (c.state_bits - 1)), (1 << (c.state_bits - 1)) - 1
    alo, ahi = -(1 << (c.acc_bits - 1)), (1 << (c.acc_bits - 1)) - 1
    edge = np.array([lo, hi, lo + 1, hi - 1, 0, -1, 1])
    out = {k: np.concatenate([rng.integers(lo, hi + 1, n), rng.permutation(edge)])
           for k in ("v", "u", "p0", "p1")}
    out["a"] = np.concatenate([rng.integers(alo, ahi + 1, n),
                               rng.permutation([alo, ahi, alo + 1, ahi - 1, 0, -1, 1])])
    out["pay"] = np.int64(rng.integers(-(1 << (c.payload_bits - 1)), 1 << (c.payload_bits - 1)))
    # registers as SETR leaves them, or anything (a compiled program assumes nothing)
    out["regs"] = list(rng.integers(lo, hi + 1, c.regs) if rng.random() < 0.6
                       else rng.integers(-2 ** 40, 2 ** 40, c.regs))
    return out


@pytest.mark.parametrize("core", [
    dict(lanes=2, neurons=32, synapses=16, slots=6, mul_slots=2, regs=3, state_bits=12,
         acc_bits=20, payload_bits=6),
    dict(lanes=4, neurons=64, synapses=64),
    dict(lanes=1, neurons=8, synapses=8, state_bits=24, acc_bits=48, slots=8, mul_slots=4),
    dict(lanes=1, neurons=8, synapses=8, state_bits=4, acc_bits=12, weight_bits=4,
         payload_bits=4, slots=8, mul_slots=8)])
def test_compiled_vec_with_ranges_equals_vec(core):
    """compile_vec(ranges=True) leaves out the wraps its range analysis proves idle:
    on operands within their widths every result equals vec's, random instructions and
    extreme operands."""
    from hw.spec.config import CoreConfig
    from hw.spec.isa import Isa, decode
    from sim.golden.npe import compile_vec, vec
    from tests.hw.npe.test_lane import random_vec_instruction
    c = CoreConfig(**core)
    isa = Isa(c)
    seed = 4400 + c.state_bits
    rng = np.random.default_rng(seed)
    for n in range(800):
        ins = decode(isa.instruction, Isa.pack(isa.instruction, random_vec_instruction(rng, isa)))
        args = _edge_operands(rng, c)
        want = vec(ins, c, isa.shift_bits, **args)
        got = compile_vec(ins, c, isa.shift_bits, ranges=True)(**args)
        for k, w in want.items():
            g = got[k]
            if w is None or isinstance(w, bool):
                assert g == w, (seed, n, k)
            else:
                assert np.shape(g) == np.shape(w) and np.array_equal(g, w), \
                    f"seed {seed} instruction {n}: {k} differs: {g} vs {w}"
