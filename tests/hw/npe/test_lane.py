"""NPE lane in amaranth.sim: MAC back-to-back into one row, and random VEC instructions
against the golden datapath (sim.golden.npe)."""

import numpy as np
import pytest

from hw.spec.config import ChipConfig, CoreConfig
from hw.spec.isa import AccSel, AluOp, Emit, Isa, Operand, StoreSel
from hw.npe import NpeLane
from hw.spec.isa import decode
from sim.golden.npe import vec, wrap
from sim.tb import run_amaranth




async def host_write(ctx, sram, addr, value):
    ctx.set(sram.host.addr, addr)
    ctx.set(sram.host.data, value)
    ctx.set(sram.host.we, 1)
    await ctx.tick()
    ctx.set(sram.host.we, 0)


async def host_read(ctx, sram, addr):
    ctx.set(sram.host.addr, addr)
    ctx.set(sram.host.re, 1)
    await ctx.tick()
    ctx.set(sram.host.re, 0)
    return ctx.get(sram.read[0].data)


def test_mac_back_to_back_same_row_and_overflow():
    cfg = ChipConfig(core=CoreConfig(lanes=1, neurons=8, synapses=16, acc_bits=16,
                                     weight_bits=8, payload_bits=8, state_bits=8))
    dut = NpeLane(cfg, 0)
    rng = np.random.default_rng(5)
    weights = rng.integers(-128, 128, 16)
    # rows hit back to back, with gaps, and enough to overflow 16 bits
    seq = [(i % 16, r) for i, r in enumerate([3, 3, 3, 5, 3, 5, 5, 0, 7, 7] * 30)]
    payload = 127

    async def bench(ctx):
        for i, w in enumerate(weights):
            await host_write(ctx, dut.weights, i, int(w) & 0xFF)
        overflows = 0
        for wrow, arow in seq:
            ctx.set(dut.issue.as_value(), Isa.pack(dut.isa.lane_issue, {
                "mac": 1, "mask": 1, "row": wrow, "arow": arow, "mac_t": 0,
                "payload": payload}))
            await ctx.tick()
            overflows += ctx.get(dut.overflow)
        ctx.set(dut.issue.as_value(), 0)
        for _ in range(3):
            await ctx.tick()
            overflows += ctx.get(dut.overflow)
        acc = np.zeros(8, np.int64)
        want_overflows = 0
        for wrow, arow in seq:
            s = acc[arow] + weights[wrow] * payload
            want_overflows += not -2**15 <= s < 2**15
            acc[arow] = wrap(s, 16)
        for r in range(8):
            got = await host_read(ctx, dut.acc, r)
            assert wrap(got, 16) == acc[r], r
        assert overflows == want_overflows > 0
    run_amaranth(dut, bench)


def random_vec_instruction(rng, isa):
    """Random, but biased so that results reach the stores: mostly x as destination and
    first operand, loaded operands as second, small product shifts."""
    c = isa.core
    rare = [int(o) for o in Operand if o is not Operand.R0] + \
        [Operand.reg(i) for i in range(c.regs)] + [11, 31]  # two codes that read 0
    common = [Operand.X, Operand.Y, Operand.Z, Operand.A, Operand.P0, Operand.P1]
    slots = []
    for k in range(c.slots):
        op = int(rng.choice([AluOp.MUL, AluOp.SRA])) if k < c.mul_slots and rng.random() < 0.5 \
            else int(rng.integers(16))
        slots.append({"op": op,
                      "dst": int(rng.choice(4, p=[0.6, 0.15, 0.15, 0.1])),
                      "src_a": int(rng.choice(4, p=[0.6, 0.15, 0.15, 0.1])),
                      "src_b": int(rng.choice(common) if rng.random() < 0.75 else rng.choice(rare))})
    return {"cls": 1, "slots": slots, "mul_shift": int(rng.integers(c.state_bits + 2)),
            "st_v": int(rng.choice(4, p=[0.2, 0.5, 0.15, 0.15])), "st_u": int(rng.integers(4)),
            "st_a": int(rng.choice(4, p=[0.2, 0.2, 0.5, 0.1])),
            "emit": int(rng.choice(4, p=[0.1, 0.5, 0.3, 0.1])),
            "emit_src": int(rng.choice(common) if rng.random() < 0.75 else rng.choice(rare))}


