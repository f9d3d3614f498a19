"""amaranth.sim tests of FaultSRAM: random cross-check against the golden model, and the
cycle rules of the fault port that a transaction-level model cannot show."""

import pytest

from hw.spec.config import Protection
from hw.spec.memory import FaultKind
from hw.mem import FaultSRAM
from hw.spec.directory import MemoryDirectory
from hw.spec.memory import fault_layout
from sim.tb import AmaranthAccess, run_amaranth
from sim.tb.fault_sram import crosscheck, random_ops




@pytest.mark.parametrize("protection", list(Protection))
@pytest.mark.parametrize("width,read_ports,fault_slots", [(13, 2, 3), (32, 1, 0), (1, 1, 1)])
def test_random_ops_match_golden(protection, width, read_ports, fault_slots):
    depth, seed = 16, 1000 + width
    dut = FaultSRAM(width, depth, name="m", protection=protection, read_ports=read_ports,
                    fault_slots=fault_slots, counter_bits=4)
    ops = random_ops(seed, 400, width=width, depth=depth, protection=protection,
                     read_ports=read_ports, fault_rate=0.15)

    async def bench(ctx):
        await crosscheck(AmaranthAccess(ctx, dut), ops, seed=seed, width=width, depth=depth,
                         protection=protection, read_ports=read_ports,
                         fault_slots=fault_slots, counter_bits=4)
    run_amaranth(dut, bench)


def _flip(dut, addr, mask):
    lay = fault_layout(dut.addr_width, dut.stored_width)
    return lay.const({"addr": addr, "mask": mask, "kind": FaultKind.FLIP})


async def _write(ctx, dut, addr, value):
    ctx.set(dut.write.addr, addr)
    ctx.set(dut.write.data, value)
    ctx.set(dut.write.en, 1)
    await ctx.tick()
    ctx.set(dut.write.en, 0)


async def _read(ctx, dut, addr):
    ctx.set(dut.read[0].addr, addr)
    ctx.set(dut.read[0].en, 1)
    await ctx.tick()
    ctx.set(dut.read[0].en, 0)
    return ctx.get(dut.read[0].data)


def test_flip_voided_by_owner_write_to_same_word():
    dut = FaultSRAM(8, 4, name="m")

    async def bench(ctx):
        await _write(ctx, dut, 1, 0x0F)
        ctx.set(dut.fault.payload, _flip(dut, 1, 0x80))
        ctx.set(dut.fault.valid, 1)
        await ctx.tick()
        ctx.set(dut.fault.valid, 0)
        assert ctx.get(dut.fault_pending) == 1
        await _write(ctx, dut, 1, 0x33)  # overwrites the word before the write-back
        assert ctx.get(dut.fault_pending) == 0
        assert await _read(ctx, dut, 1) == 0x33
    run_amaranth(dut, bench)


def test_flip_write_back_waits_for_free_write_port():
    dut = FaultSRAM(8, 4, name="m")

    async def bench(ctx):
        await _write(ctx, dut, 1, 0x0F)
        ctx.set(dut.fault.payload, _flip(dut, 1, 0x81))
        ctx.set(dut.fault.valid, 1)
        await ctx.tick()
        ctx.set(dut.fault.valid, 0)
        for i in range(3):  # owner writes elsewhere: the flip keeps waiting
            ctx.set(dut.write.addr, 2)
            ctx.set(dut.write.data, i)
            ctx.set(dut.write.en, 1)
            assert ctx.get(dut.fault.ready) == 0
            await ctx.tick()
            assert ctx.get(dut.fault_pending) == 1
        ctx.set(dut.write.en, 0)
        await ctx.tick()
        assert ctx.get(dut.fault_pending) == 0
        assert await _read(ctx, dut, 1) == 0x8E
        assert await _read(ctx, dut, 2) == 2
    run_amaranth(dut, bench)


