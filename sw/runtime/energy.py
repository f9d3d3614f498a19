"""Energy model: joules per inference and per synaptic operation from access counts.

**This is a model, not a measurement.** It multiplies what the chip counts (reads and
writes of every memory, synaptic operations, neuron updates, router traversals of the
NoC) by per-access energies from a parameter table. Only dynamic energy is modelled:
leakage, the clock tree and I/O are not. The counts are exact (the golden model's
counters, which the cross-checks prove equal to the RTL's); the energies are published
figures for one technology node, and the result is only as good as they are.

The default table (:data:`HOROWITZ_45NM`) holds M. Horowitz, "Computing's energy
problem (and what we can do about it)", ISSCC 2014, 45 nm at 0.9 V:

* SRAM read of 64 bits: 10 pJ (8 KB array), 20 pJ (32 KB), 100 pJ (1 MB). The energy per
  bit is interpolated linearly in log(size) between those points and held constant
  outside them (so memories below 8 KB, which could be register files, are charged as
  8 KB arrays: an overestimate). A write is charged like a read.
* 8-bit integer multiply 0.2 pJ, 32-bit integer add 0.1 pJ: a synaptic operation is one
  multiply plus one add (weight x payload into the accumulator).
* A neuron update is charged ``neuron_update_adds`` 32-bit adds (leak, integrate,
  threshold compare) on top of its memory accesses, which are counted separately.
* The NoC: ``router_pj_per_bit`` per packet bit per router a packet passes through. The
  default, 0.1 pJ/bit, is the order of on-chip wire energy per bit and mm in the same
  talk, for an assumed 1 mm tile pitch; router buffers are included in this figure, not
  counted as memories. This is the least certain entry.

Another table is a JSON file with the same keys (``--params FILE`` of the benchmark);
:func:`load_params` reads it. Published anchors to compare with (silicon measurements in
other nodes, see :data:`ANCHORS`): SENECA about 2.8 pJ/SOP (22 nm), ODIN 12.7 pJ/SOP
(28 nm), ReckOn 5.3 pJ/SOP (28 nm).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["EnergyParams", "HOROWITZ_45NM", "ANCHORS", "Activity", "estimate",
           "load_params", "sram_pj_per_bit"]


@dataclass(frozen=True)
class EnergyParams:
    """Per-access energies (pJ) and where each comes from."""

    name: str
    node: str
    #: (array size in bits, pJ per bit accessed), increasing sizes.
    sram_points: tuple = ()
    mul_pj: float = 0.0
    add_pj: float = 0.0
    neuron_update_adds: int = 3
    router_pj_per_bit: float = 0.0
    sources: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sram_points"] = [list(p) for p in self.sram_points]
        return d


_KB = 8 * 1024
HOROWITZ_45NM = EnergyParams(
    name="horowitz-isscc2014-45nm",
    node="45 nm, 0.9 V",
    sram_points=((8 * _KB, 10 / 64), (32 * _KB, 20 / 64), (1024 * _KB, 100 / 64)),
    mul_pj=0.2, add_pj=0.1, neuron_update_adds=3, router_pj_per_bit=0.1,
    sources={
        "sram_points": "Horowitz, ISSCC 2014: 64-bit SRAM read 10 pJ (8 KB), 20 pJ (32 KB), "
                       "100 pJ (1 MB); writes charged as reads (assumption)",
        "mul_pj": "Horowitz, ISSCC 2014: 8-bit integer multiply 0.2 pJ",
        "add_pj": "Horowitz, ISSCC 2014: 32-bit integer add 0.1 pJ",
        "neuron_update_adds": "assumption: leak, integrate and threshold compare",
        "router_pj_per_bit": "assumption: order of on-chip wire energy per bit over 1 mm "
                             "at 45 nm (Horowitz, ISSCC 2014), router buffers included",
    })

#: Published energy per synaptic operation of silicon chips (pJ/SOP, node).
ANCHORS = {
    "SENECA": {"pj_per_sop": 2.8, "node": "22 nm FDX",
               "source": "Tang et al., Frontiers in Neuroscience 2023"},
    "ODIN": {"pj_per_sop": 12.7, "node": "28 nm FDSOI",
             "source": "Frenkel et al., IEEE TBioCAS 2019"},
    "ReckOn": {"pj_per_sop": 5.3, "node": "28 nm FDSOI",
               "source": "Frenkel and Indiveri, ISSCC 2022"},
}


def load_params(path: Path) -> EnergyParams:
    """An :class:`EnergyParams` from a JSON file with its field names; a missing or
    unknown key is an error that names it."""
    d = json.loads(Path(path).read_text())
    names = set(EnergyParams.__dataclass_fields__)
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"{path}: unknown energy parameter(s) {sorted(unknown)}; "
                         f"known: {sorted(names)}")
    missing = {"name", "sram_points", "mul_pj", "add_pj", "router_pj_per_bit"} - set(d)
    if missing:
        raise ValueError(f"{path}: missing energy parameter(s) {sorted(missing)}")
    d["sram_points"] = tuple(tuple(p) for p in d["sram_points"])
    return EnergyParams(**d)


def sram_pj_per_bit(params: EnergyParams, size_bits: int) -> float:
    """Energy per bit accessed in an array of ``size_bits`` (log-size interpolation,
    clamped at the table's ends)."""
    pts = params.sram_points
    if not pts:
        raise ValueError(f"energy table {params.name!r} has no SRAM points")
    if size_bits <= pts[0][0]:
        return pts[0][1]
    for (s0, e0), (s1, e1) in zip(pts, pts[1:]):
        if size_bits <= s1:
            t = (math.log(size_bits) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return e0 + t * (e1 - e0)
    return pts[-1][1]


@dataclass
class Activity:
    """What the chip did: accesses per memory and operation counts.

    ``memories``: ``{name: {"width": data bits per access, "bits": array size in stored
    bits, "reads": n, "writes": n}}``; ``synops``, ``neuron_updates``; ``router_hops``
    (routers passed, summed over packets) and ``packet_bits`` (bits per packet).
    """

    memories: dict
    synops: int
    neuron_updates: int
    router_hops: int
    packet_bits: int


def estimate(activity: Activity, params: EnergyParams = HOROWITZ_45NM) -> dict:
    """Energy in pJ: ``{"total_pj", "pj_per_sop", "breakdown_pj": {part: pJ},
    "memories_pj": {name: pJ}}``."""
    mem_pj = {}
    for name, m in activity.memories.items():
        per_access = m["width"] * sram_pj_per_bit(params, m["bits"])
        mem_pj[name] = (m["reads"] + m["writes"]) * per_access
    breakdown = {
        "memories": sum(mem_pj.values()),
        "synaptic_arithmetic": activity.synops * (params.mul_pj + params.add_pj),
        "neuron_arithmetic": activity.neuron_updates * params.neuron_update_adds * params.add_pj,
        "noc": activity.router_hops * activity.packet_bits * params.router_pj_per_bit,
    }
    total = sum(breakdown.values())
    return {"total_pj": total,
            "pj_per_sop": total / activity.synops if activity.synops else None,
            "breakdown_pj": breakdown, "memories_pj": mem_pj, "params": params.name}
