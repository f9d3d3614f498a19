"""python -m benchmarks delays --quick: every figure the issue names, derived from the
rows and ``memory_bits`` (not typed in), the SCDQ's measured peak within the compiler's
bound, the delay task's accuracies, the task on the RTL; the synthesis table's differences from ``none``
(with a stand-in for yosys: the quick run synthesizes nothing)."""

import json
import math

import pytest

from benchmarks import delays
from benchmarks.__main__ import main
from sim.golden.delay import memory_bits

# The slow group, like the other benchmark tests (the quick run builds the task's chip).
pytestmark = pytest.mark.verilator


def test_delays_benchmark_quick(tmp_path, capsys, monkeypatch):
    png = tmp_path / "plot" / "delay_memory.png"
    monkeypatch.setenv("SPIKEFORGE_DELAY_PLOT", str(png))
    out = tmp_path / "delays.json"
    assert main(["delays", "--quick", "--json", str(out),
                 "--report", str(tmp_path / "report")]) == 0
    assert "## delays\n" in (tmp_path / "report" / "index.md").read_text()   # report section renders
    r = json.loads(out.read_text())
    assert r["name"] == "delays"
    assert r["command"].startswith(f"python -m benchmarks delays --quick --json {out}")
    f, rows = r["figures"], r["rows"]
    for key in ("scdq_bits", "ringbuffer_bits", "memory_ratio_ringbuffer_over_scdq",
                "accuracy_with_delays", "accuracy_without_delays",
                "scdq_peak_occupancy_golden", "scdq_worst_case_bound"):
        assert key in f and key in r["units"]
    assert r["config"]["synthesis"].startswith("skipped")
    assert not [x for x in rows if x["kind"] == "synth"]

    # memory table: every (D, neurons, activity), figures from memory_bits
    mem = [x for x in rows if x["kind"] == "memory"]
    assert len(mem) == len(delays.SLOTS) * len(delays.NEURONS) * len(delays.ACTIVITIES)
    for x in mem:
        cfg = delays.table_config(x["D"], x["neurons"])
        assert x["capacity"] == max(2, math.ceil(
            x["activity"] * x["axons"] * x["groups"] * (x["D"] / 2 + 1)))
        m = memory_bits(cfg, x["neurons"], capacity=x["capacity"])
        assert (x["scdq_bits"], x["ring_bits"]) == (m["scdq"], m["ring"])
    # the crossover: the first capacity at which the SCDQ reaches the ring buffer
    cross = [x for x in rows if x["kind"] == "crossover"]
    assert len(cross) == len(delays.SLOTS) * len(delays.NEURONS)
    for c in cross:
        cfg = delays.table_config(c["D"], c["neurons"])
        bits = lambda cap: memory_bits(cfg, c["neurons"], capacity=cap)["scdq"]  # noqa: E731
        assert bits(c["capacity"]) >= c["ring_bits"] > bits(c["capacity"] - 1)
        assert 0 < c["activity"] < 1
        assert f[f"crossover_activity_D{c['D']}_n{c['neurons']}"] == c["activity"]
        for x in mem:       # the table agrees: below the crossover the SCDQ is smaller
            if (x["D"], x["neurons"]) == (c["D"], c["neurons"]):
                assert (x["scdq_bits"] < x["ring_bits"]) == (x["activity"] < c["activity"])

    # the task: accuracies, occupancy, and the memory figures derived from them
    t = next(x for x in rows if x["kind"] == "task")
    assert f["accuracy_with_delays"] == t["accuracy_with_delays"] >= 0.9
    assert f["accuracy_without_delays"] < f["accuracy_with_delays"]
    assert f["accuracy_with_delays_golden_core"] == f["accuracy_with_delays"]
    assert 2 <= f["scdq_peak_occupancy_golden"] <= f["scdq_worst_case_bound"]
    assert f["scdq_peak_occupancy_golden"] == f["scdq_peak_occupancy_compiler"]
    assert t["delay_overflows"] == 0 and t["left_in_queue"] == 0 and t["delay_pushes"] > 0
    m = memory_bits(delays.task_config(), t["neurons"],
                    capacity=max(2, f["scdq_peak_occupancy_golden"]))
    assert (f["scdq_bits"], f["ringbuffer_bits"]) == (m["scdq"], m["ring"])
    assert f["memory_ratio_ringbuffer_over_scdq"] == pytest.approx(
        f["ringbuffer_bits"] / f["scdq_bits"], abs=1e-4)

    # the RTL: the delay network through the host link, spike for spike the model's
    assert f["rtl_model_agreement"] == f["rtl_samples"] == 4
    assert f["accuracy_with_delays_rtl"] >= 0.75
    assert 0 < f["scdq_peak_occupancy_rtl"] <= delays.task_config().delay.capacity

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "delay units" in capsys.readouterr().out


def test_synthesis_rows_are_differences_from_none():
    """The synthesis table's arithmetic, with a stand-in for yosys."""
    seen = []

    def fake(config):
        unit, d = config.delay.unit.value, config.delay.slots
        seen.append((unit, d))
        extra = {"none": 0, "scdq": 100, "ring": 10}[unit] * (d if unit != "none" else 1)
        return {**{k: 1000 + extra for k in delays.RESOURCES}, "seconds": 0.0}

    rows = delays.synth_rows((8, 16), synth=fake)
    assert sorted(seen) == sorted([("none", 8), ("scdq", 8), ("ring", 8),
                                   ("scdq", 16), ("ring", 16)])
    by = {(x["unit"], x["D"]): x for x in rows}
    assert by[("none", None)]["delta_lut"] == 0 and by[("none", None)]["model_bits"] == 0
    assert by[("scdq", 16)]["delta_lut"] == 1600 and by[("ring", 8)]["delta_bram36"] == 80
    assert by[("ring", 16)]["model_bits"] == memory_bits(delays.synth_config("ring", 16))["ring"]
