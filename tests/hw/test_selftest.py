"""Memory self-test: what each protection mode buys, shown on a tiny configuration."""


from hw.spec.config import ChipConfig, CoreConfig
from hw.selftest import MemorySelfTest
from sim.tb import run_amaranth


def test_selftest_flags_silent_corruption_only_without_protection():
    cfg = ChipConfig(core=CoreConfig(neurons=8, state_bits=8))
    dut = MemorySelfTest(cfg)
    depth = cfg.core.neurons
    passes = 3

    async def bench(ctx):
        await ctx.tick().repeat(passes * (2 * depth + 4) + 2)
        assert ctx.get(dut.passes) == passes
        none, parity, secded = dut.srams
        assert ctx.get(dut.silent) == 0b001            # only the unprotected memory
        assert ctx.get(parity.detected_count) == passes  # one flipped word per pass
        assert ctx.get(secded.corrected_count) == passes
        assert ctx.get(secded.detected_count) == 0
        assert ctx.get(dut.leds) == (0b001 << 1) | (passes & 1)

    run_amaranth(dut, bench)


def test_selftest_registers_its_memories():
    dut = MemorySelfTest(ChipConfig())
    names = [m.name for m in dut.directory]
    assert names == ["selftest.none", "selftest.parity", "selftest.secded"]
    assert [m.stored_width for m in dut.directory] == [16, 17, 22]
