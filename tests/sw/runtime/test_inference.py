"""Batch inference (sw/runtime/inference.py): the golden chip and the network-level fast
path give the same aligned trains, counts, predictions and metrics; the alignment rule
of ``Layer.start``; dense and event-list inputs alike; clear errors."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, NocConfig
from sw.runtime.driver import Chip
from sw.runtime.inference import dense_to_events, layer_starts, run_samples
from sw.toolchain.mapper import map_network
from sw.toolchain.network import Layer, Network, Neuron
from sw.toolchain.network_model import NetworkModel

CONFIG = ChipConfig(core=CoreConfig(lanes=2, neurons=32, axons=64, synapses=512,
                                    microcode_depth=16, layers=2, out_fifo_depth=32),
                    noc=NocConfig(width=2, height=1, routes=256))


def chain(seed=0, starts=(0, 0), bias=0):
    """8 inputs -> 12 LIF -> 4 IF, positive-leaning weights so that both layers fire."""
    rng = np.random.default_rng(seed)
    return Network(8, [
        Layer("h", 12, Neuron("lif", threshold=20, leak_mult=7, leak_shift=3),
              {"input": rng.integers(-4, 14, (8, 12))}, start=starts[0]),
        Layer("o", 4, Neuron("if", threshold=12, bias=bias),
              {"h": rng.integers(-3, 9, (12, 4))}, start=starts[1]),
    ])


def payloads(seed=1, n=3, steps=10, inputs=8):
    rng = np.random.default_rng(seed)
    return (rng.random((n, steps, inputs)) < 0.5).astype(np.int64)


def test_golden_chip_equals_network_fast_path():
    net = chain()
    image = map_network(net, CONFIG, outputs=["o"])
    x = payloads()
    with Chip("golden", CONFIG) as chip:
        chip.load(image)
        seen = []
        got = run_samples(chip, image, x, progress=lambda d, n: seen.append((d, n)))
    fast = run_samples("network", image, x)
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert got.outputs == fast.outputs == ["o"]
    assert got.trains["o"].dtype == np.uint8 and got.trains["o"].shape == (3, 10, 4)
    for name in ("o",):
        assert np.array_equal(got.trains[name], fast.trains[name])
        assert np.array_equal(got.counts[name], fast.counts[name])
    assert got.counts["o"].sum() > 0
    assert np.array_equal(got.predictions, fast.predictions)
    assert got.metrics == fast.metrics
    assert got.agreement == [True, True, True] and fast.agreement is None
    assert fast.counters is None and len(got.counters) == 3
    # counters are per sample (cleared in between): the chip took T steps each time
    assert all(c["chip"]["steps"] == 10 for c in got.counters)
    assert got.counters[0]["cores"]["synops"] > 0
    assert "network model on the same inputs" in got.metrics_source


def test_trains_and_counts_are_the_network_models_spikes():
    net = chain()
    image = map_network(net, CONFIG, outputs=["o"])
    x = payloads(n=2)
    r = run_samples("network", image, x)
    for k in range(2):
        outs = NetworkModel(net, CONFIG.core).run(dense_to_events(x[k]))
        want = np.zeros((10, 4), np.uint8)
        for t, o in enumerate(outs):
            for j, p in o["o"]:
                want[t, j] = p
        assert np.array_equal(r.trains["o"][k], want)
        assert np.array_equal(r.counts["o"][k], want.sum(axis=0))
        assert r.predictions[k] == int(np.argmax(want.sum(axis=0)))
        assert r.metrics[k]["steps"] == 10


def test_alignment_shifts_by_the_output_layers_start():
    """o has start 1: its framework step t is chip step t + 1, so the run takes T + 1
    chip steps and train[t] is what the chip emitted at t + 1."""
    net = chain(starts=(0, 1), bias=3)
    assert layer_starts(net) == {"h": 0, "o": 1}
    image = map_network(net, CONFIG, outputs=["o"])
    x = payloads(n=2, steps=6)
    with Chip("golden", CONFIG) as chip:
        chip.load(image)
        got = run_samples(chip, image, x)
    fast = run_samples("network", image, x)
    assert (got.steps, got.extra_steps) == (6, 1)
    assert np.array_equal(got.trains["o"], fast.trains["o"])
    assert got.counts["o"].sum() > 0
    assert got.agreement == [True, True]
    assert all(c["chip"]["steps"] == 7 for c in got.counters)
    for k in range(2):
        outs = NetworkModel(net, CONFIG.core).run(dense_to_events(x[k]) + [[]])
        for t in range(6):
            row = np.zeros(4, np.uint8)
            for j, p in outs[t + 1]["o"]:
                row[j] = p
            assert np.array_equal(got.trains["o"][k, t], row)
        # chip step 0 is before o's first framework step: left out
        assert got.unaligned[k]["o"] == len(outs[0]["o"])
        assert fast.metrics[k]["steps"] == 7


def test_event_lists_equal_dense_payloads():
    net = chain()
    image = map_network(net, CONFIG, outputs=["o"])
    x = payloads(n=2)
    a = run_samples("network", image, x)
    b = run_samples("network", image, [dense_to_events(s) for s in x])
    assert np.array_equal(a.trains["o"], b.trains["o"])
    assert a.metrics == b.metrics


def test_ties_go_to_the_lowest_index():
    net = chain()
    image = map_network(net, CONFIG, outputs=["o"])
    r = run_samples("network", image, np.zeros((2, 5, 8), np.int64))
    assert r.counts["o"].sum() == 0
    assert r.predictions.tolist() == [0, 0]


def test_without_reference_metrics_cover_the_outputs_only():
    net = chain()
    image = map_network(net, CONFIG, outputs=["o"])
    with Chip("golden", CONFIG) as chip:
        chip.load(image)
        r = run_samples(chip, image, payloads(n=1), reference=False)
    assert r.agreement is None
    assert "output layers only (o)" in r.metrics_source
    assert r.metrics[0]["neurons"] == 4


def test_bad_payloads_say_what_is_wrong():
    image = map_network(chain(), CONFIG, outputs=["o"])
    with pytest.raises(ValueError, match=r"payloads must be \[samples, steps, inputs\], "
                                         r"not shape \(5, 8\)"):
        run_samples("network", image, np.zeros((5, 8), np.int64))
    with pytest.raises(ValueError, match="payloads must be integers, not float64"):
        run_samples("network", image, np.zeros((1, 5, 8)))
    with pytest.raises(ValueError, match=r"the same number of steps, not \[1, 2\]"):
        run_samples("network", image, [[[]], [[], []]])
    with pytest.raises(ValueError, match="chip must be a Chip or 'network', not 'gold'"):
        run_samples("gold", image, np.zeros((1, 5, 8), np.int64))
