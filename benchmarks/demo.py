"""The end-to-end digits demo as a benchmark (:mod:`sw.apps.demo`).

Figures: ``accuracy_float`` (float SNN, all 360 test images), ``accuracy_golden``
(quantized network, network-level golden model, all 360), ``accuracy_rtl`` (RTL in
Verilator, the first ``rtl_samples`` images), ``rtl_golden_agreement`` (fraction of RTL
samples whose output events per timestep and architectural counters equal the
image-level golden chip's), ``synops_per_inference`` (core counters, golden chip),
``cycles_per_inference`` (chip ``cycles_busy``, RTL), ``golden_synops_per_second``
(image-level golden chip through the driver), ``verilator_cycles_per_second``
(harness cycles per second the harness spent simulating: wall time less its waits for
the driver), ``rtl_inferences_per_second`` (RTL inferences through the driver, chip
loaded), ``harness_cycles_per_inference`` (chip and host-link cycles the harness ran
per inference), ``link_bytes_per_inference`` (both directions) and the UART bounds
``serial_<baud>_inferences_per_second`` they imply. The rates are wall-clock figures of
this machine: compare them only with each other; cycles and bytes are exact.
"""

from __future__ import annotations

from sw.apps.demo import DEMO_CONFIG, run_demo

FIGURES = ("accuracy_float", "accuracy_golden", "accuracy_rtl", "rtl_golden_agreement",
           "synops_per_inference", "cycles_per_inference", "golden_synops_per_second",
           "verilator_cycles_per_second", "rtl_inferences_per_second")


def run(quick: bool = False) -> dict:
    rtl, golden = (20, 20) if quick else (360, 360)
    r = run_demo(rtl_samples=rtl, golden_samples=golden, quiet=True)
    figures = {k: (round(r[k], 4) if isinstance(r[k], float) else r[k]) for k in FIGURES}
    lb = r["link_bytes_per_inference"]
    figures["link_bytes_per_inference"] = round(lb["to_chip"] + lb["from_chip"], 1)
    hc = r["harness_cycles_per_inference"]
    figures["harness_cycles_per_inference"] = None if hc is None else round(hc, 1)
    units = {
        "accuracy_float": "fraction correct, float SNN, 360 test images",
        "accuracy_golden": "fraction correct, quantized network (network-level golden), 360 images",
        "accuracy_rtl": f"fraction correct, RTL in Verilator, first {r['rtl_samples']} images",
        "rtl_golden_agreement": "fraction of RTL samples identical to the image-level golden chip",
        "synops_per_inference": "synaptic operations per image (sum of core synops counters)",
        "cycles_per_inference": "chip cycles_busy per image (RTL), 16 timesteps",
        "golden_synops_per_second": "image-level golden chip, wall clock (machine dependent)",
        "verilator_cycles_per_second": "Verilator harness cycles per second spent "
                                       "simulating (wall time less the harness's waits "
                                       "for the driver; machine dependent)",
        "rtl_inferences_per_second": "digits inferences per wall-clock second on the RTL "
                                     "in Verilator through the driver, chip loaded "
                                     "(machine dependent)",
        "link_bytes_per_inference": "host link bytes per inference, both directions "
                                    "(frames of the driver's classify loop)",
        "harness_cycles_per_inference": "clock cycles the Verilator harness ran per "
                                        "inference (chip and host link)",
    }
    for baud, rate in r["serial_inferences_per_second"].items():
        figures[f"serial_{baud}_inferences_per_second"] = None if rate is None else round(rate, 2)
        units[f"serial_{baud}_inferences_per_second"] = (
            f"bound of a board's UART at {baud} baud: 10 bits per byte, the busier "
            "direction's link bytes per inference")
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
        f"Verilator {f['verilator_cycles_per_second']:.0f} cycles/s, "
        f"{f['rtl_inferences_per_second']:.1f} RTL inferences/s "
        f"({f['harness_cycles_per_inference']:.0f} cycles, "
        f"{f['link_bytes_per_inference']:.0f} link bytes each)",
    ])
