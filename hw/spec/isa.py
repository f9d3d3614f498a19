"""The neurocore's instruction set and table formats, derived from a :class:`CoreConfig`.

One definition serves the RTL (as :mod:`amaranth.lib.data` layouts), the assembler and
compiler (packing) and the golden models (unpacking), so that a microcode word or a
table entry means the same thing everywhere.

Microcode word (:attr:`Isa.instruction`), fields in order:

==============  ==============================  =============================================
field           bits                            meaning
==============  ==============================  =============================================
``cls``         2                               :class:`InstrClass`: NOP, VEC, MAC, SETR
``end``         1                               the job ends after this instruction (after
                                                its loop nest, when it closes one)
``loop``        1                               opens a loop nest whose body is
                                                ``[pc, body_end]``
``body_end``    ``pc_bits``                     last instruction of the body
``cnt_src``     3 x 2                           per level (0 = innermost): :class:`CountSrc`
``cnt_imm``     3 x ``count_bits``              immediate counts
``agu``         2 x (1 + 3 x ``row_bits+1``     per address generator: ``base`` (1: start at
                + ``row_bits+1``)               the job's base, 0: at 0), ``stride`` per
                                                level, ``offset`` added by this instruction
``mac_t``       1                               MAC: accumulator row from the target table
                                                ``T[agu0]`` (1) or from ``agu1`` (0)
``slots``       ``slots`` x (4 + 2 + 2 + 5)     VEC: :class:`AluOp`, destination temp,
                                                first operand temp, second :class:`Operand`
``mul_shift``   ``shift_bits``                  VEC: right shift applied to every MUL product
``st_v/st_u``   2 each                          VEC: :class:`StoreSel` for state ``v``/``u``
``st_a``        2                               VEC: :class:`AccSel` for the accumulator
``emit``        2                               VEC: :class:`Emit`
``emit_src``    5                               VEC: :class:`Operand` sent as the payload
``rd``          4                               SETR: register written
``setr_src``    2                               SETR: :class:`SetrSrc`
``imm``         ``state_bits`` (signed)         SETR: immediate
==============  ==============================  =============================================

Semantics of the loop nest, the address generators and every operation are written
once, in :mod:`sim.golden.loopctl` and :mod:`sim.golden.npe`; the RTL matches them.
"""

from __future__ import annotations

import enum
import types
from functools import cached_property

from amaranth import signed, unsigned
from amaranth.lib import data

from .config import CoreConfig, DelayConfig, DelayUnit

__all__ = ["InstrClass", "CountSrc", "AluOp", "Temp", "Operand", "StoreSel", "AccSel",
           "Emit", "SetrSrc", "Isa", "LOOP_LEVELS", "AGUS", "decode"]

#: Levels of a loop nest (level 0 is the innermost).
LOOP_LEVELS = 3
#: Address generators.
AGUS = 2


class InstrClass(enum.IntEnum):
    #: No operation (still advances loops and may end the job).
    NOP = 0
    #: Neuron-update pipeline over one row of every lane: load ``a`` and the state record
    #: ``(v, u, p0, p1)`` at row ``agu0``, run the ALU slots, store, emit.
    VEC = 1
    #: Fused multiply-accumulate: ``A[row] += W[agu0] * payload`` in every enabled lane.
    MAC = 2
    #: Write register ``rd`` of every lane.
    SETR = 3


class CountSrc(enum.IntEnum):
    ONE = 0
    IMM = 1
    #: The job's ``count`` (rows of the axon or layer).
    PARAM = 2


class AluOp(enum.IntEnum):
    """One ALU slot: ``dst = op(A, B)`` with ``A`` a temp and ``B`` an :class:`Operand`."""

    NOP = 0
    MOV = 1    # dst = B
    ADD = 2    # dst = A + B            (wraps at alu_bits)
    SUB = 3    # dst = A - B
    MUL = 4    # dst = (A * B[:state_bits]) >> mul_shift  (full-width product; then wraps)
    SRA = 5    # dst = A >> B[:shift_bits]  (arithmetic: rounds toward minus infinity)
    MIN = 6
    MAX = 7
    CGE = 8    # pred = A >= B            (dst unchanged)
    CLT = 9    # pred = A < B
    CAGE = 10  # pred = |A| >= B
    SEL = 11   # dst = B if pred else A
    CADD = 12  # dst = A + B if pred else A
    CSUB = 13  # dst = A - B if pred else A
    SAT = 14   # dst = clamp(A) to state_bits
    SATP = 15  # dst = clamp(A) to payload_bits


