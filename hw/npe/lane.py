"""NPE lane: one SIMD lane of the neurocore, with its three memory banks.

Each lane owns (as FaultSRAMs) a weight bank ``W`` (``weight_bits`` x
``synapse_rows``), an accumulator bank ``A`` (``acc_bits`` x ``neuron_rows``) and a
state bank ``S`` (records ``(v, u, p0, p1)``, ``4 * state_bits`` x ``neuron_rows``);
neuron ``n`` of the core lives in lane ``n % lanes`` at row ``n // lanes``. It also
owns ``regs`` registers of ``state_bits``.

It executes what the loop controller broadcasts (``issue``, :attr:`Isa.lane_issue`);
the arithmetic is specified in :mod:`sim.golden.npe`.

MAC pipeline (fused multiply-accumulate into memory; one per cycle, never stalls;
:attr:`Isa.mac_depth` stages after issue)
    * issue: read ``W[row]``;
    * M1: ``w`` arrives and is registered; the accumulator row is ``t_row`` (the
      core's target table, read at issue) or ``arow``. The weight bank's output goes
      only into a register: its clock-to-out and the route to the multiplier would
      otherwise lie on one path with the multiplier;
    * MW: read ``A[row]``; form ``w * payload``;
    * M2: ``A[row] = A[row] + product``, written the same cycle. A product for the
      row written in the previous cycle takes that value from a forwarding register,
      so back-to-back updates of one row are exact. A sum outside ``acc_bits`` is
      wrapped and flagged on ``overflow`` for one cycle.

VEC pipeline (neuron update; one row per cycle, ``slots + 2 * mul_slots + 3`` cycles of
latency; :attr:`Isa.vec_depth` registers)
    * issue: read ``A[row]`` and ``S[row]``;
    * stage 1: data arrives; stage 2: operands captured, temps ``x = v, y = 0,
      z = u``, predicate 0;
    * then the ALU slots in order, one stage each, three for each of the first
      ``mul_slots`` (operands and adder; the full-width product; the shift);
    * store stage (``vec_depth``): when the stage *retires* (``freeze`` low) the state
      record and/or the accumulator are written and ``emit_req``/``emit_payload`` are
      taken by the core's event generator.
    ``freeze`` holds every VEC stage (the core raises it while its event generator's
    row queue is full). Reads of ``A``/``S`` for VEC and MAC share one port;
    the controller never lets the two pipelines hold instructions at once.

Ring buffer (``delay.unit = ring``): the accumulator bank holds ``delay.slots`` words
per neuron row, row ``r`` slot ``s`` at word ``r * slots + s``. A MAC adds into the slot
its issue names (``issue.slot``: now + the group's delay); VECs read and store slot
``now`` (an input, steady while a tick runs).

SETR writes register ``rd`` in the issue cycle; the controller issues it only when no
VEC instruction is in flight, since slots read registers in their own stage.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import ChipConfig
from ..spec.isa import AccSel, AluOp, Emit, Isa, Operand, StoreSel
from ..spec.memmap import MemoryName, core_memories
from ..mem import FaultSRAM

__all__ = ["NpeLane"]

#: A slot's control decoded a stage ahead: one-hot operand selects (``bsel`` none: the
#: static operand ``bs``), the adder's mode, the result term, the predicate source and
#: which temp is written.
_DEC = data.StructLayout({
    "asel": 3, "bsel": 3, "add": 1, "cage": 1,
    "r_b": 1, "r_sum": 1, "r_min": 1, "r_max": 1, "r_sel": 1, "r_cadd": 1, "r_sat": 1,
    "r_satp": 1, "p_ge": 1, "p_lt": 1, "wdst": 3,
})


class NpeLane(wiring.Component):
    """One lane: MAC and VEC pipelines, registers, and the W/A/S banks.

    Parameters
    ----------
    config : ChipConfig
    index : int
        Lane number (names the memories; selects this lane's bit of ``issue.mask``
        unless ``mask_bit`` is given).
    prefix : str
        Core name; memories are ``{prefix}.lane{index}.weights/acc/state``
        (:meth:`~hw.spec.memmap.MemoryName.lane_bank`).
    directory : MemoryDirectory, optional
    images : dict, optional
        Initial memory contents by memory name (a network baked into the bitstream).
    mask_bit : int, optional
        The bit of ``issue.mask`` that enables this lane. The neurocore passes 0 and
        shifts the mask for each lane, so that all its lanes are one Verilog module
        (a simulator then compiles one lane, not ``lanes`` copies).

    Members
    -------
    issue : ``In(isa.lane_issue)``
    t_row : ``In(target_bits)``, target-table row for the MAC in stage M1.
    freeze : ``In(1)``
    emit_req : ``Out(1)``, the store stage holds a spike of this lane.
    emit_payload : ``Out(signed(payload_bits))``
    overflow : ``Out(1)``, a MAC sum overflowed ``acc_bits`` this cycle.
    """

    def __init__(self, config: ChipConfig, index: int, *, prefix: str = "core",
                 directory=None, images=None, mask_bit: int | None = None):
        self.config, self.index = config, index
        self.mask_bit = index if mask_bit is None else mask_bit
        self.isa = isa = Isa.of(config)
        c = config.core
        specs = {s.name: s for s in core_memories(isa, prefix)}
        mk = lambda kind: FaultSRAM.for_chip(specs[MemoryName.lane_bank(prefix, index, kind)],
                                             config, directory, images=images)
        self.weights, self.acc, self.state = mk("weights"), mk("acc"), mk("state")
        # ring buffer: the VECs' accumulator slot (the core's timestep mod delay.slots)
        ring = {"now": In(isa.slot_bits)} if isa.acc_slots > 1 else {}
        super().__init__({
            **ring,
            "issue": In(isa.lane_issue),
            "t_row": In(isa.target_bits),
            "freeze": In(1),
            "emit_req": Out(1),
            "emit_payload": Out(signed(c.payload_bits)),
            "overflow": Out(1),
        })

    def _stage_layout(self):
        c, isa = self.config.core, self.isa
        D = signed(c.alu_bits)
        s = signed(c.state_bits)
        return data.StructLayout({
            "valid": 1, "en": 1, "row": self.acc.addr_width,
            "pay": signed(c.payload_bits), "ctl": isa.vec_control,
            "a": signed(c.acc_bits), "v": s, "u": s, "p0": s, "p1": s,
            "t": data.ArrayLayout(D, 3), "pred": 1,
            # the next slot's second operand when it is not a temp (selected a stage
            # ahead: those sources do not change along the pipeline)
            "bs": signed(c.alu_bits),
            # ... and its control decoded to one-hot selects (also a stage ahead)
            "dec": _DEC,
            # inside a slot with a multiplier: the operands (``mo`` then holds the
            # product), the shift, whether to multiply and whether to write the result
            "mo": signed(c.alu_bits + c.state_bits), "mb": signed(c.state_bits),
            "sh": isa.shift_bits, "mm": 1, "mw": 1,
        })

    def elaborate(self, platform):
        m = Module()
        c, isa = self.config.core, self.isa
        sb, pb = c.state_bits, c.payload_bits
        m.submodules.weights = W = self.weights
        m.submodules.acc = A = self.acc
        m.submodules.state = S = self.state
        iss = self.issue
        en = iss.mask[self.mask_bit]
        ring = isa.acc_slots > 1

        def acc_addr(slot, row):
            # ring buffer: word row * slots + slot (slots is a power of two)
            return Cat(slot, row[:S.addr_width]) if ring else row

        regs = Array(Signal(signed(sb), name=f"r{i}") for i in range(c.regs))
        with m.If(iss.setr & (iss.rd < c.regs)):
            m.d.sync += regs[iss.rd].eq(iss.rval)

        # ---------------------------------------------------------------- MAC pipeline
        m1 = Signal(data.StructLayout({"valid": 1, "en": 1, "pay": signed(pb), "mac_t": 1,
                                       "arow": A.addr_width, "slot": isa.slot_bits}))
        mw = Signal(data.StructLayout({"valid": 1, "en": 1, "pay": signed(pb),
                                       "row": A.addr_width, "w": signed(c.weight_bits)}))
        m2 = Signal(data.StructLayout({"valid": 1, "en": 1, "row": A.addr_width,
                                       "prod": signed(c.weight_bits + pb)}))
        fwd_valid = Signal()
        fwd_row = Signal(A.addr_width)
        fwd_val = Signal(signed(c.acc_bits))
        m.d.comb += [W.read[0].addr.eq(iss.row), W.read[0].en.eq(iss.mac & en)]
        # Every pipeline register below loads only with a valid instruction (the
        # fields of an empty stage are never used): the same cycle behaviour, and a
        # simulator skips the stages that hold nothing.
        m.d.sync += m1.valid.eq(iss.mac)
        with m.If(iss.mac):
            m.d.sync += [m1.en.eq(en), m1.pay.eq(iss.payload), m1.mac_t.eq(iss.mac_t),
                         m1.arow.eq(iss.arow)]
            if ring:
                m.d.sync += m1.slot.eq(iss.slot)
        m1_row = Signal(A.addr_width)
        m.d.comb += m1_row.eq(acc_addr(m1.slot, Mux(m1.mac_t, self.t_row, m1.arow)))
        m.d.sync += mw.valid.eq(m1.valid)
        with m.If(m1.valid):
            m.d.sync += [mw.en.eq(m1.en), mw.pay.eq(m1.pay), mw.row.eq(m1_row),
                         mw.w.eq(W.read[0].data)]
        m.d.sync += m2.valid.eq(mw.valid)
        with m.If(mw.valid):
            m.d.sync += [m2.en.eq(mw.en), m2.row.eq(mw.row), m2.prod.eq(mw.w * mw.pay)]
        a_old = Signal(signed(c.acc_bits))
        total = Signal(signed(c.acc_bits + 1))
        mac_write = Signal()
        m.d.comb += [
            a_old.eq(Mux(fwd_valid & (fwd_row == m2.row), fwd_val, A.read[0].data.as_signed())),
            total.eq(a_old + m2.prod),
            mac_write.eq(m2.valid & m2.en),
            self.overflow.eq(mac_write & (total[-1] != total[-2])),
        ]
        m.d.sync += fwd_valid.eq(mac_write)
        with m.If(mac_write):
            m.d.sync += [fwd_row.eq(m2.row), fwd_val.eq(total[:c.acc_bits])]

        # ---------------------------------------------------------------- VEC pipeline
        layout = self._stage_layout()
        stages = [Signal(layout, name=f"vec{k}") for k in range(isa.vec_depth + 1)]
        # stages[0] is the issue cycle (combinational), stages[k] the k-th register.
        st0 = stages[0]
        m.d.comb += [st0.valid.eq(iss.vec), st0.en.eq(en), st0.row.eq(iss.row),
                     st0.pay.eq(iss.payload), st0.ctl.eq(iss.ctl)]
        vec_read = iss.vec & en
        m.d.comb += [
            A.read[0].addr.eq(Mux(iss.vec, acc_addr(self.now if ring else 0, iss.row), mw.row)),
            A.read[0].en.eq(vec_read | (mw.valid & mw.en)),
            S.read[0].addr.eq(iss.row),
            S.read[0].en.eq(vec_read),
        ]
        rec = Signal(isa.state)
        m.d.comb += rec.eq(S.read[0].data)
        # slot 0's static operand, from the data as it arrives
        loaded = {"a": A.read[0].data.as_signed(), "v": rec.v, "u": rec.u, "p0": rec.p0,
                  "p1": rec.p1, "pay": stages[1].pay}
        bs0 = self._static_operand(m, loaded, stages[1].ctl.slots[0].src_b, regs, "s0_bs")
        dec0 = self._decode(m, stages[1].ctl.slots[0], "s0_dec")
        with m.If(~self.freeze):
            m.d.sync += stages[1].valid.eq(st0.valid)
            with m.If(st0.valid):
                m.d.sync += stages[1].eq(st0)
            # operand capture
            s1, s2 = stages[1], stages[2]
            m.d.sync += s2.valid.eq(s1.valid)
            with m.If(s1.valid):
                m.d.sync += [
                    s2.en.eq(s1.en), s2.row.eq(s1.row),
                    s2.pay.eq(s1.pay), s2.ctl.eq(s1.ctl),
                    s2.a.eq(A.read[0].data.as_signed()),
                    s2.v.eq(rec.v), s2.u.eq(rec.u), s2.p0.eq(rec.p0), s2.p1.eq(rec.p1),
                    s2.t[0].eq(rec.v), s2.t[1].eq(0), s2.t[2].eq(rec.u), s2.pred.eq(0),
                ]
                m.d.sync += [s2.bs.eq(bs0), s2.dec.eq(dec0)]
        at = 2
        for k in range(c.slots):
            if k < c.mul_slots:
                self._slot(m, k, stages[at], stages[at + 3], regs,
                           mid=(stages[at + 1], stages[at + 2]))
                at += 3
            else:
                self._slot(m, k, stages[at], stages[at + 1], regs)
                at += 1

        # ---------------------------------------------------------------- store stage
        st = stages[-1]
        ctl = st.ctl
        retire = st.valid & ~self.freeze & st.en
        temps = [st.t[0], st.t[1], st.t[2]]
        new_v = Signal(signed(sb))
        new_u = Signal(signed(sb))
        with m.Switch(ctl.st_v):
            for sel in StoreSel:
                with m.Case(sel):
                    m.d.comb += new_v.eq(st.v if sel is StoreSel.KEEP else temps[sel - 1])
        with m.Switch(ctl.st_u):
            for sel in StoreSel:
                with m.Case(sel):
                    m.d.comb += new_u.eq(st.u if sel is StoreSel.KEEP else temps[sel - 1])
        new_a = Signal(signed(c.acc_bits))
        with m.Switch(ctl.st_a):
            with m.Case(AccSel.X):
                m.d.comb += new_a.eq(temps[0])
            with m.Case(AccSel.Y):
                m.d.comb += new_a.eq(temps[1])
        vec_state_write = retire & ((ctl.st_v != StoreSel.KEEP) | (ctl.st_u != StoreSel.KEEP))
        vec_acc_write = retire & (ctl.st_a != AccSel.KEEP)
        m.d.comb += [
            S.write.addr.eq(st.row),
            S.write.data.eq(Cat(new_v, new_u, st.p0, st.p1)),
            S.write.en.eq(vec_state_write),
            A.write.addr.eq(Mux(vec_acc_write, acc_addr(self.now if ring else 0, st.row),
                                m2.row)),
            A.write.data.eq(Mux(vec_acc_write, new_a, total[:c.acc_bits])),
            A.write.en.eq(vec_acc_write | mac_write),
        ]
        emit_on = Signal()
        with m.Switch(ctl.emit):
            with m.Case(Emit.PRED):
                m.d.comb += emit_on.eq(st.pred)
            with m.Case(Emit.ALWAYS):
                m.d.comb += emit_on.eq(1)
        m.d.comb += [self.emit_req.eq(st.valid & st.en & emit_on),
                     self.emit_payload.eq(self._operand(m, st, ctl.emit_src, regs, "emit"))]
        return m

    def _operand(self, m, stage, sel, regs, name):
        """Second-operand mux (``Operand`` codes) of one stage, sign-extended."""
        fields = {f: getattr(stage, f) for f in ("a", "v", "u", "p0", "p1", "pay")}
        temps = {Operand.X: stage.t[0], Operand.Y: stage.t[1], Operand.Z: stage.t[2]}
        return self._select(m, {**temps, **self._static_sources(fields)}, sel, regs,
                            f"{name}_b")

    @staticmethod
    def _static_sources(fields):
        """The operands that do not change along the pipeline, by ``Operand`` code."""
        return {Operand.A: fields["a"], Operand.V: fields["v"], Operand.U: fields["u"],
                Operand.P0: fields["p0"], Operand.P1: fields["p1"],
                Operand.PAY: fields["pay"], Operand.ZERO: Const(0, 1),
                Operand.ONE: Const(1, 2)}

    def _select(self, m, sources, sel, regs, name):
        """``sources[sel]``, or register ``sel - R0``; 0 for any other code."""
        c = self.config.core
        out = Signal(signed(c.alu_bits), name=name)
        with m.Switch(sel):
            for code, value in sources.items():
                with m.Case(code):
                    m.d.comb += out.eq(value)
            for i in range(c.regs):
                with m.Case(Operand.R0 + i):
                    m.d.comb += out.eq(regs[i])
        return out

    def _decode(self, m, slot, name):
        """Slot control ``slot`` (one entry of ``ctl.slots``) as the one-hot ``_DEC``
        record. MUL and SRA decode to nothing here (the multiplier's stages write)."""
        dec = Signal(_DEC, name=name)
        op = slot.op
        writes = Signal(name=f"{name}_w")
        m.d.comb += [
            dec.asel.eq(Cat(*(slot.src_a == i for i in range(3)))),
            dec.bsel.eq(Cat(*(slot.src_b == code for code in (Operand.X, Operand.Y,
                                                                 Operand.Z)))),
            dec.add.eq((op == AluOp.ADD) | (op == AluOp.CADD)),
            dec.cage.eq(op == AluOp.CAGE),
            dec.r_b.eq(op == AluOp.MOV),
            dec.r_sum.eq((op == AluOp.ADD) | (op == AluOp.SUB)),
            dec.r_min.eq(op == AluOp.MIN), dec.r_max.eq(op == AluOp.MAX),
            dec.r_sel.eq(op == AluOp.SEL),
            dec.r_cadd.eq((op == AluOp.CADD) | (op == AluOp.CSUB)),
            dec.r_sat.eq(op == AluOp.SAT), dec.r_satp.eq(op == AluOp.SATP),
            dec.p_ge.eq(op == AluOp.CGE), dec.p_lt.eq(op == AluOp.CLT),
            writes.eq(Cat(dec.r_b, dec.r_sum, dec.r_min, dec.r_max, dec.r_sel, dec.r_cadd,
                          dec.r_sat, dec.r_satp).any()),
            dec.wdst.eq(Cat(*(writes & (slot.dst == i) for i in range(3)))),
        ]
        return dec

    def _static_operand(self, m, fields, sel, regs, name):
        """The second operand ``sel`` when it is not a temp (X, Y, Z read as 0): from
        ``fields`` (``a v u p0 p1 pay`` of the instruction), a constant or a register."""
        return self._select(m, self._static_sources(fields), sel, regs, name)

    @staticmethod
    def _clamp(a, bits):
        """Clamp to the signed range of ``bits``: in range iff the bits from ``bits-1``
        up are all equal (cheaper than two comparisons)."""
        top = a[bits - 1:]
        fits = (top == 0) | (top == (1 << len(top)) - 1)
        hi, lo = (1 << (bits - 1)) - 1, -(1 << (bits - 1))
        return Mux(fits, a, Mux(a[-1], lo, hi))

    def _slot(self, m, k, src, dst, regs, mid=None):
        """ALU slot ``k``: stage register ``src`` -> ``dst``, advancing unless frozen.

        A slot with a multiplier (``mid``: two more stage registers) spans three
        stages: the first selects the operands (and completes every op other than MUL
        and SRA), the second multiplies (MUL; the DSP's product width is D + state_bits),
        the third shifts (MUL by ``mul_shift``, SRA by the operand) into the
        destination temp. The stages in between carry the instruction unchanged."""
        c, isa = self.config.core, self.isa
        D = c.alu_bits
        slot = src.ctl.slots[k]
        op = slot.op
        dec = src.dec
        A = Signal(signed(D), name=f"s{k}_a")
        B = Signal(signed(D), name=f"s{k}_b")
        # one-hot AND-OR selects: the decode was done a stage ahead
        m.d.comb += [
            A.eq(Mux(dec.asel[0], src.t[0], 0) | Mux(dec.asel[1], src.t[1], 0)
                 | Mux(dec.asel[2], src.t[2], 0)),
            B.eq(Mux(dec.bsel[0], src.t[0], 0) | Mux(dec.bsel[1], src.t[1], 0)
                 | Mux(dec.bsel[2], src.t[2], 0) | Mux(dec.bsel == 0, src.bs, 0)),
        ]
        # A sum and a difference side by side serve ADD/SUB/CADD/CSUB and the
        # comparisons (A - B); two carry chains in parallel are faster than negating B
        # into one. CAGE: |A| >= B  <=>  A - B >= 0 (A >= 0)  or  A + B <= 0 (A < 0).
        sub = Signal(name=f"s{k}_sub")
        total = Signal(signed(D + 1), name=f"s{k}_sum")
        m.d.comb += [sub.eq(~(dec.add | (dec.cage & A[-1]))),
                     total.eq(Mux(sub, A - B, A + B))]
        lt = total[-1]  # valid for the subtracting ops: A < B
        # CAGE with A < 0 needs A + B == 0. Tested without the sum (a zero test on
        # the adder's output was mapped to a ripple of LUTs behind the carry chain):
        # over D + 1 bits, where the sum cannot wrap, A + B == 0 iff
        # A ^ B == (A | B) << 1.
        wide = signed(D + 1)
        ae, be = Signal(wide, name=f"s{k}_ae"), Signal(wide, name=f"s{k}_be")
        m.d.comb += [ae.eq(A), be.eq(B)]
        sum_zero = (ae ^ be).as_unsigned() == ((ae | be) << 1)[:D + 1]
        wrapped = total[:D].as_signed()
        result = Signal(signed(D), name=f"s{k}_r")
        pred = Signal(name=f"s{k}_p")
        mo = Signal.like(src.mo, name=f"s{k}_mo")
        sh = Signal.like(src.sh, name=f"s{k}_sh")
        mb = Signal.like(src.mb, name=f"s{k}_mb")
        mm = Signal(name=f"s{k}_mm")
        mw = Signal(name=f"s{k}_mw")
        terms = [(dec.r_b, B), (dec.r_sum, wrapped), (dec.r_min, Mux(lt, A, B)),
                 (dec.r_max, Mux(lt, B, A)), (dec.r_sel, Mux(src.pred, B, A)),
                 (dec.r_cadd, Mux(src.pred, wrapped, A)),
                 (dec.r_sat, self._clamp(A, c.state_bits)),
                 (dec.r_satp, self._clamp(A, c.payload_bits))]
        acc_r = 0
        for on, value in terms:
            acc_r = acc_r | Mux(on, value, 0)
        m.d.comb += result.eq(acc_r)
        m.d.comb += pred.eq(Mux(dec.p_ge, ~lt, Mux(dec.p_lt, lt, Mux(
            dec.cage, Mux(A[-1], lt | sum_zero, ~lt), src.pred))))
        with m.Switch(op):
            if mid is not None:
                # the multiply and the shift come in the next two stages
                with m.Case(AluOp.MUL):
                    m.d.comb += [mo.eq(A), mb.eq(B[:c.state_bits].as_signed()), mm.eq(1),
                                 sh.eq(src.ctl.mul_shift), mw.eq(1)]
                with m.Case(AluOp.SRA):
                    m.d.comb += [mo.eq(A), sh.eq(B[:isa.shift_bits].as_unsigned()), mw.eq(1)]
        if mid is not None:
            mid, mid2 = mid
        first = dst if mid is None else mid
        nxt = k + 1 if k + 1 < c.slots else None
        if nxt is not None:
            # the instruction entering dst: its next slot's static operand
            into = src if mid is None else mid2
            bs_next = self._static_operand(
                m, {f: getattr(into, f) for f in ("a", "v", "u", "p0", "p1", "pay")},
                into.ctl.slots[nxt].src_b, regs, f"s{nxt}_bs")
            dec_next = self._decode(m, into.ctl.slots[nxt], f"s{nxt}_dec")
        if mid is not None:
            shifted = Signal(signed(D), name=f"s{k}_shifted")
            m.d.comb += shifted.eq(mid2.mo >> mid2.sh)
        with m.If(~self.freeze):
            # (only valid instructions load a stage: see the MAC pipeline)
            m.d.sync += first.valid.eq(src.valid)
            with m.If(src.valid):
                m.d.sync += [first.eq(src), first.pred.eq(pred)]
                for i in range(3):
                    with m.If(dec.wdst[i]):
                        m.d.sync += first.t[i].eq(result)
                if mid is not None:
                    m.d.sync += [mid.mo.eq(mo), mid.mb.eq(mb), mid.sh.eq(sh),
                                 mid.mm.eq(mm), mid.mw.eq(mw)]
            if mid is not None:
                m.d.sync += mid2.valid.eq(mid.valid)
                with m.If(mid.valid):
                    m.d.sync += [mid2.eq(mid), mid2.mo.eq(
                        Mux(mid.mm, mid.mo[:D].as_signed() * mid.mb, mid.mo))]
                m.d.sync += dst.valid.eq(mid2.valid)
                with m.If(mid2.valid):
                    m.d.sync += dst.eq(mid2)
                    for i in range(3):
                        with m.If(mid2.mw & (mid2.ctl.slots[k].dst == i)):
                            m.d.sync += dst.t[i].eq(shifted)
            if nxt is not None:
                into_valid = src.valid if mid is None else mid2.valid
                with m.If(into_valid):
                    m.d.sync += [dst.bs.eq(bs_next), dst.dec.eq(dec_next)]
