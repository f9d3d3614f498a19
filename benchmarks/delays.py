"""Delay units: memory and logic of the shared circular delay queue (SCDQ) against the
ring buffer, and the temporal task that needs delays.

Memory (``kind: "memory"`` and ``"crossover"`` rows)
    Stored bits from :func:`sim.golden.delay.memory_bits` (SRAM + registers) for
    D = ``delay.slots`` in {8, 16, 64}, ``neurons`` in {256, 1024} and input activity
    ``a`` in {0.01, 0.05, 0.2}. The ring buffer costs ``neurons x (D - 1)`` extra
    accumulator words whatever the activity; the SCDQ costs one entry per delayed event
    in flight. Activity model (stated, not measured): the core has ``axons = neurons``
    input axons, every axon has ``GROUPS`` = 4 delay groups, all of nonzero delay,
    spread evenly over 1 .. D-1 (mean D/2); a fraction ``a`` of the axons spikes in
    every timestep, each spike pushing one entry per group. Counted as the compiler's
    worst-case bound counts (an entry of delay ``d`` is held ``d + 1`` timesteps at the
    occupancy peak just before a drain), Little's law gives the mean occupancy, and the
    queue is given that many entries, with no margin::

        capacity(a) = max(2, ceil(a * axons * GROUPS * (D / 2 + 1)))

    The crossover is the smallest capacity whose SCDQ bits reach the ring buffer's
    (``memory_bits`` rises with capacity; found by bisection over 2 .. 65536), and the
    activity at which the model asks for that capacity; below it the SCDQ is smaller.
    A sizing margin ``m`` (e.g. the compiler's ``activity_margin``) divides the
    crossover activity by about ``m``.

Logic (``kind: "synth"`` rows)
    yosys ``synth_xilinx`` (YoWASP, :func:`hw.synth.estimate_xilinx`) of one
    :class:`hw.core.Neurocore` (``SYNTH_CORE``: 4 lanes, 256 neurons, 256 axons, 4096
    synapses) with ``delay.unit`` none, scdq and ring at D = 8, 16 and 64 (capacity
    256, 4 groups; ``none`` once), and each unit's difference from ``none``. One
    synthesis takes two to three minutes and two run at a time: 9.5 to 11 minutes for
    the full run on a 2-core machine (``SPIKEFORGE_DELAY_SYNTH_SLOTS=16``
    synthesizes D = 16 only, about 4.5 minutes). ``--quick`` synthesizes nothing (the
    JSON's ``config.synthesis`` says so).

Task (``kind: "task"`` row)
    :func:`sw.apps.delay_task.evaluate` (seed 0): ``accuracy_with_delays``,
    ``accuracy_without_delays`` (same network, every delay 0) and
    ``accuracy_without_delays_leaky`` (the leaky rank-order baseline), on 400 held-out
    samples (``--quick``: 100). The tuned delay network is compiled for the task's own
    chip with the SCDQ (:func:`sw.apps.delay_task.task_config`: one 2-lane core of 16
    neurons and 16 axons, D = 16, 4 groups, capacity 32, so the queue is sized by the
    activity of the samples run) and every test sample runs through
    :class:`sim.golden.core.GoldenCore`, a fresh core per sample (each sample is one
    inference from reset; a sample's last ``span + 1`` timesteps carry no input, so the
    queue is empty at its end and a continuous run would peak the same).
    ``scdq_peak_occupancy_golden`` is the largest ``delay_max_occupancy`` counter over
    the samples, ``scdq_peak_occupancy_compiler`` the compiler's exact activity-based
    peak (:func:`sw.toolchain.compiler.activity_from_run` over the same samples),
    ``scdq_worst_case_bound`` the compiler's guarantee (``CoreImage.queue``).
    ``accuracy_with_delays_golden_core`` is the delay network's accuracy read from the
    core model's spikes (it must equal ``accuracy_with_delays``).
    ``scdq_bits`` and ``ringbuffer_bits`` are ``memory_bits`` of that core for the
    network's neurons with the measured peak as the queue's capacity, and
    ``memory_ratio_ringbuffer_over_scdq`` their quotient. On the RTL
    (:func:`sw.apps.delay_task.run_hardware`, Verilator through the host link, chip reset per
    sample; the SCDQ there sized by the training split's activity): the first 40 test
    samples (``--quick``: 4) give ``accuracy_with_delays_rtl``,
    ``rtl_model_agreement`` and ``scdq_peak_occupancy_rtl`` (the chip's own counter).

Plot
    Total bits against activity (log-log) for every (D, neurons), SCDQ curve, ring
    buffer line, crossover marked (the SCDQ curve ends where the model asks for more
    than 65536 entries): ``docs/img/delay_memory.png`` for the full run, a
    temporary directory for ``--quick``, or ``$SPIKEFORGE_DELAY_PLOT``.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hw.spec.config import ChipConfig, CoreConfig, DelayConfig
from sw.apps.delay_task import run_hardware

SLOTS = (8, 16, 64)
NEURONS = (256, 1024)
ACTIVITIES = (0.01, 0.05, 0.2)
GROUPS = 4
CAPACITY_MAX = 65536                       # DelayConfig.capacity's upper limit
SYNTH_CORE = CoreConfig(lanes=4, neurons=256, axons=256, synapses=4096)
SYNTH_SLOTS = SLOTS
UNITS = ("none", "scdq", "ring")
REPO = Path(__file__).resolve().parents[1]
PLOT_DEFAULT = REPO / "docs" / "img" / "delay_memory.png"
_CONVERT = threading.Lock()          # Verilog generation: one at a time (Python)
RESOURCES = ("lut", "lut_logic", "lut_memory", "ff", "bram36", "dsp", "carry4")


# -- memory ---------------------------------------------------------------------------------

def table_config(slots: int, neurons: int) -> ChipConfig:
    """The memory table's core: ``axons = neurons``, ``GROUPS`` groups, defaults else."""
    return ChipConfig(core=CoreConfig(neurons=neurons, axons=neurons),
                      delay=DelayConfig(slots=slots, groups=GROUPS, unit="scdq"))


