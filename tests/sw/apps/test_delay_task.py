"""The delay demonstration task: delays turn a chance-level network into a near-perfect one."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig, DelayConfig
from sw.toolchain.compiler import CompileError, compile_core
from sw.apps.delay_task import build_network, draw, evaluate, make_task, run_hardware


def test_classes_differ_only_in_timing():
    task = make_task(seed=3)
    samples, labels = draw(task, 40, seed=5)
    assert sorted(np.bincount(labels)) == [10] * 4                 # balanced
    for steps in samples:
        assert len(steps) == task.steps
        events = [(t, c) for t, ev in enumerate(steps) for c, p in ev]
        assert len(events) == task.channels + task.distractors      # same spike count
        assert len(set(events)) == len(events)                      # one per channel/step
    # every class: each channel once, at the same set of relative times
    for row in task.offsets:
        assert sorted(row) == sorted(task.offsets[0])


def test_networks_fit_the_core_ranges_and_delays_need_a_delay_unit():
    task = make_task()
    core = CoreConfig()
    net = build_network(task, threshold=4 * 32)
    layer = net.layers[0]
    assert np.abs(layer.inputs["input"]).max() <= (1 << (core.weight_bits - 1)) - 1
    assert layer.param("threshold").max() <= (1 << (core.state_bits - 1)) - 1
    assert 0 < net.max_delay() < DelayConfig().slots
    with pytest.raises(CompileError, match="layer 'out': synapses with delays up to 9"):
        compile_core(net, ChipConfig())
    compile_core(build_network(task, threshold=4 * 32, delays=False), ChipConfig())
    compile_core(net, ChipConfig(delay=DelayConfig(unit="ring")))


def test_delays_beat_the_same_network_without_them():
    r = evaluate(seed=0)                      # 120 train / 400 test, 2 distractors
    assert r["delay"] > 0.95
    assert abs(r["no_delay"] - r["chance"]) < 0.05
    assert r["no_delay_leaky"] < 0.6          # leaky, order-weighted, no delays
    assert r["delay"] - max(r["no_delay"], r["no_delay_leaky"]) > 0.35
    assert r["params"]["delay"]["threshold"] == 4 * 32             # all four coincide


def test_other_seed_without_leaky_baseline():
    r = evaluate(seed=1, n_train=60, n_test=200, leaky=False)
    assert r["delay"] > 0.95 and abs(r["no_delay"] - 0.25) < 0.05
    assert "no_delay_leaky" not in r


def _check_hardware(h, samples):
    assert h["samples"] == samples
    d, n = h["networks"]["delay"], h["networks"]["no_delay"]
    for res in (d, n):
        assert res["scdq_equals_ring"]
        for unit in ("scdq", "ring"):
            assert res[unit]["model_agreement"] == samples      # spikes equal, every step
            assert res[unit]["accuracy"] == res["model_accuracy"]
    assert d["scdq"]["accuracy"] >= 0.9 and d["scdq"]["accuracy"] - n["scdq"]["accuracy"] >= 0.5
    q = d["scdq"]["queue"]
    # the 32-entry queue is below the guaranteed worst case: sized by training activity
    assert q["worst_case"] > q["capacity"] >= q["needed"] >= q["measured_peak"]
    assert 0 < d["scdq"]["peak_occupancy"] <= q["capacity"]


def test_task_on_the_golden_chip_scdq_and_ring():
    _check_hardware(run_hardware(samples=24, backend="golden"), 24)


@pytest.mark.verilator
def test_task_on_the_rtl_scdq_and_ring():
    """The with-delays network keeps its accuracy on the RTL (Verilator, through the host
    link), spike for spike equal to the network model, with the SCDQ and the ring."""
    _check_hardware(run_hardware(samples=8, backend="verilator"), 8)
