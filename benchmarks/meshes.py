"""What it costs to verify a larger chip: Verilator build and RTL == golden cross-check
by mesh size (issue 19: a 3x2 mesh did not finish build + check in 30 minutes).

For each mesh of default cores (``CoreConfig()``: 8 lanes, 256 neurons) the full run
builds the host-link chip (``HostChip``) from a cold cache, exactly as the driver's
``verilator`` backend does (:func:`sim.runner.verilator_exe`), then loads a seeded
random multi-layer network (:func:`sim.stimulus.random_chip_case`, 16 timesteps)
through the driver into the RTL and into the golden chip and compares every timestep's
output events. Figures per mesh: build seconds (Amaranth's Verilog, the module merge of
:mod:`sim.dedup`, Verilator and gcc with ``-j`` = the machine's cores), Verilog modules
before and after the merge, link bytes and chip cycles of the load, chip cycles of the
run, seconds of load + run, and whether RTL == golden. Seconds are wall clock on this
machine (2 cores in CI): compare them with each other, not across machines.

``--quick`` (CI) measures a 2x1 mesh of small cores on the test cache instead.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from hw.spec.config import ChipConfig, CoreConfig, NocConfig
from hw.host import HostChip
from sim.runner import verilator_exe
from sim.stimulus import random_chip_case
from sw.runtime.transports import VERILATOR_OPT as OPT
from sw.runtime.driver import Chip
from sw.runtime.transports import GoldenTransport, PipeTransport


def mesh_config(width: int, height: int, quick: bool) -> ChipConfig:
    core = (CoreConfig(lanes=2, neurons=32, axons=64, synapses=512, microcode_depth=16,
                       layers=2, out_fifo_depth=32) if quick else CoreConfig())
    return ChipConfig(core=core, noc=NocConfig(width=width, height=height,
                                               routes=256 if quick else 4096))


class _Counting(GoldenTransport):
    def __init__(self, config):
        super().__init__(config)
        self.sent = 0

    def write(self, data):
        self.sent += len(data)
        super().write(data)


def measure(cfg: ChipConfig, steps: int = 16, seed: int = 1) -> dict:
    w, h = cfg.noc.width, cfg.noc.height
    t0 = time.monotonic()
    exe = verilator_exe("hostchip", lambda: HostChip(cfg), key=cfg.to_dict(), opt=OPT)
    build_s = time.monotonic() - t0
    stats = json.loads((exe.parent / "build.json").read_text()) \
        if (exe.parent / "build.json").exists() else {}
    image, inputs = random_chip_case(np.random.default_rng(seed), cfg, steps)
    link = _Counting(cfg)
    with Chip("golden", cfg, transport=link) as gold:
        link.sent = 0
        gold.load(image)
        load_bytes = link.sent
        want = gold.run_network(image, inputs)
    with Chip("verilator", cfg, transport=PipeTransport([str(exe)])) as rtl:
        t0 = time.monotonic()
        rtl.load(image)
        load_s = time.monotonic() - t0
        c = rtl.counters()
        load_cycles = c["cycles_busy"] + c["cycles_idle"]
        t0 = time.monotonic()
        got = rtl.run_network(image, inputs)
        run_s = time.monotonic() - t0
        c = rtl.counters()
    first = next((t for t, (a, b) in enumerate(zip(want, got)) if a != b), None)
    return {"mesh": f"{w}x{h}", "tiles": w * h, "layers": [l.size for l in image.network.layers],
            "build_s": round(build_s, 1), **{k: stats[k] for k in (
                "construct_s", "convert_s", "dedup_s", "verilate_compile_s", "modules",
                "kept", "verilog_bytes", "merged_bytes", "cpp_bytes") if k in stats},
            "load_link_bytes": load_bytes, "load_cycles": load_cycles,
            "run_cycles": c["cycles_busy"] + c["cycles_idle"] - load_cycles,
            "steps": steps, "load_s": round(load_s, 1), "run_s": round(run_s, 1),
            "rtl_equals_golden": first is None, "first_divergence": first}


def run(quick: bool = False) -> dict:
    meshes = [(2, 1)] if quick else [(2, 2), (3, 2), (4, 4)]
    rows = []
    saved = os.environ.get("SPIKEFORGE_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        if not quick:                       # cold builds: what a new configuration costs
            os.environ["SPIKEFORGE_CACHE"] = str(Path(tmp))
        try:
            for w, h in meshes:
                rows.append(measure(mesh_config(w, h, quick)))
        finally:
            if saved is None:
                os.environ.pop("SPIKEFORGE_CACHE", None)
            else:
                os.environ["SPIKEFORGE_CACHE"] = saved
    figures = {}
    for r in rows:
        m = r["mesh"]
        figures[f"build_seconds_{m}"] = r["build_s"]
        figures[f"crosscheck_seconds_{m}"] = round(r["load_s"] + r["run_s"], 1)
        figures[f"modules_kept_{m}"] = r.get("kept")
        figures[f"rtl_equals_golden_{m}"] = r["rtl_equals_golden"]
    units = {k: ("seconds, wall clock, cold cache (machine dependent)" if "seconds" in k
                 else "Verilog modules Verilator compiles (after sim.dedup)" if "modules" in k
                 else "every timestep's output events identical") for k in figures}
    return {"config": {"opt": OPT, "cores": "small (quick)" if quick else "CoreConfig()",
                       "meshes": [f"{w}x{h}" for w, h in meshes], "jobs": os.cpu_count()},
            "figures": figures, "rows": rows, "units": units}


def table(result: dict) -> str:
    lines = [f"mesh build and cross-check ({result['command']}; {result['config']['jobs']} "
             f"cores, {result['config']['opt']})",
             f"{'mesh':>5} {'build s':>8} {'modules':>13} {'C++ MB':>7} {'load B':>9} "
             f"{'load cyc':>9} {'run cyc':>8} {'check s':>8} {'equal':>6}"]
    for r in result["rows"]:
        mods = f"{r.get('modules', '?')} -> {r.get('kept', '?')}"
        cpp = r.get("cpp_bytes", 0) / 1e6
        lines.append(f"{r['mesh']:>5} {r['build_s']:>8.1f} {mods:>13} {cpp:>7.1f} "
                     f"{r['load_link_bytes']:>9} {r['load_cycles']:>9} {r['run_cycles']:>8} "
                     f"{r['load_s'] + r['run_s']:>8.1f} {str(r['rtl_equals_golden']):>6}")
    return "\n".join(lines)
