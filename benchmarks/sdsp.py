"""SDSP core: synaptic updates per cycle and cycles per input event on the RTL
(Verilator, the core's own counters), and the digits online-learning accuracy.

* Throughput: a stream of pre-synaptic SPIKE events back to back into a core whose
  every synapse is mapped and plastic (learning on), for several ``lanes`` (synapses per
  word) at N = 256. ``synaptic_updates_per_cycle = synops / cycles_busy``: synapses
  integrated and stepped by the SDSP rule per busy cycle (physical limit: lanes).
  ``cycles_per_input_event = cycles_busy / events`` (ODIN: 2 cycles per synapse, 512 at
  N = 256). Scenario ``quiet``: no neuron fires (the pipeline's rate); ``spiking``:
  output spikes compete for the pipeline. ``isolated`` rows: one event alone, until
  the core is idle again (FIFO, read, compute, write-back).
* Accuracy: :mod:`sw.apps.sdsp_digits` trains on-chip (golden model) on the digits training
  split and tests on the held-out split; ``--quick`` uses a subset and one epoch.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hw.spec.config import ChipConfig
from hw.sdsp.core import SdspCore
from sim.runner import run_cocotb, verilator_build

LANES = (1, 2, 4, 8, 16, 32)
ODIN_CYCLES_PER_EVENT = 512     # ODIN at N = 256: two cycles per post-synaptic neuron


def bench_config(lanes: int = 8) -> ChipConfig:
    """ODIN's sizes (N = 256, 3-bit weights, 8-bit membranes, 3-bit calcium) with
    ``lanes`` synapses per word and a SECDED synapse memory: the digits demo's chip
    (:func:`sw.apps.sdsp_digits.demo_config`), so that the demo's RTL replay, the Verilator
    tests and this benchmark share one build at 8 lanes."""
    from sw.apps.sdsp_digits import demo_config
    return demo_config(lanes=lanes)


def measure(lanes: int, events: int) -> list:
    config = bench_config(lanes)
    build = verilator_build("sdsp_core", lambda: SdspCore(config), key=config.to_dict())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        run_cocotb(build, "sim.tb.sdsp", testcase="test_sdsp_bench",
                   params={"config": config.to_dict(), "events": events, "out": str(out)})
        return json.loads(out.read_text())


def run(quick: bool = False) -> dict:
    from sw.apps import sdsp_digits
    lanes_list = (8,) if quick else LANES
    events = 64 if quick else 512
    figures, rows = {}, []
    for lanes in lanes_list:
        for r in measure(lanes, events):
            rows.append({
                "kind": "throughput", "lanes": lanes, "scenario": r["scenario"],
                "events": r["events"], "isolated": r["events"] == 1,
                "cycles_busy": r["cycles_busy"], "synops": r["synops"],
                "spikes": r["events_out"], "weight_updates": r["weight_updates"],
                "synaptic_updates_per_cycle": round(r["synops"] / r["cycles_busy"], 3),
                "cycles_per_input_event": round(r["cycles_busy"] / r["events"], 2),
            })
    main = next(r for r in rows if r["lanes"] == 8 and r["scenario"] == "quiet"
                and not r["isolated"])
    figures["synaptic_updates_per_cycle"] = main["synaptic_updates_per_cycle"]
    figures["cycles_per_input_event"] = main["cycles_per_input_event"]
    figures["speedup_vs_odin"] = round(ODIN_CYCLES_PER_EVENT / main["cycles_per_input_event"], 2)
    history = sdsp_digits.benchmark_run(quick=quick)
    for h in history["epochs"]:
        rows.append({"kind": "accuracy", **h})
    figures["digits_accuracy_sdsp"] = round(history["epochs"][-1]["test_accuracy"], 4)
    units = {
        "synaptic_updates_per_cycle": "synapses integrated and SDSP-stepped per busy cycle "
                                      "(N = 256, 8 synapses per word, back to back, no spikes)",
        "cycles_per_input_event": "busy cycles per pre-synaptic spike event (N = 256, "
                                  "8 synapses per word; ODIN: 512)",
        "speedup_vs_odin": "ODIN's 512 cycles per event / ours",
        "digits_accuracy_sdsp": "test accuracy after on-chip SDSP training (golden model; "
                                "fraction)",
    }
    return {"config": {"lanes": list(lanes_list), "events": events, "neurons": 256,
                       "digits": history["config"]},
            "figures": figures, "rows": rows, "units": units}


def table(result: dict) -> str:
    lines = [f"SDSP core ({result['command']})",
             f"{'lanes':>5} {'scenario':>9} {'events':>7} {'cycles':>8} {'syn/cycle':>10} "
             f"{'cycles/event':>13} {'spikes':>7}"]
    for r in result["rows"]:
        if r["kind"] == "throughput":
            lines.append(f"{r['lanes']:>5} {r['scenario']:>9} {r['events']:>7} "
                         f"{r['cycles_busy']:>8} {r['synaptic_updates_per_cycle']:>10.3f} "
                         f"{r['cycles_per_input_event']:>13.2f} {r['spikes']:>7}")
    for r in result["rows"]:
        if r["kind"] == "accuracy":
            lines.append(f"epoch {r['epoch']}: test accuracy {100 * r['test_accuracy']:.1f} %")
    f = result["figures"]
    lines.append(f"digits_accuracy_sdsp {f['digits_accuracy_sdsp']}, synaptic_updates_per_cycle "
                 f"{f['synaptic_updates_per_cycle']}, cycles_per_input_event "
                 f"{f['cycles_per_input_event']} (ODIN 512)")
    return "\n".join(lines)