def test_fault_port_not_ready_while_owner_writes():
    dut = FaultSRAM(8, 4, name="m")

    async def bench(ctx):
        ctx.set(dut.fault.payload, _flip(dut, 0, 1))
        ctx.set(dut.fault.valid, 1)
        ctx.set(dut.write.en, 1)
        await ctx.tick()
        assert ctx.get(dut.fault.ready) == 0
        assert ctx.get(dut.fault_pending) == 0  # not accepted
        ctx.set(dut.write.en, 0)
        assert ctx.get(dut.fault.ready) == 1
        await ctx.tick()
        ctx.set(dut.fault.valid, 0)
        assert ctx.get(dut.fault_pending) == 1
    run_amaranth(dut, bench)


def test_secded_corrects_single_flip_and_counts():
    dut = FaultSRAM(16, 8, name="m", protection=Protection.SECDED)

    async def bench(ctx):
        await _write(ctx, dut, 3, 0xBEEF)
        ctx.set(dut.fault.payload, _flip(dut, 3, 1 << 5))
        ctx.set(dut.fault.valid, 1)
        await ctx.tick()
        ctx.set(dut.fault.valid, 0)
        await ctx.tick()
        assert await _read(ctx, dut, 3) == 0xBEEF
        assert ctx.get(dut.read[0].corrected) == 1
        await ctx.tick()
        assert ctx.get(dut.corrected_count) == 1
        assert ctx.get(dut.error) == 0
    run_amaranth(dut, bench)


@pytest.mark.parametrize("kwargs,message", [
    ({"width": 0, "depth": 4}, "FaultSRAM 'm': width must be a positive integer, not 0"),
    ({"width": 8, "depth": 0}, "FaultSRAM 'm': depth must be a positive integer, not 0"),
    ({"width": 8, "depth": 4, "read_ports": 5}, "FaultSRAM 'm': read_ports must be in 1..4, not 5"),
    ({"width": 8, "depth": 4, "fault_slots": 65}, "FaultSRAM 'm': fault_slots must be in 0..64, not 65"),
    ({"width": 8, "depth": 4, "init": [1, 2, 3, 4, 5]}, "FaultSRAM 'm': 5 initial words exceed depth 4"),
    ({"width": 4, "depth": 4, "init": [16]}, "FaultSRAM 'm': initial word 0 = 16 does not fit in 4 unsigned bits"),
])
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError) as e:
        FaultSRAM(name="m", **kwargs)
    assert str(e.value) == message


def test_init_is_encoded():
    dut = FaultSRAM(8, 4, name="m", protection=Protection.SECDED, init=[0x5A, 0xFF])

    async def bench(ctx):
        assert await _read(ctx, dut, 0) == 0x5A
        assert ctx.get(dut.read[0].detected) == 0
        assert ctx.get(dut.read[0].corrected) == 0
        assert await _read(ctx, dut, 1) == 0xFF
        assert ctx.get(dut.read[0].corrected) == 0
    run_amaranth(dut, bench)


def test_directory_registration_and_json(tmp_path):
    d = MemoryDirectory(config_hash="abc")
    a = FaultSRAM(8, 16, name="core0.weights", role="weights", directory=d,
                  protection=Protection.SECDED)
    b = FaultSRAM(16, 4, name="core0.state", role="state", directory=d)
    assert (a.id, b.id) == (0, 1)
    assert d["core0.weights"].stored_width == 13
    assert d[1].name == "core0.state"
    assert [i.name for i in d.select("core0.*", role="weights")] == ["core0.weights"]
    assert d.total_bits == 16 * 13 + 4 * 16
    d.save(tmp_path / "m.json")
    loaded = MemoryDirectory.load(tmp_path / "m.json")
    assert list(loaded) == list(d)
    assert loaded.config_hash == "abc"
    with pytest.raises(ValueError, match="Memory name 'core0.state' is already in the directory"):
        FaultSRAM(8, 4, name="core0.state", directory=d)
    with pytest.raises(KeyError, match="No memory named 'x'; known: core0.weights, core0.state"):
        d["x"]
