"""End-to-end demo: a trained spiking network for scikit-learn digits, from its NIR file
to spikes out of the chip.

``python -m sw.apps.demo`` loads ``fixtures/digits/model.nir`` (made by
``fixtures/make_digits_model.py``; ``--model npz`` takes the spikeforge float model
instead), quantizes it for :data:`DEMO_CONFIG` (a 2x1 chip of 4-lane cores: the hidden
layer on one core, the output layer on the other, spikes crossing the mesh), maps it,
and classifies the 360 test images with the quantized network (network-level golden
model, vectorised), the first ``--golden-samples`` of them also on the image-level
golden chip (the ``golden`` driver backend: the same memory images and frames as the
RTL; it must equal the network model on each), and the first ``--rtl-samples`` on the
RTL in Verilator (or on a board: ``--backend serial:/dev/ttyUSB1``) through the same
driver calls. It prints accuracy (float model, quantized golden, RTL), agreement (RTL ==
golden chip on every output event of every timestep and on the architectural counters,
per sample), synaptic operations and cycles per inference (the chip's counters) and
NeuroBench-style metrics (:mod:`sw.runtime.metrics`).

Inputs: pixel values 0..16 are sent as graded payloads every timestep (rate coding by
current, :func:`sw.runtime.inputs.rate_code`); the class is the output neuron with the most
spikes over the run, ties to the lowest index. Between samples the driver brings every
neuron back to rest with one ``CLEAR_STATE`` frame (:meth:`sw.runtime.driver.Chip.reset_state`;
the rest of the chip keeps its images), and each sample's inputs, the same at every
step, go in one ``STEP`` frame for its 16 timesteps.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hw.spec.config import ChipConfig, CoreConfig, NocConfig

__all__ = ["DEMO_CONFIG", "load_model", "prepare", "classify", "run_demo", "main"]

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "digits"

DEMO_CONFIG = ChipConfig(
    core=CoreConfig(lanes=4, neurons=64, axons=128, synapses=4096, microcode_depth=16,
                    layers=2, out_fifo_depth=64),
    noc=NocConfig(width=2, height=1, routes=256))

#: Counters that the golden model knows too (cycle counters are RTL-only).
ARCHITECTURAL = ("steps", "host_events_in", "host_events_out", "events_in", "events_out",
                 "synops", "neuron_updates", "ticks", "acc_overflows")


def load_model(kind: str = "nir"):
    """The trained float model (``"nir"`` or ``"npz"``) and the test set."""
    from sw.frontend.float_model import load_float_model
    from sw.frontend.nir import from_nir
    if kind == "nir":
        import nir
        graph = nir.read(str(FIXTURE / "model.nir"))
        model = from_nir(graph, dt=float(graph.metadata["dt"]))
    elif kind == "npz":
        model = load_float_model(FIXTURE / "model.npz")
    else:
        raise ValueError(f"--model must be 'nir' or 'npz', not {kind!r}")
    with np.load(FIXTURE / "trained.npz") as z:
        data = {"x": z["x_test"].astype(np.int64), "y": z["y_test"].astype(np.int64),
                "steps": int(z["steps"]), "payload_scale": int(z["payload_scale"]),
                "meta": json.loads(str(z["meta"]))}
    return model, data


def prepare(model, config: ChipConfig = DEMO_CONFIG):
    """Quantize and map: ``(network, quantization report, ChipImage)``."""
    from sw.frontend.quantize import quantize
    from sw.toolchain.mapper import map_network
    network, report = quantize(model, config)
    image = map_network(network, config, outputs=[network.layers[-1].name])
    return network, report, image


def sample_inputs(x, steps: int, payload_scale: int) -> list:
    """One image's input events per timestep (pixel p sends payload p every step)."""
    from sw.runtime.inputs import rate_code
    return rate_code(np.asarray(x, np.float64) / 16.0, steps=steps, max_payload=payload_scale,
                     mode="current")


