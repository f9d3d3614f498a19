"""Loop controller in amaranth.sim: the issued instruction stream (class, addresses,
lane mask) of random programs with nested loops equals the golden issue order
(sim.golden.loopctl); back-to-back events issue without bubbles."""

import itertools

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig
from hw.spec.isa import InstrClass, Isa, decode
from hw.loopctl import LoopController
from hw.loopctl.controller import task_layout
from sim.golden.loopctl import Job, run_job
from sw.toolchain.microcode import Instr, Program, assemble
from sim.tb import run_amaranth

CFG = ChipConfig(core=CoreConfig(lanes=4, neurons=64, axons=8, synapses=256,
                                 microcode_depth=64, layers=2))
ISA = Isa(CFG.core)
RMASK = (1 << CFG.core.row_bits) - 1


def random_program(rng, n_jobs):
    """Programs made of NOP/MAC/SETR instructions with random loop nests."""
    progs = []
    for j in range(n_jobs):
        instrs = []
        for _ in range(int(rng.integers(1, 4))):
            if rng.random() < 0.6:
                body = int(rng.integers(0, 3))
                counts = tuple(int(rng.choice([0, 1, 2, 3]))
                               for _ in range(int(rng.integers(1, 4))))
                if rng.random() < 0.4:
                    counts = ("param",) + counts[1:]
                agu = tuple((bool(rng.integers(2)), tuple(int(s) for s in rng.integers(-3, 5, 3)))
                            for _ in range(2))
                instrs.append(Instr(InstrClass(int(rng.choice([0, 2, 3]))), loop=counts,
                                    body=body or None, agu=agu,
                                    offsets=tuple(int(o) for o in rng.integers(-2, 3, 2)),
                                    rd=1, imm=5))
                for _ in range(body):
                    instrs.append(Instr(InstrClass(int(rng.choice([0, 2]))),
                                        offsets=tuple(int(o) for o in rng.integers(0, 4, 2))))
            else:
                instrs.append(Instr(InstrClass(int(rng.choice([0, 2]))),
                                    agu=((bool(rng.integers(2)), ()), (True, ())),
                                    offsets=tuple(int(o) for o in rng.integers(0, 9, 2))))
        instrs[-1] = Instr(**{**instrs[-1].__dict__, "end": True})
        progs.append(Program(f"p{j}", instrs))
    return progs


#: Issues per job beyond which a drawn program counts as never ending (the longest job
#: of seeds 0..47 that ends issues 91).
JOB_BUDGET = 1000


def golden_stream(words, descs, events):
    """The golden issue stream of ``events``, or None when a job does not end within
    ``JOB_BUDGET`` issues."""
    fetch = lambda pc: decode(ISA.instruction, words[pc] if pc < len(words) else 0)
    want = []
    for axon, payload in events:
        d = descs[axon]
        issues = list(itertools.islice(
            run_job(fetch, Job(d["pc"], d["base"], d["count"], d["mask"], payload), CFG.core),
            JOB_BUDGET + 1))
        if len(issues) > JOB_BUDGET:
            return None
        for iss in issues:
            cls = InstrClass(iss.ins.cls)
            for addr, mask in zip(iss.addr, iss.mask):
                if cls in (InstrClass.MAC, InstrClass.VEC):
                    want.append((cls.name, int(addr[0]) & RMASK, int(addr[1]) & RMASK, int(mask), payload))
                elif cls is InstrClass.SETR:
                    want.append(("SETR", 0, 0, 0, payload))
    return want


def draw_case(rng):
    """Random programs, axon table and events whose jobs all end. A zero-count loop can
    skip the instruction that ends its job; such a program runs forever on the golden
    model and on the controller alike, so it is drawn again (seed 17's first draw)."""
    while True:
        progs = random_program(rng, 3)
        words, entry = assemble(progs, ISA)
        descs = [{"pc": entry[p.name], "base": int(rng.integers(0, 40)),
                  "count": int(rng.integers(0, 4)), "mask": int(rng.integers(16))}
                 for p in progs]
        events = [(int(rng.integers(3)), int(rng.integers(-5, 5))) for _ in range(6)]
        want = golden_stream(words, descs, events)
        if want is not None:
            return words, descs, events, want


