"""The chip in Verilator vs the chip golden model: seeded random multi-layer networks
mapped onto 1x1, 2x1, 2x2 and 3x3 meshes (layers split across tiles, recurrent and
graded projections), compared per timestep (host output events), per core (counters),
per chip (counters, no misrouted flit) and in the final neuron memories of every tile.
On 2x2, 3x1 and 1x3 meshes also with synaptic delays (every core with an SCDQ; random delays 0..7,
up to 4 groups per axon, delayed spikes crossing tiles). Rerun one network with SPIKEFORGE_SEED=<seed> SPIKEFORGE_CHIP_NETWORKS=1."""

import os

import pytest

from hw.chip import Chip
from hw.spec.config import ChipConfig, CoreConfig, DelayConfig, NocConfig, SdspConfig
from sim.runner import run_cocotb, verilator_build

pytestmark = pytest.mark.verilator

SEED = int(os.environ.get("SPIKEFORGE_SEED", 5000))
ONLY = os.environ.get("SPIKEFORGE_CHIP_NETWORKS")


def chip_config(width: int, height: int) -> ChipConfig:
    return ChipConfig(
        core=CoreConfig(lanes=1, neurons=16, axons=64, synapses=256, microcode_depth=16,
                        layers=4, out_fifo_depth=16, slots=6),
        noc=NocConfig(width=width, height=height, routes=512))


@pytest.mark.parametrize("width,height,networks", [(1, 1, 3), (2, 1, 7), (2, 2, 7), (3, 3, 3)])
def test_random_networks_match_chip_golden(width, height, networks):
    config = chip_config(width, height)
    build = verilator_build("chip", lambda: Chip(config), key=config.to_dict())
    run_cocotb(build, "sim.tb.chip", testcase="test_chip_random",
               params={"config": config.to_dict(), "seed": SEED + 100 * (width * 4 + height),
                       "networks": int(ONLY or networks), "steps": 8})


@pytest.mark.parametrize("width,height,networks", [(2, 2, 5), (3, 1, 3), (1, 3, 3)])
def test_random_networks_with_delays_match_chip_golden(width, height, networks):
    config = chip_config(width, height).replace(delay=DelayConfig(
        unit="scdq", slots=8, groups=4, capacity=256))
    build = verilator_build("chip", lambda: Chip(config), key=config.to_dict())
    run_cocotb(build, "sim.tb.chip", testcase="test_chip_random",
               params={"config": config.to_dict(),
                       "seed": SEED + 777 + 10 * (width * 4 + height),
                       "networks": int(ONLY or networks), "steps": 12})


def test_sdsp_tile_fed_by_a_neurocore_matches_chip_golden():
    # 2x1 mesh: tile (0, 0) a neurocore running a random network whose output spikes go
    # over the mesh to the SDSP tile (1, 0), learning on; the host adds time references
    # and teacher events; the SDSP neurons report to the host.
    config = chip_config(2, 1).replace(sdsp=SdspConfig(tiles=1, neurons=16, lanes=4))
    build = verilator_build("chip", lambda: Chip(config), key=config.to_dict())
    run_cocotb(build, "sim.tb.chip", testcase="test_chip_random",
               params={"config": config.to_dict(), "seed": SEED + 888,
                       "networks": int(ONLY or 3), "steps": 10})
