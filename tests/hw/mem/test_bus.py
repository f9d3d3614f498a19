"""amaranth.sim tests of the memory bus (:mod:`hw.mem.bus`): words written and read
through the bus into FaultSRAMs, the STATUS and COUNTS words against
:func:`hw.spec.memory.pack_status` / :func:`~hw.spec.memory.pack_counts` of what
happened, CLEAR, and the ``error`` answer for an index outside the group."""

from amaranth import Module
from amaranth.sim import Simulator

from hw.mem import FaultSRAM
from hw.mem.bus import MemoryBus
from hw.spec.config import Protection
from hw.spec.memory import BusOp, FaultKind, pack_counts, pack_status, unpack_status

CB, AB = 4, 6          # event-counter and access-counter widths


def _make():
    srams = [FaultSRAM(8, 4, name="a", counter_bits=CB, access_bits=AB),
             FaultSRAM(16, 8, name="b", protection=Protection.SECDED, counter_bits=CB,
                       access_bits=AB),
             FaultSRAM(12, 3, name="c", protection=Protection.PARITY, counter_bits=CB)]
    bus = MemoryBus(srams)
    m = Module()
    for i, s in enumerate(srams):
        m.submodules[f"m{i}"] = s
    m.submodules.bus = bus
    return m, bus, srams


def _run(bench):
    top, bus, srams = _make()
    sim = Simulator(top)
    sim.add_clock(1e-6)

    async def tb(ctx):
        ctx.set(bus.enable, 1)
        await bench(ctx, bus, srams)
    sim.add_testbench(tb)
    sim.run()


async def _request(ctx, bus, op, mem=0, addr=0, data=0, kind=FaultKind.FLIP, answer=True):
    """One request; returns the response as a dict (or None without an answer)."""
    req = bus.req.payload
    ctx.set(req.op, op)
    ctx.set(req.mem, mem)
    ctx.set(req.addr, addr)
    ctx.set(req.data, data)
    ctx.set(req.kind, kind)
    ctx.set(bus.req.valid, 1)
    for _ in range(10):
        ready = ctx.get(bus.req.ready)
        await ctx.tick()
        if ready:
            break
    else:
        raise AssertionError(f"{op} not accepted")
    ctx.set(bus.req.valid, 0)
    if not answer:
        await ctx.tick().repeat(3)         # a fault's read-modify-write completes
        return None
    ctx.set(bus.resp.ready, 1)
    for _ in range(10):
        if ctx.get(bus.resp.valid):
            r = bus.resp.payload
            out = {"data": ctx.get(r.data), "corrected": ctx.get(r.corrected),
                   "detected": ctx.get(r.detected), "error": ctx.get(r.error)}
            await ctx.tick()
            ctx.set(bus.resp.ready, 0)
            return out
        await ctx.tick()
    raise AssertionError(f"{op}: no response")


async def _write(ctx, bus, mem, addr, data):
    await _request(ctx, bus, BusOp.WRITE, mem, addr, data, answer=False)


async def _read(ctx, bus, mem, addr):
    return await _request(ctx, bus, BusOp.READ, mem, addr)


async def _status(ctx, bus, mem):
    return (await _request(ctx, bus, BusOp.STATUS, mem))["data"]


def test_write_then_read_every_memory():
    values = {0: [0x12, 0xA5, 0xFF, 0x00], 1: [0xBEEF, 0x1234, 0, 0xFFFF, 7, 8, 9, 10],
              2: [0xABC, 0x123, 0xFFF]}

    async def bench(ctx, bus, srams):
        for mem, words in values.items():
            for addr, w in enumerate(words):
                await _write(ctx, bus, mem, addr, w)
        for mem, words in values.items():
            for addr, w in enumerate(words):
                r = await _read(ctx, bus, mem, addr)
                assert r == {"data": w, "corrected": 0, "detected": 0, "error": 0}, \
                    (mem, addr, r)
        for mem in values:
            assert await _status(ctx, bus, mem) == pack_status(CB, {})
    _run(bench)




