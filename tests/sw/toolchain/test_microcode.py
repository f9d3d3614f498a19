"""Assembler: text and Python forms agree, round-trip through disassembly, and every
refusal names the program line and the limit."""

import pytest

from hw.spec.config import CoreConfig
from hw.spec.isa import Isa
from sw.toolchain import programs
from sw.toolchain.microcode import AssemblyError, assemble, disassemble, parse

ISA = Isa(CoreConfig())


@pytest.mark.parametrize("prog", [programs.integrate(), programs.lif(250, 8),
                                  programs.lif(3, 2, "subtract"), programs.if_neuron(),
                                  programs.sigma_delta(),
                                  programs.lif(200, 8, "subtract_delayed", name="lif_sd"),
                                  programs.lif(200, 8, "subtract_delayed", name="lif_sd2",
                                               slots=6),
                                  programs.if_neuron("subtract_delayed", name="if_sd"),
                                  programs.cuba_lif(220, 8, 180, 7, "subtract", True,
                                                    name="cuba_syn_first"),
                                  programs.cuba_lif(-5, 3, 100, 8, "subtract_delayed", False,
                                                    name="cuba_norse")],
                         ids=lambda p: p.name)
def test_text_round_trip(prog):
    words, _ = assemble([prog], ISA)
    assert assemble([parse(prog.text(), prog.name)], ISA)[0] == words
    assert assemble([disassemble(words, ISA)], ISA)[0] == words


def test_labels_bodies_and_entries():
    text = """
    # a two-instruction body over a 2 x 3 nest
    first:
        setr r1, count
    loopy:
        nop loop(3, 2) body=last agu0(base, 1, 10) agu1(0, 0, 1)
    last:
        mac off0=1 target end
    """
    prog = parse(text, "p")
    words, entry = assemble([programs.integrate(), prog], ISA)
    assert entry == {"integrate": 0, "p": 1}
    back = disassemble(words, ISA)
    assert back.instrs[2].body == 1 and back.instrs[2].loop == (3, 2)


@pytest.mark.parametrize("text,message", [
    ("vec x=mul(x,r0) x=mul(x,r0)",
     "p line 1: mul is operation 2, but only the first 1 slots can multiply or shift (core.mul_slots)"),
    ("vec " + " ".join(["x=add(x,a)"] * 9),
     "p line 1: 9 ALU operations, but the core has 8 slots (core.slots)"),
    ("setr r7, 1", "p line 1: register r7 does not exist; the core has r0..r3 (core.regs)"),
    ("setr r0, 40000", "p line 1: setr value 40000 is outside -32768..32767"),
    ("vec x=frob(x,a)", "p line 1: unknown operation 'frob'; operations are nop, mov, add, sub, "
                        "mul, sra, min, max, cge, clt, cage, sel, cadd, csub, sat, satp"),
    ("vec x=add(x,q)", "p line 1: unknown operand 'q'; operands are x, y, z, a, v, u, p0, p1, "
                       "pay, zero, one, r0..r15"),
    ("nop loop(5000)", "p line 1: loop count 5000 is outside 0..4095"),
    ("nop loop(2) body=nowhere", "p line 1: unknown label 'nowhere'"),
    ("mac x=add(x,a)", "p line 1: ALU operations and emits belong to vec"),
    ("jump 3", "p line 1: unknown instruction 'jump'; instructions are vec, mac, setr, nop"),
    ("vec cge(x)", "p line 1: write compares as cge(A,B), no destination"),
])
def test_errors_name_the_line(text, message):
    with pytest.raises(AssemblyError) as e:
        assemble([parse(text, "p")], ISA)
    assert str(e.value) == message


def test_program_too_long():
    prog = parse("\n".join(["nop"] * 65), "long")
    with pytest.raises(AssemblyError, match=r"programs need 65 microcode words; "
                                            r"core.microcode_depth is 64"):
        assemble([prog], ISA)
