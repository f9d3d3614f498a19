"""Quantization: the rules, agreement with the float model, the report, refusals."""

import math

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig
from sw.frontend.float_model import FloatLayer, FloatModel, ModelImportError, simulate_float
from sw.frontend.integer_sim import simulate_network
from sw.frontend.nir import from_nir
from sw.frontend.quantize import quantize
from sw.toolchain.compiler import compile_core
from sw.toolchain.network_model import NetworkModel
from tests.sw.frontend.models import CFG, DT, nir_graph, random_model


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


@pytest.mark.parametrize("kwargs,message", [
    ({"input_scale": 0.0}, "input_scale must be positive, not 0.0"),
    ({"clip_percentile": 0}, "clip_percentile must be in (0, 100], not 0"),
    ({"clip_percentile": 101}, "clip_percentile must be in (0, 100], not 101"),
])
def test_quantize_argument_checks(kwargs, message):
    with pytest.raises(ModelImportError) as e:
        quantize(random_model(), CFG, **kwargs)
    assert str(e.value) == message


def test_report_lookup_and_calibration_saturation_note():
    def model(tau):
        return FloatModel(DT, 1, [FloatLayer("ro", 1, {"model": "li", "tau_mem": tau},
                                             {"input": np.array([[1.0]])})])
    x = np.full((1, 300, 1), 1.0)               # s = 127; v climbs towards tau / dt
    _, report = quantize(model(0.1), CFG, calibration=x)
    q = report.layer("ro")
    assert 90 < q.peak_v < 100 and q.scale == 127.0
    assert not any(n.startswith("calibration") for n in q.notes)      # 127 * 95 fits
    _, report = quantize(model(1e9), CFG, calibration=x)              # alpha ~ 1: v ~ 300
    assert report.layer("ro").notes[-1] == (
        "calibration: peak |v| 300 x scale = 38100 exceeds the 16-bit state (max 32767): "
        "the membrane will saturate")
    with pytest.raises(KeyError, match="no layer named 'b'"):
        report.layer("b")


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


def _trains(network, config, x, steps):
    """Per layer, uint8 (batch, steps, size) spike trains of the integer network model,
    run for ``steps`` steps (inputs after x's end are empty)."""
    from sw.toolchain.network_model import NetworkModel
    out = {l.name: np.zeros((x.shape[0], steps, l.size), np.uint8) for l in network.layers}
    for b in range(x.shape[0]):
        sim = NetworkModel(network, config.core)
        for t in range(steps):
            ev = [(int(i), int(x[b, t, i])) for i in np.nonzero(x[b, t])[0]] \
                if t < x.shape[1] else []
            for name, spikes in sim.step(ev).items():
                for i, _ in spikes:
                    out[name][b, t, i] = 1
    return out


def _grid_model(timing, reset="subtract", compare=">="):
    """IF layers with weights on the 8-bit grid (integer == float exactly): input -> a
    -> b (+ recurrent b -> b, and a skip input -> b)."""
    rng = np.random.default_rng(5)
    w1 = rng.integers(-127, 128, (6, 10)) / 127 * 0.5
    w1[0, 0] = 0.5
    w2 = rng.integers(-127, 128, (10, 3)) / 127
    w2[0, 0] = 1.0
    rec = np.eye(3) * -0.5
    skip = rng.integers(-32, 33, (6, 3)) / 127
    common = {"reset": reset, "compare": compare}
    return FloatModel(DT, 6, [
        FloatLayer("a", 10, {"model": "if", "v_threshold": 1.0, **common}, {"input": w1},
                   np.full(10, 64 / 254)),                # on the grid: s = 254
        FloatLayer("b", 3, {"model": "if", "v_threshold": 2.0, **common},
                   {"a": w2, "b": rec, "input": skip}, np.full(3, 64 / 127)),
    ], timing)


# A strict compare with a subtractive reset is not exact on the grid: the core's threshold
# register holds threshold + 1 (it compares >=) and the reset subtracts that register.
@pytest.mark.parametrize("reset,compare", [
    ("zero", ">="), ("subtract", ">="), ("subtract_delayed", ">="), ("zero", ">")])
def test_same_step_alignment_is_exact_on_the_grid(reset, compare):
    """Framework (same-step) timing: the quantized network, run T + pad steps, reproduces
    every float spike train exactly, shifted by each layer's start; recurrence and the
    input skip get the delays that keep them on time."""
    model = _grid_model("same_step", reset, compare)
    rng = np.random.default_rng(9)
    x = rng.integers(0, 3, (3, 30, 6))
    _, _, trains_f = simulate_float(model, x, trains=True)
    net, report = quantize(model, CFG)
    assert [l.start for l in net.layers] == [0, 1]
    assert report.pad_steps() == 1
    # a -> b: same step (no delay); b -> b: recurrent, 0; input -> b: start of b
    assert "a" not in net.layer("b").delays and "b" not in net.layer("b").delays
    np.testing.assert_array_equal(net.layer("b").delays["input"],
                                  net.layer("b").inputs["input"] != 0)
    trains_i = _trains(net, CFG, x, 30 + report.pad_steps())
    for layer in net.layers:
        np.testing.assert_array_equal(trains_i[layer.name][:, layer.start:layer.start + 30],
                                      trains_f[layer.name], err_msg=layer.name)
    assert trains_f["b"].sum() > 20 and trains_f["a"].sum() > 50    # not vacuous


def test_same_step_differs_from_delayed_timing():
    x = np.random.default_rng(9).integers(0, 3, (2, 30, 6))
    a = simulate_float(_grid_model("same_step"), x, trains=True)[2]["b"]
    b = simulate_float(_grid_model("delayed"), x, trains=True)[2]["b"]
    assert not np.array_equal(a, b)


def test_recurrence_from_a_later_layer_needs_a_delay():
    model = _grid_model("same_step")
    model.layers[0].weights["b"] = np.full((3, 10), 0.1)       # b (later) -> a
    with pytest.raises(ModelImportError, match=r"layer 'a': reads 'b' of the previous step "
                       r"\(a recurrent projection\), but 'b' runs 1 chip steps after its "
                       r"framework step and 'a' only 0: its spike from neuron 0 to neuron 0 "
                       r"would need a delay of -1 steps"):
        quantize(model, CFG)


def test_euler_decay_and_cuba_quantization():
    model = FloatModel(1e-3, 2, [
        FloatLayer("c", 3, {"model": "cuba_lif", "tau_mem": 0.01, "tau_syn": 0.005,
                            "decay": "euler", "v_threshold": 1.0, "syn_first": False},
                   {"input": np.ones((2, 3)) * 0.5}),
        FloatLayer("ro", 2, {"model": "cuba_li", "tau_mem": 0.02, "tau_syn": 0.004},
                   {"c": np.ones((3, 2))}),
    ])
    net, report = quantize(model, CFG)
    c, ro = net.layer("c").neuron, net.layer("ro").neuron
    assert c.model == ro.model == "cuba_lif"
    assert c.leak_mult / 2 ** c.leak_shift == pytest.approx(0.9, abs=1e-4)    # 1 - dt/tau
    assert c.syn_mult / 2 ** c.syn_shift == pytest.approx(0.8, abs=1e-4)
    assert ro.syn_mult / 2 ** ro.syn_shift == pytest.approx(math.exp(-0.25), abs=1e-4)
    assert c.syn_first is False and ro.syn_first is True
    assert ro.threshold == (1 << (CFG.core.state_bits - 1)) - 1              # never fires
