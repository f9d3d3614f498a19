"""Energy model of the digits demo (:mod:`sw.runtime.energy`): pJ per synaptic operation and per
inference. A model, not a measurement: exact access counts times published per-access
energies (45 nm, Horowitz ISSCC 2014 by default; dynamic energy only).

The image-level golden chip (:class:`sim.golden.chip.GoldenChip`) runs the demo's test
images with the demo's memory images; its per-memory read/write counts, synaptic
operations and neuron updates are the ones the RTL's counters report (the chip
cross-checks prove them equal); router traversals follow from XY routing. Figures:
``pj_per_sop_model``, ``nj_per_inference_model``, ``synops_per_inference``; rows: the
energy breakdown and the published anchors (other nodes: compare orders of magnitude).
"""

from __future__ import annotations

from sw.runtime.energy import ANCHORS, HOROWITZ_45NM, digits_activity, estimate

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
