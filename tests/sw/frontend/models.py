"""Models shared by the frontend tests: a random float model, a NIR graph with known
numbers, and a float-model equality check."""

import nir
import numpy as np

from hw.spec.config import ChipConfig
from sw.frontend.float_model import FloatLayer, FloatModel

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
