"""Trained-model import: float format, NIR conversion, quantization, refusals."""

import math

import nir
import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig
from sw.toolchain.network_model import NetworkModel
from sw.toolchain.compiler import compile_core
from sw.frontend.importer import (FloatLayer, FloatModel, ModelImportError, from_nir, load_float_model,
                         quantize, save_float_model, simulate_float, simulate_network, to_nir)

CFG = ChipConfig()
DT = 1e-3


def random_model(seed=0, reset="subtract"):
    """16 inputs -> 32 LIF -> 8 LIF -> 4 LI, with a recurrent projection on the hidden layer."""
    rng = np.random.default_rng(seed)
    return FloatModel(DT, 16, [
        FloatLayer("h", 32, {"model": "lif", "tau_mem": 0.02, "v_threshold": 1.0,
                             "reset": reset},
                   {"input": rng.normal(0, 0.35, (16, 32))}, rng.normal(0, 0.02, 32)),
        FloatLayer("o", 8, {"model": "lif", "tau_mem": 0.01, "v_threshold": 1.0, "reset": "zero"},
                   {"h": rng.normal(0.05, 0.3, (32, 8))}),
        FloatLayer("ro", 4, {"model": "li", "tau_mem": 0.05}, {"o": rng.normal(0, 0.5, (8, 4))}),
    ])


def nir_graph(neuron="lif"):
    """Input(3) -> Affine -> LIF|IF -> Linear -> LI -> Output, with known numbers."""
    w1 = np.arange(12, dtype=float).reshape(4, 3) / 10 - 0.5        # NIR (out, in)
    w2 = np.array([[1.0, -1.0, 0.5, 0.25], [0.0, 2.0, -0.5, 1.0]])
    if neuron == "lif":
        hidden = nir.LIF(tau=np.full(4, 0.02), r=np.full(4, 2.0), v_leak=np.zeros(4),
                         v_threshold=np.full(4, 1.5))
    else:
        hidden = nir.IF(r=np.full(4, 5.0), v_threshold=np.array([1.0, 2.0, 3.0, 4.0]))
    return nir.NIRGraph(nodes={
        "in": nir.Input(np.array([3])),
        "fc1": nir.Affine(weight=w1, bias=np.array([0.1, 0.2, 0.3, 0.4])),
        "hidden": hidden,
        "fc2": nir.Linear(weight=w2),
        "readout": nir.LI(tau=np.full(2, 0.01), r=np.full(2, 10.0), v_leak=np.zeros(2)),
        "out": nir.Output(np.array([2])),
    }, edges=[("in", "fc1"), ("fc1", "hidden"), ("hidden", "fc2"), ("fc2", "readout"),
              ("readout", "out")]), w1, w2


def assert_models_equal(a, b, exact=True):
    assert (a.dt, a.inputs) == (b.dt, b.inputs)
    assert [l.name for l in a.layers] == [l.name for l in b.layers]
    for la, lb in zip(a.layers, b.layers):
        assert la.size == lb.size
        defaults = {"r": 1.0, "reset": "zero"}
        for key in set(la.neuron) | set(lb.neuron):
            value = la.neuron.get(key, defaults.get(key))
            if isinstance(value, str):
                assert lb.neuron.get(key, defaults.get(key)) == value
            else:
                np.testing.assert_allclose(lb.param(key, defaults.get(key)), la.param(key, value),
                                           rtol=0 if exact else 1e-12)
        assert list(la.weights) == list(lb.weights)
        for src in la.weights:
            np.testing.assert_array_equal(la.weights[src], lb.weights[src])
        assert (la.bias is None) == (lb.bias is None)
        if la.bias is not None:
            np.testing.assert_array_equal(la.bias, lb.bias)


# -- float format and dynamics -----------------------------------------------------------

