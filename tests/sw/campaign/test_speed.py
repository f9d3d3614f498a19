"""The fast paths campaigns take (docs/inject.md, "Campaign speed") give the plain
paths' results: SDSP inference of only the neurons a fault changed
(``GoldenSdsp.infer(like=)``), copies into a released core (``copy(into=)``), the
batched chip's reuse of a fault-free compile and run (``compile(base=)``,
``run(reference=)``), and core-digits runs on the trained chip restored after each
run (``acquire``/``release``)."""

import re

import numpy as np
import pytest

from hw.spec.isa import Isa
from hw.spec.memory import FaultKind
from hw.spec.packet import dest_layout
from sim.golden.batched import BatchedChip, NotBatchable
from sim.golden.loopctl import ProgramError
from sw.campaign import core_digits
from sw.campaign.sdsp_digits import SdspDigits
from sw.campaign.spec import CampaignSpec


@pytest.fixture(scope="module")
def sdsp():
    return SdspDigits(CampaignSpec(samples=30), log=None)


def _random_flips(rng, mems, n):
    out = []
    for _ in range(n):
        m = mems[rng.integers(len(mems))]
        out.append((m["name"], int(rng.integers(m["words"])),
                    1 << int(rng.integers(m["width"]))))
    return out


def test_sdsp_inference_of_changed_neurons_equals_the_whole_core(sdsp):
    rng = np.random.default_rng(20261207)
    ref = (sdsp.trained, (sdsp.baseline["spikes"], sdsp.baseline["v_all"]))
    K, L = sdsp.config.sdsp.words, sdsp.config.sdsp.lanes
    classes = [j // L for j in sdsp.sd.OUTPUTS]       # the class neurons' words
    computed = 0
    for trial in range(24):
        g = sdsp.trained.copy()
        for name, word, mask in _random_flips(rng, sdsp.memories, 1 + trial % 5):
            if trial % 2:
                # half the faults where they matter: the class neurons' synapses of
                # the rows the test reads, and their parameters
                if name.endswith(".synapses"):
                    word = int(rng.choice(sdsp.read_rows)) * K + int(rng.choice(classes))
                elif name.endswith(".params"):
                    word = int(rng.choice(classes))
            g.inject(name, word, mask)
        if trial % 6 == 5:
            g.gate = not g.gate                # every neuron's inputs change
        if trial % 6 == 4:
            g.inh[int(rng.choice(sdsp.read_rows))] ^= True
        want = g.infer(sdsp.encoded)
        got = g.infer(sdsp.encoded, like=ref)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), trial
        computed += not np.array_equal(want[0], ref[1][0])
    assert computed >= 3                       # some faults change spikes


def test_sdsp_inference_equals_the_event_by_event_core_with_weights_in_unread_rows(sdsp):
    # weights in rows no test event reads: the neurons stay out of the computation
    g = sdsp.trained.copy()
    unread = sorted(set(range(g.s.neurons)) - set(sdsp.read_rows))[:4]
    g.w[unread, 100:110] = 7
    g.mapped[unread, 100:110] = True
    g.w[sdsp.read_rows[0], 120] = 5            # and one that a test event does read
    g.mapped[sdsp.read_rows[0], 120] = True
    spikes, v = g.infer(sdsp.events[:6])
    for b, events in enumerate(sdsp.events[:6]):
        h = g.copy()
        h.reset_state()
        fired = h.run(events)
        counts = np.bincount([n for f in fired for n in f], minlength=g.s.neurons)
        assert np.array_equal(spikes[b], counts) and np.array_equal(v[b], h.v), b


def test_sdsp_inference_after_learning_equals_the_whole_core(sdsp):
    g = sdsp.trained.copy()
    sdsp.online(g, np.random.default_rng(4), 3)          # weights move in many columns
    ref = (sdsp.trained, (sdsp.baseline["spikes"], sdsp.baseline["v_all"]))
    want = g.infer(sdsp.encoded)
    got = g.infer(sdsp.encoded, like=ref)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_an_unchanged_core_returns_the_reference_read_only(sdsp):
    ref = (sdsp.trained, (sdsp.baseline["spikes"], sdsp.baseline["v_all"]))
    spikes, _ = sdsp.trained.copy().infer(sdsp.encoded, like=ref)
    assert np.array_equal(spikes, ref[1][0])
    with pytest.raises(ValueError, match="read-only"):
        spikes[0, 0] = 1


def test_copy_into_a_released_core_equals_a_new_copy(sdsp):
    src = sdsp.trained.copy()
    src.inject("sdsp.synapses", 70, 0b101)
    src.inject("sdsp.params", 3, 0b1, FaultKind.STUCK_AT_1)
    src.v[5] = 9
    old = sdsp.trained.copy()
    old.inject("sdsp.signs", 1, 0b1)
    old.w[:] = 3
    into = src.copy(into=old)
    new = src.copy()
    assert into is old
    for name in ("w", "mapped", "inh", "v", "ca", "count", "up", "down"):
        assert np.array_equal(getattr(into, name), getattr(new, name)), name
    assert all(np.array_equal(into.params[k], new.params[k]) for k in new.params)
    assert into.upsets == new.upsets and into.stuck == new.stuck
    into.w[0, 0] += 1                          # independent of its source
    into.stuck["sdsp.params"].clear()
    assert src.w[0, 0] == new.w[0, 0] and src.stuck["sdsp.params"]


