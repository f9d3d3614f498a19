"""Run metrics: a tiny network worked out by hand, and effective synops against the
golden core's ``synops`` counter on random networks (equal with one lane; with more,
the core also counts the zero weights padding its synapse rows)."""

import math
import re

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig
from hw.spec.isa import Isa
from hw.spec.memmap import MemorySpec, core_memories
from sw.toolchain.network_model import NetworkModel
from sim.stimulus import random_case
from sw.toolchain.compiler import compile_core
from sw.runtime.metrics import memory_footprint_bytes, run_metrics
from sw.toolchain.network import INPUT, Layer, Network, Neuron
from tests.sim.golden.test_core import run_core


def tiny():
    """2 inputs -> h (3) -> o (2), o also from the input and from itself.

    non-zero weights per source row:   input: 2 + 0 = 2 and 1 + 1 = 2
                                       h: 2, 0, 1     o: 1, 0
    weights: 6 + 6 + 4 + 4 = 20, of which 8 non-zero; dense: 20 per step.
    """
    return Network(2, [
        Layer("h", 3, Neuron("if", threshold=1),
              {INPUT: np.array([[1, 0, 2], [0, 0, 3]])}),
        Layer("o", 2, Neuron("if", threshold=1),
              {"h": np.array([[1, 1], [0, 0], [0, 4]]),
               "o": np.array([[0, 1], [0, 0]]),
               INPUT: np.array([[0, 0], [5, 0]])}),
    ])


INPUTS = [[(0, 1), (1, 1)], [(1, 2)], []]
OUTPUTS = [{"h": [(0, 1), (2, 1)], "o": []},
           {"h": [(1, 1)], "o": [(0, 1)]},
           {"h": [(0, 1)], "o": [(0, 1), (1, 1)]}]


def test_tiny_network_by_hand():
    m = run_metrics(tiny(), INPUTS, OUTPUTS)
    # t0 inputs 0, 1: 2 + 2; t0 spikes h0, h2 (at t1): 2 + 1; t1 input 1: 2;
    # t1 spikes h1, o0 (at t2): 0 + 1; t2 spikes: never integrated, not counted
    assert m["effective_synops"] == 4 + 3 + 2 + 1
    assert m["dense_synops"] == 20 * 3
    assert m["spikes"] == 7 and m["neurons"] == 5 and m["input_events"] == 3
    assert m["activation_sparsity"] == pytest.approx(1 - 7 / 15)
    assert (m["weights"], m["synapses"]) == (20, 8)
    assert m["connection_sparsity"] == pytest.approx(12 / 20)
    assert m["steps"] == 3


def test_last_step_spikes_are_not_counted():
    one = run_metrics(tiny(), INPUTS[:1], OUTPUTS[:1])
    assert one["effective_synops"] == 4          # only the inputs of t0
    assert one["spikes"] == 2 and one["dense_synops"] == 20


def test_network_without_weights():
    net = Network(1, [Layer("a", 4, Neuron("if"), {})])
    m = run_metrics(net, [[]], [{"a": [(1, 1)]}])
    assert m["effective_synops"] == m["dense_synops"] == 0
    assert m["activation_sparsity"] == 0.75 and math.isnan(m["connection_sparsity"])


@pytest.mark.parametrize("inputs,outputs,message", [
    (INPUTS, OUTPUTS[:2], "inputs cover 3 timesteps but outputs 2"),
    ([], [], "the run has no timesteps"),
    ([[(2, 1)]], [OUTPUTS[0]], "inputs[0]: index 2 is outside 0..1"),
    ([[]], [{"h": []}], "outputs[0] has no layer 'o'"),
    ([[]], [{"h": [(3, 1)], "o": []}], "outputs[0]['h']: index 3 is outside 0..2"),
])
def test_refusals(inputs, outputs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        run_metrics(tiny(), inputs, outputs)


def test_memory_footprint_bytes():
    specs = [MemorySpec("a", "weights", 9, 10),     # 2 bytes per word
             MemorySpec("b", "state", 16, 4),       # 2
             MemorySpec("c", "tables", 1, 3)]       # 1
    assert memory_footprint_bytes(specs) == 20 + 8 + 3
    cfg = ChipConfig(core=CoreConfig(lanes=2, neurons=16, axons=16, synapses=64))
    image = compile_core(tiny(), cfg)
    own = core_memories(Isa.of(cfg), "core")
    assert memory_footprint_bytes(image) == memory_footprint_bytes(own)
    weights = [s for s in own if s.role == "weights"]
    # 8-bit weights: one byte per synapse
    assert memory_footprint_bytes(weights) == cfg.core.synapses * -(-cfg.core.weight_bits // 8)


def row_synops(network, inputs, outputs, lanes):
    """What the core's ``synops`` counts for a single-core compile: ``lanes`` per stored
    synapse row (``sw.toolchain.compiler``: a row per group of ``lanes`` consecutive targets with
    a non-zero weight), for every event integrated within the run."""
    rows = {}
    for layer in network.layers:
        for source, w in layer.inputs.items():
            w = np.asarray(w)
            r = np.array([len(np.unique(np.nonzero(row)[0] // lanes)) for row in w])
            rows[source] = rows.get(source, 0) + r
    total = 0
    for t, events in enumerate(inputs):
        if INPUT in rows:
            total += sum(int(rows[INPUT][i]) for i, _ in events)
        if t > 0:
            for name, spikes in outputs[t - 1].items():
                if name in rows:
                    total += sum(int(rows[name][i]) for i, _ in spikes)
    return lanes * total


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_effective_synops_against_the_core_counter(lanes):
    cfg = ChipConfig(core=CoreConfig(lanes=lanes, neurons=128, axons=128, synapses=2048))
    padded = 0
    for seed in range(6):
        image, steps = random_case(np.random.default_rng(500 + 10 * lanes + seed), cfg, 12)
        net = image.network
        outputs = NetworkModel(net, cfg.core).run(steps)
        m = run_metrics(net, steps, outputs)
        _, core = run_core(image, steps, cfg)
        synops = core.counters["synops"]
        assert synops == row_synops(net, steps, outputs, lanes), f"seed {seed}"
        assert m["effective_synops"] <= synops <= lanes * m["effective_synops"]
        if lanes == 1:
            assert synops == m["effective_synops"], f"seed {seed}"
        padded += synops - m["effective_synops"]
        assert m["effective_synops"] > 0 and m["dense_synops"] >= m["effective_synops"]
    if lanes > 1:
        assert padded > 0     # row padding is real on these networks, not a corner case
