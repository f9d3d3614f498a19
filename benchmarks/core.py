"""Core throughput: synaptic ops per cycle on dense fan-out events and neuron updates per
cycle at the tick, for 1, 2, 4 and 8 lanes, measured on the RTL in Verilator from the
core's own counters (``cycles_busy``, ``synops``, ``neuron_updates``).

* events: ``events`` events back to back on one axon of fan-out F (F/lanes dense MAC
  rows each); ``synops_per_cycle = synops / cycles_busy`` (physical limit: lanes);
  ``overhead_cycles_per_event = (cycles_busy - MAC rows) / events`` in that stream;
  ``isolated_event_overhead_cycles``: the same for one event alone (queue entry,
  descriptor read, fetch, pipeline drain until idle).
* ticks: one tick over a layer filling the core (1024 LIF neurons); ``quiet``: no
  neuron fires; ``all_spiking``: every neuron fires, so the event generator's one
  spike per cycle bounds the rate.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hw.spec.config import ChipConfig, CoreConfig
from hw.core import Neurocore
from sim.runner import run_cocotb, verilator_build

LANES = (1, 2, 4, 8)
FANOUTS = (8, 16, 32, 64, 128, 256)


def bench_config(lanes: int) -> ChipConfig:
    return ChipConfig(core=CoreConfig(lanes=lanes, neurons=1024, axons=16,
                                      synapses=2048 * lanes, microcode_depth=16, layers=2))


def measure(lanes: int, fanouts, events: int) -> dict:
    config = bench_config(lanes)
    build = verilator_build("neurocore", lambda: Neurocore(config), key=config.to_dict())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        run_cocotb(build, "sim.tb.core", testcase="test_core_bench",
                   params={"config": config.to_dict(), "fanouts": list(fanouts),
                           "events": events, "out": str(out)})
        return json.loads(out.read_text())


def run(quick: bool = False) -> dict:
    lanes_list = (4,) if quick else LANES
    fanouts = (8, 64, 256) if quick else FANOUTS
    events = 16 if quick else 64
    figures, rows, units = {}, [], {}
    for lanes in lanes_list:
        res = measure(lanes, fanouts, events)
        for r in res["events"]:
            rows.append({"lanes": lanes, "kind": "events", **r})
        for r in res["ticks"]:
            rows.append({"lanes": lanes, "kind": "tick", **r})
        at64 = next(r for r in res["events"] if r["fanout"] == 64)
        quiet = next(r for r in res["ticks"] if r["tick"] == "quiet")
        figures[f"synops_per_cycle_lanes{lanes}"] = round(at64["synops_per_cycle"], 3)
        figures[f"neuron_updates_per_cycle_lanes{lanes}"] = round(quiet["neuron_updates_per_cycle"], 3)
        figures[f"overhead_cycles_per_event_lanes{lanes}"] = round(at64["overhead_cycles_per_event"], 3)
        figures[f"isolated_event_overhead_cycles_lanes{lanes}"] = at64["isolated_event_overhead_cycles"]
        units.update({
            f"synops_per_cycle_lanes{lanes}": "synaptic ops per cycle (fan-out 64, back to back)",
            f"neuron_updates_per_cycle_lanes{lanes}": "neuron updates per cycle (tick, 1024 LIF neurons, no spikes)",
            f"overhead_cycles_per_event_lanes{lanes}": "cycles per event beyond its MAC rows (fan-out 64, back to back)",
            f"isolated_event_overhead_cycles_lanes{lanes}": "cycles beyond the MAC rows for one event alone, until idle",
        })
    return {"config": {"lanes": list(lanes_list), "fanouts": list(fanouts), "events": events,
                       "core": {l: bench_config(l).core.to_dict() for l in lanes_list}},
            "figures": figures, "rows": rows, "units": units}


def table(result: dict) -> str:
    lines = [f"core throughput ({result['command']})",
             f"{'lanes':>5} {'fan-out':>8} {'synops/cycle':>13} {'limit':>6} "
             f"{'overhead/event':>15} {'isolated overhead':>18}"]
    for r in result["rows"]:
        if r["kind"] == "events":
            lines.append(f"{r['lanes']:>5} {r['fanout']:>8} {r['synops_per_cycle']:>13.3f} "
                         f"{r['lanes']:>6} {r['overhead_cycles_per_event']:>15.3f} "
                         f"{r['isolated_event_overhead_cycles']:>18}")
    lines.append(f"{'lanes':>5} {'tick':>12} {'neurons':>8} {'spikes':>7} {'cycles':>7} "
                 f"{'updates/cycle':>14}")
    for r in result["rows"]:
        if r["kind"] == "tick":
            lines.append(f"{r['lanes']:>5} {r['tick']:>12} {r['neurons']:>8} {r['spikes']:>7} "
                         f"{r['cycles']:>7} {r['neuron_updates_per_cycle']:>14.3f}")
    return "\n".join(lines)
