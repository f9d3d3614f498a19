"""Neuron and integration programs (microcode), one function per model.

Changing the neuron model is a new program here, not new RTL. Every program's
arithmetic is that of :mod:`sim.golden.npe`; the network-level model
(:mod:`sw.toolchain.network_model`) restates each neuron model as formulas, and the tests check
that both agree.

State record per neuron: ``v`` (membrane), ``u`` (second state: what sigma-delta has
sent, CUBA LIF's synaptic current), ``p0`` (bias) and ``p1`` (threshold). All layer
programs loop over the layer's rows (``loop(param)``, ``agu0(base, 1)``), once per
pass, and clear the accumulator exactly once; the pass that decides the spike emits.

Slots and passes (VEC instructions) per program:

==========================  =====================================  ==============
program                     slots per pass                         SETR
==========================  =====================================  ==============
lif zero / subtract         6                                      r0
lif subtract_delayed        7 (fewer slots: 6 + 1)                 r0
if zero / subtract          5
if subtract_delayed         6
cuba_lif, syn_first         current 4, membrane 5 (6 delayed)      r0, r1
cuba_lif, not syn_first     membrane 5 (6 delayed), current 4      r0, r1
sigma_delta                 8 (6-7 slots: 6 + 3)
==========================  =====================================  ==============
"""

from __future__ import annotations

from hw.spec.isa import AccSel, AluOp, Emit, InstrClass, Operand, StoreSel, Temp
from sw.toolchain.microcode import Instr, Program, Slot

__all__ = ["integrate", "lif", "if_neuron", "cuba_lif", "sigma_delta", "program_key",
           "neuron_program", "MODELS", "RESETS"]

_ROWS_OPEN = {"loop": ("param",), "agu": ((True, (1,)), (False, ()))}
_ROWS = {**_ROWS_OPEN, "end": True}
X, Y, Z = Temp.X, Temp.Y, Temp.Z


def integrate(name: str = "integrate") -> Program:
    """``A[T[row]] += W[row] * payload`` for each synapse row of the event's axon."""
    return Program(name, [Instr(InstrClass.MAC, target=True, **_ROWS)])


RESETS = ("zero", "subtract", "subtract_delayed")


def _check_reset(reset: str) -> None:
    if reset not in RESETS:
        raise ValueError(f"reset must be 'zero', 'subtract' or 'subtract_delayed', not {reset!r}")


def _membrane(leak: bool, adds: tuple, reset: str) -> tuple:
    """Slots of a binary membrane update and the temp that ends up holding ``v``.

    ``x = (v * r0) >> shift`` (``leak``; else ``x = v``), then ``x += operand`` for each
    of ``adds`` (wrapping), ``x = sat_state(x)``, the spike decision and the reset.
    ``subtract_delayed`` subtracts the threshold after the leak when ``v`` as loaded
    (the last step's un-reset membrane) is at or above it, decides on the result and
    keeps it un-reset: ``y = mul(x, r0); cge(x, p1); y = csub(y, p1); y += ...;
    y = sat(y); cge(y, p1)`` (``v`` in ``y``; without leak the same on ``x``)."""
    _check_reset(reset)
    if reset == "subtract_delayed":
        t = Y if leak else X
        head = (Slot(AluOp.MUL, Y, X, Operand.reg(0)),) if leak else ()
        head += (Slot(AluOp.CGE, None, X, Operand.P1), Slot(AluOp.CSUB, t, t, Operand.P1))
        return (head + tuple(Slot(AluOp.ADD, t, t, b) for b in adds)
                + (Slot(AluOp.SAT, t, t), Slot(AluOp.CGE, None, t, Operand.P1))), t
    head = (Slot(AluOp.MUL, X, X, Operand.reg(0)),) if leak else ()
    last = Slot(AluOp.SEL, X, X, Operand.ZERO) if reset == "zero" else \
        Slot(AluOp.CSUB, X, X, Operand.P1)
    return (head + tuple(Slot(AluOp.ADD, X, X, b) for b in adds)
            + (Slot(AluOp.SAT, X, X), Slot(AluOp.CGE, None, X, Operand.P1), last)), X


def _passes(passes: list, slots: int) -> list:
    """VEC instructions over the layer's rows, one per pass (the last ends the job).

    A pass is a dict of :class:`Instr` fields with ``slots``. A spiking pass that does
    not fit the core's ``slots`` and ends in its spike decision (``subtract_delayed``:
    ``v`` is stored un-reset) is split in two: the update stores ``v``, the next pass
    decides on ``v`` as loaded (``cge(x, p1)``) and emits."""
    out = []
    for p in passes:
        s = p["slots"]
        if (len(s) > slots and p.get("emit") is Emit.PRED and s[-1].op is AluOp.CGE
                and p.get("st_v") is not None):
            out.append({**p, "slots": s[:-1], "emit": Emit.NONE, "emit_src": Operand.ZERO,
                        "st_a": AccSel.KEEP})
            out.append({"slots": (Slot(AluOp.CGE, None, X, Operand.P1),), "emit": Emit.PRED,
                        "emit_src": Operand.ONE, "st_a": p.get("st_a", AccSel.KEEP)})
        else:
            out.append(p)
    instrs = []
    for k, p in enumerate(out):
        rows = _ROWS if k == len(out) - 1 else _ROWS_OPEN
        instrs.append(Instr(InstrClass.VEC, **p, **rows))
    return instrs


def _spiking(slots_and_temp, **kw) -> dict:
    s, t = slots_and_temp
    return {"slots": s, "st_v": StoreSel(int(t) + 1), "emit": Emit.PRED,
            "emit_src": Operand.ONE, **kw}