class Temp(enum.IntEnum):
    """Pipeline temporaries; at the start ``x = v``, ``y = 0``, ``z = u``."""

    X = 0
    Y = 1
    Z = 2


class Operand(enum.IntEnum):
    """Second operand of a slot (and the emit payload source)."""

    X = 0
    Y = 1
    Z = 2
    A = 3      # accumulator (acc_bits)
    V = 4      # state record fields (state_bits) as loaded
    U = 5
    P0 = 6
    P1 = 7
    PAY = 8    # the job's payload
    ZERO = 9
    ONE = 10
    R0 = 16    # registers R0..R15 are 16 + index; other codes read as 0

    @staticmethod
    def reg(i: int) -> int:
        return 16 + i


class StoreSel(enum.IntEnum):
    KEEP = 0
    X = 1
    Y = 2
    Z = 3


class AccSel(enum.IntEnum):
    KEEP = 0
    ZERO = 1
    X = 2
    Y = 3


class Emit(enum.IntEnum):
    NONE = 0
    #: Emit where the predicate is set.
    PRED = 1
    ALWAYS = 2


class SetrSrc(enum.IntEnum):
    IMM = 0
    PAYLOAD = 1
    BASE = 2
    COUNT = 3


class Isa:
    """Layouts of one core configuration.

    ``delay`` (the chip's :class:`DelayConfig`; None for none) adds the delay groups:
    with a delay unit, axon ``a``'s group ``g`` is axon-table word ``a * groups + g``
    (:meth:`axon_word`), and each entry carries its ``delay`` (timesteps) and ``more``
    (group ``g + 1`` exists too). With the ring buffer, every accumulator bank holds
    ``slots`` words per neuron row: row ``r``, slot ``s`` at word ``r * slots + s``.
    """

    def __init__(self, core: CoreConfig, delay: DelayConfig | None = None):
        self.core = core
        self.delay = delay if delay is not None else DelayConfig()
        c = core
        #: Width of shift amounts: enough to shift a state x state product out entirely.
        self.shift_bits = max(1, (c.alu_bits + c.state_bits).bit_length())

    @classmethod
    def of(cls, config) -> "Isa":
        """The ISA of a :class:`~hw.spec.config.ChipConfig`'s cores."""
        return cls(config.core, config.delay)

    @property
    def unit(self) -> DelayUnit:
        return self.delay.unit

    @property
    def groups(self) -> int:
        """Axon-table words per axon: ``delay.groups``, 1 without a delay unit."""
        return self.delay.groups if self.delay.enabled else 1

    @property
    def group_bits(self) -> int:
        return (self.groups - 1).bit_length()

    @property
    def slot_bits(self) -> int:
        """Bits of a delay in timesteps (``log2 delay.slots``); 0 without a delay unit."""
        return (self.delay.slots - 1).bit_length() if self.delay.enabled else 0

    @property
    def acc_slots(self) -> int:
        """Accumulator words per neuron row: ``delay.slots`` with the ring, else 1."""
        return self.delay.slots if self.unit is DelayUnit.RING else 1

    def axon_word(self, axon: int, group: int = 0) -> int:
        return axon * self.groups + group

    @cached_property
    def agu(self) -> data.StructLayout:
        addr = signed(self.core.row_bits + 1)
        return data.StructLayout({"base": 1, "stride": data.ArrayLayout(addr, LOOP_LEVELS),
                                  "offset": addr})

    @cached_property
    def slot(self) -> data.StructLayout:
        return data.StructLayout({"op": 4, "dst": 2, "src_a": 2, "src_b": 5})

    @cached_property
    def instruction(self) -> data.StructLayout:
        c = self.core
        return data.StructLayout({
            "cls": 2, "end": 1, "loop": 1, "body_end": c.pc_bits,
            "cnt_src": data.ArrayLayout(2, LOOP_LEVELS),
            "cnt_imm": data.ArrayLayout(c.count_bits, LOOP_LEVELS),
            "agu": data.ArrayLayout(self.agu, AGUS),
            "mac_t": 1,
            "slots": data.ArrayLayout(self.slot, c.slots),
            "mul_shift": self.shift_bits,
            "st_v": 2, "st_u": 2, "st_a": 2, "emit": 2, "emit_src": 5,
            "rd": 4, "setr_src": 2, "imm": signed(c.state_bits),
        })

    @cached_property
    def vec_control(self) -> data.StructLayout:
        """The VEC part of an instruction, carried down the NPE pipeline."""
        ins = self.instruction
        return data.StructLayout({k: ins.members[k] for k in
                                  ("slots", "mul_shift", "st_v", "st_u", "st_a", "emit",
                                   "emit_src")})

    @cached_property
    def lane_issue(self) -> data.StructLayout:
        """What the loop controller broadcasts to every lane in the issue cycle."""
        c = self.core
        return data.StructLayout({
            "vec": 1, "mac": 1, "setr": 1,
            "mask": c.lanes,                 # lane enables
            "row": c.row_bits,               # agu0 (low bits)
            "arow": c.row_bits,              # agu1 (low bits)
            "mac_t": 1,
            "payload": signed(c.payload_bits),
            "ctl": self.vec_control,
            "rd": 4, "rval": signed(c.state_bits),
            # ring buffer: the accumulator slot of a MAC ((now + delay) mod slots)
            **({"slot": self.slot_bits} if self.acc_slots > 1 else {}),
        })

    @property
    def vec_depth(self) -> int:
        """Pipeline registers of a VEC instruction after issue: operand fetch, operand
        capture, one per slot and two more per slot with a multiplier (its operands and
        its product are registered); the last one is the store stage."""
        return self.core.slots + 2 + 2 * self.core.mul_slots

    #: Pipeline registers of a MAC after issue (the lane's M1, MW, M2); the controller's
    #: MAC shadow pipeline has this length.
    mac_depth = 3

    @cached_property
    def job(self) -> data.StructLayout:
        """Axon-table entry: what one event on this axon (delay group) runs; with a
        delay unit also the group's ``delay`` and ``more`` (a next group follows)."""
        c = self.core
        extra = {"delay": self.slot_bits, "more": 1} if self.delay.enabled else {}
        return data.StructLayout({"pc": c.pc_bits, "base": c.row_bits,
                                  "count": c.count_bits, "mask": c.lanes, **extra})

    @cached_property
    def layer(self) -> data.StructLayout:
        """Layer-table entry: what the tick runs for one layer (in table order)."""
        c = self.core
        return data.StructLayout({"valid": 1, "pc": c.pc_bits, "base": c.row_bits,
                                  "count": c.count_bits, "mask": c.lanes})

    @cached_property
    def event(self) -> data.StructLayout:
        c = self.core
        return data.StructLayout({"axon": c.axon_bits, "payload": signed(c.payload_bits)})

    @cached_property
    def spike(self) -> data.StructLayout:
        c = self.core
        return data.StructLayout({"neuron": c.neuron_bits, "payload": signed(c.payload_bits)})

    @cached_property
    def state(self) -> data.StructLayout:
        """Neuron state record: one word per neuron in its lane's state bank."""
        s = signed(self.core.state_bits)
        return data.StructLayout({"v": s, "u": s, "p0": s, "p1": s})

    @property
    def target_bits(self) -> int:
        """Width of a target-table entry (an accumulator row)."""
        return max(1, (self.core.neuron_rows - 1).bit_length())

    # -- packing for software --------------------------------------------------------

    @staticmethod
    def pack(layout: data.Layout, fields: dict) -> int:
        """Unsigned integer of a layout value; unspecified fields are zero."""
        return layout.const(fields).as_value().value & ((1 << layout.size) - 1)

    @staticmethod
    def unpack(layout: data.Layout, word: int):
        """Field access to a packed value (``.field``, ``[i]``; ints via ``int()``)."""
        return layout.from_bits(int(word))


def decode(layout: data.Layout, word: int):
    """A packed layout value as nested SimpleNamespaces and lists of Python ints (fast
    repeated field access for software; the RTL uses the layouts directly)."""
    def conv(v):
        if isinstance(v, data.Const):
            lay = v.shape()
            if isinstance(lay, data.ArrayLayout):
                return [conv(v[i]) for i in range(lay.length)]
            return types.SimpleNamespace(**{name: conv(v[name]) for name, _ in lay})
        return int(v)
    return conv(layout.from_bits(int(word)))
