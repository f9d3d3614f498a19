"""Driver on the golden backend (fast): the same results as the network model, neuron
states read back per layer, and clear errors for bad calls."""

import numpy as np
import pytest

from hw.config import ChipConfig, CoreConfig, NocConfig
from hw.mem.fault_sram import FaultKind
from sim.golden.network import NetworkModel
from sim.stimulus import random_chip_case
from sw.driver import Chip, ProtocolError

CONFIG = ChipConfig(core=CoreConfig(lanes=2, neurons=32, axons=64, synapses=512,
                                    microcode_depth=16, layers=2, out_fifo_depth=32),
                    noc=NocConfig(width=2, height=2, routes=256))


@pytest.mark.parametrize("seed", range(4))
def test_golden_backend_equals_network_model_with_states(seed):
    image, inputs = random_chip_case(np.random.default_rng(seed), CONFIG, 8)
    model = NetworkModel(image.network, CONFIG.core)
    with Chip("golden", CONFIG) as chip:
        chip.load(image)
        got = chip.run_network(image, inputs)
        states = chip.layer_states(image)
    assert got == model.run(inputs)
    for name, v in states.items():
        assert np.array_equal(v, model.v[name]), name


def test_fault_and_status_through_the_driver():
    image, _ = random_chip_case(np.random.default_rng(1), CONFIG, 1)
    with Chip("golden", CONFIG) as chip:
        chip.load(image)
        name = "tile0_0.lane0.weights"
        before = chip.read(name, 3, 1)[0][0]
        chip.fault(name, 3, FaultKind.FLIP, 0b1)
        assert chip.read(name, 3, 1)[0][0] == before ^ 1
        assert chip.memory_status(name)["error"] is False
        assert set(chip.counters()) >= {"steps", "host_events_in", "misrouted"}
        assert set(chip.counters((1, 1))) >= {"synops", "events_in"}


def test_bad_calls_say_what_is_wrong():
    with pytest.raises(ValueError, match="unknown backend 'fpga'"):
        Chip("fpga", CONFIG)
    with pytest.raises(ValueError, match="serial backend needs a port"):
        Chip("serial:", CONFIG)
    with Chip("golden", CONFIG) as chip:
        with pytest.raises(KeyError, match="no memory named 'tile9_9.weights'"):
            chip.read("tile9_9.weights")
        with pytest.raises(ValueError, match=r"memory 'tile0_0.axon_table': addresses "
                                             r"60..69 are outside its depth 64"):
            chip.read("tile0_0.axon_table", 60, 10)
        with pytest.raises(ValueError, match=r"event for tile \(2, 0\), outside the 2 x 2 mesh"):
            chip.events([(2, 0, 0, 1)])
        with pytest.raises(ValueError, match=r"event payload 200 outside -128..127"):
            chip.events([(0, 0, 0, 200)])
        with pytest.raises(ValueError, match="does not fit 8 bits"):
            chip.write("tile0_0.lane0.weights", 0, [256])
        with pytest.raises(ProtocolError, match="the chip refused READ: BAD_ADDRESS"):
            import struct
            from hw.host.protocol import Op
            chip.command(Op.READ, struct.pack("<HIH", 0, 1 << 20, 1))


def test_a_chip_of_another_config_is_refused():
    other = CONFIG.replace(core=CONFIG.core.replace(lanes=4))
    from sw.driver import _GoldenTransport
    with pytest.raises(ProtocolError, match="chip was built from configuration"):
        Chip("golden", other, transport=_GoldenTransport(CONFIG))