@pytest.mark.parametrize("seed", range(12))
def test_random_vec_matches_golden(seed):
    cfg = ChipConfig(core=CoreConfig(lanes=2, neurons=32, synapses=16, slots=6, mul_slots=2,
                                     regs=3, state_bits=12, acc_bits=20, payload_bits=6))
    c = cfg.core
    isa = Isa(c)
    dut = NpeLane(cfg, 1)
    rng = np.random.default_rng(seed)
    rows = 16
    sb = c.state_bits
    # random state records and accumulators, skewed to hit saturation, equality and
    # overflow edges
    rec = rng.integers(-(1 << (sb - 1)), 1 << (sb - 1), (rows, 4))
    small = rng.random((rows, 4)) < 0.4
    rec[small] = rng.integers(-40, 40, small.sum())
    rec[rng.random((rows, 4)) < 0.1] = (1 << (sb - 1)) - 1
    rec[rng.random((rows, 4)) < 0.1] = -(1 << (sb - 1))
    eq = rng.random(rows) < 0.3
    rec[eq, 3] = rec[eq, 0]
    neg = rng.random(rows) < 0.2
    rec[neg, 2] = wrap(-rec[neg, 0], sb)
    acc = rng.integers(-(1 << (c.acc_bits - 1)), 1 << (c.acc_bits - 1), rows)
    acc[rng.random(rows) < 0.5] = rng.integers(-100, 100)
    regs = rng.integers(-(1 << (sb - 1)), 1 << (sb - 1), c.regs)
    ins_fields = [random_vec_instruction(rng, isa) for _ in range(8)]
    payload = int(rng.integers(-32, 32))

    def pack_rec(r):
        m = (1 << sb) - 1
        return sum((int(v) & m) << (k * sb) for k, v in enumerate(r))

    async def bench(ctx):
        for r in range(rows):
            await host_write(ctx, dut.state, r, pack_rec(rec[r]))
            await host_write(ctx, dut.acc, r, int(acc[r]) & ((1 << c.acc_bits) - 1))
        for i, v in enumerate(regs):
            ctx.set(dut.issue.as_value(), Isa.pack(isa.lane_issue, {"setr": 1, "rd": i, "rval": int(v)}))
            await ctx.tick()
        cur_rec, cur_acc = rec.copy(), acc.copy()
        for n, fields in enumerate(ins_fields):
            word = Isa.pack(isa.instruction, fields)
            ins = decode(isa.instruction, word)
            ctl = {k: fields[k] for k in ("slots", "mul_shift", "st_v", "st_u", "st_a", "emit", "emit_src")}
            mask = [int(b) for b in rng.integers(0, 2, rows)]
            emitted = []
            for r in range(rows + isa.vec_depth):
                if r < rows:
                    ctx.set(dut.issue.as_value(), Isa.pack(isa.lane_issue, {
                        "vec": 1, "mask": mask[r] << 1, "row": r, "payload": payload, "ctl": ctl}))
                else:
                    ctx.set(dut.issue.as_value(), 0)
                await ctx.tick()
                if ctx.get(dut.emit_req):
                    emitted.append(ctx.get(dut.emit_payload))
            res = vec(ins, c, isa.shift_bits, a=cur_acc, v=cur_rec[:, 0], u=cur_rec[:, 1],
                      p0=cur_rec[:, 2], p1=cur_rec[:, 3], pay=payload, regs=list(regs))
            on = np.array(mask, bool)
            want_emit = [int(p) for p, e, o in zip(res["payload"], res["emit"], on) if e and o]
            assert emitted == want_emit, f"seed {seed} instruction {n}: emits"
            if res["write_state"]:
                cur_rec[on, 0] = res["v"][on]
                cur_rec[on, 1] = res["u"][on]
            if res["a"] is not None:
                cur_acc[on] = res["a"][on]
            for r in range(rows):
                got = await host_read(ctx, dut.state, r)
                got = [int(wrap((got >> (k * sb)) & ((1 << sb) - 1), sb)) for k in range(4)]
                assert got == list(cur_rec[r]), f"seed {seed} instruction {n} row {r}: state"
                got_a = wrap(await host_read(ctx, dut.acc, r), c.acc_bits)
                assert got_a == cur_acc[r], f"seed {seed} instruction {n} row {r}: acc"
    run_amaranth(dut, bench)


@pytest.mark.parametrize("op", list(AluOp))
@pytest.mark.parametrize("slot", [0, 1])
def test_each_op_in_each_kind_of_slot(op, slot):
    """x = op(x, p0) in slot ``slot`` (slot 0 has the multiplier, slot 1 does not), on
    edge values; the result reaches the accumulator (low acc_bits) and the emit."""
    cfg = ChipConfig(core=CoreConfig(lanes=1, neurons=32, synapses=32, slots=2, mul_slots=1,
                                     regs=1, state_bits=8, acc_bits=12, weight_bits=4, payload_bits=8))
    c = cfg.core
    isa = Isa(c)
    dut = NpeLane(cfg, 0)
    sb = c.state_bits
    edge = [-128, -127, -1, 0, 1, 5, 127]
    pairs = [(a, b) for a in edge for b in [-128, -5, -1, 0, 1, 3, 127]][:32]
    slots = [{"op": 0}, {"op": 0}]
    slots[slot] = {"op": int(op), "dst": 0, "src_a": 0, "src_b": int(Operand.P0)}
    fields = {"slots": slots, "mul_shift": 2, "st_a": int(AccSel.X), "emit": int(Emit.ALWAYS),
              "emit_src": int(Operand.X)}
    if op in (AluOp.CGE, AluOp.CLT, AluOp.CAGE):
        fields.update(emit=int(Emit.PRED), emit_src=int(Operand.ONE))
    ins = decode(isa.instruction, Isa.pack(isa.instruction, {"cls": 1, **fields}))

    async def bench(ctx):
        for r, (v, p0) in enumerate(pairs):
            await host_write(ctx, dut.state, r, (v & 0xFF) | (p0 & 0xFF) << 2 * sb)
        emitted = []
        for r in range(len(pairs) + isa.vec_depth):
            ctx.set(dut.issue.as_value(), Isa.pack(isa.lane_issue, {
                "vec": int(r < len(pairs)), "mask": 1, "row": r, "ctl": fields}))
            await ctx.tick()
            if ctx.get(dut.emit_req):
                emitted.append(ctx.get(dut.emit_payload))
        v = np.array([p[0] for p in pairs])
        p0 = np.array([p[1] for p in pairs])
        res = vec(ins, c, isa.shift_bits, a=0, v=v, u=0, p0=p0, p1=0, pay=0, regs=[0])
        want = [int(p) for p, e in zip(res["payload"], res["emit"]) if e]
        assert emitted == want, f"{op.name} in slot {slot}: emits"
        for r in range(len(pairs)):
            got = wrap(await host_read(ctx, dut.acc, r), c.acc_bits)
            assert got == res["a"][r], f"{op.name} in slot {slot}: x = op({pairs[r][0]}, {pairs[r][1]})"
    run_amaranth(dut, bench)
