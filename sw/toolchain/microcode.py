"""Microcode assembler: a Python API and a readable text form for the neurocore ISA.

Text form: one instruction per line (``\\`` continues a line), ``#`` starts a comment,
``name:`` labels the next instruction. Tokens of an instruction are separated by
spaces::

    integrate:
        mac loop(param) agu0(base, 1) target end

    lif:
        setr r0, 243
        vec x=mul(x,r0) shift=8 x=add(x,a) x=add(x,p0) x=sat(x) cge(x,p1) \\
            x=sel(x,zero) v=x a=zero emit=pred(one) loop(param) agu0(base, 1) end

Instructions: ``vec``, ``mac``, ``setr rN, VALUE`` (VALUE: integer, ``payload``,
``base`` or ``count``) and ``nop``. Modifiers:

* ``loop(C0[, C1[, C2]])``: open a loop nest; counts are integers or ``param`` (the
  job's count), level 0 innermost; ``body=LABEL`` (or ``body=+N``, N instructions
  further) ends the body there (default: this instruction);
* ``agu0(START, S0[, S1[, S2]])``, ``agu1(...)``: START is ``base`` (the job's base)
  or ``0``; strides per level; ``off0=K``/``off1=K`` add a per-instruction offset;
* ``target`` (MAC: accumulator row from the target table; else from ``agu1``);
* ``end``: the job ends after this instruction (after its loop nest);
* VEC slots, in order: ``D=op(A,B)`` with ``D``/``A`` in ``x y z`` and ``B`` any
  operand (``x y z a v u p0 p1 pay zero one r0..r15``); compares are written without
  a destination: ``cge(x,p1)``; ``sat``/``satp`` take one operand: ``x=sat(x)``;
  ``mov`` takes one: ``y=mov(p0)``;
* VEC stores: ``v=T``, ``u=T`` (T in ``x y z``), ``a=zero|x|y``; ``emit=pred(OPND)``
  or ``emit=always(OPND)``; ``shift=K`` is MUL's product shift.

The semantics of every field are in :mod:`sim.golden.loopctl` and
:mod:`sim.golden.npe`. :func:`assemble` checks everything the hardware cannot: slot
counts, which slots may multiply, register numbers, immediate ranges, labels, program
length; each error names the program line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from hw.spec.isa import (AGUS, LOOP_LEVELS, AccSel, AluOp, CountSrc, Emit, InstrClass, Isa, Operand, SetrSrc, StoreSel, Temp, decode)

__all__ = ["Slot", "Instr", "Program", "AssemblyError", "assemble", "parse", "disassemble"]


class AssemblyError(ValueError):
    """A program cannot be assembled; the message names the program and line."""


_TEMPS = {"x": Temp.X, "y": Temp.Y, "z": Temp.Z}
_OPERANDS = {"x": Operand.X, "y": Operand.Y, "z": Operand.Z, "a": Operand.A,
             "v": Operand.V, "u": Operand.U, "p0": Operand.P0, "p1": Operand.P1,
             "pay": Operand.PAY, "zero": Operand.ZERO, "one": Operand.ONE}
_COMPARES = {AluOp.CGE, AluOp.CLT, AluOp.CAGE}
_UNARY = {AluOp.SAT, AluOp.SATP}


def _operand_name(code: int) -> str:
    for k, v in _OPERANDS.items():
        if v == code:
            return k
    if code >= Operand.R0:
        return f"r{code - Operand.R0}"
    return str(code)


def _parse_operand(text: str, where: str) -> int:
    text = text.strip().lower()
    if text in _OPERANDS:
        return int(_OPERANDS[text])
    if re.fullmatch(r"r\d+", text):
        return Operand.reg(int(text[1:]))
    raise AssemblyError(f"{where}: unknown operand {text!r}; operands are "
                        f"{', '.join(_OPERANDS)}, r0..r15")


@dataclass(frozen=True)
class Slot:
    """One ALU slot: ``dst = op(a, b)``."""

    op: AluOp
    dst: Temp | None = Temp.X
    a: Temp = Temp.X
    b: int = Operand.ZERO

    def text(self) -> str:
        name = self.op.name.lower()
        b = _operand_name(int(self.b))
        a = self.a.name.lower()
        if self.op in _COMPARES:
            return f"{name}({a},{b})"
        d = self.dst.name.lower()
        if self.op in _UNARY:
            return f"{d}={name}({a})"
        if self.op is AluOp.MOV:
            return f"{d}=mov({b})"
        return f"{d}={name}({a},{b})"


@dataclass(frozen=True)
class Instr:
    """One microcode instruction in friendly form (see the module docstring)."""

    cls: InstrClass
    end: bool = False
    loop: tuple | None = None          # counts per level: int or "param"
    body: str | int | None = None      # label or offset of the body's last instruction
    agu: tuple = ((False, ()), (False, ()))   # per AGU: (start at job base, strides)
    offsets: tuple = (0, 0)
    target: bool = False
    slots: tuple = ()
    shift: int = 0
    st_v: StoreSel = StoreSel.KEEP
    st_u: StoreSel = StoreSel.KEEP
    st_a: AccSel = AccSel.KEEP
    emit: Emit = Emit.NONE
    emit_src: int = Operand.ZERO
    rd: int = 0
    setr_src: SetrSrc = SetrSrc.IMM
    imm: int = 0
    label: str | None = None
    line: int | None = None

    def text(self) -> str:
        parts = [self.cls.name.lower()]
        if self.cls is InstrClass.SETR:
            src = str(self.imm) if self.setr_src is SetrSrc.IMM else self.setr_src.name.lower()
            parts = [f"setr r{self.rd}, {src}"]
        for s in self.slots:
            if s.op is not AluOp.NOP:
                parts.append(s.text())
        if any(s.op is AluOp.MUL for s in self.slots) or self.shift:
            parts.append(f"shift={self.shift}")
        if self.st_v is not StoreSel.KEEP:
            parts.append(f"v={self.st_v.name.lower()}")
        if self.st_u is not StoreSel.KEEP:
            parts.append(f"u={self.st_u.name.lower()}")
        if self.st_a is not AccSel.KEEP:
            parts.append(f"a={self.st_a.name.lower()}")
        if self.emit is not Emit.NONE:
            parts.append(f"emit={self.emit.name.lower()}({_operand_name(int(self.emit_src))})")
        if self.loop is not None:
            parts.append(f"loop({', '.join(str(c) for c in self.loop)})")
            if self.body is not None:
                parts.append(f"body=+{self.body}" if isinstance(self.body, int)
                             else f"body={self.body}")
        for k, (start, strides) in enumerate(self.agu):
            if start or strides:
                parts.append(f"agu{k}({'base' if start else 0}"
                             + "".join(f", {s}" for s in strides) + ")")
        for k, off in enumerate(self.offsets):
            if off:
                parts.append(f"off{k}={off}")
        if self.target:
            parts.append("target")
        if self.end:
            parts.append("end")
        return " ".join(parts)


@dataclass
class Program:
    """A named list of instructions (labels are attributes of instructions)."""

    name: str
    instrs: list = field(default_factory=list)

    def text(self) -> str:
        out = []
        for ins in self.instrs:
            if ins.label:
                out.append(f"{ins.label}:")
            out.append("    " + ins.text())
        return "\n".join(out) + "\n"

    def __len__(self):
        return len(self.instrs)


# -- parsing -----------------------------------------------------------------------------

_TOKEN = re.compile(r"\S+\([^)]*\)|\S+")


def parse(text: str, name: str = "program") -> Program:
    """Parse the text form into a :class:`Program`."""
    prog = Program(name)
    label = None
    lines = text.replace("\\\n", " ").splitlines()
    for lineno, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        while (m := re.match(r"([A-Za-z_]\w*):(\s|$)", line)):
            if label is not None:
                raise AssemblyError(f"{name} line {lineno}: two labels for one instruction")
            label = m.group(1)
            line = line[m.end():].strip()
        if not line:
            continue
        prog.instrs.append(_parse_line(line, f"{name} line {lineno}", label, lineno))
        label = None
    if label is not None:
        raise AssemblyError(f"{name}: label {label!r} at the end labels no instruction")
    return prog


def _ints(text, where):
    try:
        return [int(t, 0) for t in text.split(",") if t.strip()]
    except ValueError:
        raise AssemblyError(f"{where}: expected integers in {text!r}") from None


def _parse_line(line: str, where: str, label, lineno) -> Instr:
    mnemonic, _, rest = line.partition(" ")
    mnemonic = mnemonic.lower()
    kw = {"label": label, "line": lineno}
    if mnemonic == "setr":
        m = re.fullmatch(r"\s*r(\d+)\s*,\s*(\S+)\s*(.*)", rest)
        if not m:
            raise AssemblyError(f"{where}: expected 'setr rN, VALUE'")
        value = m.group(2).lower()
        kw.update(cls=InstrClass.SETR, rd=int(m.group(1)))
        if value in ("payload", "base", "count"):
            kw["setr_src"] = SetrSrc[value.upper()]
        else:
            try:
                kw["imm"] = int(value, 0)
            except ValueError:
                raise AssemblyError(f"{where}: setr value {value!r} is not an integer, "
                                    "payload, base or count") from None
        rest = m.group(3)
    elif mnemonic in ("vec", "mac", "nop"):
        kw["cls"] = InstrClass[mnemonic.upper()]
    else:
        raise AssemblyError(f"{where}: unknown instruction {mnemonic!r}; "
                            "instructions are vec, mac, setr, nop")
    slots = []
    agu = [(False, ()), (False, ())]
    offsets = [0, 0]
    for tok in _TOKEN.findall(rest):
        low = tok.lower()
        if low == "end":
            kw["end"] = True
        elif low == "target":
            kw["target"] = True
        elif (m := re.fullmatch(r"loop\((.*)\)", low)):
            counts = []
            for c in m.group(1).split(","):
                c = c.strip()
                counts.append("param" if c == "param" else _ints(c, where)[0])
            kw["loop"] = tuple(counts)
        elif (m := re.fullmatch(r"body=\+(\d+)", tok)):
            kw["body"] = int(m.group(1))
        elif (m := re.fullmatch(r"body=(\w+)", tok)):
            kw["body"] = m.group(1)
        elif (m := re.fullmatch(r"agu([01])\((.*)\)", low)):
            args = [a.strip() for a in m.group(2).split(",")]
            if args[0] not in ("base", "0"):
                raise AssemblyError(f"{where}: agu start must be 'base' or 0, not {args[0]!r}")
            agu[int(m.group(1))] = (args[0] == "base", tuple(_ints(",".join(args[1:]), where)))
        elif (m := re.fullmatch(r"off([01])=(-?\w+)", low)):
            offsets[int(m.group(1))] = _ints(m.group(2), where)[0]
        elif (m := re.fullmatch(r"shift=(\w+)", low)):
            kw["shift"] = _ints(m.group(1), where)[0]
        elif (m := re.fullmatch(r"([vu])=([xyz])", low)):
            kw[f"st_{m.group(1)}"] = StoreSel[m.group(2).upper()]
        elif (m := re.fullmatch(r"a=(zero|x|y)", low)):
            kw["st_a"] = AccSel[m.group(1).upper()]
        elif (m := re.fullmatch(r"emit=(pred|always)\((\w+)\)", low)):
            kw["emit"] = Emit[m.group(1).upper()]
            kw["emit_src"] = _parse_operand(m.group(2), where)
        elif (m := re.fullmatch(r"(?:([xyz])=)?(\w+)\(([^)]*)\)", low)):
            slots.append(_parse_slot(m.group(1), m.group(2), m.group(3), where))
        else:
            raise AssemblyError(f"{where}: cannot read {tok!r}")
    kw.update(slots=tuple(slots), agu=tuple(agu), offsets=tuple(offsets))
    return Instr(**kw)


def _parse_slot(dst, opname, args, where) -> Slot:
    try:
        op = AluOp[opname.upper()]
    except KeyError:
        raise AssemblyError(f"{where}: unknown operation {opname!r}; operations are "
                            + ", ".join(o.name.lower() for o in AluOp)) from None
    args = [a.strip() for a in args.split(",") if a.strip()]
    if op in _COMPARES:
        if dst is not None or len(args) != 2:
            raise AssemblyError(f"{where}: write compares as {opname}(A,B), no destination")
        return Slot(op, None, _temp(args[0], where), _parse_operand(args[1], where))
    if dst is None:
        raise AssemblyError(f"{where}: {opname} needs a destination: x={opname}(...)")
    if op is AluOp.MOV:
        if len(args) != 1:
            raise AssemblyError(f"{where}: write mov as {dst}=mov(B)")
        return Slot(op, _temp(dst, where), Temp.X, _parse_operand(args[0], where))
    if op in _UNARY:
        if len(args) != 1:
            raise AssemblyError(f"{where}: write {opname} as {dst}={opname}(A)")
        return Slot(op, _temp(dst, where), _temp(args[0], where), Operand.ZERO)
    if len(args) != 2:
        raise AssemblyError(f"{where}: write {opname} as {dst}={opname}(A,B)")
    return Slot(op, _temp(dst, where), _temp(args[0], where), _parse_operand(args[1], where))


def _temp(text, where) -> Temp:
    try:
        return _TEMPS[text]
    except KeyError:
        raise AssemblyError(f"{where}: {text!r} is not a temp (x, y, z)") from None


# -- assembling --------------------------------------------------------------------------

def assemble(programs, isa: Isa, *, start: int = 0):
    """Assemble programs placed one after another from ``start``.

    Returns ``(words, entry)``: the packed microcode words and each program's entry
    address (``{program name: pc}``); labels are local to their program.
    """
    c = isa.core
    words, entry = [], {}
    pc = start
    for prog in programs:
        labels = {}
        for i, ins in enumerate(prog.instrs):
            if ins.label:
                if ins.label in labels:
                    raise AssemblyError(f"{prog.name}: label {ins.label!r} defined twice")
                labels[ins.label] = pc + i
        entry[prog.name] = pc
        for i, ins in enumerate(prog.instrs):
            words.append(_encode(ins, isa, pc + i, labels, prog.name))
        pc += len(prog.instrs)
    if pc > c.microcode_depth:
        raise AssemblyError(f"programs need {pc} microcode words; core.microcode_depth is "
                            f"{c.microcode_depth}")
    return words, entry


def _encode(ins: Instr, isa: Isa, pc: int, labels: dict, pname: str) -> int:
    c = isa.core
    where = f"{pname} line {ins.line}" if ins.line else f"{pname} instruction {pc}"

    def check(value, bits, what, signed=False):
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if not lo <= value <= hi:
            raise AssemblyError(f"{where}: {what} {value} is outside {lo}..{hi}")
        return value

    f = {"cls": int(ins.cls), "end": int(ins.end)}
    if ins.loop is not None:
        if not 1 <= len(ins.loop) <= LOOP_LEVELS:
            raise AssemblyError(f"{where}: a loop nest has 1..{LOOP_LEVELS} levels")
        src, imm = [], []
        for lvl in range(LOOP_LEVELS):
            cnt = ins.loop[lvl] if lvl < len(ins.loop) else 1
            if cnt == "param":
                src.append(CountSrc.PARAM); imm.append(0)
            else:
                src.append(CountSrc.IMM); imm.append(check(cnt, c.count_bits, "loop count"))
        body = ins.body
        if body is None:
            body_end = pc
        elif isinstance(body, str):
            if body not in labels:
                raise AssemblyError(f"{where}: unknown label {body!r}")
            body_end = labels[body]
        else:
            body_end = pc + body
        if body_end < pc:
            raise AssemblyError(f"{where}: the loop body ends before it starts")
        f.update(loop=1, body_end=body_end % c.microcode_depth, cnt_src=[int(s) for s in src],
                 cnt_imm=imm)
    elif ins.body is not None:
        raise AssemblyError(f"{where}: body= without loop(...)")
    abits = c.row_bits + 1
    agus = []
    for k in range(AGUS):
        start, strides = ins.agu[k]
        if len(strides) > LOOP_LEVELS:
            raise AssemblyError(f"{where}: agu{k} has {LOOP_LEVELS} strides at most")
        strides = list(strides) + [0] * (LOOP_LEVELS - len(strides))
        agus.append({"base": int(start),
                     "stride": [check(s, abits, f"agu{k} stride", True) for s in strides],
                     "offset": check(ins.offsets[k], abits, f"agu{k} offset", True)})
    f["agu"] = agus
    f["mac_t"] = int(ins.target)
    if ins.cls is InstrClass.VEC:
        if len(ins.slots) > c.slots:
            raise AssemblyError(f"{where}: {len(ins.slots)} ALU operations, but the core has "
                                f"{c.slots} slots (core.slots)")
        slots = []
        for k, s in enumerate(ins.slots):
            if s.op in (AluOp.MUL, AluOp.SRA) and k >= c.mul_slots:
                raise AssemblyError(f"{where}: {s.op.name.lower()} is operation {k + 1}, but only "
                                    f"the first {c.mul_slots} slots can multiply or shift "
                                    "(core.mul_slots)")
            _check_operand(s.b, c, where)
            slots.append({"op": int(s.op), "dst": int(s.dst) if s.dst is not None else 3,
                          "src_a": int(s.a), "src_b": int(s.b)})
        _check_operand(ins.emit_src, c, where)
        f.update(slots=slots, mul_shift=check(ins.shift, isa.shift_bits, "shift"),
                 st_v=int(ins.st_v), st_u=int(ins.st_u), st_a=int(ins.st_a),
                 emit=int(ins.emit), emit_src=int(ins.emit_src))
    elif ins.slots or ins.emit is not Emit.NONE:
        raise AssemblyError(f"{where}: ALU operations and emits belong to vec")
    if ins.cls is InstrClass.SETR:
        if not 0 <= ins.rd < c.regs:
            raise AssemblyError(f"{where}: register r{ins.rd} does not exist; the core has "
                                f"r0..r{c.regs - 1} (core.regs)")
        f.update(rd=ins.rd, setr_src=int(ins.setr_src),
                 imm=check(ins.imm, c.state_bits, "setr value", True))
    if ins.target and ins.cls is not InstrClass.MAC:
        raise AssemblyError(f"{where}: target belongs to mac")
    return Isa.pack(isa.instruction, f)


def _check_operand(code, c, where):
    code = int(code)
    if code >= Operand.R0 and code - Operand.R0 >= c.regs:
        raise AssemblyError(f"{where}: register r{code - Operand.R0} does not exist; the core "
                            f"has r0..r{c.regs - 1} (core.regs)")


def disassemble(words, isa: Isa, name: str = "microcode") -> Program:
    """Decode packed words back into instructions (labels ``L<pc>`` for loop bodies)."""
    c = isa.core
    prog = Program(name)
    for pc, word in enumerate(words):
        d = decode(isa.instruction, word)
        cls = InstrClass(d.cls)
        kw = {"cls": cls, "end": bool(d.end), "target": bool(d.mac_t)}
        if d.loop:
            counts = []
            for lvl in range(LOOP_LEVELS):
                src = d.cnt_src[lvl]
                counts.append("param" if src == CountSrc.PARAM else
                              d.cnt_imm[lvl] if src == CountSrc.IMM else 1)
            while len(counts) > 1 and counts[-1] == 1:
                counts.pop()
            kw["loop"] = tuple(counts)
            if d.body_end != pc:
                kw["body"] = d.body_end - pc
        kw["agu"] = tuple((bool(a.base), tuple(a.stride)) for a in d.agu)
        kw["agu"] = tuple((b, s if any(s) else ()) for b, s in kw["agu"])
        kw["offsets"] = tuple(a.offset for a in d.agu)
        if cls is InstrClass.VEC:
            kw["slots"] = tuple(Slot(AluOp(s.op), Temp(s.dst) if s.dst < 3 else None,
                                     Temp(min(s.src_a, 2)), s.src_b)
                                for s in d.slots if s.op != AluOp.NOP)
            kw.update(shift=d.mul_shift, st_v=StoreSel(d.st_v), st_u=StoreSel(d.st_u),
                      st_a=AccSel(d.st_a), emit=Emit(d.emit) if d.emit < 3 else Emit.NONE,
                      emit_src=d.emit_src)
        if cls is InstrClass.SETR:
            kw.update(rd=d.rd, setr_src=SetrSrc(d.setr_src), imm=d.imm)
        prog.instrs.append(Instr(**kw))
    return prog