def entries_per_activity(slots: int, axons: int) -> float:
    """Queue entries per unit of activity: ``axons * GROUPS * (D / 2 + 1)``."""
    return axons * GROUPS * (slots / 2 + 1)


def capacity_for(activity: float, slots: int, axons: int) -> int:
    """The activity model's queue capacity (module docstring)."""
    return max(2, math.ceil(activity * entries_per_activity(slots, axons)))


def crossover(config: ChipConfig, neurons: int) -> dict:
    """Smallest capacity whose SCDQ bits reach the ring buffer's, and its activity."""
    from sim.golden.delay import memory_bits
    ring = memory_bits(config, neurons, capacity=2)["ring"]
    scdq = lambda c: memory_bits(config, neurons, capacity=c)["scdq"]   # noqa: E731
    out = {"kind": "crossover", "D": config.delay.slots, "neurons": neurons,
           "axons": config.core.axons, "ring_bits": ring}
    if scdq(CAPACITY_MAX) < ring:
        return {**out, "capacity": None, "activity": None, "scdq_bits": None}
    lo, hi = 2, CAPACITY_MAX               # scdq(hi) >= ring; find the smallest such
    if scdq(lo) >= ring:
        hi = lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if scdq(mid) >= ring else (mid, hi)
    return {**out, "capacity": hi, "scdq_bits": scdq(hi),
            "activity": round(hi / entries_per_activity(config.delay.slots,
                                                        config.core.axons), 5)}


def memory_rows():
    from sim.golden.delay import memory_bits
    rows, cross = [], []
    for d in SLOTS:
        for n in NEURONS:
            cfg = table_config(d, n)
            for a in ACTIVITIES:
                cap = capacity_for(a, d, cfg.core.axons)
                m = memory_bits(cfg, n, capacity=cap)
                rows.append({"kind": "memory", "D": d, "neurons": n, "axons": cfg.core.axons,
                             "groups": GROUPS, "activity": a, "capacity": cap,
                             "scdq_bits": m["scdq"], "scdq_sram": m["scdq_sram"],
                             "scdq_regs": m["scdq_regs"], "ring_bits": m["ring"],
                             "ratio_ring_over_scdq": round(m["ring"] / m["scdq"], 3)})
            cross.append(crossover(cfg, n))
    return rows, cross