def test_npz_round_trip(tmp_path):
    model = random_model()
    model.layers[0].neuron["r"] = np.linspace(0.5, 1.5, 32)       # per-neuron gain
    model.layers[0].weights["h"] = np.eye(32) * 0.1                # recurrent projection
    path = tmp_path / "model.npz"
    save_float_model(model, path)
    back = load_float_model(path)
    assert_models_equal(model, back)
    with np.load(path) as f:
        assert sorted(f.files) == ["h/bias", "h/h", "h/input", "meta", "o/h", "ro/o"]


def test_load_refuses_other_npz(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ModelImportError, match="no 'meta' entry; not a spikeforge float model"):
        load_float_model(path)


def test_float_dynamics_by_hand():
    """One LIF neuron, subtract reset, bias, gain r, and the one-step delay to the next layer."""
    alpha = math.exp(-DT / 0.004)
    model = FloatModel(DT, 1, [
        FloatLayer("a", 1, {"model": "lif", "tau_mem": 0.004, "v_threshold": 1.0,
                            "reset": "subtract", "r": 0.5}, {"input": np.array([[1.6]])},
                   np.array([0.2])),
        FloatLayer("b", 1, {"model": "if", "v_threshold": 10.0}, {"a": np.array([[1.0]])}),
    ])
    x = np.array([1.0, 1.0, 0.0, 0.0])
    v, va, spikes = 0.0, [], []
    for t in range(4):
        v = alpha * v + 0.5 * (1.6 * x[t] + 0.2)
        spikes.append(v >= 1.0)
        v = v - 1.0 if v >= 1.0 else v
        va.append(v)
    counts, vf = simulate_float(model, x[None, :, None])
    assert counts["a"][0, 0] == sum(spikes) == 1
    assert vf["a"][0, 0] == pytest.approx(va[-1], rel=1e-12)
    # b integrates a's spike one step later: a fired at step 1, b sees it at step 2
    assert vf["b"][0, 0] == 1.0 and counts["b"][0, 0] == 0


# -- NIR -----------------------------------------------------------------------------------

def test_from_nir_lif_weights_transposed_and_time_constants():
    graph, w1, w2 = nir_graph("lif")
    model = from_nir(graph, DT)
    assert [l.name for l in model.layers] == ["hidden", "readout"] and model.inputs == 3
    hidden, readout = model.layers
    np.testing.assert_array_equal(hidden.weights["input"], w1.T)       # (in, out)
    np.testing.assert_array_equal(readout.weights["hidden"], w2.T)
    np.testing.assert_array_equal(hidden.bias, [0.1, 0.2, 0.3, 0.4])
    assert readout.bias is None
    # hand computation: alpha = exp(-dt/tau), gain = r * dt / tau
    assert hidden.alpha(DT) == pytest.approx(0.951229424500714, abs=1e-15)
    assert hidden.neuron == {"model": "lif", "tau_mem": 0.02, "v_threshold": 1.5,
                             "reset": "zero", "r": pytest.approx(0.1, rel=1e-15)}
    assert readout.alpha(DT) == pytest.approx(0.9048374180359595, abs=1e-15)
    assert readout.neuron == {"model": "li", "tau_mem": 0.01, "r": pytest.approx(1.0, rel=1e-15)}


def test_from_nir_if_variant():
    graph, w1, _ = nir_graph("if")
    hidden = from_nir(graph, DT, reset="subtract").layer("hidden")
    np.testing.assert_array_equal(hidden.weights["input"], w1.T)
    assert hidden.alpha(DT) == 1.0
    assert hidden.neuron == {"model": "if", "v_threshold": [1.0, 2.0, 3.0, 4.0],
                             "reset": "subtract", "r": pytest.approx(0.005, rel=1e-15)}


def test_time_constant_conversion_matches_the_ode_solution():
    """tau dv/dt = -v + r I with impulse input: v jumps by r*dt/tau*I, then decays exactly."""
    tau, r, w, dt = 0.02, 2.0, 0.7, 1e-3
    graph = nir.NIRGraph.from_list(
        nir.Linear(weight=np.array([[w]])),
        nir.LI(tau=np.array([tau]), r=np.array([r]), v_leak=np.zeros(1)))
    model = from_nir(graph, dt)
    steps = 6
    x = np.zeros((1, steps, 1))
    x[0, 0, 0] = 1.0                          # one input of value 1 at step 0
    _, v = simulate_float(model, x)
    jump = r * dt / tau * w                   # 0.07
    assert jump == pytest.approx(0.07)
    # exact solution of the ODE, (steps - 1) * dt after the impulse
    assert v["li"][0, 0] == pytest.approx(jump * math.exp(-(steps - 1) * dt / tau), rel=1e-12)
    assert v["li"][0, 0] == pytest.approx(0.07 * 0.7788007830714049, rel=1e-12)


