"""Neuron and integration programs (microcode), one function per model.

Changing the neuron model is a new program here, not new RTL. Every program's
arithmetic is that of :mod:`sim.golden.npe`; the network-level model
(:mod:`sw.toolchain.network_model`) restates each neuron model as formulas, and the tests check
that both agree.

State record per neuron: ``v`` (membrane), ``u`` (second state), ``p0`` (bias) and
``p1`` (threshold). All layer programs loop over the layer's rows (``loop(param)``,
``agu0(base, 1)``) and clear the accumulator.
"""

from __future__ import annotations

from hw.spec.isa import AccSel, AluOp, Emit, InstrClass, Operand, StoreSel, Temp
from sw.toolchain.microcode import Instr, Program, Slot

__all__ = ["integrate", "lif", "if_neuron", "sigma_delta", "MODELS"]

_ROWS = {"loop": ("param",), "agu": ((True, (1,)), (False, ())), "end": True}
X, Y, Z = Temp.X, Temp.Y, Temp.Z


def integrate(name: str = "integrate") -> Program:
    """``A[T[row]] += W[row] * payload`` for each synapse row of the event's axon."""
    return Program(name, [Instr(InstrClass.MAC, target=True, **_ROWS)])


def _reset(reset: str) -> Slot:
    if reset == "zero":
        return Slot(AluOp.SEL, X, X, Operand.ZERO)
    if reset == "subtract":
        return Slot(AluOp.CSUB, X, X, Operand.P1)
    raise ValueError(f"reset must be 'zero' or 'subtract', not {reset!r}")


def lif(leak_mult: int, leak_shift: int, reset: str = "zero", name: str = "lif") -> Program:
    """Leaky integrate-and-fire, multiplicative leak, binary spikes::

        x = (v * leak_mult) >> leak_shift      (full-width product, floor)
        x = sat_state(x + a + bias)
        spike = x >= threshold
        v = 0 (reset "zero") or x - threshold (reset "subtract") if spike else x
    """
    return Program(name, [
        Instr(InstrClass.SETR, rd=0, imm=leak_mult),
        Instr(InstrClass.VEC, slots=(
            Slot(AluOp.MUL, X, X, Operand.reg(0)),
            Slot(AluOp.ADD, X, X, Operand.A),
            Slot(AluOp.ADD, X, X, Operand.P0),
            Slot(AluOp.SAT, X, X),
            Slot(AluOp.CGE, None, X, Operand.P1),
            _reset(reset),
        ), shift=leak_shift, st_v=StoreSel.X, st_a=AccSel.ZERO, emit=Emit.PRED,
            emit_src=Operand.ONE, **_ROWS),
    ])


def if_neuron(reset: str = "zero", name: str = "if") -> Program:
    """Integrate-and-fire: LIF without leak (``x = sat_state(v + a + bias)``)."""
    return Program(name, [
        Instr(InstrClass.VEC, slots=(
            Slot(AluOp.ADD, X, X, Operand.A),
            Slot(AluOp.ADD, X, X, Operand.P0),
            Slot(AluOp.SAT, X, X),
            Slot(AluOp.CGE, None, X, Operand.P1),
            _reset(reset),
        ), st_v=StoreSel.X, st_a=AccSel.ZERO, emit=Emit.PRED, emit_src=Operand.ONE, **_ROWS),
    ])


def sigma_delta(name: str = "sigma_delta", slots: int = 8) -> Program:
    """Sigma-delta neuron with ReLU, graded output events::

        v = sat_state(v + a)                   (sigma: sum of the deltas received)
        y = max(v + bias, 0)                   (activation)
        d = sat_payload(y - u)                 (delta against what was sent so far)
        if |d| >= threshold: emit d; u += d

    Eight ALU operations. On a core with fewer than 8 (but at least 6) slots the
    program makes two passes over the layer's rows: the first stores ``v`` and parks
    ``d`` in the accumulator, the second decides, emits and clears the accumulator (half
    the neuron-update rate, same results).
    """
    if slots >= len(_SD_SIGMA) + len(_SD_DELTA):
        return Program(name, [
            Instr(InstrClass.VEC, slots=_SD_SIGMA + _SD_DELTA, st_v=StoreSel.X,
                  st_u=StoreSel.Z, st_a=AccSel.ZERO, emit=Emit.PRED, emit_src=Operand.Y,
                  **_ROWS)])
    return Program(name, [
        Instr(InstrClass.VEC, slots=_SD_SIGMA, st_v=StoreSel.X, st_a=AccSel.Y,
              loop=("param",), agu=((True, (1,)), (False, ()))),
        Instr(InstrClass.VEC, slots=(Slot(AluOp.MOV, Y, X, Operand.A),) + _SD_DELTA,
              st_u=StoreSel.Z, st_a=AccSel.ZERO, emit=Emit.PRED, emit_src=Operand.Y,
              **_ROWS),
    ])


# sigma, activation and delta of the sigma-delta neuron (y = the delta to send)
_SD_SIGMA = (
    Slot(AluOp.ADD, X, X, Operand.A),
    Slot(AluOp.SAT, X, X),
    Slot(AluOp.ADD, Y, X, Operand.P0),
    Slot(AluOp.MAX, Y, Y, Operand.ZERO),
    Slot(AluOp.SUB, Y, Y, Operand.Z),
    Slot(AluOp.SATP, Y, Y),
)
# decide, and account what was sent
_SD_DELTA = (
    Slot(AluOp.CAGE, None, Y, Operand.P1),
    Slot(AluOp.CADD, Z, Z, Operand.Y),
)


#: Models the compiler knows, with the payload their spikes carry.
MODELS = {"lif": "binary", "if": "binary", "sigma_delta": "graded"}