def classify(chip, image, samples, steps, payload_scale, *, progress=None) -> list:
    """Run each image of ``samples`` on ``chip`` (a :class:`sw.runtime.driver.Chip` with the
    image loaded). Per sample: prediction, spike counts, output events per step and
    counters (chip and sum over cores)."""
    out_layer = image.outputs[0]
    size = image.network.layer(out_layer).size
    results = []
    for k, x in enumerate(samples):
        chip.reset_state(image)
        chip.clear_counters()
        events = chip.run_network(image, sample_inputs(x, steps, payload_scale))
        counts = np.zeros(size, np.int64)
        for ev in events:
            for j, _ in ev[out_layer]:
                counts[j] += 1
        c = chip.all_counters()
        results.append({"prediction": int(np.argmax(counts)), "counts": counts.tolist(),
                        "events": events, "chip": c["chip"], "cores": c["cores"]})
        if progress:
            progress(k + 1, len(samples))
    return results


def open_rtl(backend: str, config: ChipConfig) -> None:
    """Build (or find) the backend's simulator before chips are opened in parallel."""
    if backend == "verilator":
        from sw.runtime.driver import open_transport
        open_transport(backend, config).close()


def _harness_report(link) -> tuple:
    """``(cycles, seconds simulating)`` the Verilator harness printed at exit, or
    ``(None, None)`` for other backends."""
    err = (getattr(link, "stderr", "") or "").split()
    if err[:1] != ["cycles"]:
        return None, None
    return int(err[1]), (float(err[3]) if err[2:3] == ["busy_s"] else None)


class _LinkTally:
    """Counts the bytes a Chip's link carries each way until :meth:`stop`."""

    def __init__(self, chip):
        self.link, self.to_chip, self.from_chip = chip.link, 0, 0
        self._write, self._read = self.link.write, self.link.read

        def write(data):
            self.to_chip += len(data)
            return self._write(data)

        def read(timeout):
            data = self._read(timeout)
            self.from_chip += len(data)
            return data
        self.link.write, self.link.read = write, read

    def stop(self) -> tuple[int, int]:
        self.link.write, self.link.read = self._write, self._read
        return self.to_chip, self.from_chip


def _agree(a, b) -> bool:
    if a["events"] != b["events"]:
        return False
    return all(a[g][n] == b[g][n] for g in ("chip", "cores") for n in ARCHITECTURAL
               if n in a[g])


