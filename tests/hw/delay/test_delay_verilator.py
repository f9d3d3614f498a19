"""The delay queue in Verilator vs its golden model: seeded random traffic, at least
20,000 operations (pushes, drains, advances), every drained item, every
advance, ``now`` and every counter compared on every cycle (``sim/tb/delay.py``).

``SPIKEFORGE_SEED`` sets the seed (a failure names it with the first divergence);
``SPIKEFORGE_DELAY_OPS`` the number of operations.
"""

import os

import pytest

from hw.spec.config import ChipConfig, CoreConfig, DelayConfig, MemoryConfig, ProtectionConfig
from hw.delay import DelayQueue
from sim.runner import run_cocotb, verilator_build

pytestmark = pytest.mark.verilator

N_OPS = int(os.environ.get("SPIKEFORGE_DELAY_OPS", 20_000))
SEED = int(os.environ.get("SPIKEFORGE_SEED", 6060))

_CORE = dict(lanes=1, neurons=16, axons=16, synapses=64, microcode_depth=8, layers=1,
             counter_bits=10)


def test_delay_queue_matches_golden():
    # SECDED on the queue memory: the entries pass through the decoder on every read.
    config = ChipConfig(core=CoreConfig(**_CORE),
                        delay=DelayConfig(slots=8, capacity=32, groups=4),
                        memory=MemoryConfig(protection=ProtectionConfig(other="secded")))
    build = verilator_build("delay_queue", lambda: DelayQueue(config), key=config.to_dict())
    run_cocotb(build, "sim.tb.delay", testcase="test_delay_queue_random",
               params={"config": config.to_dict(), "seed": SEED, "n_ops": N_OPS})

