"""The board demo (a baked network driven by an LFSR) computes what the network model
says: same output spikes over 12 timesteps."""


from hw.spec.config import ChipConfig, CoreConfig
from boards.core_demo import demo_image, demo_network
from hw.core_demo import CoreDemo, lfsr_inputs
from sw.toolchain.network_model import NetworkModel
from sim.tb import run_amaranth


def test_demo_matches_network_model():
    cfg = ChipConfig(core=CoreConfig(neurons=64, axons=64, synapses=1024, microcode_depth=16,
                                     layers=2))
    dut = CoreDemo(cfg, demo_image(cfg), period=8)
    steps = 12
    model = NetworkModel(demo_network(cfg), cfg.core)
    want = sum(len(model.step(ev)["out"]) for ev in lfsr_inputs(steps))

    async def bench(ctx):
        for _ in range(20000):
            if ctx.get(dut.steps) == steps:
                break
            await ctx.tick()
        assert ctx.get(dut.steps) == steps
        await ctx.tick().repeat(4)   # the last tick's spikes leave the output FIFO
        assert ctx.get(dut.out_spikes) == want > 0
    run_amaranth(dut, bench)


def test_demo_refuses_an_image_it_cannot_drive():
    import pytest

    from sw.toolchain.compiler import compile_core
    from sw.toolchain.network import Layer, Network, Neuron
    cfg = ChipConfig(core=CoreConfig(neurons=64, axons=64, synapses=1024, microcode_depth=16,
                                     layers=2))
    net = Network(8, [Layer("out", 4, Neuron("lif", threshold=9), {"input": [[1] * 4] * 8})])
    with pytest.raises(ValueError, match="needs 16 inputs .* not 8 inputs and 4 outputs"):
        CoreDemo(cfg, compile_core(net, cfg))
