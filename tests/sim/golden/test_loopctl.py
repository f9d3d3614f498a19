"""The loop controller's golden semantics (``sim/golden/loopctl.py``) on small hand-written
microcode jobs: issue order, loop nests of up to ``LOOP_LEVELS`` levels (odometer order,
zero counts, counts from the job), address generators (bases, strides, offsets, wrap),
lane masks, ``end``, pc wrap-around, and the errors of bad programs."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig
from hw.spec.isa import AGUS, LOOP_LEVELS, CountSrc, InstrClass, Isa, decode
from sim.golden import loopctl
from sim.golden.core import GoldenCore
from sim.golden.loopctl import Job, ProgramError, run_job
from sw.toolchain.microcode import AssemblyError, assemble, parse

# 4 lanes, 16 neuron rows, 64 synapse rows: AGU addresses are 7-bit signed (-64..63)
CORE = CoreConfig(lanes=4, neurons=64, axons=16, synapses=256, microcode_depth=16)
ISA = Isa(CORE)
ALL = (1 << CORE.lanes) - 1


def microcode(*placed) -> list:
    """Microcode words of ``(start pc, program text)`` pairs; the rest is 0 (``nop``)."""
    mc = [0] * CORE.microcode_depth
    for k, (start, text) in enumerate(placed):
        words, _ = assemble([parse(text, f"p{k}")], ISA, start=start)
        mc[start:start + len(words)] = words
    return mc


def issues(mc, job: Job) -> list:
    """``(pc, agu0, agu1, lane mask, (i0, i1, i2))`` per issued iteration, in order."""
    out = []
    for issue in run_job(lambda pc: decode(ISA.instruction, mc[pc]), job, CORE):
        for addr, mask, idx in zip(issue.addr, issue.mask, issue.idx):
            out.append((issue.pc, int(addr[0]), int(addr[1]), int(mask), tuple(map(int, idx))))
    return out


def pcs(mc, job):
    return [i[0] for i in issues(mc, job)]


def test_straight_line_job_runs_to_end():
    mc = microcode((0, """
        setr r0, 5
        nop
        mac off0=3 off1=-2
        nop end
        mac
    """))
    got = issues(mc, Job(pc=0, base=7, count=1, mask=0b0001))
    # outside a nest every lane is enabled and the job's mask plays no part
    assert [(pc, a0, a1, m) for pc, a0, a1, m, _ in got] == [
        (0, 0, 0, ALL), (1, 0, 0, ALL), (2, 3, -2, ALL), (3, 0, 0, ALL)]


def test_job_base_selects_the_start_of_each_agu():
    mc = microcode((0, "mac agu0(base) agu1(0) off0=1 off1=1 end"))
    assert issues(mc, Job(0, base=10, count=0, mask=ALL))[0][1:3] == (11, 1)


def test_three_level_nest_advances_like_an_odometer():
    mc = microcode((0, "mac loop(2, 3, 2) agu0(base, 1, 20, 50) agu1(0, 0, 1) end"))
    got = issues(mc, Job(pc=0, base=0, count=0, mask=0b0101))
    idx = [i[4] for i in got]
    assert idx == [(i0, i1, i2) for i2 in range(2) for i1 in range(3) for i0 in range(2)]
    assert len(got) == 2 * 3 * 2
    # agu0 = i0 + 20 i1 + 50 i2 wraps at 7 bits signed (row_bits + 1): 90 reads as -38
    want = [((i0 + 20 * i1 + 50 * i2 + 64) % 128) - 64 for i0, i1, i2 in idx]
    assert min(want) < 0
    assert [i[1] for i in got] == want
    assert [i[2] for i in got] == [i1 for _, i1, _ in idx]
    # the job's mask only on the last iteration (every index at its last value)
    assert [i[3] for i in got] == [ALL] * 11 + [0b0101]


def test_multi_instruction_body_repeats_then_falls_through_to_end():
    mc = microcode((0, """
        setr r1, count
        nop loop(param) body=last agu0(base, 2)
        mac off0=1
    last:
        mac off0=-1 agu1(0, 5)
        nop end
    """))
    got = issues(mc, Job(pc=0, base=4, count=3, mask=0b0011))
    assert [i[0] for i in got] == [0] + [1, 2, 3] * 3 + [4]
    body = got[1:-1]
    # offsets are the instruction's own; bases and strides those of the opening one
    assert [i[1] for i in body] == [4, 5, 3, 6, 7, 5, 8, 9, 7]
    assert [i[3] for i in body] == [ALL] * 6 + [0b0011] * 3
    assert [i[4] for i in body] == [(k, 0, 0) for k in range(3) for _ in range(3)]


def test_single_instruction_body_issues_all_iterations_at_once():
    mc = microcode((0, "mac loop(param, 2) agu0(base, 1, 8) target end"))
    runs = list(run_job(lambda pc: decode(ISA.instruction, mc[pc]),
                        Job(pc=0, base=1, count=3, mask=0b1000), CORE))
    assert len(runs) == 1 and runs[0].addr.shape == (6, AGUS)
    assert runs[0].addr[:, 0].tolist() == [1, 2, 3, 9, 10, 11]
    assert runs[0].mask.tolist() == [ALL] * 5 + [0b1000]


@pytest.mark.parametrize("end", [True, False])
def test_zero_count_skips_the_body_or_ends(end):
    mc = microcode((0, f"""
        mac loop(param) body=+1 {'end' if end else ''}
        mac off0=1
        nop end
    """))
    job = Job(pc=0, base=0, count=0, mask=ALL)
    # skipped: the opening instruction is not issued either
    assert pcs(mc, job) == ([] if end else [2])
    # otherwise ``end`` acts where execution moves on: after pc 1, which has none
    assert pcs(mc, Job(0, 0, 2, ALL)) == [0, 1, 0, 1, 2]


def test_immediate_zero_count_and_count_source_three_reads_as_one():
    mc = microcode((0, "mac loop(3, 0) end"), (1, "nop end"))
    assert pcs(mc, Job(0, 0, 5, ALL)) == []
    # CountSrc has codes 0..2; the RTL reads the unused code 3 as ONE
    word = ISA.pack(ISA.instruction, {
        "cls": InstrClass.MAC, "end": 1, "loop": 1, "body_end": 0,
        "cnt_src": [CountSrc.IMM, 3, 3], "cnt_imm": [2, 7, 7]})
    mc[0] = word
    assert [i[4] for i in issues(mc, Job(0, 0, 5, ALL))] == [(0, 0, 0), (1, 0, 0)]


def test_a_second_loop_replaces_the_open_nest():
    mc = microcode((0, """
        nop loop(5) body=+2
        nop
        mac loop(2) agu0(0, 1) end
        nop end
    """))
    # the nest opened at pc 0 is replaced by pc 2's: 0, 1 once, then pc 2 twice
    assert pcs(mc, Job(0, 0, 0, ALL)) == [0, 1, 2, 2]


def test_pc_wraps_at_the_microcode_depth():
    last = CORE.microcode_depth - 1
    mc = microcode((0, "nop end"), (last, "mac off0=2"))
    assert pcs(mc, Job(pc=last, base=0, count=0, mask=ALL)) == [last, 0]


def test_loop_levels_limit_of_the_assembler():
    assert LOOP_LEVELS == 3
    parse("mac loop(1, 2, 3) agu0(0, 1, 2, 3) end")          # the deepest nest
    with pytest.raises(AssemblyError, match=f"a loop nest has 1..{LOOP_LEVELS} levels"):
        assemble([parse("mac loop(1, 2, 3, 4) end", "deep")], ISA)
    with pytest.raises(AssemblyError, match=f"agu0 has {LOOP_LEVELS} strides at most"):
        assemble([parse("mac loop(2) agu0(0, 1, 2, 3, 4) end", "strides")], ISA)


def test_largest_counts_of_every_level_multiply():
    big = (1 << CORE.count_bits) - 1
    mc = microcode((0, f"nop loop({big}, 2, 3) end"))
    runs = list(run_job(lambda pc: decode(ISA.instruction, mc[pc]), Job(0, 0, 0, ALL), CORE))
    assert sum(len(r.addr) for r in runs) == big * 2 * 3
    assert runs[-1].idx[-1].tolist() == [big - 1, 1, 2]


def test_a_program_without_end_is_a_program_error(monkeypatch):
    monkeypatch.setattr(loopctl, "MAX_ISSUES", 50)
    mc = microcode((3, "nop\nmac"))          # never ends: runs round the whole microcode
    with pytest.raises(ProgramError, match=r"started at pc 3 issued more than 50 "
                                           r"instructions without ending \(no `end`\?\)"):
        issues(mc, Job(pc=3, base=0, count=0, mask=ALL))


def test_a_nest_past_the_issue_limit_is_a_program_error(monkeypatch):
    monkeypatch.setattr(loopctl, "MAX_ISSUES", 100)
    # a bounded nest counts too: 60 iterations of a 2-instruction body pass the limit
    mc = microcode((0, "nop loop(60) body=+1\nmac end"))
    with pytest.raises(ProgramError, match="started at pc 0 issued more than 100"):
        issues(mc, Job(0, 0, 0, ALL))
    mc = microcode((0, "nop loop(2) body=+1\nmac end"))
    assert pcs(mc, Job(0, 0, 0, ALL)) == [0, 1, 0, 1]


def test_the_golden_core_names_the_bank_and_address_a_program_misses():
    """An AGU address past a bank's depth (after taking the bits the bank needs) is a
    ProgramError naming the memory and the address."""
    cfg = ChipConfig(core=CoreConfig(lanes=2, neurons=12, axons=4, synapses=32,
                                     microcode_depth=16))
    isa = Isa.of(cfg)
    words, _ = assemble([parse("vec loop(param) agu0(base, 1) v=x end", "p")], isa)
    core = GoldenCore(cfg, fast=False)
    core.load({"core.microcode": words,
               "core.layer_table": [isa.pack(isa.layer, {"valid": 1, "pc": 0, "base": 4,
                                                         "count": 3, "mask": 3})]})
    # rows 4, 5, 6 of a 6-row bank (3 address bits): row 6 is outside
    with pytest.raises(ProgramError, match=r"core\.lane0\.state: address 6 is outside 0\.\.5"):
        core.tick()


def test_job_defaults_and_issue_arrays():
    job = Job(pc=1, base=2, count=3, mask=4)
    assert job.payload == 0
    mc = microcode((1, "mac end"))
    (issue,) = run_job(lambda pc: decode(ISA.instruction, mc[pc]), job, CORE)
    assert issue.addr.dtype == np.int64 and issue.addr.shape == (1, AGUS)
    assert issue.idx.shape == (1, LOOP_LEVELS)
