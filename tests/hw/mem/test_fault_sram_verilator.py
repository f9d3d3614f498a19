"""FaultSRAM in Verilator vs the golden model: 10,000 seeded random operations per
protection mode (reads on two ports, writes, flips, stuck-at faults, clears)."""

import os

import pytest

from hw.spec.config import Protection
from hw.mem import FaultSRAM
from sim.runner import run_cocotb, verilator_build

pytestmark = pytest.mark.verilator

N_OPS = int(os.environ.get("SPIKEFORGE_FAULT_SRAM_OPS", 10_000))


@pytest.mark.parametrize("protection", list(Protection))
def test_fault_sram_matches_golden(protection):
    p = {"width": 13, "depth": 32, "protection": protection.value, "read_ports": 2,
         "fault_slots": 3, "counter_bits": 6}
    build = verilator_build(
        "fault_sram",
        lambda: FaultSRAM(p["width"], p["depth"], name="dut", protection=protection,
                          read_ports=p["read_ports"], fault_slots=p["fault_slots"],
                          counter_bits=p["counter_bits"]),
        key=p)
    seed = int(os.environ.get("SPIKEFORGE_SEED", 20261130)) + list(Protection).index(protection)
    run_cocotb(build, "sim.tb.fault_sram", params={**p, "seed": seed, "n_ops": N_OPS})
