"""Integer networks (sw/toolchain/network.py): validation names the layer and what is
wrong, parameters broadcast, delays are looked up as the compiler needs them, and the
``.npz`` file round-trips every field."""

import numpy as np
import pytest

from sw.toolchain.network import INPUT, Layer, Network, Neuron, load_network, save_network


def _net(**layer):
    rng = np.random.default_rng(3)
    hidden = dict(name="h", size=4, neuron=Neuron("lif", threshold=[5, 6, 7, 8], bias=1,
                                                  leak_mult=200, leak_shift=8),
                  inputs={INPUT: rng.integers(-3, 4, (3, 4))},
                  delays={INPUT: rng.integers(0, 3, (3, 4))})
    hidden.update(layer)
    return Network(3, [Layer(**hidden),
                       Layer("o", 2, Neuron("if", threshold=4, reset="subtract"),
                             {"h": rng.integers(-2, 3, (4, 2))})])


def test_a_good_network_validates_and_looks_up():
    net = _net()
    net.validate()
    assert net.size(INPUT) == 3 and net.size("h") == 4 and net.layer("o").size == 2
    assert np.array_equal(net.layer("h").param("threshold"), [5, 6, 7, 8])
    assert np.array_equal(net.layer("h").param("bias"), [1, 1, 1, 1])
    with pytest.raises(KeyError, match="no layer named 'x'; layers: h, o"):
        net.layer("x")


def test_delays_count_only_where_there_is_a_synapse():
    w = np.array([[1, 0], [0, 2]])
    d = np.array([[3, 9], [0, 1]])
    layer = Layer("l", 2, Neuron(), {INPUT: w}, {INPUT: d})
    assert np.array_equal(layer.synapse_delays(INPUT), [[3, 0], [0, 1]])
    assert layer.max_delay() == (3, INPUT)
    assert Layer("l", 2, Neuron(), {INPUT: w}, None).synapse_delays(INPUT) is None
    assert Layer("l", 2, Neuron(), {INPUT: w}, {INPUT: np.where(w, 0, 5)}).max_delay() == (0, None)
    assert Network(2, [layer]).max_delay() == 3


@pytest.mark.parametrize("change, message", [
    (dict(size=0), "layer 'h': size must be at least 1, not 0"),
    (dict(name=INPUT), "'input' is reserved for the network input"),
    (dict(name="o"), "layer name 'o' is used twice"),
    (dict(neuron=Neuron("izhikevich")), "layer 'h': unknown neuron model 'izhikevich'"),
    (dict(neuron=Neuron(reset="hold")), "layer 'h': reset must be 'zero', 'subtract' or "
                                         "'subtract_delayed', not 'hold'"),
    (dict(neuron=Neuron(threshold=[1, 2])), r"layer 'h': threshold must be a scalar or have "
                                            r"4 values, not shape \(2,\)"),
    (dict(inputs={"ghost": np.zeros((3, 4), int)}, delays={}),
     "layer 'h': input from unknown source 'ghost'"),
    (dict(inputs={INPUT: np.zeros((4, 4), int)}, delays={}),
     r"weights from 'input' have shape \(4, 4\), expected \(3, 4\)"),
    (dict(inputs={INPUT: np.full((3, 4), 0.5)}, delays={}),
     "weights from 'input' must be integers \\(quantize first\\), not float64"),
    (dict(start=-1), "layer 'h': start must be a non-negative integer \\(the first timestep "
                     "with bias\\), not -1"),
    (dict(start=1.5), "layer 'h': start must be a non-negative integer"),
    (dict(neuron=Neuron("cuba_lif", syn_shift=-2)),
     "layer 'h': syn_shift must be >= 0 \\(a right shift\\), not -2"),
    (dict(neuron=Neuron("cuba_lif", syn_mult=0.9)), "layer 'h': syn_mult must be an integer, "
                                                    "not 0.9"),
    (dict(neuron=Neuron("cuba_lif", syn_first="yes")),
     "layer 'h': syn_first must be True or False, not 'yes'"),
    (dict(neuron=Neuron(leak_shift=-1)), "layer 'h': leak_shift must be >= 0"),
    (dict(delays=[1]), "delays must be a dict source -> matrix"),
    (dict(delays={"o": np.zeros((3, 4), int)}), "delays from 'o', which has no weights"),
    (dict(delays={INPUT: np.zeros((2, 4), int)}), r"delays from 'input' have shape \(2, 4\)"),
    (dict(delays={INPUT: np.array([[0, 0, 0, 0], [0, 1.5, 0, 0], [0, 0, 0, 0]])}),
     r"must be integers, not float64 \(neuron 1 to neuron 1: 1.5\)"),
    (dict(delays={INPUT: np.array([[0, 0, 0, 0], [0, 0, 0, -2], [0, 0, 0, 0]])}),
     "delay from 'input' neuron 1 to neuron 3 is -2; delays must be >= 0"),
])
def test_validation_names_the_layer_and_the_fault(change, message):
    with pytest.raises(ValueError, match=message):
        _net(**change).validate()


