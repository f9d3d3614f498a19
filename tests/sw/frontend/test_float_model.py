"""The float model: validation, the .npz file, the float dynamics."""

import json
import math

import numpy as np
import pytest

from sw.frontend.float_model import (FORMAT, FloatLayer, FloatModel, ModelImportError,
                                     load_float_model, save_float_model, simulate_float)
from tests.sw.frontend.models import DT, assert_models_equal, random_model


# -- file ----------------------------------------------------------------------------------

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


def _rewrite_meta(src, dst, **changes):
    """Copy the float model file ``src`` to ``dst`` with ``meta`` entries changed."""
    with np.load(src) as f:
        data = {k: f[k] for k in f.files}
    meta = json.loads(str(data.pop("meta")))
    meta.update(changes)
    np.savez(dst, meta=np.array(json.dumps(meta)), **data)


@pytest.mark.parametrize("changes,message", [
    ({"format": "other model"}, "format is 'other model', not 'spikeforge float model'"),
    ({"version": 3}, "version 3 is not supported (this reader knows versions 1 and 2)"),
])
def test_load_refuses_other_format_or_version(tmp_path, changes, message):
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    save_float_model(random_model(), good)
    _rewrite_meta(good, bad, **changes)
    with pytest.raises(ModelImportError) as e:
        load_float_model(bad)
    assert str(e.value) == f"{bad}: {message}"


def test_load_validates_the_model(tmp_path):
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    save_float_model(random_model(), good)
    with np.load(good) as f:
        meta = json.loads(str(f["meta"]))
    meta["layers"][0]["neuron"]["model"] = "alif"
    _rewrite_meta(good, bad, layers=meta["layers"])
    with pytest.raises(ModelImportError, match="^layer 'h': neuron model must be one of "):
        load_float_model(bad)


def test_save_refuses_an_invalid_model_and_writes_nothing(tmp_path):
    model = random_model()
    model.layers[1].weights["h"] = np.zeros((8, 32))
    path = tmp_path / "model.npz"
    with pytest.raises(ModelImportError, match=r"expected \(32, 8\)"):
        save_float_model(model, path)
    assert not path.exists()


def test_save_stores_uniform_parameters_as_one_number(tmp_path):
    model = random_model()
    model.layers[0].neuron["v_threshold"] = np.full(32, 1.25)      # uniform array
    model.layers[1].neuron["v_threshold"] = np.linspace(1, 2, 8)   # per neuron
    path = tmp_path / "model.npz"
    save_float_model(model, path)
    with np.load(path) as f:
        meta = json.loads(str(f["meta"]))
    assert meta["format"] == FORMAT and meta["version"] == 2
    assert meta["layers"][0]["neuron"]["v_threshold"] == 1.25
    assert meta["layers"][1]["neuron"]["v_threshold"] == list(np.linspace(1, 2, 8))
    assert load_float_model(path).layer("o").param("v_threshold").tolist() == \
        list(np.linspace(1, 2, 8))


# -- dynamics ------------------------------------------------------------------------------

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


def test_simulate_float_checks_the_input_shape():
    with pytest.raises(ValueError, match=r"^inputs must have shape \(batch, steps, 16\), not "
                       r"\(4, 16\)$"):
        simulate_float(random_model(), np.zeros((4, 16)))


def test_simulate_float_outputs():
    """Counts for the spiking layers only, final v for every layer, each (batch, size)."""
    x = (np.random.default_rng(1).random((3, 20, 16)) < 0.3).astype(float)
    counts, v = simulate_float(random_model(), x)
    assert set(counts) == {"h", "o"} and set(v) == {"h", "o", "ro"}
    assert counts["h"].shape == (3, 32) and counts["h"].dtype == np.int64
    assert v["ro"].shape == (3, 4)


# -- validation ----------------------------------------------------------------------------

def test_v_leak_refused():
    layer = FloatLayer("a", 2, {"model": "lif", "tau_mem": 0.01, "v_threshold": 1.0,
                                "v_leak": 0.2}, {"input": np.ones((1, 2))})
    with pytest.raises(ModelImportError) as e:
        FloatModel(DT, 1, [layer]).validate()
    assert str(e.value) == ("layer 'a': v_leak must be 0 (the core's leak decays towards 0), "
                            "not 0.2")


