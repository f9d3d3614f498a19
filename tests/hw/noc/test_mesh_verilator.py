"""Mesh stress in Verilator: over 10^5 packets through a 3x3 mesh (uniform random with
back-pressured sinks, saturating all-to-all, transpose). Every packet must arrive once,
at its port, in order per source-destination pair, and the RTL's injected/delivered
counters must equal the testbench's; a run that stops moving is a deadlock."""

import os

import pytest

from hw.spec.config import ChipConfig, NocConfig
from hw.noc import Mesh
from sim.runner import run_cocotb, verilator_build

pytestmark = pytest.mark.verilator

PACKETS = int(os.environ.get("SPIKEFORGE_MESH_PACKETS", 40_000))


def test_mesh_stress_3x3():
    config = ChipConfig(noc=NocConfig(width=3, height=3))
    build = verilator_build("mesh", lambda: Mesh(config), key=config.to_dict())
    seed = int(os.environ.get("SPIKEFORGE_SEED", 7000))
    runs = [{"pattern": "uniform", "packets": PACKETS, "rate": 0.5, "seed": seed,
             "sink_ready": 0.8},
            {"pattern": "all_to_all", "packets": PACKETS, "rate": 1.0, "seed": seed + 1},
            {"pattern": "transpose", "packets": PACKETS // 2, "rate": 0.8, "seed": seed + 2}]
    run_cocotb(build, "sim.tb.mesh", testcase="test_mesh_traffic",
               params={"config": config.to_dict(), "runs": runs})