def test_inputs_must_be_a_count():
    with pytest.raises(ValueError, match="network inputs must be a non-negative integer"):
        Network(-1, []).validate()


def test_file_round_trip_keeps_every_field(tmp_path):
    net = _net()
    path = tmp_path / "net.npz"
    save_network(net, path, scale=np.array([0.5]))
    got, extra = load_network(path)
    assert np.array_equal(extra["scale"], [0.5])
    for a, b in zip(net.layers, got.layers):
        assert (a.name, a.size, a.neuron.model, a.neuron.reset) == \
            (b.name, b.size, b.neuron.model, b.neuron.reset)
        for p in ("threshold", "bias"):
            assert np.array_equal(a.param(p), b.param(p))
        assert (a.neuron.leak_mult, a.neuron.leak_shift) == (b.neuron.leak_mult, b.neuron.leak_shift)
        for src in a.inputs:
            assert np.array_equal(a.inputs[src], b.inputs[src])
            da, db = a.synapse_delays(src), b.synapse_delays(src)
            assert (da is None and db is None) or np.array_equal(da, db)


def test_file_round_trip_keeps_cuba_fields_and_start(tmp_path):
    rng = np.random.default_rng(4)
    net = Network(2, [Layer("c", 3, Neuron("cuba_lif", threshold=9, bias=[1, 2, 3], leak_mult=7,
                                           leak_shift=3, reset="subtract_delayed",
                                           syn_mult=np.int64(-5), syn_shift=6,
                                           syn_first=np.False_),
                            {INPUT: rng.integers(-3, 4, (2, 3))}, start=0),
                      Layer("d", 2, Neuron("if", reset="subtract_delayed"),
                            {"c": rng.integers(-3, 4, (3, 2))}, start=4)])
    save_network(net, tmp_path / "n.npz")
    got, _ = load_network(tmp_path / "n.npz")
    for a, b in zip(net.layers, got.layers):
        assert a.start == b.start
        for key in ("model", "leak_mult", "leak_shift", "reset", "syn_mult", "syn_shift",
                    "syn_first"):
            assert getattr(a.neuron, key) == getattr(b.neuron, key), key
        assert type(b.neuron.syn_first) is bool
    assert got.layers[1].start == 4 and np.array_equal(got.layers[0].param("bias"), [1, 2, 3])


def test_files_without_the_new_fields_load_with_their_defaults(tmp_path):
    import json
    save_network(_net(), tmp_path / "n.npz")
    with np.load(tmp_path / "n.npz") as f:
        data = {k: f[k] for k in f.files}
    meta = json.loads(str(data["network"]))
    for spec in meta["layers"]:
        for key in ("syn_mult", "syn_shift", "syn_first"):
            del spec["neuron"][key]
        assert "start" not in spec
    data["network"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "old.npz", **data)
    got, _ = load_network(tmp_path / "old.npz")
    n = got.layers[0].neuron
    assert (n.syn_mult, n.syn_shift, n.syn_first, got.layers[0].start) == (0, 0, True, 0)


def test_a_bad_network_is_not_written_and_a_foreign_file_not_read(tmp_path):
    with pytest.raises(ValueError, match="size must be at least 1"):
        save_network(_net(size=0), tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="no 'network' entry; not a spikeforge network file"):
        load_network(tmp_path / "other.npz")