def test_cuba_lif_instantaneous_synapse_is_accepted():
    graph = nir.NIRGraph.from_list(
        nir.Linear(weight=np.ones((2, 2))),
        nir.CubaLIF(tau_syn=np.full(2, 1e-5), tau_mem=np.full(2, 0.01), r=np.full(2, 10.0),
                    v_leak=np.zeros(2), v_threshold=np.ones(2), w_in=np.full(2, 2.0)))
    layer = from_nir(graph, DT).layers[0]
    assert layer.neuron["model"] == "lif"
    assert layer.neuron["r"] == pytest.approx(2.0)            # r * w_in * dt / tau_mem


def test_whole_graph_check_lists_every_unsupported_node():
    nodes = {
        "in": nir.Input(np.array([16])),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=np.ones((1, 1, 3, 3)), stride=1,
                           padding=1, dilation=1, groups=1, bias=np.zeros(1)),
        "fc": nir.Affine(weight=np.ones((4, 16)), bias=np.zeros(4)),
        "lif": nir.LIF(tau=np.full(4, 0.02), r=np.ones(4), v_leak=np.zeros(4),
                       v_threshold=np.ones(4)),
        "delay": nir.Delay(delay=np.full(4, 2.0)),
        "fc2": nir.Linear(weight=np.ones((2, 4))),
        "li": nir.LI(tau=np.full(2, 0.02), r=np.ones(2), v_leak=np.zeros(2)),
        "out": nir.Output(np.array([2])),
    }
    edges = [("in", "conv"), ("conv", "fc"), ("fc", "lif"), ("lif", "delay"),
             ("delay", "fc2"), ("fc2", "li"), ("li", "out")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    with pytest.raises(ModelImportError) as e:
        from_nir(graph, DT)
    assert str(e.value) == (
        "the NIR graph cannot be imported (2 problems):\n"
        "  - node 'conv' (Conv2d): convolutions are not supported (unroll the convolution "
        "into an Affine)\n"
        "  - node 'delay' (Delay): no delay unit yet")
    assert len(e.value.problems) == 2


def test_whole_graph_check_lists_parameter_and_structure_problems():
    nodes = {
        "in": nir.Input(np.array([3])),
        "fc": nir.Affine(weight=np.ones((2, 3)), bias=np.zeros(2)),
        "leaky": nir.LIF(tau=np.array([0.01, 0.02]), r=np.ones(2), v_leak=np.full(2, 0.1),
                         v_threshold=np.ones(2)),
        "cuba": nir.CubaLIF(tau_syn=np.full(2, 5e-3), tau_mem=np.full(2, 0.01), r=np.ones(2),
                            v_leak=np.zeros(2), v_threshold=np.ones(2)),
        "scale": nir.Scale(scale=np.ones(2)),
        "fc2": nir.Linear(weight=np.ones((2, 2))),
        "out": nir.Output(np.array([2])),
    }
    edges = [("in", "fc"), ("fc", "leaky"), ("fc", "cuba"), ("cuba", "scale"), ("leaky", "fc2"),
             ("fc2", "out")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    with pytest.raises(ModelImportError) as e:
        from_nir(graph, DT)
    assert e.value.problems == [
        "node 'leaky' (LIF): tau varies across neurons (0.01 .. 0.02 s); the core has one leak "
        "per layer",
        "node 'leaky' (LIF): v_leak must be 0 (the core's leak decays towards 0), not 0.1",
        "node 'cuba' (CubaLIF): tau_syn = 0.005 s keeps exp(-dt/tau_syn) = 0.819 of the "
        "synaptic current per step (dt = 0.001 s); the core has no synaptic current state, so "
        "only tau_syn <= 0.000145 s (instantaneous synapses, syn_tolerance = 0.001) can be "
        "imported",
        "node 'scale' (Scale): Scale is not supported (fold it into the preceding Affine)",
        "node 'fc2' (Linear): feeds Output 'out' directly; its output is a current: end the "
        "chain with a neuron (LI for a readout)",
    ]
    assert str(e.value).startswith("the NIR graph cannot be imported (5 problems):\n  - node")


def test_flatten_of_flat_data_is_identity_and_shaped_data_is_refused():
    def graph(shape):
        return nir.NIRGraph(nodes={
            "in": nir.Input(np.array(shape)),
            "flat": nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0),
            "fc": nir.Linear(weight=np.ones((2, int(np.prod(shape))))),
            "if": nir.IF(r=np.ones(2), v_threshold=np.ones(2)),
            "out": nir.Output(np.array([2])),
        }, edges=[("in", "flat"), ("flat", "fc"), ("fc", "if"), ("if", "out")], type_check=False)
    assert from_nir(graph([1, 6]), DT).inputs == 6
    with pytest.raises(ModelImportError) as e:
        from_nir(graph([2, 3]), DT)
    assert e.value.problems == [
        "node 'in' (Input): input shape (2, 3) is not flat; flatten the data before the Input "
        "node",
        "node 'flat' (Flatten): flattens shape (2, 3): only already-flat data (one non-unit "
        "dimension) is supported"]


def test_li_feeding_a_layer_is_refused():
    graph = nir.NIRGraph.from_list(
        nir.Linear(weight=np.ones((2, 2))),
        nir.LI(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2)),
        nir.Linear(weight=np.ones((2, 2))),
        nir.IF(r=np.ones(2), v_threshold=np.ones(2)))
    with pytest.raises(ModelImportError, match=r"node 'li' \(LI\): its output \(a membrane "
                       r"potential, not spikes\) feeds Linear 'linear_1'; LI layers can only "
                       r"be outputs"):
        from_nir(graph, DT)


