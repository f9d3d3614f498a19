"""NoC and chip throughput, measured on the RTL in Verilator.

* ``cycles_per_hop``: zero-load latency from tile (0, 0) to the far corner minus the
  latency to its own tile, divided by the hops between them (4x4 mesh).
* saturation throughput: uniform random and transpose traffic among the tiles (no host),
  offered load swept from 0.1 to 1.0 packets per node and cycle; the accepted rate
  (packets delivered per node and cycle during injection) is the curve, its maximum
  the saturation figure. One packet is one flit.
* ``chip_synops_per_cycle_2x2``: synaptic operations of all cores per chip cycle on a
  layered network with one 64-neuron layer per tile of a 2x2 chip of 4-lane cores,
  20 timesteps (chip counters ``cycles_busy``, core counters ``synops``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hw.chip import Chip
from hw.spec.config import ChipConfig, CoreConfig, NocConfig
from hw.noc import Mesh
from sim.runner import run_cocotb, verilator_build


def _run(build, module, testcase, params):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        run_cocotb(build, module, testcase=testcase, params={**params, "out": str(out)})
        return json.loads(out.read_text())


def mesh_config(size: int) -> ChipConfig:
    return ChipConfig(noc=NocConfig(width=size, height=size))


def chip_config() -> ChipConfig:
    return ChipConfig(core=CoreConfig(lanes=4, neurons=64, axons=128, synapses=4096,
                                      microcode_depth=16, layers=2, out_fifo_depth=64),
                      noc=NocConfig(width=2, height=2, routes=256))


def run(quick: bool = False) -> dict:
    size = 3 if quick else 4
    mesh = mesh_config(size)
    # --quick (the CI smoke run) reuses the -O0 builds of the tests; the full run pays
    # for -O2 models, which simulate several times faster.
    opt = "-O0" if quick else "-O2"
    build = verilator_build("mesh", lambda: Mesh(mesh), key=mesh.to_dict(), opt=opt)
    loads = [0.2, 0.6, 1.0] if quick else [round(0.1 * k, 1) for k in range(1, 11)]
    packets = 1000 if quick else 20000
    runs = [{"pattern": "self", "packets": 50, "rate": 0.02, "seed": 1, "sources": [0],
             "host": False},
            {"pattern": "corner", "packets": 50, "rate": 0.02, "seed": 2, "sources": [0],
             "host": False}]
    runs += [{"pattern": p, "packets": packets, "rate": r, "seed": 10 + k, "host": False,
              "warmup": 50}
             for p in ("uniform", "transpose") for k, r in enumerate(loads)]
    res = _run(build, "sim.tb.mesh", "test_mesh_traffic",
               {"config": mesh.to_dict(), "runs": runs})
    near, far = res[0], res[1]
    hops = 2 * (size - 1)
    rows = [{"kind": "latency", "pattern": r["pattern"], "hops": 0 if r is near else hops,
             "mean_latency": r["mean_latency"]} for r in (near, far)]
    rows += [{"kind": "load", **{k: r[k] for k in ("pattern", "rate", "accepted_per_node_cycle",
                                                   "mean_latency", "max_latency", "packets")}}
             for r in res[2:]]
    sat = {p: max(r["accepted_per_node_cycle"] for r in res[2:] if r["pattern"] == p)
           for p in ("uniform", "transpose")}
    chip = chip_config()
    cb = verilator_build("chip", lambda: Chip(chip), key=chip.to_dict(), opt=opt)
    steps = 8 if quick else 20
    cres = _run(cb, "sim.tb.chip", "test_chip_bench", {"config": chip.to_dict(), "steps": steps})
    rows.append({"kind": "chip", "mesh": "2x2", **{k: cres[k] for k in
                 ("synops", "cycles", "steps", "output_spikes")}})
    figures = {
        "cycles_per_hop": round((far["mean_latency"] - near["mean_latency"]) / hops, 3),
        "saturation_flits_per_node_cycle_uniform": round(sat["uniform"], 3),
        "saturation_flits_per_node_cycle_transpose": round(sat["transpose"], 3),
        "chip_synops_per_cycle_2x2": round(cres["synops"] / cres["cycles"], 3),
    }
    units = {
        "cycles_per_hop": "cycles per router hop at zero load",
        "saturation_flits_per_node_cycle_uniform": f"flits delivered per node per cycle, {size}x{size} mesh, uniform random",
        "saturation_flits_per_node_cycle_transpose": f"flits delivered per node per cycle, {size}x{size} mesh, transpose",
        "chip_synops_per_cycle_2x2": "synaptic ops per chip cycle, 2x2 chip of 4-lane cores (physical limit 16)",
    }
    return {"config": {"mesh": mesh.to_dict(), "chip": chip.to_dict(), "loads": loads,
                       "packets_per_point": packets},
            "figures": figures, "rows": rows, "units": units}


def table(result: dict) -> str:
    f = result["figures"]
    lines = [f"NoC and chip ({result['command']})",
             f"cycles per hop (zero load): {f['cycles_per_hop']}",
             f"{'pattern':>10} {'offered':>8} {'accepted':>9} {'mean lat':>9} {'max lat':>8}"]
    for r in result["rows"]:
        if r["kind"] == "load":
            lines.append(f"{r['pattern']:>10} {r['rate']:>8.1f} "
                         f"{r['accepted_per_node_cycle']:>9.3f} {r['mean_latency']:>9.1f} "
                         f"{r['max_latency']:>8}")
    lines.append(f"saturation: uniform {f['saturation_flits_per_node_cycle_uniform']}, "
                 f"transpose {f['saturation_flits_per_node_cycle_transpose']} flits/node/cycle")
    chip = next(r for r in result["rows"] if r["kind"] == "chip")
    lines.append(f"chip 2x2: {chip['synops']} synaptic ops in {chip['cycles']} cycles = "
                 f"{f['chip_synops_per_cycle_2x2']} per cycle ({chip['steps']} timesteps, "
                 f"{chip['output_spikes']} output spikes)")
    return "\n".join(lines)
