"""The digits demo's energy estimate: the activity of its test images on the
image-level golden chip, times a table of per-access energies (:mod:`sw.runtime.energy`).
A model, not a measurement: exact access counts times published per-access energies
(45 nm, Horowitz ISSCC 2014 by default; dynamic energy only).

The image-level golden chip (:class:`sim.golden.chip.GoldenChip`) runs the demo's test
images with the demo's memory images; its per-memory read/write counts, synaptic
operations and neuron updates are the ones the RTL's counters report (the chip
cross-checks prove them equal); router traversals follow from XY routing.
``python -m benchmarks energy`` reports :func:`run`; ``python -m sw.apps.demo_energy``
runs it with another parameter table.
"""

from __future__ import annotations

import json
from pathlib import Path

from sw.runtime.energy import (ANCHORS, HOROWITZ_45NM, Activity, estimate, load_params)

__all__ = ["digits_activity", "run", "table", "main", "SAMPLES", "QUICK_SAMPLES"]

SAMPLES = 100
QUICK_SAMPLES = 5


def run(quick: bool = False, params=HOROWITZ_45NM, samples: int | None = None) -> dict:
    from sw.apps.demo import DEMO_CONFIG
    n = samples or (QUICK_SAMPLES if quick else SAMPLES)
    act, info = digits_activity(n)
    e = estimate(act, params)
    rows = [{"kind": "breakdown", "part": part, "pj_per_inference": pj / n,
             "share": pj / e["total_pj"]} for part, pj in e["breakdown_pj"].items()]
    rows += [{"kind": "memory", "memory": name, "pj_per_inference": pj / n,
              "reads_per_inference": act.memories[name]["reads"] / n,
              "writes_per_inference": act.memories[name]["writes"] / n}
             for name, pj in sorted(e["memories_pj"].items(), key=lambda kv: -kv[1]) if pj]
    rows += [{"kind": "anchor", "chip": k, **v} for k, v in ANCHORS.items()]
    return {
        "config": {"chip": DEMO_CONFIG.to_dict(), "samples": n, "params": params.to_dict(),
                   "model": "fixtures/digits/model.nir"},
        "figures": {"pj_per_sop_model": round(e["pj_per_sop"], 3),
                    "nj_per_inference_model": round(e["total_pj"] / n / 1e3, 3),
                    "synops_per_inference": act.synops / n,
                    "router_hops_per_inference": act.router_hops / n,
                    "accuracy_on_samples": info["accuracy"]},
        "units": {"pj_per_sop_model": f"pJ per synaptic operation, energy model "
                                      f"({params.name}, {params.node}), dynamic only",
                  "nj_per_inference_model": "nJ per digits image (16 timesteps), same model",
                  "synops_per_inference": "synaptic operations per image (core counters)",
                  "router_hops_per_inference": "routers passed by packets per image",
                  "accuracy_on_samples": f"fraction correct on the {n} images modelled"},
        "rows": rows,
    }


def table(result: dict) -> str:
    f = result["figures"]
    lines = [f"energy model, digits demo ({result['command']}); "
             f"{result['config']['params']['name']}: a model, not a measurement",
             f"{'part':<22}{'pJ/inference':>14}{'share':>8}"]
    for r in result["rows"]:
        if r["kind"] == "breakdown":
            lines.append(f"{r['part']:<22}{r['pj_per_inference']:>14.1f}{r['share']:>8.1%}")
    lines.append(f"pj_per_sop_model {f['pj_per_sop_model']} pJ/SOP, "
                 f"{f['nj_per_inference_model']} nJ per inference, "
                 f"{f['synops_per_inference']:.0f} SOP per inference")
    lines.append("published (silicon, other nodes): " + ", ".join(
        f"{r['chip']} {r['pj_per_sop']} pJ/SOP ({r['node']})"
        for r in result["rows"] if r["kind"] == "anchor"))
    return "\n".join(lines)


def digits_activity(samples: int) -> tuple[Activity, dict]:
    """Run the first ``samples`` test images of the digits demo (:mod:`sw.apps.demo`) on the
    image-level golden chip: the activity summed over them, and ``{"samples",
    "accuracy"}``. Its counts are the RTL counters' (the chip cross-checks prove them
    equal); router traversals follow from XY routing."""
    import numpy as np

    from hw.spec.memmap import chip_memories
    from hw.spec.packet import packet_layout
    from sim.golden.chip import GoldenChip
    from sw.apps.demo import DEMO_CONFIG, load_model, prepare, sample_inputs

    model, data = load_model("nir")
    _, _, image = prepare(model, DEMO_CONFIG)
    specs = chip_memories(DEMO_CONFIG)
    state = {s.name: image.images[s.name] for s in specs
             if s.role == "state" and s.name in image.images}
    chip = GoldenChip(DEMO_CONFIG)
    chip.load(image.images)
    correct = 0
    for k in range(samples):
        chip.load(state)                        # a fresh start, as the demo does
        outs = chip.run(image, sample_inputs(data["x"][k], data["steps"],
                                             data["payload_scale"]))
        counts = np.zeros(image.network.layer(image.outputs[0]).size, np.int64)
        for ev in outs:
            for j, _ in ev[image.outputs[0]]:
                counts[j] += 1
        correct += int(np.argmax(counts) == data["y"][k])
    reads, writes = dict(chip.reads), {}
    synops = neuron_updates = 0
    for core in chip.cores.values():
        for name, n in core.reads.items():
            reads[name] = reads.get(name, 0) + n
        writes.update(core.writes)
        synops += core.counters["synops"]
        neuron_updates += core.counters["neuron_updates"]
    stored = {m.name: m for m in chip.mems.values()}
    memories = {s.name: {"width": s.width, "bits": s.depth * stored[s.name].stored_width,
                         "reads": reads.get(s.name, 0), "writes": writes.get(s.name, 0)}
                for s in specs}
    act = Activity(memories=memories, synops=synops, neuron_updates=neuron_updates,
                   router_hops=chip.router_hops, packet_bits=packet_layout(DEMO_CONFIG).size)
    return act, {"samples": samples, "accuracy": correct / samples}


def main(argv=None) -> int:
    """``python -m sw.apps.demo_energy [--params FILE] [--samples N] [--dump-params]``:
    the digits demo's energy estimate with another parameter table."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m sw.apps.demo_energy", description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", type=Path, metavar="FILE",
                    help="JSON energy table with EnergyParams' fields (default: Horowitz 45 nm)")
    ap.add_argument("--samples", type=int, default=20, help="digits test images to run")
    ap.add_argument("--dump-params", action="store_true",
                    help="print the default table as JSON (a template for --params) and exit")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(argv)
    if args.dump_params:
        print(json.dumps(HOROWITZ_45NM.to_dict(), indent=2))
        return 0
    try:
        params = load_params(args.params) if args.params else HOROWITZ_45NM
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = run(params=params, samples=args.samples)
    print(table({**result, "command": " ".join(["python -m sw.apps.demo_energy", *argv])}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
