"""NIR import (whole-graph check, conversion formulas) and export."""

import math

import nir
import numpy as np
import pytest

from sw.frontend.float_model import FloatLayer, FloatModel, ModelImportError, simulate_float
from sw.frontend.nir import from_nir, to_nir
from tests.sw.frontend.models import DT, assert_models_equal, nir_graph, random_model


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
        "thr": nir.Threshold(threshold=np.ones(4)),
        "fc2": nir.Linear(weight=np.ones((2, 4))),
        "li": nir.LI(tau=np.full(2, 0.02), r=np.ones(2), v_leak=np.zeros(2)),
        "out": nir.Output(np.array([2])),
    }
    edges = [("in", "conv"), ("conv", "fc"), ("fc", "lif"), ("lif", "thr"),
             ("thr", "fc2"), ("fc2", "li"), ("li", "out")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    with pytest.raises(ModelImportError) as e:
        from_nir(graph, DT)
    assert str(e.value) == (
        "the NIR graph cannot be imported (2 problems):\n"
        "  - node 'conv' (Conv2d): convolutions are not supported (unroll the convolution "
        "into an Affine)\n"
        "  - node 'thr' (Threshold): a bare Threshold has no membrane (use IF or LIF)")
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
        "node 'fc2' (Linear): feeds Output 'out' directly; its output is a current: end the "
        "chain with a neuron (LI for a readout)",
    ]
    assert str(e.value).startswith("the NIR graph cannot be imported (3 problems):\n  - node")


def test_flatten_is_an_identity_on_the_flattened_input():
    def graph(shape):
        return nir.NIRGraph(nodes={
            "in": nir.Input(np.array(shape)),
            "flat": nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0),
            "fc": nir.Linear(weight=np.ones((2, int(np.prod(shape))))),
            "if": nir.IF(r=np.ones(2), v_threshold=np.ones(2)),
            "out": nir.Output(np.array([2])),
        }, edges=[("in", "flat"), ("flat", "fc"), ("fc", "if"), ("if", "out")], type_check=False)
    assert from_nir(graph([1, 6]), DT).inputs == 6
    model = from_nir(graph([2, 3]), DT)          # C order, as numpy and torch flatten
    assert model.inputs == 6 and model.layer("if").weights["input"].shape == (6, 2)


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


def test_nir_v_leak_and_v_reset_refused():
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


@pytest.mark.parametrize("kwargs,message", [
    ({"dt": 0}, "dt must be a positive number of seconds, not 0"),
    ({"dt": DT, "reset": "hold"},
     "reset must be one of 'zero', 'subtract', 'subtract_delayed', not 'hold'"),
    ({"dt": DT, "framework": "keras"},
     "framework must be one of spikeforge, snntorch, norse, sinabs, rockpool, spyx, not "
     "'keras'"),
])
def test_from_nir_argument_checks(kwargs, message):
    graph, _, _ = nir_graph("lif")
    with pytest.raises(ModelImportError) as e:
        from_nir(graph, **kwargs)
    assert str(e.value) == message


def test_to_nir_refusals():
    lonely = FloatModel(DT, 2, [FloatLayer("a", 2, {"model": "if", "v_threshold": 1.0})])
    with pytest.raises(ModelImportError) as e:
        to_nir(lonely)
    assert str(e.value) == ("layer 'a': has no inputs; NIR needs an edge into every neuron "
                            "node")
    # a layer named "b.input" makes the map node of layer b from the input clash
    clash = FloatModel(DT, 2, [
        FloatLayer("b.input", 2, {"model": "if", "v_threshold": 1.0}, {"input": np.eye(2)}),
        FloatLayer("b", 2, {"model": "if", "v_threshold": 1.0}, {"input": np.eye(2)})])
    with pytest.raises(ModelImportError) as e:
        to_nir(clash)
    assert str(e.value) == "layer 'b': the map node name 'b.input' is taken"


def test_to_nir_node_layout():
    graph = to_nir(random_model())
    assert graph.metadata == {"dt": DT}
    assert isinstance(graph.nodes["h.input"], nir.Affine)             # carries h's bias
    assert isinstance(graph.nodes["o.h"], nir.Linear)
    assert isinstance(graph.nodes["output"], nir.Output)              # one output layer
    assert graph.nodes["h"].metadata == {"reset": "subtract"}
    # LIF r = r_float * tau / dt, so gain 1 exports r = tau / dt
    np.testing.assert_allclose(graph.nodes["h"].r, 0.02 / DT)


def _chain(*middle, n_in=3, n=2):
    """Input(n_in) -> middle... -> Output(n), edges in order."""
    nodes = {"in": nir.Input(np.array([n_in]))}
    names = ["in"]
    for k, node in enumerate(middle):
        names.append(f"n{k}")
        nodes[f"n{k}"] = node
    nodes["out"] = nir.Output(np.array([n]))
    names.append("out")
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=False)


def _lif(n=2, **kw):
    return nir.LIF(tau=np.full(n, 0.02), r=np.full(n, 20.0), v_leak=np.zeros(n),
                   v_threshold=np.ones(n), **kw)


