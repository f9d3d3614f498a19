"""Golden semantics of the NPE lane (:mod:`hw.npe.lane`): ALU slots, VEC and MAC.

Every rounding, wrap and saturation rule of the neuron datapath is written here, once.
All functions are vectorised: operands are ``int64`` arrays (one element per lane, or
per lane and loop iteration).

Number rules
------------
* Temporaries ``x, y, z`` are two's complement of ``alu_bits`` bits; every arithmetic
  result wraps to that width (:func:`wrap`).
* ``MUL`` multiplies by the second operand truncated to ``state_bits`` (signed), at
  full width, shifts the product right by the instruction's ``mul_shift`` (rounding
  toward minus infinity) and then wraps: ``wrap((A * B) >> mul_shift)``.
* ``SRA`` shifts arithmetically right by the low ``shift_bits`` bits of the second
  operand (unsigned), i.e. rounds toward minus infinity, as NumPy's ``>>``.
* ``MUL`` and ``SRA`` exist only in the first ``mul_slots`` slots; elsewhere they
  leave their destination unchanged, like ``NOP``.
* Second-operand codes that name no operand (or a register beyond ``regs``) read 0;
  a first-operand or destination code of 3 reads 0 / writes nothing; ``emit`` 3 is
  ``NONE``.
* ``SAT``/``SATP`` clamp to the signed range of ``state_bits``/``payload_bits``:
  the only saturation of the neuron update, once per neuron per timestep when the
  program says so.
* Stores and emits truncate (wrap) to the destination width: ``v``/``u`` to
  ``state_bits``, the accumulator to ``acc_bits``, the payload to ``payload_bits``.
* ``MAC`` adds ``w * payload`` to the accumulator, wrapping at ``acc_bits``; a sum
  that does not fit is an *overflow*: counted, and the wrapped value is stored. The
  compiler proves it cannot happen for the networks it accepts (one event per axon and
  timestep).
"""

from __future__ import annotations

import numpy as np

from hw.config import CoreConfig
from hw.isa import AccSel, AluOp, Emit, Operand, StoreSel, Temp

__all__ = ["wrap", "clamp", "alu", "vec", "mac_sums"]


def wrap(x, bits: int):
    """Two's-complement wrap of int64 values to ``bits`` bits."""
    x = np.asarray(x, dtype=np.int64)
    if bits >= 64:
        return x
    half = np.int64(1) << np.int64(bits - 1)
    mask = (np.int64(1) << np.int64(bits)) - np.int64(1)
    return ((x + half) & mask) - half


def clamp(x, bits: int):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def alu(op: int, a, b, pred, core: CoreConfig, shift_bits: int, *, mul_shift: int = 0,
        has_mul: bool = True):
    """One slot. Returns ``(result, pred)``; ``result`` is None when ``dst`` is kept."""
    D = core.alu_bits
    op = AluOp(op)
    if op is AluOp.NOP or op in (AluOp.MUL, AluOp.SRA) and not has_mul:
        return None, pred
    if op is AluOp.MOV:
        return wrap(b, D), pred
    if op is AluOp.ADD:
        return wrap(a + b, D), pred
    if op is AluOp.SUB:
        return wrap(a - b, D), pred
    if op is AluOp.MUL:
        # |a * b| < 2**(alu_bits + state_bits - 2) <= 2**47: exact in int64
        return wrap((a * wrap(b, core.state_bits)) >> mul_shift, D), pred
    if op is AluOp.SRA:
        return a >> (b & ((1 << shift_bits) - 1)), pred
    if op is AluOp.MIN:
        return np.minimum(a, b), pred
    if op is AluOp.MAX:
        return np.maximum(a, b), pred
    if op is AluOp.CGE:
        return None, a >= b
    if op is AluOp.CLT:
        return None, a < b
    if op is AluOp.CAGE:
        return None, np.abs(a) >= b
    if op is AluOp.SEL:
        return np.where(pred, wrap(b, D), a), pred
    if op is AluOp.CADD:
        return np.where(pred, wrap(a + b, D), a), pred
    if op is AluOp.CSUB:
        return np.where(pred, wrap(a - b, D), a), pred
    if op is AluOp.SAT:
        return clamp(a, core.state_bits), pred
    if op is AluOp.SATP:
        return clamp(a, core.payload_bits), pred
    raise AssertionError(op)  # pragma: no cover - AluOp covers 4 bits


