"""The batched golden chip (``sim/golden/batched.py``) against the event-by-event golden
chip: the digits demo network, fault-free and with seeded random faults in every kind of
memory (microcode, tables, weights, routes), ECC detection, stuck-at neuron-state bits,
and what it refuses."""

import numpy as np
import pytest

from hw.spec.config import Protection
from hw.spec.isa import InstrClass, Isa
from hw.spec.memory import FaultKind
from sim.golden.batched import BatchedChip, NotBatchable
from sim.golden.loopctl import ProgramError
from hw.spec.protection import code_layout
from sw.campaign import core_digits
from sw.campaign.spec import CampaignSpec

STEPS = 8          # of the demo's 16: enough for spikes to cross the mesh


@pytest.fixture(scope="module", params=["none", "secded"])
def model(request):
    m = core_digits.CoreDigits(CampaignSpec(model="core-digits", samples=3,
                                            protection=request.param), log=None)
    m.packets = [p[:STEPS] for p in m.packets]
    m.steps = STEPS
    m.inputs = BatchedChip.inputs(m.config, m.packets)
    return m


def _as_dict(res):
    """Host outputs as {(image, step, key): (count, payload sum)}, order-free."""
    out = {}
    for b, t, k in zip(*np.nonzero(res.host)):
        out[(b, t, res.host_keys[k])] = (int(res.host[b, t, k]),
                                         int(res.host_payloads[b, t, k]))
    return out


def _both(model, g):
    """(batched result, event-by-event result) for one faulty chip; None for the
    batched one when it refuses."""
    try:
        bc = BatchedChip.compile(g.chip, base=model.base, changed=g.changed)
        batched = bc.run(model.inputs, model.state)
    except NotBatchable:
        batched = None
    # after the batched run, which only reads the chip
    return batched, model._event_by_event(g.chip, model.base.host_keys)


def _assert_same(b, e, what):
    assert np.array_equal(b.spikes, e.spikes), f"{what}: spikes differ at " \
        f"{np.argwhere(b.spikes != e.spikes)[:3].tolist()} (image, step, neuron)"
    assert np.array_equal(b.payloads, e.payloads), f"{what}: spike payloads differ"
    assert _as_dict(b) == _as_dict(e), f"{what}: host outputs differ"
    assert b.detected.tolist() == e.detected.tolist(), f"{what}: detection differs"


def test_fault_free_equals_event_by_event(model):
    g = model.copy()
    b, e = _both(model, g)
    _assert_same(b, e, "fault-free")
    assert b.host.sum() > 0 and b.spikes[:, :, 64:].sum() > 0   # the output layer fires


def test_random_faults_equal_event_by_event(model):
    seed = 20261201
    rng = np.random.default_rng(seed)
    mems = [m for m in model.memories if not m["name"].endswith(core_digits.REWRITTEN)]
    compared = refused = hung = 0
    for run in range(6):
        g = model.copy()
        faults = []
        for _ in range(3):
            m = mems[rng.integers(len(mems))]
            word, bit = int(rng.integers(m["words"])), int(rng.integers(m["width"]))
            # with SECDED, two flips in one word: an uncorrectable word to detect
            masks = [1 << bit] if model.config.memory.protection.weights is Protection.NONE \
                else [1 << bit | 1 << ((bit + 1) % m["width"])]
            for mask in masks:
                faults.append((m["name"], word, mask))
                g.inject(m["name"], word, mask, FaultKind.FLIP)
        what = f"seed {seed}, run {run}, faults {faults}"
        try:
            b, e = _both(model, g)
        except (ProgramError, ValueError):
            hung += 1
            continue
        if b is None:
            refused += 1
            continue
        _assert_same(b, e, what)
        compared += 1
    assert compared >= 4, (compared, refused, hung)


def test_detection_of_an_uncorrectable_microcode_word(model):
    g = model.copy()
    g.inject("tile1_0.microcode", 1, 0b11, FaultKind.FLIP)   # the output layer's VEC
    b, e = _both(model, g)
    # SECDED flags two flipped bits of a word every tick reads; without protection
    # nothing can be flagged
    flagged = model.config.memory.protection.microcode is not Protection.NONE
    assert b.detected.tolist() == e.detected.tolist() == [flagged] * len(b.detected)


def test_stuck_at_neuron_state_bit_is_applied_to_every_write(model):
    g = model.copy()
    # the threshold's (p1) sign bit of output neuron 1 (lane 1, row 0) and a high
    # membrane (v) bit of hidden neuron 5 (lane 1, row 1) stuck at 1
    sb = model.config.core.state_bits
    lay = code_layout(4 * sb, model.config.memory.protection.state)
    g.inject("tile1_0.lane1.state", 0, 1 << lay.data_pos[4 * sb - 1], FaultKind.STUCK_AT_1)
    g.inject("tile0_0.lane1.state", 1, 1 << lay.data_pos[sb - 3], FaultKind.STUCK_AT_1)
    b, e = _both(model, g)
    _assert_same(b, e, "stuck-at state bits")
    base = model.base.run(model.inputs, model.state)
    if model.config.memory.protection.state is Protection.NONE:
        assert not np.array_equal(b.spikes, base.spikes)   # the faults change something
    else:
        assert np.array_equal(b.spikes, base.spikes)       # SECDED corrects one bit


def test_refuses_what_it_cannot_batch(model):
    g = model.copy()
    g.inject("tile0_0.lane0.acc", 3, 1, FaultKind.STUCK_AT_1)
    with pytest.raises(NotBatchable, match="tile0_0.lane0.acc: a stuck-at bit"):
        BatchedChip.compile(g.chip)
    # turn the hidden layer's MAC (pc 0) into a VEC: the event program issues a VEC
    g = model.copy()
    isa = Isa.of(model.config)
    word = model.image.images["tile0_0.microcode"][0]
    cls = Isa.unpack(isa.instruction, int(word)).cls
    lay = code_layout(isa.instruction.size,
                                  model.config.memory.protection.microcode)
    offset = isa.instruction["cls"].offset
    mask = 0
    for bit in range(2):
        if ((int(cls) ^ InstrClass.VEC) >> bit) & 1:
            mask |= 1 << lay.data_pos[offset + bit]
    assert mask
    for pos in range(lay.stored_width):
        if mask >> pos & 1:
            g.inject("tile0_0.microcode", 0, 1 << pos, FaultKind.FLIP)
    with pytest.raises(NotBatchable, match=r"tile0_0: the event program of axon \d+ "
                                           r"issues VEC"):
        BatchedChip.compile(g.chip)