def run_demo(*, samples: int | None = None, rtl_samples: int = 20, golden_samples: int = 40,
             backend: str = "verilator", rtl_workers: int | None = None,
             model_kind: str = "nir", config: ChipConfig = DEMO_CONFIG, quiet=False) -> dict:
    """Everything ``python -m sw.apps.demo`` prints, as a dict (see :func:`main`)."""
    from sw.toolchain.network_model import NetworkModel
    from sw.runtime.driver import Chip
    from sw.frontend.float_model import simulate_float
    from sw.runtime.metrics import memory_footprint_bytes, run_metrics

    def say(*a):
        if not quiet:
            print(*a, file=sys.stderr, flush=True)

    model, data = load_model(model_kind)
    x, y, steps, P = data["x"], data["y"], data["steps"], data["payload_scale"]
    n = len(x) if samples is None else min(samples, len(x))
    x, y = x[:n], y[:n]
    network, report, image = prepare(model, config)
    say(report.table())

    # float model (the reference the quantized chip is measured against)
    inputs = np.zeros((n, steps, x.shape[1]))
    for k in range(n):
        for t, ev in enumerate(sample_inputs(x[k], steps, P)):
            for i, p in ev:
                inputs[k, t, i] = p
    counts_f, _ = simulate_float(model, inputs)
    out_layer = network.layers[-1].name
    acc_float = float((np.argmax(counts_f[out_layer], axis=1) == y).mean())

    # quantized network, network-level golden model (vectorised), every sample; it
    # also gives every layer's spikes for the NeuroBench-style metrics
    net_events, metrics = [], []
    for k in range(n):
        ins = sample_inputs(x[k], steps, P)
        outs = NetworkModel(network, config.core).run(ins)
        net_events.append([{out_layer: o[out_layer]} for o in outs])
        metrics.append(run_metrics(network, ins, outs))
    pred_net = [int(np.argmax(np.bincount([j for ev in evs for j, _ in ev[out_layer]],
                                          minlength=network.layers[-1].size)))
                for evs in net_events]
    acc_golden = float(np.mean(np.array(pred_net) == y))

    # image-level golden chip (the same memory images and frames as the RTL) on the
    # first golden_samples samples; it must equal the network model on each
    g_n = min(max(golden_samples, rtl_samples), n)
    t0 = time.perf_counter()
    with Chip("golden", config) as chip:
        chip.load(image, skip_zero=True)
        gold = classify(chip, image, x[:g_n], steps, P)
    golden_seconds = time.perf_counter() - t0
    for k, r in enumerate(gold):
        if r["events"] != net_events[k]:
            raise RuntimeError(f"sample {k}: the image-level golden chip and the network "
                               "model disagree")
    say(f"golden chip: {g_n} samples in {golden_seconds:.1f} s, equal to the network model")

    # RTL (or a board) on the first rtl_samples samples
    m = min(rtl_samples, n)
    rtl, rtl_seconds, rtl_cycles, busy_seconds, infer_seconds = [], 0.0, None, None, 0.0
    link_bytes, per_inference = (0, 0), None
    workers = 1
    if m:
        # Simulators in parallel, one per core (a board is one chip): each a Chip of its
        # own with the image loaded, classifying a contiguous share of the samples.
        workers = rtl_workers or (min(os.cpu_count() or 1, m) if backend == "verilator" else 1)
        shares = [k for k in np.array_split(np.arange(m), workers) if len(k)]
        workers = len(shares)

        def loaded(_):
            chip = Chip(backend, config)
            chip.load(image, skip_zero=True)
            return chip
        # timed from the chips' first commands: a Verilator build on a cold cache (tens
        # of seconds, once per config) is not simulation time
        open_rtl(backend, config)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            chips = list(pool.map(loaded, range(workers)))
            try:
                t1 = time.perf_counter()
                tallies = [_LinkTally(c) for c in chips]
                parts = list(pool.map(lambda job: classify(job[0], image, x[job[1]], steps, P),
                                      zip(chips, shares)))
                infer_seconds = time.perf_counter() - t1
                rtl_seconds = time.perf_counter() - t0
                link_bytes = tuple(map(sum, zip(*(t.stop() for t in tallies))))
            finally:
                links = [c.link for c in chips]
                for c in chips:
                    c.close()
        rtl = [r for part in parts for r in part]
        # each harness reports its cycles and the seconds it spent simulating (wall
        # time less the time it waited for the driver)
        reports = [_harness_report(link) for link in links]
        if all(r[0] is not None for r in reports):
            rtl_cycles = sum(r[0] for r in reports)
            busy_seconds = sum(r[1] for r in reports) if all(r[1] for r in reports) else None
            # the same connection and load alone: what the inferences added
            with Chip(backend, config) as chip:
                chip.load(image, skip_zero=True)
                link0 = chip.link
            per_inference = (rtl_cycles - workers * _harness_report(link0)[0]) / m
        say(f"{backend}: {m} samples in {infer_seconds:.1f} s on {workers} chip(s) "
            f"(+ {t1 - t0:.1f} s loading)")
    agree = [_agree(a, b) for a, b in zip(rtl, gold)]
    acc_rtl = float(np.mean([r["prediction"] == t for r, t in zip(rtl, y)])) if rtl else None

    synops = np.mean([r["cores"]["synops"] for r in gold])
    cycles = np.mean([r["chip"]["cycles_busy"] for r in rtl]) if rtl else None
    mean = {k: float(np.mean([mt[k] for mt in metrics]))
            for k in ("effective_synops", "dense_synops", "activation_sparsity")}
    return {
        "samples": n, "rtl_samples": m, "backend": backend, "steps": steps,
        "model": model_kind, "config": config.to_dict(),
        "accuracy_float": acc_float, "accuracy_golden": acc_golden,
        "golden_chip_samples": g_n,
        "accuracy_rtl": acc_rtl, "accuracy_golden_on_rtl_samples":
            float(np.mean([r["prediction"] == t for r, t in zip(gold[:m], y[:m])])) if m else None,
        "rtl_golden_agreement": float(np.mean(agree)) if agree else None,
        "disagreeing_samples": [k for k, a in enumerate(agree) if not a],
        "synops_per_inference": float(synops),
        "cycles_per_inference": float(cycles) if cycles is not None else None,
        "golden_synops_per_second": float(sum(r["cores"]["synops"] for r in gold) / golden_seconds),
        "verilator_cycles_per_second": (rtl_cycles / busy_seconds
                                        if rtl_cycles and busy_seconds else None),
        "verilator_cycles_per_wall_second": (rtl_cycles / rtl_seconds
                                             if rtl_cycles and backend == "verilator" else None),
        "rtl_inferences_per_second": m / infer_seconds if m and infer_seconds else None,
        "rtl_workers": workers,
        "link_bytes_per_inference": {"to_chip": link_bytes[0] / m if m else None,
                                     "from_chip": link_bytes[1] / m if m else None},
        # a UART moves 10 bits per byte each way at once: the busier direction bounds it
        "serial_inferences_per_second": {
            str(baud): (baud / 10 / max(link_bytes) * m if m and max(link_bytes) else None)
            for baud in (115200, 1_000_000, 3_000_000)},
        "harness_cycles": rtl_cycles, "harness_cycles_per_inference": per_inference,
        "rtl_seconds": rtl_seconds,
        "harness_busy_seconds": busy_seconds, "rtl_inference_seconds": infer_seconds,
        "golden_seconds": golden_seconds,
        "neurobench": {**mean,
                       "connection_sparsity": metrics[0]["connection_sparsity"] if metrics else None,
                       "memory_footprint_bytes": memory_footprint_bytes(image)},
        "fixture_accuracy": data["meta"]["accuracy"],
        "quantization": report.table(),
    }