def test_to_nir_round_trip_through_a_file(tmp_path):
    model = random_model(reset="subtract")
    model.layers[0].weights["h"] = np.eye(32) * -0.2               # recurrent
    model.layers.insert(1, FloatLayer("i", 8, {"model": "if", "v_threshold": 2.0, "r": 0.5},
                                      {"input": np.full((16, 8), 0.1)}))
    graph = to_nir(model)
    assert graph.nodes["h.input"].weight.shape == (32, 16)           # NIR (out, in)
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    back = from_nir(nir.read(path), DT)
    # layer order follows the graph from the input; everything else is equal
    back.layers.sort(key=lambda l: [m.name for m in model.layers].index(l.name))
    assert_models_equal(model, back, exact=False)
    assert back.layer("h").neuron["reset"] == "subtract"             # kept in metadata


# -- quantization --------------------------------------------------------------------------

def test_quantize_rules():
    graph, w1, w2 = nir_graph("lif")
    model = from_nir(graph, DT)
    net, report = quantize(model, CFG)
    net.validate()
    h, ro = net.layers
    weff = w1.T * 0.1                                     # gain r*dt/tau = 0.1
    s = 127 / np.abs(weff).max()
    assert report.layer("hidden").scale == pytest.approx(s)
    np.testing.assert_array_equal(h.inputs["input"], np.rint(weff * s))
    assert np.abs(h.inputs["input"]).max() == 127
    assert h.neuron.threshold == round(1.5 * s)
    np.testing.assert_array_equal(h.neuron.bias, np.rint(np.array([0.1, 0.2, 0.3, 0.4]) * 0.1 * s))
    # leak: largest shift that keeps leak_mult in 16-bit signed
    assert (h.neuron.leak_shift, h.neuron.leak_mult) == (15, round(0.951229424500714 * 2 ** 15))
    q = report.layer("hidden")
    assert abs(q.alpha_error) <= 2 ** -16 and q.clipped == 0
    assert q.weight_err_max <= 0.5 / s + 1e-12
    # LI readout: a lif layer that cannot fire below the top of the state range
    assert (ro.neuron.model, ro.neuron.threshold) == ("lif", 32767)
    assert "li readout" in report.table()