def test_injected_faults_are_counted_in_status_and_clear_zeroes_it():
    async def bench(ctx, bus, srams):
        await _write(ctx, bus, 1, 2, 0x5A5A)
        # one flipped bit: SECDED corrects it
        await _request(ctx, bus, BusOp.FAULT, 1, 2, 1 << 3, FaultKind.FLIP, answer=False)
        r = await _read(ctx, bus, 1, 2)
        assert (r["data"], r["corrected"], r["detected"], r["error"]) == (0x5A5A, 1, 0, 0)
        assert await _status(ctx, bus, 1) == pack_status(CB, {"corrected": 1})
        r = await _read(ctx, bus, 1, 2)            # the stored word is still flipped
        assert r["corrected"] == 1
        assert await _status(ctx, bus, 1) == pack_status(CB, {"corrected": 2})
        # a second flipped bit: detected, uncorrectable, sticky error
        await _request(ctx, bus, BusOp.FAULT, 1, 2, 1 << 9, FaultKind.FLIP, answer=False)
        r = await _read(ctx, bus, 1, 2)
        assert (r["detected"], r["error"]) == (1, 0)
        word = await _status(ctx, bus, 1)
        assert word == pack_status(CB, {"corrected": 2, "detected": 1, "error": 1})
        assert unpack_status(CB, word)["error"] == 1
        # the other memories saw nothing
        assert await _status(ctx, bus, 0) == pack_status(CB, {})
        # parity on memory 2: one flip is detected
        await _write(ctx, bus, 2, 1, 0x0F0)
        await _request(ctx, bus, BusOp.FAULT, 2, 1, 1, FaultKind.FLIP, answer=False)
        assert (await _read(ctx, bus, 2, 1))["detected"] == 1
        assert await _status(ctx, bus, 2) == pack_status(CB, {"detected": 1, "error": 1})
        # CLEAR zeroes counters and sticky flags of the addressed memory only
        await _request(ctx, bus, BusOp.CLEAR, 1, answer=False)
        assert await _status(ctx, bus, 1) == pack_status(CB, {})
        assert await _status(ctx, bus, 2) == pack_status(CB, {"detected": 1, "error": 1})
    _run(bench)


def test_event_counters_saturate_in_the_status_word():
    async def bench(ctx, bus, srams):
        await _write(ctx, bus, 1, 0, 0x0001)
        await _request(ctx, bus, BusOp.FAULT, 1, 0, 1 << 5, FaultKind.FLIP, answer=False)
        for _ in range((1 << CB) + 3):
            assert (await _read(ctx, bus, 1, 0))["corrected"] == 1
        assert await _status(ctx, bus, 1) == pack_status(CB, {"corrected": (1 << CB) - 1})
    _run(bench)


def test_stuck_at_overflow_is_reported():
    async def bench(ctx, bus, srams):
        slots = 4                                     # FaultSRAM's default fault_slots
        for a in range(slots + 1):
            await _request(ctx, bus, BusOp.FAULT, 0, a % 4, 1 << a, FaultKind.STUCK_AT_1,
                           answer=False)
        word = await _status(ctx, bus, 0)
        assert word == pack_status(CB, {"fault_overflows": 1, "fault_overflow": 1})
    _run(bench)


def test_counts_word_counts_the_owners_accesses():
    async def bench(ctx, bus, srams):
        a = srams[0]
        ctx.set(bus.enable, 0)                         # the owner is busy
        for addr in range(3):
            ctx.set(a.write.addr, addr)
            ctx.set(a.write.data, addr + 1)
            ctx.set(a.write.en, 1)
            await ctx.tick()
        ctx.set(a.write.en, 0)
        for _ in range(5):
            ctx.set(a.read[0].en, 1)
            await ctx.tick()
        ctx.set(a.read[0].en, 0)
        ctx.set(bus.enable, 1)
        r = await _request(ctx, bus, BusOp.COUNTS, 0)
        assert r["data"] == pack_counts(AB, {"reads": 5, "writes": 3}) and r["error"] == 0
        # host accesses are not counted
        await _write(ctx, bus, 0, 0, 9)
        assert (await _read(ctx, bus, 0, 0))["data"] == 9
        assert (await _request(ctx, bus, BusOp.COUNTS, 0))["data"] == \
            pack_counts(AB, {"reads": 5, "writes": 3})
        # a memory without access counters answers 0
        assert (await _request(ctx, bus, BusOp.COUNTS, 2))["data"] == 0
        await _request(ctx, bus, BusOp.CLEAR, 0, answer=False)
        assert (await _request(ctx, bus, BusOp.COUNTS, 0))["data"] == pack_counts(AB, {})
    _run(bench)


def test_unknown_memory_answers_with_error():
    async def bench(ctx, bus, srams):
        unknown = len(srams)                           # the mem field holds 0..3
        for op in (BusOp.READ, BusOp.STATUS, BusOp.COUNTS):
            r = await _request(ctx, bus, op, unknown)
            assert r["error"] == 1 and r["data"] == 0, (op, r)
        # a write or fault to it is accepted and changes nothing
        await _write(ctx, bus, unknown, 0, 0x55)
        await _request(ctx, bus, BusOp.FAULT, unknown, 0, 1, answer=False)
        for mem in range(len(srams)):
            assert (await _read(ctx, bus, mem, 0)) == \
                {"data": 0, "corrected": 0, "detected": 0, "error": 0}
            assert await _status(ctx, bus, mem) == pack_status(CB, {})
    _run(bench)
