"""Neurocore in Verilator vs the instruction-level golden model: seeded random networks
(1-3 layers; LIF, IF, sigma-delta; dense, sparse and recurrent projections; binary and
graded inputs) on 1, 2 (with 6 ALU slots: two-pass sigma-delta), 4 and 8 lanes. Each network runs 12 timesteps; spikes per
timestep, counters, per-memory access counts and the final neuron memories must match.
With a delay unit (SCDQ, ring buffer) the networks get random delays (all of 0..7, up
to 4 delay groups per axon) and a small queue (48 entries) that some of them overflow:
the overflow count, the peak occupancy and the sticky flag must match too, and at least
one network must overflow. The seed of each network is in the failure message; rerun
one with SPIKEFORGE_SEED=<seed> SPIKEFORGE_CORE_NETWORKS=1."""

import os

import pytest

from hw.spec.config import ChipConfig, CoreConfig, DelayConfig
from hw.core import Neurocore
from sim.runner import run_cocotb, verilator_build

pytestmark = pytest.mark.verilator

NETWORKS = int(os.environ.get("SPIKEFORGE_CORE_NETWORKS", 13))
SEED = int(os.environ.get("SPIKEFORGE_SEED", 3000))


def core_config(lanes: int) -> ChipConfig:
    # The 2-lane core has 6 ALU slots: sigma-delta layers run as two-pass programs there.
    return ChipConfig(core=CoreConfig(lanes=lanes, neurons=128, axons=128, synapses=2048,
                                      microcode_depth=32, layers=4,
                                      slots=6 if lanes == 2 else 8))


def build_core(config: ChipConfig):
    return verilator_build("neurocore", lambda: Neurocore(config), key=config.to_dict())


@pytest.mark.parametrize("lanes", [1, 2, 4, 8])
def test_random_networks_match_golden(lanes):
    config = core_config(lanes)
    run_cocotb(build_core(config), "sim.tb.core", testcase="test_core_random",
               params={"config": config.to_dict(), "seed": SEED + 100 * lanes,
                       "networks": NETWORKS, "steps": 12})


def test_fixtures_on_rtl():
    from fixtures.make_core_fixtures import CONFIG
    assert CONFIG == core_config(4)   # shares the 4-lane build
    run_cocotb(build_core(CONFIG), "sim.tb.core", testcase="test_core_fixtures",
               params={"config": CONFIG.to_dict()})


def delay_config(unit: str) -> ChipConfig:
    return ChipConfig(core=CoreConfig(lanes=4, neurons=64, axons=64, synapses=2048,
                                      microcode_depth=32, layers=4),
                      delay=DelayConfig(unit=unit, slots=8, groups=4, capacity=48))


@pytest.mark.parametrize("unit", ["scdq", "ring"])
def test_random_networks_with_delays_match_golden(unit):
    config = delay_config(unit)
    run_cocotb(build_core(config), "sim.tb.core", testcase="test_core_random",
               params={"config": config.to_dict(), "seed": SEED + 900 + (unit == "ring"),
                       "networks": int(os.environ.get("SPIKEFORGE_CORE_NETWORKS", 8)),
                       "steps": 16, "expect_overflow": unit == "scdq"})