def test_quantized_network_matches_float_model():
    model = random_model(seed=0)
    rng = np.random.default_rng(100)
    x = (rng.random((4, 100, 16)) < 0.2).astype(np.int64)
    counts_f, v_f = simulate_float(model, x)
    net, report = quantize(model, CFG, calibration=x)
    counts_i, v_i = simulate_network(net, CFG, report.input_payloads(x))
    for name in ("h", "o"):
        close = np.abs(counts_i[name] - counts_f[name]) <= np.maximum(1, 0.1 * counts_f[name])
        assert close.mean() >= 0.9, name
        assert counts_f[name].sum() > 100           # the comparison is not vacuous
        assert abs(counts_i[name].sum() - counts_f[name].sum()) <= 0.05 * counts_f[name].sum()
    readout = report.state_to_float("ro", v_i["ro"])
    assert np.corrcoef(readout.ravel(), v_f["ro"].ravel())[0, 1] > 0.95
    assert report.layer("h").peak_v is not None


def test_exactly_representable_if_model_matches_bit_for_bit():
    """Weights on the quantization grid and no leak: integer and float agree exactly."""
    rng = np.random.default_rng(3)
    w1 = rng.integers(-127, 128, (6, 10)) / 127 * 0.5
    w1[0, 0] = 0.5                                        # the maximum sets s = 254
    w2 = rng.integers(-127, 128, (10, 3)) / 127
    w2[0, 0] = 1.0
    model = FloatModel(DT, 6, [
        FloatLayer("a", 10, {"model": "if", "v_threshold": 1.0, "reset": "subtract"},
                   {"input": w1}),
        FloatLayer("b", 3, {"model": "if", "v_threshold": 2.0, "reset": "zero"}, {"a": w2}),
    ])
    x = rng.integers(0, 3, (3, 40, 6))
    counts_f, v_f = simulate_float(model, x)
    net, report = quantize(model, CFG)
    counts_i, v_i = simulate_network(net, CFG, x)
    for name in ("a", "b"):
        np.testing.assert_array_equal(counts_i[name], counts_f[name])
        np.testing.assert_allclose(report.state_to_float(name, v_i[name]), v_f[name],
                                   atol=1e-9)


def test_input_scale_and_payloads():
    model = FloatModel(DT, 2, [FloatLayer("a", 1, {"model": "if", "v_threshold": 1.0},
                                          {"input": np.array([[0.5], [0.25]])})])
    net, report = quantize(model, CFG, input_scale=16)
    # weights / 16, then s = 127 / (0.5 / 16)
    np.testing.assert_array_equal(net.layers[0].inputs["input"], [[127], [64]])
    np.testing.assert_array_equal(report.input_payloads([0.5, 1.0]), [8, 16])
    with pytest.raises(ValueError, match=r"input payloads span 16 .. 160, outside the 8-bit "):
        report.input_payloads([1.0, 10.0])


def test_clip_percentile_reports_clipped_weights():
    w = np.linspace(0.01, 1.0, 100).reshape(10, 10)
    model = FloatModel(DT, 10, [FloatLayer("a", 10, {"model": "if", "v_threshold": 1.0},
                                           {"input": w})])
    net, report = quantize(model, CFG, clip_percentile=90)
    q = report.layer("a")
    assert q.clipped == 10 and q.clipped_fraction == pytest.approx(0.1)
    assert net.layers[0].inputs["input"].max() == 127
    assert "10 weights clipped to -128..127" in report.table()


def test_quantized_network_compiles_and_runs_on_the_golden_model():
    net, _ = quantize(random_model(), CFG)
    image = compile_core(net, CFG, input_payload_max=[1] * 16)
    assert [r["layer"] for r in image.report] == ["h", "o", "ro"]
    out = NetworkModel(net, CFG.core).run([[(0, 1), (3, 1)]] * 5)
    assert len(out) == 5 and set(out[0]) == {"h", "o", "ro"}


