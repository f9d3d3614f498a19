"""The SDSP core in Verilator vs its golden model, in the ODIN-compatible configuration
(256 neurons, 3-bit weights and a mapping bit, 8-bit membranes, 3-bit calcium, eight
synapses per 32-bit word): seeded random cores and thousands of random events of every
kind, learning on (two cores) and off (one); every spike (in order), every counter and
every word of every memory (all 65,536 synapses) compared (``sim/tb/sdsp.py``). With learning on, 40
bit flips per case land in every memory between events (SECDED synapses correct single
flips and detect double ones): the decoded memories and the memories'
corrected/detected counts must equal the golden model's too.

``SPIKEFORGE_SEED`` sets the seed (a failure names it with the first divergence);
``SPIKEFORGE_SDSP_EVENTS`` the events per case.
"""

import os

import pytest

from benchmarks.sdsp import bench_config
from hw.sdsp.core import SdspCore
from sim.runner import run_cocotb, verilator_build

pytestmark = pytest.mark.verilator

EVENTS = int(os.environ.get("SPIKEFORGE_SDSP_EVENTS", 1500))
SEED = int(os.environ.get("SPIKEFORGE_SEED", 7070))

#: ODIN's sizes; SECDED on the synapses so that every word passes the decoder (the
#: benchmark's build, so CI builds it once).
ODIN = bench_config(lanes=8)


def _build(config):
    return verilator_build("sdsp_core", lambda: SdspCore(config), key=config.to_dict())


@pytest.mark.parametrize("learn", [True, False], ids=["learning", "static"])
def test_sdsp_core_matches_golden(learn):
    run_cocotb(_build(ODIN), "sim.tb.sdsp", testcase="test_sdsp_random",
               params={"config": ODIN.to_dict(), "seed": SEED + (0 if learn else 500),
                       "cases": 2 if learn else 1, "events": EVENTS, "learn": learn,
                       "faults": 40 if learn else 0})