# -- synthesis ------------------------------------------------------------------------------

def synth_config(unit: str, slots: int) -> ChipConfig:
    return ChipConfig(core=SYNTH_CORE, delay=DelayConfig(slots=slots, groups=GROUPS,
                                                         unit=unit))


def synthesize(config: ChipConfig) -> dict:
    """yosys resource counts of one Neurocore of ``config`` (plus the seconds taken)."""
    from amaranth.back import verilog
    from hw.core import Neurocore
    from hw.synth import estimate_xilinx
    with tempfile.TemporaryDirectory(prefix="spikeforge-delays-") as tmp:
        t0 = time.monotonic()
        vfile = Path(tmp) / "neurocore.v"
        with _CONVERT:
            vfile.write_text(verilog.convert(Neurocore(config), name="neurocore"))
        res = estimate_xilinx(vfile, "neurocore", Path(tmp))
        return {**{k: res[k] for k in RESOURCES},
                "seconds": round(time.monotonic() - t0, 1)}


def synth_rows(slots_list, synth=synthesize) -> list:
    """One row per (unit, D) with the resources and their difference from ``none``
    (``none`` has no delay hardware, so it is synthesized once)."""
    from sim.golden.delay import memory_bits
    jobs = [("none", slots_list[0])] + [(u, d) for d in slots_list for u in UNITS[1:]]
    workers = max(1, min(len(jobs), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda j: synth(synth_config(*j)), jobs))
    by = dict(zip(jobs, results))
    base = by[jobs[0]]
    rows = []
    for (unit, d), res in by.items():
        m = memory_bits(synth_config("scdq", d))
        row = {"kind": "synth", "unit": unit, "D": None if unit == "none" else d,
               **{k: res[k] for k in RESOURCES}, "seconds": res["seconds"],
               "model_bits": {"none": 0, "scdq": m["scdq"], "ring": m["ring"]}[unit]}
        row.update({f"delta_{k}": res[k] - base[k] for k in RESOURCES})
        rows.append(row)
    return rows


def synth_slots() -> tuple:
    env = os.environ.get("SPIKEFORGE_DELAY_SYNTH_SLOTS")
    return tuple(int(x) for x in env.split(",")) if env else SYNTH_SLOTS


# -- the temporal task ----------------------------------------------------------------------

def task_config() -> ChipConfig:
    """The chip the delay task runs on (:mod:`sw.apps.delay_task`), with the SCDQ."""
    from sw.apps import delay_task
    return delay_task.task_config("scdq")