def lif(leak_mult: int, leak_shift: int, reset: str = "zero", name: str = "lif",
        slots: int = 8) -> Program:
    """Leaky integrate-and-fire, multiplicative leak, binary spikes::

        x = (v * leak_mult) >> leak_shift      (full-width product, floor)
        x = sat_state(x + a + bias)
        spike = x >= threshold
        v = 0 (reset "zero") or x - threshold (reset "subtract") if spike else x

    Reset ``"subtract_delayed"`` (snnTorch's default: a spike's threshold is subtracted
    at the next step, after the leak)::

        x = (v * leak_mult) >> leak_shift
        if v >= threshold: x = x - threshold   (v as stored: it spiked last step)
        x = sat_state(x + a + bias)
        spike = x >= threshold; v = x          (stored un-reset)

    Six operations (zero, subtract) or seven (subtract_delayed: on a core with fewer
    slots two passes over the rows, the second deciding on the stored ``v`` and
    emitting). ``r0 = leak_mult``, ``shift = leak_shift``.
    """
    return Program(name, [Instr(InstrClass.SETR, rd=0, imm=leak_mult)] + _passes([
        _spiking(_membrane(True, (Operand.A, Operand.P0), reset), shift=leak_shift,
                 st_a=AccSel.ZERO)], slots))


def if_neuron(reset: str = "zero", name: str = "if", slots: int = 8) -> Program:
    """Integrate-and-fire: LIF without leak (``x = sat_state(v + a + bias)``; for
    ``subtract_delayed``, ``x = v - threshold`` first where ``v >= threshold``). Five
    operations, six with subtract_delayed."""
    return Program(name, _passes([
        _spiking(_membrane(False, (Operand.A, Operand.P0), reset), st_a=AccSel.ZERO)], slots))


def cuba_lif(leak_mult: int, leak_shift: int, syn_mult: int, syn_shift: int,
             reset: str = "zero", syn_first: bool = True, name: str = "cuba_lif",
             slots: int = 8) -> Program:
    """Current-based LIF: synaptic current in ``u``, binary spikes; bias adds to the
    current. ``syn_first`` (snnTorch ``Synaptic``)::

        i = sat_state(((u * syn_mult) >> syn_shift) + a + bias)
        x = sat_state(((v * leak_mult) >> leak_shift) + i)
        spike = x >= threshold; reset as LIF (zero, subtract, subtract_delayed on x)
        u = i

    ``syn_first=False`` (Norse ``LIFCell``: the membrane integrates the previous step's
    current)::

        x = sat_state(((v * leak_mult) >> leak_shift) + u)
        spike = x >= threshold; reset as LIF
        u = sat_state(((u * syn_mult) >> syn_shift) + a + bias)

    Two passes over the layer's rows (each VEC has one multiplier shift): the current
    ``z = mul(z, r1) shift=syn_shift; z += a; z += p0; z = sat(z); u = z`` (4 operations;
    it reads and clears the accumulator), and the membrane on ``z = u`` (5 operations, 6
    with subtract_delayed), which decides and emits. ``syn_first``: current first, so the
    membrane reads the new ``u``; else membrane first, on the old ``u``. ``r0 =
    leak_mult``, ``r1 = syn_mult``. Two SETR and two VEC instructions (a third VEC when
    subtract_delayed does not fit ``slots``, as for LIF).
    """
    current = {"slots": (Slot(AluOp.MUL, Z, Z, Operand.reg(1)),
                         Slot(AluOp.ADD, Z, Z, Operand.A), Slot(AluOp.ADD, Z, Z, Operand.P0),
                         Slot(AluOp.SAT, Z, Z)),
               "shift": syn_shift, "st_u": StoreSel.Z, "st_a": AccSel.ZERO}
    membrane = _spiking(_membrane(True, (Operand.Z,), reset), shift=leak_shift)
    order = [current, membrane] if syn_first else [membrane, current]
    return Program(name, [Instr(InstrClass.SETR, rd=0, imm=leak_mult),
                          Instr(InstrClass.SETR, rd=1, imm=syn_mult)] + _passes(order, slots))


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
        Instr(InstrClass.VEC, slots=_SD_SIGMA, st_v=StoreSel.X, st_a=AccSel.Y, **_ROWS_OPEN),
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
MODELS = {"lif": "binary", "if": "binary", "sigma_delta": "graded", "cuba_lif": "binary"}


def program_key(neuron) -> tuple:
    """What a layer's program depends on: layers with equal keys share one program."""
    key = (neuron.model, neuron.leak_mult, neuron.leak_shift, neuron.reset)
    if neuron.model == "cuba_lif":
        key += (neuron.syn_mult, neuron.syn_shift, bool(neuron.syn_first))
    return key


def neuron_program(neuron, name: str, slots: int = 8) -> Program:
    """The layer program of a :class:`~sw.toolchain.network.Neuron` on a core with
    ``slots`` ALU slots."""
    n = neuron
    if n.model == "lif":
        return lif(n.leak_mult, n.leak_shift, n.reset, name=name, slots=slots)
    if n.model == "if":
        return if_neuron(n.reset, name=name, slots=slots)
    if n.model == "cuba_lif":
        return cuba_lif(n.leak_mult, n.leak_shift, n.syn_mult, n.syn_shift, n.reset,
                        bool(n.syn_first), name=name, slots=slots)
    if n.model == "sigma_delta":
        return sigma_delta(name=name, slots=slots)
    raise ValueError(f"unknown neuron model {n.model!r}; models: {', '.join(MODELS)}")