@pytest.mark.parametrize("seed", range(24))
def test_issue_stream_matches_golden(seed):
    words, descs, events, want = draw_case(np.random.default_rng(seed))
    dut = LoopController(CFG)

    async def bench(ctx):
        for pc, w in enumerate(words):
            ctx.set(dut.microcode.host.addr, pc); ctx.set(dut.microcode.host.data, w)
            ctx.set(dut.microcode.host.we, 1); await ctx.tick()
        for a, d in enumerate(descs):
            ctx.set(dut.axon_table.host.addr, a)
            ctx.set(dut.axon_table.host.data, Isa.pack(ISA.job, d))
            ctx.set(dut.axon_table.host.we, 1); await ctx.tick()
        ctx.set(dut.microcode.host.we, 0); ctx.set(dut.axon_table.host.we, 0)
        ctx.set(dut.emit_idle, 1)
        got = []
        queue = list(events)
        for _ in range(2000):
            if queue:
                ctx.set(dut.tasks.payload.as_value(), Isa.pack(task_layout(ISA), {
                    "axon": queue[0][0], "payload": queue[0][1]}))
            ctx.set(dut.tasks.valid, int(bool(queue)))
            ready = ctx.get(dut.tasks.ready)
            iss = decode(ISA.lane_issue, ctx.get(dut.issue.as_value()))
            if iss.mac or iss.vec:
                got.append(("MAC" if iss.mac else "VEC", iss.row, iss.arow, iss.mask, iss.payload))
            elif iss.setr:
                got.append(("SETR", 0, 0, 0, iss.payload))
            await ctx.tick()
            if queue and ready:
                queue.pop(0)
            if not queue and ctx.get(dut.idle):
                break
        assert got == want, f"seed {seed}"

    run_amaranth(dut, bench)


def test_back_to_back_events_have_no_bubbles():
    """Events whose program is one looping MAC issue back to back: after the first
    event's descriptor read, the MAC strobe never drops until the queue is empty."""
    words, entry = assemble([Program("i", [Instr(InstrClass.MAC, loop=("param",),
                                                  agu=((True, (1,)), (False, ())), target=True,
                                                  end=True)])], ISA)
    dut = LoopController(CFG)
    rows = [3, 1, 5, 2, 4, 1, 1, 6]

    async def bench(ctx):
        ctx.set(dut.microcode.host.addr, 0); ctx.set(dut.microcode.host.data, words[0])
        ctx.set(dut.microcode.host.we, 1); await ctx.tick()
        ctx.set(dut.microcode.host.we, 0)
        for a in range(8):
            ctx.set(dut.axon_table.host.addr, a)
            ctx.set(dut.axon_table.host.data, Isa.pack(ISA.job, {"pc": 0, "base": 10 * a,
                                                                 "count": rows[a], "mask": 15}))
            ctx.set(dut.axon_table.host.we, 1); await ctx.tick()
        ctx.set(dut.axon_table.host.we, 0)
        ctx.set(dut.emit_idle, 1)
        trace = []
        for a in range(8):
            ctx.set(dut.tasks.payload.as_value(), Isa.pack(task_layout(ISA), {"axon": a}))
            ctx.set(dut.tasks.valid, 1)
            trace.append(ctx.get(dut.issue.mac))
            await ctx.tick()
        ctx.set(dut.tasks.valid, 0)
        for _ in range(60):
            trace.append(ctx.get(dut.issue.mac))
            await ctx.tick()
        s = "".join(map(str, trace)).strip("0")
        assert s == "1" * sum(rows), s
    run_amaranth(dut, bench)