# -- refusals --------------------------------------------------------------------------------

def test_threshold_too_large_for_state_bits():
    model = FloatModel(DT, 2, [FloatLayer("hid", 3, {"model": "lif", "tau_mem": 0.01,
                                                     "v_threshold": 1.0},
                                          {"input": np.full((2, 3), 0.001)})])
    with pytest.raises(ModelImportError) as e:
        quantize(model, CFG)
    assert str(e.value) == (
        "layer 'hid': v_threshold of neuron 0 is 1 x scale 127000 = 127000, beyond the 16-bit "
        "state range (max 32767); the weights are too small next to the threshold for this "
        "state width")
    # a wider state fits it
    wide = ChipConfig(core=CoreConfig(state_bits=18, acc_bits=24))
    net, _ = quantize(model, wide)
    assert net.layers[0].neuron.threshold == 127000


def test_bias_too_large_for_state_bits():
    model = FloatModel(DT, 1, [FloatLayer("b", 1, {"model": "if", "v_threshold": 1.0},
                                          {"input": np.array([[0.01]])}, np.array([5.0]))])
    with pytest.raises(ModelImportError, match=r"^layer 'b': bias of neuron 0 is 5 x scale 12700 "
                       r"= 63500, outside the 16-bit state range -32768..32767"):
        quantize(model, CFG)


def test_v_leak_refused():
    layer = FloatLayer("a", 2, {"model": "lif", "tau_mem": 0.01, "v_threshold": 1.0,
                                "v_leak": 0.2}, {"input": np.ones((1, 2))})
    with pytest.raises(ModelImportError) as e:
        FloatModel(DT, 1, [layer]).validate()
    assert str(e.value) == ("layer 'a': v_leak must be 0 (the core's leak decays towards 0), "
                            "not 0.2")
    graph = nir.NIRGraph.from_list(
        nir.Linear(weight=np.ones((2, 1))),
        nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.full(2, -0.5),
                v_threshold=np.ones(2), v_reset=np.array([0.0, 0.3])))
    with pytest.raises(ModelImportError) as e:
        from_nir(graph, DT)
    assert e.value.problems == [
        "node 'lif' (LIF): v_leak must be 0 (the core's leak decays towards 0), not -0.5",
        "node 'lif' (LIF): v_reset must be 0 (the core resets to 0 or subtracts the threshold), "
        "not 0 .. 0.3"]


@pytest.mark.parametrize("change,message", [
    (lambda m: m.layers[0].neuron.update(model="alif"),
     "layer 'h': neuron model must be one of 'lif', 'if', 'li', not 'alif'"),
    (lambda m: m.layers[0].neuron.update(tau_mem=[0.01] * 31 + [0.02]),
     "layer 'h': tau_mem varies across neurons (0.01 .. 0.02 s); the core has one leak per "
     "layer"),
    (lambda m: m.layers[2].neuron.update(v_threshold=1.0),
     "layer 'ro': parameter 'v_threshold' does not apply to model 'li' (parameters: model, "
     "reset, tau_mem, r, v_leak)"),
    (lambda m: m.layers[1].weights.update(ro=np.zeros((4, 8))),
     "layer 'o': reads li layer 'ro'; an li layer is a readout (its output is a membrane "
     "potential, not spikes) and feeds nothing"),
    (lambda m: m.layers[1].weights.update(h=np.zeros((8, 32))),
     "layer 'o': weights from 'h' have shape (8, 32), expected (32, 8)"),
    (lambda m: setattr(m.layers[0], "name", "bias"),
     "layer 'bias': a layer name must be a non-empty string without '/', and not 'input' or "
     "'bias'"),
])
def test_float_model_validation_names_layer_and_parameter(change, message):
    model = random_model()
    change(model)
    with pytest.raises(ModelImportError) as e:
        model.validate()
    assert str(e.value) == message