def test_delay_nodes_become_synaptic_delays_before_and_after_the_map():
    w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])                    # NIR (out, in)
    g = _chain(nir.Delay(np.array([0.0, 1e-3, 2e-3])), nir.Affine(w, np.zeros(2)),
               nir.Delay(np.array([3e-3, 0.0])), _lif())
    layer = from_nir(g, DT, quiet=True).layer("n3")
    np.testing.assert_array_equal(layer.weights["input"], w.T)
    np.testing.assert_array_equal(layer.delays["input"], [[3, 0], [4, 1], [5, 2]])
    bad = _chain(nir.Delay(np.array([0.5e-3] * 3)), nir.Affine(w, np.zeros(2)), _lif())
    with pytest.raises(ModelImportError, match=r"node 'n0' \(Delay\): delay 0.0005 s is not a "
                       r"whole number of steps of dt = 0.001 s"):
        from_nir(bad, DT, quiet=True)
    short = _chain(nir.Delay(np.array([1e-3, 2e-3])), nir.Affine(w, np.zeros(2)), _lif())
    with pytest.raises(ModelImportError, match=r"node 'n0' \(Delay\): has 2 values but the "
                       r"signal it carries into 'n1' has 3"):
        from_nir(short, DT, quiet=True)


def test_delays_run_in_the_float_model():
    """One input spike through delays 0..2 arrives at steps 0..2."""
    g = _chain(nir.Linear(np.eye(3)), nir.Delay(np.array([0.0, 1e-3, 2e-3])),
               nir.IF(r=np.full(3, 1000.0), v_threshold=np.full(3, 0.5)), n=3)
    model = from_nir(g, DT, quiet=True)
    x = np.zeros((1, 5, 3))
    x[0, 0] = 1
    _, _, trains = simulate_float(model, x, trains=True)
    np.testing.assert_array_equal(trains["n2"][0, :, :], [[1, 0, 0], [0, 1, 0], [0, 0, 1],
                                                        [0, 0, 0], [0, 0, 0]])


def test_scale_folds_into_the_weights_and_bias():
    w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    g = _chain(nir.Scale(np.array([1.0, 0.5, 2.0])), nir.Affine(w, np.array([1.0, 1.0])),
               nir.Scale(np.array([10.0, -1.0])), _lif())
    layer = from_nir(g, DT, quiet=True).layer("n3")
    np.testing.assert_allclose(layer.weights["input"],
                               np.array([1.0, 0.5, 2.0])[:, None] * w.T * np.array([10.0, -1.0]))
    np.testing.assert_allclose(layer.bias, [10.0, -1.0])


def test_integrator_and_current_based_nodes():
    g = _chain(nir.Linear(np.ones((2, 3))), nir.I(r=np.full(2, 500.0)))
    layer = from_nir(g, DT, quiet=True).layer("n1")
    assert layer.neuron == {"model": "i", "r": pytest.approx(0.5)}
    cuba = nir.CubaLIF(tau_syn=np.full(2, 5e-3), tau_mem=np.full(2, 0.01), r=np.full(2, 10.0),
                       v_leak=np.zeros(2), v_threshold=np.ones(2), w_in=np.full(2, 5.0))
    layer = from_nir(_chain(nir.Linear(np.ones((2, 3))), cuba), DT, quiet=True).layer("n1")
    assert layer.neuron["model"] == "cuba_lif"
    assert layer.neuron["tau_syn"] == 5e-3 and layer.neuron["tau_mem"] == 0.01
    assert layer.neuron["r"] == pytest.approx(1.0)     # (r dt / tau_mem) * (w_in dt / tau_syn)
    assert layer.beta_syn(DT) == pytest.approx(np.exp(-0.2))
    li = nir.CubaLI(tau_syn=np.full(2, 5e-3), tau_mem=np.full(2, 0.01), r=np.ones(2),
                    v_leak=np.zeros(2))
    assert from_nir(_chain(nir.Linear(np.ones((2, 3))), li), DT, quiet=True) \
        .layer("n1").neuron["model"] == "cuba_li"


def test_multi_dimensional_input_is_flattened():
    g = nir.NIRGraph(nodes={
        "in": nir.Input(np.array([2, 2, 2])),
        "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0),
        "fc": nir.Linear(np.ones((2, 8))), "lif": _lif(), "out": nir.Output(np.array([2]))},
        edges=[("in", "flat"), ("flat", "fc"), ("fc", "lif"), ("lif", "out")], type_check=False)
    assert from_nir(g, DT, quiet=True).inputs == 8


def test_not_a_graph_is_refused():
    with pytest.raises(ModelImportError, match="expected a nir.NIRGraph"):
        from_nir({"nodes": {}}, DT)


def test_load_model_reads_nir_and_npz_and_refuses_other_files(tmp_path):
    from sw.frontend import load_model, save_float_model
    graph, _, _ = nir_graph("lif")
    nir.write(tmp_path / "m.nir", graph)
    assert [l.name for l in load_model(tmp_path / "m.nir", dt=DT, quiet=True).layers] == \
        ["hidden", "readout"]
    model = random_model()
    save_float_model(model, tmp_path / "m.npz")
    assert load_model(tmp_path / "m.npz").inputs == 16
    with pytest.raises(ModelImportError, match="carries its own dt and conventions"):
        load_model(tmp_path / "m.npz", framework="snntorch")
    (tmp_path / "x.nir").write_text("hello")
    with pytest.raises(ModelImportError, match=r"x.nir: not a NIR file \(HDF5, as nir.write "
                       r"makes\) nor a spikeforge float model .npz; it starts with b'hello'"):
        load_model(tmp_path / "x.nir")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ModelImportError, match="a .npz archive without 'meta'"):
        load_model(tmp_path / "other.npz")
    with pytest.raises(ModelImportError, match="missing.nir: no such file"):
        load_model(tmp_path / "missing.nir")