def run_task(n_test: int, seed: int = 0) -> dict:
    """Accuracies (sw.apps.delay_task) and the SCDQ's occupancy on the golden core model."""
    from sim.golden.core import GoldenCore
    from sim.golden.delay import memory_bits
    from sw.toolchain.compiler import activity_from_run, compile_core
    from sw.apps.delay_task import build_network, draw, evaluate, make_task, predict

    r = evaluate(seed, n_test=n_test)
    # evaluate's held-out split: its own task and sample seeds (checked on the offsets)
    task = make_task(seed=seed)
    if task.offsets.tolist() != r["task"]["offsets"]:
        raise RuntimeError("delays benchmark: the task differs from sw.apps.delay_task.evaluate's")
    samples, labels = draw(task, n_test, seed * 2 + 2)
    net = build_network(task, r["params"]["delay"]["threshold"], delays=True)
    cfg = task_config()
    # the queue is sized by the activity of the samples run (the compiler's exact peak
    # on them, times its margin); inputs feed the only layer, whose spikes feed nothing
    flat = [events for steps in samples for events in steps]
    image = compile_core(net, cfg, activity=activity_from_run(flat, []))
    out_layer = net.layers[-1].name
    peaks, pushes, overflows, left, preds = [], 0, 0, 0, []
    for steps in samples:
        core = GoldenCore(cfg)
        core.load(image.images)
        counts = np.zeros(net.layers[-1].size, np.int64)
        for events in steps:
            for axon, payload in image.input_events(events):
                core.event(axon, payload)
            for i, _ in image.by_layer(core.tick())[out_layer]:
                counts[i] += 1
        peaks.append(core.counters["delay_max_occupancy"])
        pushes += core.counters["delay_pushes"]
        overflows += core.counters["delay_overflows"]
        left += core.queue.occupancy
        preds.append(int(predict(counts)))
    peak = max(peaks)
    neurons = sum(l.size for l in net.layers)
    bits = memory_bits(cfg, neurons, capacity=max(2, peak))
    input_events = sum(len(e) for e in flat)
    return {
        "kind": "task", "samples": n_test, "seed": seed, "steps_per_sample": task.steps,
        "channels": task.channels, "classes": task.classes, "neurons": neurons,
        "max_delay": r["max_delay"], "params": r["params"],
        "accuracy_with_delays": r["delay"], "accuracy_without_delays": r["no_delay"],
        "accuracy_without_delays_leaky": r["no_delay_leaky"], "chance": r["chance"],
        "accuracy_with_delays_golden_core": float(np.mean(np.array(preds) == labels)),
        "input_activity": round(input_events / (task.channels * task.steps * n_test), 5),
        "delay_groups": {str(a): g for a, g in sorted(image.delay_groups.items())},
        "scdq_peak_occupancy_golden": peak,
        "scdq_peak_occupancy_compiler": image.queue["measured_peak"],
        "scdq_capacity": image.queue["capacity"],
        "scdq_worst_case_bound": image.queue["worst_case"],
        "delay_pushes": pushes, "delay_overflows": overflows, "left_in_queue": left,
        "scdq_bits": bits["scdq"], "scdq_sram": bits["scdq_sram"],
        "scdq_regs": bits["scdq_regs"], "ringbuffer_bits": bits["ring"],
        "scdq_bits_at_worst_case": memory_bits(
            cfg, neurons, capacity=max(2, image.queue["worst_case"]))["scdq"],
    }


# -- plot -----------------------------------------------------------------------------------

def plot_path(quick: bool) -> Path:
    env = os.environ.get("SPIKEFORGE_DELAY_PLOT")
    if env:
        return Path(env)
    if quick:       # one fixed scratch file, overwritten by every quick run
        return Path(tempfile.gettempdir()) / "spikeforge-delays" / "delay_memory.png"
    return PLOT_DEFAULT