# -- the batched chip --------------------------------------------------------------------

@pytest.fixture(scope="module", params=["none", "secded"])
def core(request):
    return core_digits.CoreDigits(CampaignSpec(model="core-digits", samples=6,
                                               protection=request.param), log=None)


def _host(res):
    return {(b, t, res.host_keys[k]): (int(res.host[b, t, k]),
                                       int(res.host_payloads[b, t, k]))
            for b, t, k in zip(*np.nonzero(res.host))}


def _assert_same(got, want, what):
    assert np.array_equal(got.spikes, want.spikes), what
    assert np.array_equal(got.payloads, want.payloads), what
    assert _host(got) == _host(want), what
    assert got.detected.tolist() == want.detected.tolist(), what


def _plain(g, model):
    """Compiled from nothing, run without a reference."""
    return BatchedChip.compile(g.chip).run(model.inputs, model.state)


def _reused(g, model):
    bc = BatchedChip.compile(g.chip, base=model.base, changed=g.changed)
    return bc.run(model.inputs, model.state, reference=model._base_result)


def test_batched_reuse_equals_compiling_and_running_afresh(core):
    rng = np.random.default_rng(77)
    mems = [m for m in core.memories if not m["name"].endswith(".acc")]
    compared = 0
    for trial in range(16):
        g = core.copy()
        faults = _random_flips(rng, mems, 1 + trial % 3)
        if trial % 4 == 3:          # two flips in one word: uncorrectable under SECDED
            name, word, mask = faults[0]
            faults.append((name, word, mask << 1 if mask << 1 < 1 << 8 else mask >> 1))
        for name, word, mask in faults:
            g.inject(name, word, mask, FaultKind.FLIP)
        if trial % 5 == 4:
            g.inject("tile1_0.lane1.state", 0, 1 << 60, FaultKind.STUCK_AT_1)
        try:
            want = _plain(g, core)
        except (ProgramError, ValueError, NotBatchable) as e:
            with pytest.raises(type(e), match=re.escape(str(e))):   # the same refusal
                _reused(g, core)
            continue
        _assert_same(_reused(g, core), want, f"trial {trial}, faults {faults}")
        compared += 1
    assert compared >= 10


def test_batched_routes_round_a_cycle_equal_the_event_by_event_chip():
    # the output layer's first destination word sent back to tile (0, 0): spikes go
    # round a cycle, which the batched chip runs step by step
    model = core_digits.CoreDigits(CampaignSpec(model="core-digits", samples=2), log=None)
    lay = dest_layout(model.config)
    name = "tile1_0.dest_table"
    old = int(model.image.images[name][0])
    new = Isa.pack(lay, {"to_host": 0, "x": 0, "y": 0, "axon": 5})
    g = model.copy()
    g.inject(name, 0, old ^ new, FaultKind.FLIP)
    got = _reused(g, model)
    assert model.base.tiles[1].routes == {}            # the fault-free chip has no cycle
    assert BatchedChip.compile(g.chip)._flow_order() is None
    _assert_same(got, _plain(g, model), "cycle: reuse")
    _assert_same(got, model._event_by_event(g.chip, model.base.host_keys),
                 "cycle: event by event")


def test_core_runs_on_the_trained_chip_leave_it_as_it_was(core):
    g = core.acquire()
    with pytest.raises(RuntimeError, match=r"acquire\(\) again before release\(\)"):
        core.acquire()
    g.inject("tile0_0.lane2.weights", 17, 0b1000, FaultKind.FLIP)
    g.inject("tile1_0.route_table", 3, 0b1, FaultKind.STUCK_AT_1)
    # two bits of the hidden layer's MAC, which every event fetches: SECDED flags them
    g.inject("tile0_0.microcode", 0, 0b110, FaultKind.FLIP)
    faulty = core.outcome(g, core.infer(g))
    core.release(g)
    fresh = core._fresh()
    for name, mem in core.trained.chip.mems.items():
        want = fresh.mems[name]
        assert [mem.stored(a) for a in range(mem.depth)] == \
            [want.stored(a) for a in range(want.depth)], name
    g = core.acquire()
    again = _plain(g, core)                    # traced afresh from the chip's memories
    core.release(g)
    assert faulty != "masked"
    _assert_same(again, core._base_result, "after release")
    with pytest.raises(RuntimeError, match="release\\(\\) of a chip that acquire\\(\\) did "
                                           "not hand out"):
        core.release(core.copy())
