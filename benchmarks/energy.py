"""Energy model of the digits demo (:mod:`sw.runtime.energy`, run by :mod:`sw.apps.demo_energy`): pJ per synaptic operation and per
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

from sw.apps.demo_energy import QUICK_SAMPLES, SAMPLES, run, table

__all__ = ["run", "table", "SAMPLES", "QUICK_SAMPLES"]