def vec(ins, core: CoreConfig, shift_bits: int, *, a, v, u, p0, p1, pay, regs):
    """The VEC pipeline on arrays of operands (any common shape).

    ``regs`` is a sequence of register values (scalars or arrays). Returns a dict with
    ``v``, ``u`` (new state, wrapped), ``write_state`` (bool), ``a`` (new accumulator or
    None when kept), ``emit`` (bool array before lane masking), ``payload``.
    """
    a, v, u, p0, p1 = (np.asarray(t, dtype=np.int64) for t in (a, v, u, p0, p1))
    shape = np.broadcast_shapes(a.shape, v.shape)
    temps = [np.broadcast_to(v, shape).copy(), np.zeros(shape, np.int64),
             np.broadcast_to(u, shape).copy()]
    pred = np.zeros(shape, dtype=bool)

    def operand(sel):
        sel = int(sel)
        if sel < 3:
            return temps[sel]
        if sel >= Operand.R0:
            i = sel - Operand.R0
            return np.broadcast_to(np.int64(regs[i]) if i < len(regs) else np.int64(0), shape)
        table = {Operand.A: a, Operand.V: v, Operand.U: u, Operand.P0: p0,
                 Operand.P1: p1, Operand.PAY: pay, Operand.ZERO: 0, Operand.ONE: 1}
        return np.broadcast_to(np.asarray(table.get(sel, 0), dtype=np.int64), shape)

    for k, slot in enumerate(ins.slots):
        src_a = int(slot.src_a)
        first = temps[src_a] if src_a < 3 else np.zeros(shape, np.int64)
        result, pred = alu(int(slot.op), first, operand(slot.src_b), pred, core, shift_bits,
                           mul_shift=int(ins.mul_shift), has_mul=k < core.mul_slots)
        dst = int(slot.dst)
        if result is not None and dst < 3:
            temps[dst] = np.broadcast_to(result, shape).copy()

    def temp(sel):  # StoreSel / AccSel X, Y, Z -> temps
        return temps[sel]

    st_v, st_u, st_a = StoreSel(int(ins.st_v)), StoreSel(int(ins.st_u)), AccSel(int(ins.st_a))
    new_v = v if st_v is StoreSel.KEEP else wrap(temp(int(st_v) - 1), core.state_bits)
    new_u = u if st_u is StoreSel.KEEP else wrap(temp(int(st_u) - 1), core.state_bits)
    if st_a is AccSel.KEEP:
        new_a = None
    elif st_a is AccSel.ZERO:
        new_a = np.zeros(shape, np.int64)
    else:
        new_a = wrap(temp(int(st_a) - 2), core.acc_bits)
    mode = Emit(int(ins.emit)) if int(ins.emit) < 3 else Emit.NONE
    emit = np.broadcast_to(mode is Emit.ALWAYS, shape) | (pred & (mode is Emit.PRED))
    return {"v": np.broadcast_to(new_v, shape), "u": np.broadcast_to(new_u, shape),
            "write_state": st_v is not StoreSel.KEEP or st_u is not StoreSel.KEEP,
            "a": new_a, "emit": emit,
            "payload": wrap(operand(ins.emit_src), core.payload_bits)}


def mac_sums(a_old, contributions, acc_bits: int):
    """Sequential wrapping accumulation of contributions into one accumulator.

    ``contributions`` is a 1-D array in issue order. Returns ``(final, overflows)``:
    the stored value after the last one and how many steps overflowed.
    """
    partial = np.int64(a_old) + np.cumsum(np.asarray(contributions, dtype=np.int64))
    before = wrap(np.concatenate(([np.int64(a_old)], partial[:-1])), acc_bits)
    # The hardware adds each contribution to the wrapped value it stored before.
    steps = before + contributions
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    overflows = int(np.count_nonzero((steps < lo) | (steps > hi)))
    return int(wrap(partial[-1], acc_bits)) if len(partial) else int(a_old), overflows


def mac_sums_grouped(a_old, contributions, group, acc_bits: int):
    """:func:`mac_sums` for many accumulators at once (vectorised).

    ``a_old[g]`` is accumulator ``g``'s value before, ``contributions[k]`` goes to
    accumulator ``group[k]``, in issue order. Returns ``(final values, overflows)``:
    each step adds one contribution to the wrapped value stored before it, as the
    hardware does, and counts an overflow when that sum leaves the ``acc_bits`` range.
    """
    contributions = np.asarray(contributions, dtype=np.int64)
    group = np.asarray(group)
    a_old = np.asarray(a_old, dtype=np.int64)
    order = np.argsort(group, kind="stable")          # issue order inside each group
    g, c = group[order], contributions[order]
    csum = np.cumsum(c)
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    offset = np.repeat(np.r_[0, csum[starts[1:] - 1]], np.diff(np.r_[starts, len(g)]))
    inclusive = csum - offset                          # partial sums inside each group
    before = wrap(a_old[g] + inclusive - c, acc_bits)  # stored value before each step
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    steps = before + c
    overflows = int(np.count_nonzero((steps < lo) | (steps > hi)))
    final = a_old.copy()
    last = np.r_[starts[1:] - 1, len(g) - 1]
    final[g[last]] = wrap(a_old[g[last]] + inclusive[last], acc_bits)
    return final, overflows
