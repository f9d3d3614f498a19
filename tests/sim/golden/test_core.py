"""Golden models agree with each other: the instruction-level core running compiled
images equals the network-level model, on random networks and on the fixtures."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig
from sim.golden.core import GoldenCore
from sw.toolchain.network_model import NetworkModel
from sim.stimulus import fixture_names, load_fixture, random_case
from sw.toolchain.compiler import compile_core


def run_core(image, steps, config):
    core = GoldenCore(config)
    core.load(image.images)
    out, fb = [], []
    for events in steps:
        for axon, payload in image.input_events(events) + fb:
            core.event(axon, payload)
        spikes = core.tick()
        out.append(image.by_layer(spikes))
        fb = image.feedback(spikes)
    return out, core


@pytest.mark.parametrize("lanes", [1, 2, 4, 8])
def test_core_model_equals_network_model_on_random_networks(lanes):
    cfg = ChipConfig(core=CoreConfig(lanes=lanes, neurons=128, axons=128, synapses=2048))
    for seed in range(8):
        image, steps = random_case(np.random.default_rng(1000 * lanes + seed), cfg, 10)
        got, _ = run_core(image, steps, cfg)
        want = NetworkModel(image.network, cfg.core).run(steps)
        for t, (g, w) in enumerate(zip(got, want)):
            assert g == w, f"lanes {lanes} seed {seed}: first divergence at timestep {t}"


@pytest.mark.parametrize("name", fixture_names())
def test_fixtures(name):
    from fixtures.make_core_fixtures import CONFIG
    net, inputs, expected = load_fixture(name)
    got, core = run_core(compile_core(net, CONFIG), inputs, CONFIG)
    assert got == expected
    assert core.counters["events_out"] == sum(len(v) for e in expected for v in e.values())


def test_lif_arithmetic_by_hand():
    """One LIF neuron, values worked out on paper: leak 200/256, bias 3, threshold 100,
    reset by subtraction."""
    from sw.toolchain.network import Layer, Network, Neuron
    cfg = ChipConfig(core=CoreConfig(lanes=1, neurons=4, axons=4, synapses=8))
    net = Network(1, [Layer("a", 1, Neuron("lif", threshold=100, bias=3, leak_mult=200,
                                           leak_shift=8, reset="subtract"),
                            {"input": np.array([[90]])})])
    got, core = run_core(compile_core(net, cfg), [[(0, 1)], [(0, 1)], [], [(0, -1)]], cfg)
    # t0: v = 0*200>>8 + 90 + 3 = 93 (no spike)
    # t1: v = 93*200>>8 = 72; 72 + 90 + 3 = 165 >= 100: spike, v = 65
    # t2: v = 65*200>>8 = 50; 50 + 3 = 53
    # t3: v = 53*200>>8 = 41; 41 - 90 + 3 = -46   (floor: -46)
    assert [g["a"] for g in got] == [[], [(0, 1)], [], []]
    state = core.dump("core.lane0.state")[0]
    assert np.int16(state & 0xFFFF) == -46


@pytest.mark.parametrize("state_bits", [2, 5, 8, 12, 16, 17, 24])
def test_state_words_unpack_and_pack_field_by_field(state_bits):
    """``unpack_state``/``pack_state`` (vectorised; byte views for 8 and 16 bits, Python
    ints past 64 bits) agree with the record layout field by field, and packing wraps
    each field to its width."""
    from hw.spec.isa import Isa
    from sim.golden.core import pack_state, unpack_state
    from sim.golden.npe import wrap
    sb, width = state_bits, 4 * state_bits
    layout = Isa(CoreConfig(state_bits=sb, payload_bits=min(8, sb))).state
    rng = np.random.default_rng(4600 + sb)
    words = [int(x) & ((1 << width) - 1) for x in rng.integers(0, 2 ** 62, 40)]
    words += [(1 << width) - 1, 0, 1 << (width - 1), (1 << (width - 1)) - 1]
    want = [wrap(np.array([(w >> (k * sb)) & ((1 << sb) - 1) for w in words]), sb)
            for k in range(4)]
    dtypes = [object] if width > 64 else [np.uint64] + ([np.int64] if width < 64 else [])
    for dtype in dtypes:
        got = unpack_state(np.array(words, dtype=dtype), layout)
        for k in range(4):
            assert np.array_equal(got[k], want[k]), (dtype, k)
    assert [int(w) for w in pack_state(want, layout)] == words
    assert [int(w) for w in pack_state([f + (3 << sb) for f in want], layout)] == words
