"""The end-to-end digits demo as a benchmark (:mod:`sw.demo`).

Figures: ``accuracy_float`` (float SNN, all 360 test images), ``accuracy_golden``
(quantized network, network-level golden model, all 360), ``accuracy_rtl`` (RTL in
Verilator, the first ``rtl_samples`` images), ``rtl_golden_agreement`` (fraction of RTL
samples whose output events per timestep and architectural counters equal the
image-level golden chip's), ``synops_per_inference`` (core counters, golden chip),
``cycles_per_inference`` (chip ``cycles_busy``, RTL), ``golden_synops_per_second``
(image-level golden chip through the driver) and ``verilator_cycles_per_second``
(harness cycles over the RTL run's wall time, driver round trips included). The two
rates are wall-clock figures of this machine: compare them only with each other.
"""

from __future__ import annotations

from sw.demo import DEMO_CONFIG, run_demo

FIGURES = ("accuracy_float", "accuracy_golden", "accuracy_rtl", "rtl_golden_agreement",
           "synops_per_inference", "cycles_per_inference", "golden_synops_per_second",
           "verilator_cycles_per_second")


def run(quick: bool = False) -> dict:
    rtl, golden = (20, 20) if quick else (360, 360)
    r = run_demo(rtl_samples=rtl, golden_samples=golden, quiet=True)
    figures = {k: (round(r[k], 4) if isinstance(r[k], float) else r[k]) for k in FIGURES}
    units = {
        "accuracy_float": "fraction correct, float SNN, 360 test images",
        "accuracy_golden": "fraction correct, quantized network (network-level golden), 360 images",
        "accuracy_rtl": f"fraction correct, RTL in Verilator, first {r['rtl_samples']} images",
        "rtl_golden_agreement": "fraction of RTL samples identical to the image-level golden chip",
        "synops_per_inference": "synaptic operations per image (sum of core synops counters)",
        "cycles_per_inference": "chip cycles_busy per image (RTL), 16 timesteps",
        "golden_synops_per_second": "image-level golden chip, wall clock (machine dependent)",
        "verilator_cycles_per_second": "Verilator harness cycles per wall-clock second, "
                                       "driver round trips included (machine dependent)",
    }
    rows = [{"kind": "neurobench", **r["neurobench"]},
            {"kind": "samples", "samples": r["samples"], "golden_chip": r["golden_chip_samples"],
             "rtl": r["rtl_samples"], "disagreeing": r["disagreeing_samples"]}]
    return {"config": {"chip": DEMO_CONFIG.to_dict(), "rtl_samples": rtl,
                       "golden_samples": golden, "model": "fixtures/digits/model.nir"},
            "figures": figures, "rows": rows, "units": units}


def table(result: dict) -> str:
    f = result["figures"]
    nb = result["rows"][0]
    return "\n".join([
        f"digits demo ({result['command']})",
        f"accuracy: float {f['accuracy_float']}, quantized golden {f['accuracy_golden']}, "
        f"RTL {f['accuracy_rtl']} ({result['rows'][1]['rtl']} images)",
        f"RTL == golden chip on {f['rtl_golden_agreement']} of RTL samples",
        f"per inference: {f['synops_per_inference']} synaptic ops, "
        f"{f['cycles_per_inference']} cycles",
        f"NeuroBench: effective synops {nb['effective_synops']:.0f}, dense {nb['dense_synops']:.0f}, "
        f"activation sparsity {nb['activation_sparsity']:.3f}, connection sparsity "
        f"{nb['connection_sparsity']:.3f}, memory {nb['memory_footprint_bytes']} bytes",
        f"speed (this machine): golden chip {f['golden_synops_per_second']:.0f} synops/s, "
        f"Verilator {f['verilator_cycles_per_second']:.0f} cycles/s",
    ])