@pytest.mark.parametrize("change,message", [
    (lambda m: m.layers[0].neuron.update(model="alif"),
     "layer 'h': neuron model must be one of 'lif', 'if', 'li', 'i', 'cuba_lif', 'cuba_li', "
     "not 'alif'"),
    (lambda m: m.layers[0].neuron.update(tau_mem=[0.01] * 31 + [0.02]),
     "layer 'h': tau_mem varies across neurons (0.01 .. 0.02 s); the core has one leak per "
     "layer"),
    (lambda m: m.layers[2].neuron.update(v_threshold=1.0),
     "layer 'ro': parameter 'v_threshold' does not apply to model 'li' (parameters: model, "
     "tau_mem, r, v_leak, decay)"),
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


def _one(neuron, w=1.0, bias=None):
    return FloatModel(1e-3, 1, [FloatLayer("a", 1, neuron, {"input": np.array([[w]])},
                                           None if bias is None else np.array([bias]))])


def _run_one(model, x):
    counts, v, trains = simulate_float(model, np.asarray(x, float).reshape(1, -1, 1), trains=True)
    return trains["a"][0, :, 0].tolist(), float(v["a"][0, 0])


def test_snntorch_leaky_by_hand():
    """snnTorch Leaky defaults: mem = beta*mem + x - thr*[mem_prev > thr], spike mem > thr."""
    beta, thr = 0.875, 1.0
    model = _one({"model": "lif", "tau_mem": 1e-3 / (1 - beta), "decay": "euler",
                  "v_threshold": thr, "compare": ">", "reset": "subtract_delayed"})
    x = [0.6, 0.6, 0.6, 0.0, 1.5, 0.0, 0.4, 0.0]
    mem, spikes = 0.0, []
    for xt in x:
        reset = mem > thr
        mem = beta * mem + xt - thr * reset
        spikes.append(int(mem > thr))
    got, v = _run_one(model, x)
    assert got == spikes and sum(spikes) >= 2
    assert v == pytest.approx(mem, abs=1e-12)


def test_strict_compare_and_subtract_now():
    model = _one({"model": "if", "v_threshold": 1.0, "compare": ">", "reset": "subtract"})
    assert _run_one(model, [0.5, 0.5, 0.5, 0.5, 0.5]) == ([0, 0, 1, 0, 1], pytest.approx(0.5))
    model = _one({"model": "if", "v_threshold": 1.0, "reset": "subtract"})
    assert _run_one(model, [0.5, 0.5, 0.5, 0.5, 0.5])[0] == [0, 1, 0, 1, 0]


@pytest.mark.parametrize("syn_first", [True, False])
def test_cuba_orders_by_hand(syn_first):
    a, b = 0.9, 0.5                                    # membrane and current decay
    model = _one({"model": "cuba_lif", "tau_mem": 1e-3 / (1 - a), "tau_syn": 1e-3 / (1 - b),
                  "decay": "euler", "v_threshold": 1.2, "syn_first": syn_first}, bias=0.1)
    x = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    v = i = 0.0
    spikes = []
    for xt in x:
        if syn_first:
            i = b * i + xt + 0.1
            v = a * v + i
        else:
            v = a * v + i
            i = b * i + xt + 0.1
        spikes.append(int(v >= 1.2))
        v = 0.0 if v >= 1.2 else v
    assert _run_one(model, x)[0] == spikes and sum(spikes) >= 1


def test_new_fields_round_trip(tmp_path):
    model = FloatModel(1e-3, 2, [
        FloatLayer("c", 3, {"model": "cuba_lif", "tau_mem": 0.01, "tau_syn": 0.005,
                            "decay": "euler", "v_threshold": 1.0, "compare": ">",
                            "reset": "subtract_delayed", "syn_first": False},
                   {"input": np.ones((2, 3))}, delays={"input": np.array([[0, 1, 2]] * 2)}),
        FloatLayer("i", 3, {"model": "i", "r": 0.5}, {"c": np.eye(3)}),
    ], "same_step")
    save_float_model(model, tmp_path / "m.npz")
    back = load_float_model(tmp_path / "m.npz")
    assert back.timing == "same_step"
    assert back.layer("c").neuron == model.layer("c").neuron
    np.testing.assert_array_equal(back.layer("c").delays["input"], [[0, 1, 2]] * 2)


@pytest.mark.parametrize("change,message", [
    (lambda m: setattr(m, "timing", "async"),
     "timing must be one of 'delayed', 'same_step', not 'async'"),
    (lambda m: m.layers[0].neuron.update(compare="=>"),
     "layer 'h': compare must be one of '>=', '>', not '=>'"),
    (lambda m: m.layers[0].neuron.update(decay="rk4"),
     "layer 'h': decay must be one of 'exp', 'euler', not 'rk4'"),
    (lambda m: m.layers[0].delays.update(input=-np.ones((16, 32), np.int64)),
     "layer 'h': delays from 'input' must be non-negative integers (steps)"),
])
def test_new_fields_are_validated(change, message):
    model = random_model()
    change(model)
    with pytest.raises(ModelImportError) as e:
        model.validate()
    assert str(e.value) == message