def table(r: dict) -> str:
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    nb = r["neurobench"]
    cyc = r["cycles_per_inference"]
    cyc = "-" if cyc is None else f"{cyc:.0f}"
    lines = [
        f"digits, {r['samples']} test images, {r['steps']} timesteps, model from "
        f"{r['model']}; RTL: {r['rtl_samples']} images on {r['backend']}",
        f"accuracy  float model {pct(r['accuracy_float'])}   quantized golden "
        f"{pct(r['accuracy_golden'])}   RTL {pct(r['accuracy_rtl'])} "
        f"(golden on the same images {pct(r['accuracy_golden_on_rtl_samples'])})",
        f"golden chip (image level) == network model on {r['golden_chip_samples']} images; "
        f"RTL == golden chip (every output event of every timestep, counters): "
        f"{pct(r['rtl_golden_agreement'])} of {r['rtl_samples']}",
        f"synaptic ops per inference {r['synops_per_inference']:.0f} (core counters); "
        f"cycles per inference {cyc} (RTL)",
        f"NeuroBench: effective synops {nb['effective_synops']:.0f}, dense synops "
        f"{nb['dense_synops']:.0f}, activation sparsity {nb['activation_sparsity']:.3f}, "
        f"connection sparsity {nb['connection_sparsity']:.3f}, memory "
        f"{nb['memory_footprint_bytes']} bytes",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sw.apps.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default="verilator",
                    help="where the RTL samples run: verilator (default) or serial:PORT[@BAUD]")
    ap.add_argument("--samples", type=int, default=None,
                    help="test images on the golden model (default: all 360)")
    ap.add_argument("--golden-samples", type=int, default=40,
                    help="of those, how many also run on the image-level golden chip "
                         "(default 40, at least --rtl-samples)")
    ap.add_argument("--rtl-samples", type=int, default=20,
                    help="of those, how many also run on the backend (default 20; 0: none)")
    ap.add_argument("--rtl-workers", type=int, default=None,
                    help="Verilator simulators run in parallel, each on its share of the "
                         "RTL samples (default: one per core; a board is always one)")
    ap.add_argument("--model", default="nir", choices=["nir", "npz"],
                    help="import the fixture from NIR (default) or the float-model npz")
    ap.add_argument("--board", help="use this board's chip configuration (boards/), e.g. "
                                    "arty_a7 with --backend serial:/dev/ttyUSB1")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    config = DEMO_CONFIG
    if args.board:
        from boards import get_board
        config = get_board(args.board).config
    r = run_demo(samples=args.samples, rtl_samples=args.rtl_samples, config=config,
                 golden_samples=args.golden_samples, backend=args.backend,
                 rtl_workers=args.rtl_workers,
                 model_kind=args.model)
    print(table(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1, default=str))
    if r["rtl_golden_agreement"] not in (None, 1.0):
        print(f"RTL and golden disagree on samples {r['disagreeing_samples']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