def plot(rows, cross, path: Path) -> None:
    """Total bits against activity, one panel per (D, neurons)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sim.golden.delay import memory_bits

    acts = np.logspace(-3, 0, 61)
    fig, axes = plt.subplots(len(SLOTS), len(NEURONS), figsize=(8, 9), sharex=True,
                             squeeze=False)
    for i, d in enumerate(SLOTS):
        for j, n in enumerate(NEURONS):
            ax = axes[i][j]
            cfg = table_config(d, n)
            xs, ys = [], []
            for a in acts:
                cap = capacity_for(a, d, cfg.core.axons)
                if cap <= CAPACITY_MAX:
                    xs.append(a)
                    ys.append(memory_bits(cfg, n, capacity=cap)["scdq"])
            ring = memory_bits(cfg, n, capacity=2)["ring"]
            ax.plot(xs, ys, color="C0", label="SCDQ")
            ax.axhline(ring, color="C1", label="ring buffer")
            pts = [r for r in rows if r["D"] == d and r["neurons"] == n]
            ax.plot([r["activity"] for r in pts], [r["scdq_bits"] for r in pts], "o",
                    color="C0", markersize=4)
            c = next(x for x in cross if x["D"] == d and x["neurons"] == n)
            if c["activity"] is not None and c["activity"] <= acts[-1]:
                ax.axvline(c["activity"], color="gray", linestyle="--", linewidth=1)
                ax.annotate(f"a = {c['activity']:.3f}", (c["activity"], ring),
                            textcoords="offset points", xytext=(-4, 6), ha="right",
                            fontsize=8)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"D = {d}, {n} neurons", fontsize=9)
            ax.grid(True, which="major", alpha=0.3)
            if i == len(SLOTS) - 1:
                ax.set_xlabel("activity (fraction of axons spiking per timestep)")
            if j == 0:
                ax.set_ylabel("stored bits")
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Delay memory: SCDQ (4 groups/axon, mean delay D/2) vs ring buffer",
                 fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


# -- benchmark ------------------------------------------------------------------------------

def run(quick: bool = False) -> dict:
    rows, cross = memory_rows()
    slots = () if quick else synth_slots()
    srows = synth_rows(slots) if slots else []
    n_test = 100 if quick else 400
    task = run_task(n_test)
    rtl = run_hardware(samples=4 if quick else 40, backend="verilator", units=("scdq",))
    rtl_delay = rtl["networks"]["delay"]["scdq"]

    figures = {"scdq_bits": task["scdq_bits"], "ringbuffer_bits": task["ringbuffer_bits"]}
    figures["memory_ratio_ringbuffer_over_scdq"] = round(
        task["ringbuffer_bits"] / task["scdq_bits"], 4)
    for k in ("accuracy_with_delays", "accuracy_without_delays",
              "accuracy_without_delays_leaky", "accuracy_with_delays_golden_core",
              "scdq_peak_occupancy_golden", "scdq_peak_occupancy_compiler",
              "scdq_worst_case_bound"):
        figures[k] = round(task[k], 4) if isinstance(task[k], float) else task[k]
    units = {
        "scdq_bits": f"stored bits of the SCDQ sized to the measured peak, delay task, "
                     f"{task['neurons']}-neuron network",
        "ringbuffer_bits": f"stored bits the ring buffer adds for the task network's "
                           f"{task['neurons']} neurons (D = {task_config().delay.slots})",
        "memory_ratio_ringbuffer_over_scdq": "ringbuffer_bits / scdq_bits",
        "accuracy_with_delays": f"fraction correct, delay task, {n_test} held-out samples",
        "accuracy_without_delays": f"fraction correct, same network with every delay 0, "
                                   f"{n_test} samples",
        "accuracy_without_delays_leaky": f"fraction correct, leaky rank-order baseline "
                                         f"without delays, {n_test} samples",
        "accuracy_with_delays_golden_core": "fraction correct, delay network compiled and run "
                                            "on the golden core model (SCDQ)",
        "scdq_peak_occupancy_golden": "largest delay_max_occupancy over the samples (golden "
                                      "core, fresh core per sample)",
        "scdq_peak_occupancy_compiler": "compiler's exact activity-based peak on the same input",
        "scdq_worst_case_bound": "compiler's worst-case bound (every axon firing every timestep)",
    }
    figures.update(scdq_peak_occupancy_rtl=rtl_delay["peak_occupancy"],
                   accuracy_with_delays_rtl=round(rtl_delay["accuracy"], 4),
                   rtl_model_agreement=rtl_delay["model_agreement"],
                   rtl_samples=rtl["samples"])
    units.update(
        scdq_peak_occupancy_rtl="largest delay_max_occupancy counter of the RTL (Verilator, "
                                "through the host link) over rtl_samples test samples, "
                                "chip reset per sample",
        accuracy_with_delays_rtl="fraction correct on the RTL, first rtl_samples test samples",
        rtl_model_agreement="samples whose RTL output spikes equal the network model's at "
                            "every timestep",
        rtl_samples="test samples run on the RTL")
    for c in cross:
        key = f"crossover_activity_D{c['D']}_n{c['neurons']}"
        figures[key] = c["activity"]
        units[key] = ("activity at which the SCDQ's bits reach the ring buffer's "
                      "(activity model of the module docstring)")
    for r in srows:
        if r["unit"] != "none":
            for k in ("lut", "ff", "bram36"):
                key = f"synth_delta_{k}_{r['unit']}_D{r['D']}"
                figures[key] = r[f"delta_{k}"]
                units[key] = f"{k} of a Neurocore with unit {r['unit']} minus unit none (yosys)"

    path = plot_path(quick)
    plot(rows, cross, path)

    synthesis = (f"yosys synth_xilinx (YoWASP) of hw.core.Neurocore, units {', '.join(UNITS)}, "
                 f"D in {list(slots)}" if slots else
                 "skipped in --quick: one Neurocore synthesis takes 2 to 3 minutes")
    out = {"config": {"memory": {"slots": list(SLOTS), "neurons": list(NEURONS),
                                 "activities": list(ACTIVITIES), "groups": GROUPS,
                                 "axons": "= neurons",
                                 "capacity": "max(2, ceil(a * axons * groups * (D/2 + 1)))"},
                      "synthesis": synthesis,
                      "synth_core": SYNTH_CORE.to_dict(), "synth_slots": list(slots),
                      "task": {"chip": task_config().to_dict(), "samples": n_test,
                               "seed": task["seed"],
                               "golden": "fresh GoldenCore per sample"}},
           "figures": figures, "rows": rows + cross + srows + [task], "units": units,
           "plot": _shown(path)}
    return out


def table(result: dict) -> str:
    f = result["figures"]
    rows = result["rows"]
    lines = [f"delay units ({result['command']})",
             "memory (stored bits; SCDQ capacity = max(2, ceil(a * axons * 4 * (D/2 + 1))), "
             "axons = neurons)",
             f"{'D':>3} {'neurons':>7} {'activity':>8} {'capacity':>8} {'SCDQ bits':>10} "
             f"{'ring bits':>10} {'ring/SCDQ':>9}"]
    for r in rows:
        if r["kind"] == "memory":
            lines.append(f"{r['D']:>3} {r['neurons']:>7} {r['activity']:>8} "
                         f"{r['capacity']:>8} {r['scdq_bits']:>10} {r['ring_bits']:>10} "
                         f"{r['ratio_ring_over_scdq']:>9.3f}")
    lines.append(f"{'D':>3} {'neurons':>7} {'crossover: capacity':>20} {'activity':>9}")
    for r in rows:
        if r["kind"] == "crossover":
            lines.append(f"{r['D']:>3} {r['neurons']:>7} {str(r['capacity']):>20} "
                         f"{str(r['activity']):>9}")
    synth = [r for r in rows if r["kind"] == "synth"]
    if synth:
        lines.append(f"{'unit':>5} {'D':>3} {'LUT':>6} {'FF':>6} {'BRAM36':>6} "
                     f"{'dLUT':>6} {'dFF':>6} {'dBRAM36':>7} {'model bits':>10} {'s':>5}")
        for r in synth:
            lines.append(f"{r['unit']:>5} {str(r['D'] or '-'):>3} {r['lut']:>6} {r['ff']:>6} "
                         f"{r['bram36']:>6g} {r['delta_lut']:>6} {r['delta_ff']:>6} "
                         f"{r['delta_bram36']:>7g} {r['model_bits']:>10} {r['seconds']:>5}")
    else:
        lines.append(f"synthesis: {result['config']['synthesis']}")
    t = next(r for r in rows if r["kind"] == "task")
    lines += [
        f"delay task ({t['samples']} samples): accuracy with delays "
        f"{f['accuracy_with_delays']}, without {f['accuracy_without_delays']}, leaky "
        f"without {f['accuracy_without_delays_leaky']}, golden core "
        f"{f['accuracy_with_delays_golden_core']} (chance {t['chance']})",
        f"SCDQ peak occupancy: golden {f['scdq_peak_occupancy_golden']}, compiler (activity) "
        f"{f['scdq_peak_occupancy_compiler']}, worst-case bound {f['scdq_worst_case_bound']}",
        f"on the RTL ({f['rtl_samples']} samples, Verilator through the host link): accuracy "
        f"{f['accuracy_with_delays_rtl']}, {f['rtl_model_agreement']} of {f['rtl_samples']} "
        f"spike for spike equal to the model, SCDQ peak occupancy "
        f"{f['scdq_peak_occupancy_rtl']}",
        f"memory at the measured peak ({t['neurons']} neurons, D = {result['config']['task']['chip']['delay']['slots']}): SCDQ "
        f"{f['scdq_bits']} bits, ring buffer {f['ringbuffer_bits']} bits, ratio "
        f"{f['memory_ratio_ringbuffer_over_scdq']}",
        f"plot: {result['plot']}",
    ]
    return "\n".join(lines)
