"""Per-synapse delays in the network description and the golden network model."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig
from sw.toolchain.network_model import NetworkModel
from sim.golden.npe import clamp, wrap
from sim.stimulus import random_case, random_inputs, random_network
from sw.toolchain.compiler import CompileError, compile_core
from sw.toolchain.mapper import map_network
from sw.toolchain.network import INPUT, Layer, Network, Neuron, load_network, save_network

CORE = CoreConfig()


def _legacy_step(net, core, state, events):
    """The network model as it was before delays (commit 7a23f9f), kept verbatim in
    substance: the reference for "delay 0 is today's behaviour exactly"."""
    D, S = core.alu_bits, core.state_bits
    acc = {l.name: np.zeros(l.size, np.int64) for l in net.layers}
    spikes_in = {INPUT: list(events), **state["last"]}
    for layer in net.layers:
        for source, w in layer.inputs.items():
            if spikes_in[source]:
                idx = np.array([i for i, _ in spikes_in[source]], dtype=np.int64)
                pay = np.array([p for _, p in spikes_in[source]], dtype=np.int64)
                acc[layer.name] += (np.asarray(w, np.int64)[idx] * pay[:, None]).sum(axis=0)
    out = {}
    for layer in net.layers:
        n = layer.neuron
        a = wrap(acc[layer.name], core.acc_bits)
        v, u = state["v"][layer.name], state["u"][layer.name]
        bias, thr = layer.param("bias"), layer.param("threshold")
        if n.model in ("lif", "if"):
            x = v
            if n.model == "lif":
                x = wrap((x * int(wrap(n.leak_mult, S))) >> n.leak_shift, D)
            x = clamp(wrap(wrap(x + a, D) + bias, D), S)
            spike = x >= thr
            reset = 0 if n.reset == "zero" else wrap(x - thr, D)
            x = np.where(spike, reset, x)
            state["v"][layer.name] = wrap(x, S)
            payload = np.ones(layer.size, np.int64)
        else:
            x = clamp(wrap(v + a, D), S)
            y = np.maximum(wrap(x + bias, D), 0)
            d = clamp(wrap(y - u, D), core.payload_bits)
            spike = np.abs(d) >= thr
            state["v"][layer.name] = wrap(x, S)
            state["u"][layer.name] = wrap(np.where(spike, wrap(u + d, D), u), S)
            payload = d
        out[layer.name] = [(int(i), int(payload[i])) for i in np.nonzero(spike)[0]]
    state["last"] = out
    return out


def _legacy_run(net, core, steps):
    state = {"v": {l.name: np.zeros(l.size, np.int64) for l in net.layers},
             "u": {l.name: np.zeros(l.size, np.int64) for l in net.layers},
             "last": {l.name: [] for l in net.layers}}
    return [_legacy_step(net, core, state, e) for e in steps], state


def _if(threshold=1):
    return Neuron("if", threshold=threshold)


# -- semantics by hand -------------------------------------------------------------------

def test_delay_3_synapse_contributes_exactly_3_steps_later():
    # one input -> two IF neurons (weights 5 and 7, delays 0 and 3), threshold 1
    net = Network(1, [Layer("a", 2, _if(), {INPUT: np.array([[5, 7]])},
                            {INPUT: np.array([[0, 3]])})])
    m = NetworkModel(net, CORE)
    assert m.slots == 4
    out = m.run([[(0, 1)], [], [], [], [], []])
    assert [o["a"] for o in out] == [[(0, 1)], [], [], [(1, 1)], [], []]
    # the pending contribution sits in the ring until it is due
    m = NetworkModel(net, CORE)
    m.step([(0, 2)])                     # payload 2: 7 * 2 = 14 due 3 steps on
    assert m.pending["a"].sum() == 14 and m.v["a"][1] == 0
    m.step([])
    m.step([])
    assert m.v["a"][1] == 0 and m.pending["a"].sum() == 14
    m.step([])
    assert m.pending["a"].sum() == 0


def test_layer_to_layer_delay_adds_to_the_one_step_latency():
    # a fires at t=0; b gets it at t=1 (delay 0) and c at t=1+2=3 (delay 2)
    net = Network(1, [
        Layer("a", 1, _if(), {INPUT: np.array([[1]])}),
        Layer("b", 1, _if(), {"a": np.array([[1]])}),
        Layer("c", 1, _if(), {"a": np.array([[1]])}, {"a": np.array([[2]])})])
    out = NetworkModel(net, CORE).run([[(0, 1)]] + [[]] * 5)
    fired = {name: [t for t, o in enumerate(out) if o[name]] for name in "abc"}
    assert fired == {"a": [0], "b": [1], "c": [3]}


def test_recurrent_delay_makes_a_ring_oscillator():
    # a neuron exciting itself through a delay-4 synapse fires every 5 steps
    net = Network(1, [Layer("a", 1, _if(), {INPUT: np.array([[1]]), "a": np.array([[1]])},
                            {"a": np.array([[4]])})])
    out = NetworkModel(net, CORE).run([[(0, 1)]] + [[]] * 15)
    assert [t for t, o in enumerate(out) if o["a"]] == [0, 5, 10, 15]


def test_contributions_due_together_sum_then_wrap_once():
    core = CoreConfig(weight_bits=4, payload_bits=4, acc_bits=8, state_bits=8)
    # events of t=0 (delay 2), t=1 (delay 1) and t=2 (delay 0) are all due at t=2:
    # 3 x 7 x 7 = 147, which wraps to -109 in 8 bits: the same as wrapping each addition
    net = Network(3, [Layer("a", 1, _if(threshold=127), {INPUT: np.full((3, 1), 7)},
                            {INPUT: np.array([[2], [1], [0]])})])
    m = NetworkModel(net, core)
    m.run([[(0, 7)], [(1, 7)], [(2, 7)]])
    assert m.v["a"][0] == -109 == wrap(wrap(wrap(49, 8) + 49, 8) + 49, 8)


def test_graded_payloads_are_delayed_too():
    # a sigma-delta neuron sends payload 7 at t=0; o integrates 3 * 7 at t = 0 + 1 + 5
    net = Network(1, [
        Layer("s", 1, Neuron("sigma_delta", threshold=1), {INPUT: np.array([[1]])}),
        Layer("o", 1, _if(threshold=1000), {"s": np.array([[3]])}, {"s": np.array([[5]])})])
    m = NetworkModel(net, CORE)
    vs = []
    for t, events in enumerate([[(0, 7)]] + [[]] * 7):
        out = m.step(events)
        assert out["s"] == ([(0, 7)] if t == 0 else [])
        vs.append(int(m.v["o"][0]))
    assert vs == [0, 0, 0, 0, 0, 0, 21, 21]


def test_delays_on_zero_weights_have_no_effect():
    w = np.array([[4, 0]])
    net = Network(1, [Layer("a", 2, _if(), {INPUT: w}, {INPUT: np.array([[0, 9]])})])
    assert net.max_delay() == 0
    assert NetworkModel(net, CORE).slots == 1
    compile_core(net, ChipConfig())                      # nothing to refuse


# -- zero delays are the old model, bit for bit; delays match shifted inputs -------------

@pytest.mark.parametrize("seed", range(6))
def test_zero_delays_equal_the_model_before_delays(seed):
    cfg = ChipConfig(core=CoreConfig(neurons=128, axons=128, synapses=2048))
    image, steps = random_case(np.random.default_rng(7000 + seed), cfg, 15)
    net = image.network
    want, state = _legacy_run(net, cfg.core, steps)
    zeros = Network(net.inputs, [Layer(l.name, l.size, l.neuron, l.inputs,
                                       {s: np.zeros_like(w) for s, w in l.inputs.items()})
                                 for l in net.layers])
    for variant in (net, zeros):
        m = NetworkModel(variant, cfg.core)
        assert m.slots == 1
        assert m.run(steps) == want
        for l in net.layers:
            assert np.array_equal(m.v[l.name], state["v"][l.name])
            assert np.array_equal(m.u[l.name], state["u"][l.name])


@pytest.mark.parametrize("seed", range(6))
def test_input_delays_equal_a_delay_free_network_on_shifted_inputs(seed):
    """Independent construction: input ``i`` through delay ``d`` is input channel
    ``(d, i)`` of a delay-free network, fed the input shifted by ``d`` steps."""
    rng = np.random.default_rng(8000 + seed)
    cfg = ChipConfig(core=CoreConfig(neurons=128, axons=128, synapses=2048))
    net = random_network(rng, cfg)
    steps = random_inputs(rng, net, 12, cfg)
    dmax = int(rng.integers(1, 8))
    n = net.inputs
    delayed, expanded = [], []
    for l in net.layers:
        delays, inputs = {}, dict(l.inputs)
        if INPUT in l.inputs:
            w = np.asarray(l.inputs[INPUT], np.int64)
            d = rng.integers(0, dmax + 1, w.shape)
            delays[INPUT] = d
            inputs[INPUT] = np.concatenate([np.where(d == k, w, 0) for k in range(dmax + 1)])
        delayed.append(Layer(l.name, l.size, l.neuron, l.inputs, delays))
        expanded.append(Layer(l.name, l.size, l.neuron, inputs))
    steps = steps + [[] for _ in range(dmax + 3)]
    shifted = [[(k * n + i, p) for k in range(dmax + 1) if t - k >= 0
                for i, p in steps[t - k]] for t in range(len(steps))]
    got = NetworkModel(Network(n, delayed), cfg.core).run(steps)
    want = NetworkModel(Network(n * (dmax + 1), expanded), cfg.core).run(shifted)
    assert got == want


# -- validation ----------------------------------------------------------------------------

def _net(delays):
    return Network(2, [Layer("h", 3, _if(), {INPUT: np.ones((2, 3), np.int64)}, delays)])


@pytest.mark.parametrize("delays, message", [
    ({INPUT: np.zeros((3, 2), np.int64)},
     "layer 'h': delays from 'input' have shape (3, 2), expected (2, 3)"),
    ({INPUT: np.array([[0, 1, 2], [0, 1.5, 0]])},
     "layer 'h': delays from 'input' must be integers, not float64 (neuron 1 to neuron 1: "),
    ({INPUT: np.array([[0.0, 1.0, 2.0], [0, 1, 0]])},
     "layer 'h': delays from 'input' must be integers, not float64"),
    ({INPUT: np.array([[0, 1, 2], [3, 0, -1]])},
     "layer 'h': delay from 'input' neuron 1 to neuron 2 is -1; delays must be >= 0"),
    ({"h": np.zeros((3, 3), np.int64)},
     "layer 'h': delays from 'h', which has no weights into this layer"),
    ([1, 2], "layer 'h': delays must be a dict"),
])
def test_validation_names_layer_source_and_entry(delays, message):
    with pytest.raises(ValueError) as e:
        _net(delays).validate()
    assert str(e.value).startswith(message), str(e.value)


def test_missing_or_none_delays_are_zero():
    for delays in (None, {}, {INPUT: None}):
        net = _net(delays)
        net.validate()
        assert net.max_delay() == 0


# -- files -----------------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    d = np.array([[0, 3, 1], [2, 0, 15]])
    net = Network(2, [
        Layer("h", 3, _if(), {INPUT: np.ones((2, 3), np.int64)}, {INPUT: d}),
        Layer("o", 1, _if(), {"h": np.ones((3, 1), np.int64), INPUT: np.ones((2, 1))
                               .astype(np.int64)}, {"h": None})])
    save_network(net, tmp_path / "n.npz", note=np.arange(3))
    got, extra = load_network(tmp_path / "n.npz")
    assert np.array_equal(got.layer("h").delays[INPUT], d)
    assert got.layer("o").delays == {}
    assert got.max_delay() == 15
    assert list(extra) == ["note"]
    steps = [[(0, 1), (1, 1)], [], [(1, 1)]] + [[]] * 16
    assert NetworkModel(got, CORE).run(steps) == NetworkModel(net, CORE).run(steps)


def test_files_without_delays_still_load(tmp_path):
    net = _net(None)
    save_network(net, tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz") as f:
        assert not any(k.endswith("/delay") for k in f.files)
        assert "delays" not in str(f["network"])
    got, _ = load_network(tmp_path / "n.npz")
    assert got.layer("h").delays == {} and got.max_delay() == 0


# -- refusals ----------------------------------------------------------------------------------

def test_compiler_and_mapper_refuse_delays_without_a_delay_unit():
    net = Network(2, [
        Layer("h", 3, _if(), {INPUT: np.ones((2, 3), np.int64)}),
        Layer("o", 2, _if(), {"h": np.ones((3, 2), np.int64), INPUT: np.ones((2, 2), np.int64)},
              {"h": np.array([[0, 1], [2, 0], [0, 0]]), INPUT: np.array([[5, 0], [0, 0]])})])
    want = ("layer 'o': synapses with delays up to 5 timesteps (from 'input') but the cores "
            "have no delay unit (delay.unit = 'none'); set delay.unit to 'scdq' or 'ring'")
    with pytest.raises(CompileError) as e:
        compile_core(net, ChipConfig())
    assert str(e.value) == want
    with pytest.raises(CompileError) as e:
        map_network(net, ChipConfig())
    assert str(e.value) == want
