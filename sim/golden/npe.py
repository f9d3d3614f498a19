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

from hw.spec.config import CoreConfig
from hw.spec.isa import AccSel, AluOp, Emit, Operand, StoreSel, Temp

__all__ = ["wrap", "clamp", "alu", "vec", "compile_vec", "VecProgram", "mac_sums",
           "mac_sums_grouped"]


def wrap(x, bits: int):
    """Two's-complement wrap of int64 values to ``bits`` bits."""
    x = np.asarray(x, dtype=np.int64)
    if bits >= 64:
        return x
    half = 1 << (bits - 1)
    return ((x + half) & ((1 << bits) - 1)) - half


def clamp(x, bits: int):
    """Saturate int64 values to the signed range of ``bits`` bits."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return np.minimum(np.maximum(np.asarray(x, dtype=np.int64), lo), hi)


class _Wraps:
    """What one slot needs besides its operands: the wraps of its results to
    ``alu_bits`` (``D``) and of MUL's second operand to ``state_bits`` (``S``), the
    saturation widths, ``shift_bits`` and ``mul_shift``. A compiled program
    (:func:`compile_vec`) replaces a wrap by the identity where it provably changes no
    value."""

    __slots__ = ("D", "S", "state_bits", "payload_bits", "shift_bits", "mul_shift")

    def __init__(self, core: CoreConfig, shift_bits: int, mul_shift: int, *, D=True, S=True):
        alu_bits = core.alu_bits
        self.D = (lambda x: wrap(x, alu_bits)) if D else _same
        self.S = (lambda x: wrap(x, core.state_bits)) if S else _same
        self.state_bits, self.payload_bits = core.state_bits, core.payload_bits
        self.shift_bits, self.mul_shift = shift_bits, mul_shift


def _same(x):
    return x


def _mul(a, b, pred, w):
    # |a * b| < 2**(alu_bits + state_bits - 2) <= 2**47: exact in int64
    return w.D((a * w.S(b)) >> w.mul_shift), pred


#: The slot operations: ``f(a, b, pred, w) -> (result, pred)`` (``w``: :class:`_Wraps`),
#: ``result`` None when ``dst`` is kept. NOP is not here (it changes nothing).
_ALU = {
    AluOp.MOV: lambda a, b, pred, w: (w.D(b), pred),
    AluOp.ADD: lambda a, b, pred, w: (w.D(a + b), pred),
    AluOp.SUB: lambda a, b, pred, w: (w.D(a - b), pred),
    AluOp.MUL: _mul,
    AluOp.SRA: lambda a, b, pred, w: (a >> (b & ((1 << w.shift_bits) - 1)), pred),
    AluOp.MIN: lambda a, b, pred, w: (np.minimum(a, b), pred),
    AluOp.MAX: lambda a, b, pred, w: (np.maximum(a, b), pred),
    AluOp.CGE: lambda a, b, pred, w: (None, a >= b),
    AluOp.CLT: lambda a, b, pred, w: (None, a < b),
    AluOp.CAGE: lambda a, b, pred, w: (None, np.abs(a) >= b),
    AluOp.SEL: lambda a, b, pred, w: (np.where(pred, w.D(b), a), pred),
    AluOp.CADD: lambda a, b, pred, w: (np.where(pred, w.D(a + b), a), pred),
    AluOp.CSUB: lambda a, b, pred, w: (np.where(pred, w.D(a - b), a), pred),
    AluOp.SAT: lambda a, b, pred, w: (clamp(a, w.state_bits), pred),
    AluOp.SATP: lambda a, b, pred, w: (clamp(a, w.payload_bits), pred),
}


def alu(op: int, a, b, pred, core: CoreConfig, shift_bits: int, *, mul_shift: int = 0,
        has_mul: bool = True):
    """One slot. Returns ``(result, pred)``; ``result`` is None when ``dst`` is kept."""
    op = AluOp(op)
    if op is AluOp.NOP or op in (AluOp.MUL, AluOp.SRA) and not has_mul:
        return None, pred
    return _ALU[op](a, b, pred, _Wraps(core, shift_bits, mul_shift))


_INPUTS = {Operand.A: "a", Operand.V: "v", Operand.U: "u", Operand.P0: "p0",
           Operand.P1: "p1", Operand.PAY: "pay"}


def _operand(sel: int):
    """Where a second-operand code reads from: ``("temp", i)``, ``("reg", i)``,
    ``("in", name)`` or ``("const", value)``."""
    sel = int(sel)
    if sel < 3:
        return "temp", sel
    if sel >= Operand.R0:
        return "reg", sel - Operand.R0
    if sel in _INPUTS:
        return "in", _INPUTS[sel]
    return "const", {Operand.ONE: 1}.get(sel, 0)     # ZERO and unnamed codes read 0


# -- value ranges (for the wraps a compiled program may leave out) ---------------------

_I64 = (-(1 << 63), (1 << 63) - 1)


def _bounds(bits):
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _norm(r):
    """A range of int64 results: the whole int64 range where the arithmetic could have
    overflowed (then the values are anywhere in it)."""
    return r if _I64[0] <= r[0] and r[1] <= _I64[1] else _I64


def _fits(r, bits) -> bool:
    lo, hi = _bounds(bits)
    return lo <= r[0] and r[1] <= hi


def _wrapped(r, bits):
    return r if _fits(r, bits) else _bounds(bits)


def _union(a, b):
    return min(a[0], b[0]), max(a[1], b[1])


def _slot_range(op, a, b, core, shift_bits, mul_shift):
    """``(result range or None, wrap D needed, wrap S needed)`` of one slot on operands
    of ranges ``a``, ``b`` (inclusive int bounds, over-approximated)."""
    D, S = core.alu_bits, core.state_bits
    if op is AluOp.MOV:
        return _wrapped(b, D), not _fits(b, D), False
    if op in (AluOp.ADD, AluOp.CADD):
        raw = _norm((a[0] + b[0], a[1] + b[1]))
    elif op in (AluOp.SUB, AluOp.CSUB):
        raw = _norm((a[0] - b[1], a[1] - b[0]))
    elif op is AluOp.SEL:
        raw = b
    elif op is AluOp.MUL:
        bs = _wrapped(b, S)
        corners = [x * y for x in a for y in bs]
        raw = _norm((min(corners) >> mul_shift, max(corners) >> mul_shift))
        return _wrapped(raw, D), not _fits(raw, D), not _fits(b, S)
    elif op is AluOp.SRA:
        top = (1 << shift_bits) - 1         # x >> s moves x toward 0 or -1 as s grows
        return (min(a[0], a[0] >> top), max(a[1], a[1] >> top)), False, False
    elif op is AluOp.MIN:
        return (min(a[0], b[0]), min(a[1], b[1])), False, False
    elif op is AluOp.MAX:
        return (max(a[0], b[0]), max(a[1], b[1])), False, False
    elif op in (AluOp.SAT, AluOp.SATP):
        lo, hi = _bounds(core.state_bits if op is AluOp.SAT else core.payload_bits)
        return (min(max(a[0], lo), hi), min(max(a[1], lo), hi)), False, False
    else:                                   # compares: the predicate only
        return None, False, False
    res = _wrapped(raw, D)
    if op in (AluOp.SEL, AluOp.CADD, AluOp.CSUB):
        res = _union(a, res)                # where the predicate is clear: a
    return res, not _fits(raw, D), False


class VecProgram:
    """One VEC instruction decoded once (:func:`compile_vec`); calling it runs the VEC
    pipeline, as :func:`vec` documents, on arrays of operands.

    With ``ranges`` the program assumes ``a`` within ``acc_bits`` and ``v``, ``u``,
    ``p0``, ``p1`` within ``state_bits`` (signed; as every word read from the banks is)
    and leaves out each wrap whose operand provably fits already (registers and the
    payload are taken as any int64): the same results on such operands, fewer array
    operations."""

    def __init__(self, ins, core: CoreConfig, shift_bits: int, *, ranges: bool = False):
        self.core, self.shift_bits = core, shift_bits
        mul_shift = int(ins.mul_shift)
        S = _bounds(core.state_bits)
        full = not ranges
        known = {"a": _bounds(core.acc_bits), "v": S, "u": S, "p0": S, "p1": S, "pay": _I64}

        def range_of(src):
            kind, key = src
            if kind == "temp":
                return temps[key]
            if kind == "reg":
                return _I64
            if kind == "in":
                return known[key]
            return key, key

        temps = [S, (0, 0), S]
        self.slots = []
        for k, slot in enumerate(ins.slots):
            op = AluOp(int(slot.op))
            if op is AluOp.NOP or op in (AluOp.MUL, AluOp.SRA) and k >= core.mul_slots:
                continue                    # changes neither a temp nor the predicate
            src_a, src_b, dst = int(slot.src_a), _operand(slot.src_b), int(slot.dst)
            first = temps[src_a] if src_a < 3 else (0, 0)
            res, need_d, need_s = _slot_range(op, first, range_of(src_b), core, shift_bits,
                                              mul_shift)
            w = _Wraps(core, shift_bits, mul_shift, D=full or need_d, S=full or need_s)
            self.slots.append((_ALU[op], src_a, src_b, dst, w))
            if res is not None and dst < 3:
                temps[dst] = res
        self.st_v, self.st_u = StoreSel(int(ins.st_v)), StoreSel(int(ins.st_u))
        self.st_a = AccSel(int(ins.st_a))
        self.emit = Emit(int(ins.emit)) if int(ins.emit) < 3 else Emit.NONE
        self.emit_src = _operand(ins.emit_src)
        self.write_state = self.st_v is not StoreSel.KEEP or self.st_u is not StoreSel.KEEP
        #: Whether any operand reads a register (callers may pass none otherwise).
        self.uses_regs = any(src[0] == "reg" for _, _, src, _, _ in self.slots) \
            or self.emit_src[0] == "reg"

        def store(sel, bits):
            """Wrap to ``bits`` of the temp ``sel`` names, or the identity."""
            if sel is None or not full and _fits(temps[sel], bits):
                return _same
            return lambda x: wrap(x, bits)

        self._v = store(int(self.st_v) - 1 if self.st_v is not StoreSel.KEEP else None,
                        core.state_bits)
        self._u = store(int(self.st_u) - 1 if self.st_u is not StoreSel.KEEP else None,
                        core.state_bits)
        self._a = store(int(self.st_a) - 2 if int(self.st_a) >= 2 else None, core.acc_bits)
        r = range_of(self.emit_src)
        self._pay = _same if not full and _fits(r, core.payload_bits) else \
            (lambda x: wrap(x, core.payload_bits))

    def __call__(self, *, a, v, u, p0, p1, pay, regs) -> dict:
        inputs = {"a": np.asarray(a, dtype=np.int64), "v": np.asarray(v, dtype=np.int64),
                  "u": np.asarray(u, dtype=np.int64), "p0": np.asarray(p0, dtype=np.int64),
                  "p1": np.asarray(p1, dtype=np.int64), "pay": np.asarray(pay, dtype=np.int64)}
        sa, sv = inputs["a"].shape, inputs["v"].shape
        shape = sa if sa == sv else np.broadcast_shapes(sa, sv)
        zero = np.int64(0)
        # x = v, y = 0, z = u; results are new arrays, so the temps are never written in place
        temps = [inputs["v"], zero, inputs["u"]]
        pred = np.False_

        def operand(src):
            kind, key = src
            if kind == "temp":
                return temps[key]
            if kind == "reg":
                return np.asarray(regs[key], dtype=np.int64) if key < len(regs) else zero
            if kind == "in":
                return inputs[key]
            return np.int64(key)

        for fn, src_a, src_b, dst, w in self.slots:
            first = temps[src_a] if src_a < 3 else zero
            result, pred = fn(first, operand(src_b), pred, w)
            if result is not None and dst < 3:
                temps[dst] = result

        def full(x):
            x = np.asarray(x, dtype=np.int64)
            if x.shape == shape:
                return x
            return np.full(shape, x) if x.ndim == 0 else np.broadcast_to(x, shape)

        new_v = inputs["v"] if self.st_v is StoreSel.KEEP else self._v(temps[int(self.st_v) - 1])
        new_u = inputs["u"] if self.st_u is StoreSel.KEEP else self._u(temps[int(self.st_u) - 1])
        if self.st_a is AccSel.KEEP:
            new_a = None
        elif self.st_a is AccSel.ZERO:
            new_a = np.zeros(shape, np.int64)
        else:
            new_a = full(self._a(temps[int(self.st_a) - 2]))
        if self.emit is Emit.ALWAYS:
            emit = np.ones(shape, bool)
        elif self.emit is Emit.PRED:
            emit = pred if np.shape(pred) == shape else np.broadcast_to(pred, shape)
        else:
            emit = np.zeros(shape, bool)
        return {"v": full(new_v), "u": full(new_u), "write_state": self.write_state,
                "a": new_a, "emit": emit, "payload": full(self._pay(operand(self.emit_src)))}


def compile_vec(ins, core: CoreConfig, shift_bits: int, *, ranges: bool = False) -> VecProgram:
    """A VEC instruction (decoded, :func:`hw.spec.isa.decode`) as a callable taking the
    keyword arguments of :func:`vec` but ``ins``: decode the slots once, run many rows.
    ``ranges``: see :class:`VecProgram`."""
    return VecProgram(ins, core, shift_bits, ranges=ranges)


def vec(ins, core: CoreConfig, shift_bits: int, *, a, v, u, p0, p1, pay, regs):
    """The VEC pipeline on arrays of operands (any common shape).

    ``regs`` is a sequence of register values (scalars or arrays). Returns a dict with
    ``v``, ``u`` (new state, wrapped), ``write_state`` (bool), ``a`` (new accumulator or
    None when kept), ``emit`` (bool array before lane masking), ``payload``.

    Slots run in order on the temporaries ``x = v``, ``y = 0``, ``z = u`` and a
    predicate that starts false; a slot's first operand is a temp (code 3 reads 0), its
    result goes to ``dst`` (code 3: nowhere). Then ``v``/``u`` take the temp ``st_v``/
    ``st_u`` names (or keep), the accumulator keeps, clears or takes ``x``/``y``, and
    the row emits where ``emit`` says, with payload ``emit_src``.
    """
    return compile_vec(ins, core, shift_bits)(a=a, v=v, u=u, p0=p0, p1=p1, pay=pay, regs=regs)


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
