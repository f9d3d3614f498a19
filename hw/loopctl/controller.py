"""Loop controller: task queue, job descriptors, microcode, zero-overhead loops, issue.

Tasks (an event on axon ``a`` with payload ``p``, or a tick) enter a FIFO. The job
generator turns each into jobs: an event reads its axon-table entry; a tick reads the
layer table entry by entry (stopping at the first invalid one) and ends with a
tick-end marker. Up to three jobs wait, so the next job's descriptor is ready when the
current job ends and back-to-back events issue without a bubble, even one-row ones.

The issue stage runs a job's microprogram, one instruction per cycle, to all lanes.
Semantics (loop nests, address generators, masks, ``end``) are those of
:mod:`sim.golden.loopctl`; this module adds only timing:

* the microcode word fetched in cycle *t* is decoded in *t+1* (loop nests, address
  generators, lane mask) into the issue register; the next address is computed from
  the decoded instruction, so loops close with no bubble. A single-instruction loop
  body holds the word instead of re-reading it. ``pc``'s compares with the running
  nest's first and last instruction, and the job's count compared with 0, 1 and 2, are
  registers set with ``pc``, the nest and the job, so the path from ``pc`` to the next
  address holds no compare of two registers;
* the issue register drives the lanes: its instruction issues (strobes ``issue.vec``,
  ``mac`` or ``setr`` for one cycle) in *t+2* unless a hazard holds it, and the
  decode stage stalls behind it. The hazard checks act only on registers (the issue
  register's row and the shadow pipelines), so neither the microcode read nor the
  address adders lie on the path to the stall and the enables it gates;
* hazards stall issue (the instruction waits; nothing is lost): a VEC instruction waits
  while a MAC is in flight (three cycles after its issue: the lane's M1, MW and M2) or
  while an older VEC instruction that stores has the same row in its pipeline; MAC and
  SETR wait while any VEC instruction is in flight;
  everything waits while ``freeze`` is high;
* a tick-end marker completes (``tick_done`` for one cycle) once the issue register,
  both pipelines and the core's event generator (``emit_idle``) are empty.

Cycle costs: an event whose program is one looping MAC over ``r`` rows issues in ``r``
cycles back to back with the next event's; a job ending with the FIFO empty costs the
two-cycle descriptor read, one fetch cycle and one decode cycle before the next job
issues.
"""

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import ChipConfig, DelayUnit
from ..spec.delay import push_layout
from ..spec.isa import AGUS, LOOP_LEVELS, AccSel, CountSrc, InstrClass, Isa, SetrSrc, StoreSel
from ..spec.memmap import core_memories
from ..mem import FaultSRAM

__all__ = ["LoopController", "JobKind", "task_layout"]


class JobKind(enum.Enum, shape=2):
    EVENT = 0
    LAYER = 1
    TICK_END = 2


def task_layout(isa: Isa) -> data.StructLayout:
    """A task: ``tick`` set for a tick, else an event on ``axon`` with ``payload``; with
    a delay unit, ``delayed`` marks an event leaving the delay queue, which runs only
    its delay ``group``."""
    c = isa.core
    extra = {"delayed": 1, "group": max(1, isa.group_bits)} if isa.delay.enabled else {}
    return data.StructLayout({"tick": 1, "axon": c.axon_bits, "payload": signed(c.payload_bits),
                              **extra})


class LoopController(wiring.Component):
    """Microcoded loop controller of one neurocore.

    Members
    -------
    tasks : ``In(stream.Signature(task_layout))``
    issue : ``Out(isa.lane_issue)``, broadcast to the lanes (strobes valid one cycle).
    freeze : ``In(1)``, the core's event generator holds the VEC pipeline.
    emit_idle : ``In(1)``, the core's event generator holds no spike.
    store_valid, store_row : ``Out``, the VEC store stage (for the event generator).
    tick_done : ``Out(1)``, one cycle when a tick has completed.
    event_taken : ``Out(1)``, one cycle per event task taken from the queue.
    idle : ``Out(1)``, no task queued, no job pending or running, pipelines empty.
    stall : ``Out(1)``, the issue register holds an instruction back this cycle (a
        hazard or ``freeze``).
    delayed : ``Out(stream.Signature(scdq.push_layout))`` (SCDQ only): the groups of
        nonzero delay, for the delay queue.
    now : ``Out(slot_bits)`` (ring buffer only): the timestep mod ``delay.slots``;
        steps on at each ``tick_done``.

    Delay groups: with a delay unit, an event task on axon ``a`` walks the axon-table
    words ``a * groups + g`` for ``g = 0, 1, ...`` while ``more`` is set (one word per
    cycle while the job queue has room): with the SCDQ a group of nonzero delay goes
    out on ``delayed`` (waiting for its ``ready``) instead of becoming a job. A
    ``delayed`` task reads its one group's word and runs it. With the ring buffer every
    group becomes a job, and its MACs issue with ``slot = now + delay``.
    """

    def __init__(self, config: ChipConfig, *, prefix: str = "core", directory=None,
                 images=None):
        self.config = config
        self.isa = isa = Isa.of(config)
        specs = {s.name: s for s in core_memories(isa, prefix)}
        mk = lambda kind: FaultSRAM.for_chip(specs[f"{prefix}.{kind}"], config, directory,
                                             images=images)
        self.microcode = mk("microcode")
        self.axon_table = mk("axon_table")
        self.layer_table = mk("layer_table")
        self.job_layout = data.StructLayout({"kind": JobKind, **dict(isa.job.members),
                                             "payload": signed(config.core.payload_bits)})
        extra = {}
        if isa.unit is DelayUnit.SCDQ:
            extra["delayed"] = Out(stream.Signature(push_layout(config)))
        if isa.unit is DelayUnit.RING:
            extra["now"] = Out(isa.slot_bits)
        super().__init__({
            **extra,
            "tasks": In(stream.Signature(task_layout(isa))),
            "issue": Out(isa.lane_issue),
            "freeze": In(1),
            "emit_idle": In(1),
            "store_valid": Out(1),
            "store_row": Out(isa.target_bits),
            "tick_done": Out(1),
            "event_taken": Out(1),
            "idle": Out(1),
            "stall": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.microcode = self.microcode
        m.submodules.axon_table = self.axon_table
        m.submodules.layer_table = self.layer_table
        n = _Nets()
        # in this order: each part reads nets of the parts before it (and a few that
        # later parts drive: those are declared by the earlier part)
        self._task_queue(m, n)
        self._descriptor_reads(m, n)
        self._job_generator(m, n)
        self._shadow_pipelines(m, n)
        self._nest_registers(m, n)
        self._count_decode(m, n)
        self._effective_nest(m, n)
        self._loop_exit(m, n)
        self._hazards(m, n)
        self._issue_bundle(m, n)
        self._nest_update(m, n)
        self._fetch(m, n)
        self._idle(m, n)
        return m

    def _task_queue(self, m, n):
        """The task FIFO (``event_fifo_depth`` deep) and its head.

        Drives ``tasks.ready`` and the FIFO's write side. ``head``/``head_valid`` is the
        oldest task, or, with the FIFO empty, the task on ``tasks`` in the same cycle
        (``take_direct``, driven by the job generator, takes it straight from the input:
        one cycle less latency). ``tick_direct`` remembers a tick so taken until its
        expansion ends.
        """
        c, isa = self.config.core, self.isa
        m.submodules.tasks = tq = fifo.SyncFIFO(width=task_layout(isa).size,
                                                depth=c.event_fifo_depth)
        take_direct = Signal()
        tick_direct = Signal()
        m.d.comb += [tq.w_data.eq(self.tasks.payload),
                     tq.w_en.eq(self.tasks.valid & ~take_direct),
                     self.tasks.ready.eq(tq.w_rdy | take_direct)]
        head = Signal(task_layout(isa))
        head_valid = Signal()
        m.d.comb += [head.eq(Mux(tq.r_rdy, tq.r_data, self.tasks.payload)),
                     head_valid.eq(tq.r_rdy | self.tasks.valid)]
        n.add(tq=tq, take_direct=take_direct, tick_direct=tick_direct, head=head,
              head_valid=head_valid)

    def _descriptor_reads(self, m, n):
        """The job queue's write side and the axon- and layer-table reads.

        The job queue holds three jobs (one running out, one ready, one whose
        descriptor is being read), so one-row jobs run back to back. A table read
        issued in cycle *t* (``rd_event``/``rd_layer`` set for *t+1*) has its
        descriptor on the read port in *t+1*; ``space`` counts those in flight against
        the queue. An event descriptor read in *t+1* becomes a job pushed in *t+1*
        (``push``/``push_valid``), or, with the SCDQ and a nonzero delay read by the
        group walker, goes out on ``delayed`` in that cycle instead. Drives the read
        addresses: the axon table at ``(head.axon, a_group)`` (``a_group`` the task's
        own group for a delayed task, else set by the walker), the layer table at
        ``layer_i``.
        """
        c, isa = self.config.core, self.isa
        atab, ltab, tq, head = self.axon_table, self.layer_table, n.tq, n.head
        jl = self.job_layout
        m.submodules.jobs = jq = fifo.SyncFIFO(width=jl.size, depth=3)
        push = Signal(jl)
        push_valid = Signal()
        m.d.comb += jq.w_data.eq(push)
        rd_event = Signal()
        rd_payload = Signal(signed(c.payload_bits))
        rd_layer = Signal()
        layer_i = Signal(range(c.layers))
        space = (jq.level + rd_event + rd_layer) < 3
        m.d.sync += [rd_event.eq(0), rd_layer.eq(0)]
        adesc = data.View(isa.job, atab.read[0].data)
        ldesc = data.View(isa.layer, ltab.read[0].data)
        groups = isa.delay.enabled
        gb = isa.group_bits
        grp = Signal(max(1, gb))            # the group the walker reads
        rd_walk = Signal()                  # rd_event's word was read by the walker
        to_queue = Signal()                 # ... and goes to the delay queue
        if isa.unit is DelayUnit.SCDQ:
            m.d.comb += to_queue.eq(rd_event & rd_walk & (adesc.delay != 0))
            dq = self.delayed.payload
            m.d.comb += [dq.axon.eq(head.axon), dq.group.eq(grp), dq.delay.eq(adesc.delay),
                         dq.payload.eq(rd_payload), self.delayed.valid.eq(to_queue)]
        with m.If(rd_event & ~to_queue):
            m.d.comb += [push.kind.eq(JobKind.EVENT), push.pc.eq(adesc.pc),
                         push.base.eq(adesc.base), push.count.eq(adesc.count),
                         push.mask.eq(adesc.mask), push.payload.eq(rd_payload),
                         push_valid.eq(1)]
            if groups:
                m.d.comb += push.delay.eq(adesc.delay)
        a_group = Signal(max(1, gb))
        m.d.comb += [atab.read[0].addr.eq(Cat(a_group[:gb], head.axon) if groups else head.axon),
                     ltab.read[0].addr.eq(layer_i)]
        if groups:
            m.d.sync += rd_walk.eq(0)
            m.d.comb += a_group.eq(Mux(head.delayed, head.group, 0))
        n.add(jq=jq, push=push, push_valid=push_valid, rd_event=rd_event,
              rd_payload=rd_payload, rd_layer=rd_layer, layer_i=layer_i, space=space,
              adesc=adesc, ldesc=ldesc, grp=grp, rd_walk=rd_walk, to_queue=to_queue,
              a_group=a_group)

    def _job_generator(self, m, n):
        """The job generator FSM (``jobgen``): turns the head task into jobs.

        ``IDLE``: with a task at the head and room in the job queue, an event reads its
        axon-table word (with delay groups, ``WALK`` then reads word after word, one per
        cycle while the queue has room, ``WALK_READ`` waiting for room, holding a word
        the delay queue has not taken yet), a delayed task reads its one group's word,
        a tick reads layer entry 0 (``TICK_WAIT``; ``TICK_READ`` reads the next one
        when there is room) until an invalid entry or the last layer, then pushes the
        tick-end marker (``TICK_END``). Drives the table read enables, ``rd_event``,
        ``rd_layer``, the task queue's read (``take_direct`` when the task came straight
        from the input), ``event_taken`` (one cycle per event task) and pushes the
        layer jobs and the tick-end marker.
        """
        c, isa = self.config.core, self.isa
        atab, ltab = self.axon_table, self.layer_table
        tq, take_direct, tick_direct, head, head_valid = (
            n.tq, n.take_direct, n.tick_direct, n.head, n.head_valid)
        jq, push, push_valid, rd_event, rd_payload, rd_layer, layer_i, space = (
            n.jq, n.push, n.push_valid, n.rd_event, n.rd_payload, n.rd_layer, n.layer_i,
            n.space)
        adesc, ldesc, grp, rd_walk, to_queue, a_group = (
            n.adesc, n.ldesc, n.grp, n.rd_walk, n.to_queue, n.a_group)
        groups = isa.delay.enabled

        def pop_task():
            m.d.comb += [tq.r_en.eq(tq.r_rdy), take_direct.eq(~tq.r_rdy)]

        with m.FSM(name="jobgen") as gen:
            with m.State("IDLE"):
                with m.If(head_valid & space):
                    with m.If(head.tick):
                        # layer_i is 0 here: read the first layer entry right away
                        m.d.comb += [ltab.read[0].en.eq(1), take_direct.eq(~tq.r_rdy)]
                        m.d.sync += [rd_layer.eq(1), tick_direct.eq(~tq.r_rdy)]
                        m.next = "TICK_WAIT"
                    with m.Elif(head.delayed if groups else 0):
                        # a group leaving the delay queue: run it
                        m.d.comb += atab.read[0].en.eq(1)
                        pop_task()
                        m.d.sync += [rd_event.eq(1), rd_payload.eq(head.payload)]
                    with m.Else():
                        m.d.comb += [atab.read[0].en.eq(1), self.event_taken.eq(1)]
                        m.d.sync += [rd_event.eq(1), rd_payload.eq(head.payload)]
                        if groups:
                            # the task stays at the head until its last group is read
                            m.d.sync += [rd_walk.eq(1), grp.eq(0)]
                            m.next = "WALK"
                        else:
                            pop_task()
            if groups:
                with m.State("WALK"):
                    # rd_event is high: word (head.axon, grp) is on the read port
                    sent = ~to_queue | self.delayed.ready if isa.unit is DelayUnit.SCDQ \
                        else Const(1)
                    with m.If(~sent):
                        # hold the word (the port keeps its data) until the queue takes it
                        m.d.sync += [rd_event.eq(1), rd_walk.eq(1)]
                    with m.Elif(~adesc.more | (grp == isa.groups - 1)):
                        pop_task()
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += grp.eq(grp + 1)
                        m.next = "WALK_READ"
                        with m.If((jq.level + ~to_queue) < 3):
                            m.d.comb += [a_group.eq(grp + 1), atab.read[0].en.eq(1)]
                            m.d.sync += [rd_event.eq(1), rd_walk.eq(1)]
                            m.next = "WALK"
                with m.State("WALK_READ"):
                    with m.If(space):
                        m.d.comb += [a_group.eq(grp), atab.read[0].en.eq(1)]
                        m.d.sync += [rd_event.eq(1), rd_walk.eq(1)]
                        m.next = "WALK"
            with m.State("TICK_READ"):
                with m.If(space):
                    m.d.comb += ltab.read[0].en.eq(1)
                    m.d.sync += rd_layer.eq(1)
                    m.next = "TICK_WAIT"
            with m.State("TICK_WAIT"):
                with m.If(ldesc.valid):
                    m.d.comb += [push.kind.eq(JobKind.LAYER), push.pc.eq(ldesc.pc),
                                 push.base.eq(ldesc.base), push.count.eq(ldesc.count),
                                 push.mask.eq(ldesc.mask), push_valid.eq(1)]
                    with m.If(layer_i == c.layers - 1):
                        m.next = "TICK_END"
                    with m.Else():
                        m.d.sync += layer_i.eq(layer_i + 1)
                        m.next = "TICK_READ"
                with m.Else():
                    m.next = "TICK_END"
            with m.State("TICK_END"):
                with m.If(space):
                    m.d.comb += [push.kind.eq(JobKind.TICK_END), push_valid.eq(1),
                                 tq.r_en.eq(~tick_direct)]
                    m.d.sync += layer_i.eq(0)
                    m.next = "IDLE"
        n.add(gen=gen)

    def _shadow_pipelines(self, m, n):
        """Shadow copies of the lanes' VEC and MAC pipelines, for the hazard checks.

        Stage 0 is the issue cycle (combinational, driven by :meth:`_issue_bundle`);
        stage *k* holds what issued *k* cycles ago. The VEC pipeline (valid, stores,
        row; ``vec_depth`` stages) holds while ``freeze`` is high, the MAC pipeline
        (``mac_depth`` stages) always moves. Drives ``store_valid``/``store_row`` (the
        VEC store stage) and ``drained``: both pipelines and the event generator empty.
        """
        isa = self.isa
        nrow = isa.target_bits
        vdepth = isa.vec_depth
        # index k: pipeline stage k; stage 0 is the issue cycle (combinational)
        v_valid = [Signal(name=f"v_valid{k}") for k in range(vdepth + 1)]
        v_store = [Signal(name=f"v_store{k}") for k in range(vdepth + 1)]
        v_row = [Signal(nrow, name=f"v_row{k}") for k in range(vdepth + 1)]
        # MAC: issue, then the lane's isa.mac_depth stages
        m_valid = [Signal(name=f"m_valid{k}") for k in range(isa.mac_depth + 1)]
        with m.If(~self.freeze):
            for k in range(vdepth):
                m.d.sync += [v_valid[k + 1].eq(v_valid[k]), v_store[k + 1].eq(v_store[k]),
                             v_row[k + 1].eq(v_row[k])]
        m.d.sync += [m_valid[k + 1].eq(m_valid[k]) for k in range(len(m_valid) - 1)]
        vec_busy = Cat(*v_valid[1:]).any()
        mac_busy = Cat(*m_valid[1:]).any()
        m.d.comb += [self.store_valid.eq(v_valid[vdepth]), self.store_row.eq(v_row[vdepth])]
        drained = ~vec_busy & ~mac_busy & self.emit_idle
        n.add(nrow=nrow, vdepth=vdepth, v_valid=v_valid, v_store=v_store, v_row=v_row,
              m_valid=m_valid, vec_busy=vec_busy, mac_busy=mac_busy, drained=drained)

    def _nest_registers(self, m, n):
        """Declares the issue stage's registers (driven by :meth:`_nest_update` and
        :meth:`_fetch`): ``ir_valid`` (a job is running), ``pc``, ``cur`` (the running
        job's descriptor), the running loop nest (``n_active``, its first and last
        instruction, per level count, index and ``n_last`` = index is count - 1, per
        address generator and level pointer and stride) and the registered compares
        ``start_here`` (pc is the nest's first instruction), ``end_here`` (its last),
        ``n_single`` (they are one) and ``cur_count_is{v}`` (the job's count is
        ``v``, 0 to 2), which keep compares of two registers off the path from ``pc``
        to the next microcode address."""
        c = self.config.core
        ins = data.View(self.isa.instruction, self.microcode.read[0].data)
        ir_valid = Signal()
        pc = Signal(c.pc_bits)
        cur = Signal(self.job_layout)          # the running job's descriptor
        abits = c.row_bits + 1
        n_active = Signal()
        n_start = Signal(c.pc_bits)
        n_end = Signal(c.pc_bits)
        n_cnt = [Signal(c.count_bits, name=f"n_cnt{l}") for l in range(LOOP_LEVELS)]
        n_idx = [Signal(c.count_bits, name=f"n_idx{l}") for l in range(LOOP_LEVELS)]
        # n_last[l] == (n_idx[l] == n_cnt[l] - 1), kept in a register so that the loop
        # exit test is not a subtract-and-compare after the microcode read
        n_last = [Signal(name=f"n_last{l}") for l in range(LOOP_LEVELS)]
        n_ptr = [[Signal(signed(abits), name=f"n_ptr{k}_{l}") for l in range(LOOP_LEVELS)]
                 for k in range(AGUS)]
        n_str = [[Signal(signed(abits), name=f"n_str{k}_{l}") for l in range(LOOP_LEVELS)]
                 for k in range(AGUS)]

        # Compares of `pc` with the nest's bounds, and of the job's count with 0, 1 and 2,
        # are kept in registers (updated with `pc`, the nest and `cur`): from `pc` to the
        # next microcode address they would otherwise add a 10-bit compare ahead of the
        # loop-back decision.
        start_here = Signal()       # pc == n_start
        end_here = Signal()         # pc == n_end
        n_single = Signal()         # n_start == n_end
        cur_is = [Signal(name=f"cur_count_is{v}") for v in range(3)]  # cur.count == v
        n.add(ins=ins, ir_valid=ir_valid, pc=pc, cur=cur, abits=abits, n_active=n_active,
              n_start=n_start, n_end=n_end, n_cnt=n_cnt, n_idx=n_idx, n_last=n_last,
              n_ptr=n_ptr, n_str=n_str, start_here=start_here, end_here=end_here,
              n_single=n_single, cur_is=cur_is)

    def _count_decode(self, m, n):
        """Decode stage, loop opening: combinational from the microcode word.

        ``opening``: the instruction has ``loop`` and its nest is not already running
        (execution did not loop back to it). ``cnt_open[l]``: the count level ``l``
        opens with (immediate, the job's count, or 1); ``cnt_is[v][l]``: that count
        is ``v`` (0 to 2), from compares on the word and the registered
        ``cur_count_is``. ``zero``: an opening nest has a zero count (its body is
        skipped).
        """
        c = self.config.core
        ins, cur, n_active, start_here, cur_is = (n.ins, n.cur, n.n_active, n.start_here,
                                                  n.cur_is)
        # An instruction with `loop` opens its nest unless that nest is already running
        # (execution looped back to it).
        opening = Signal()
        m.d.comb += opening.eq(ins.loop & ~(n_active & start_here))
        cnt_open = []
        cnt_is = [[], [], []]       # cnt_is[v][l]: cnt_open[l] == v
        for l in range(LOOP_LEVELS):
            cl = Signal(c.count_bits, name=f"cnt_open{l}")
            src = ins.cnt_src[l]
            with m.Switch(src):
                with m.Case(CountSrc.IMM):
                    m.d.comb += cl.eq(ins.cnt_imm[l])
                with m.Case(CountSrc.PARAM):
                    m.d.comb += cl.eq(cur.count)
                with m.Default():
                    m.d.comb += cl.eq(1)
            cnt_open.append(cl)
            is_imm, is_param = src == CountSrc.IMM, src == CountSrc.PARAM
            for v in range(3):
                fixed = int(v == 1)     # the default source counts 1
                cnt_is[v].append(Mux(is_imm, ins.cnt_imm[l] == v,
                                     Mux(is_param, cur_is[v], fixed)))
        zero = Signal()
        m.d.comb += zero.eq(opening & Cat(*cnt_is[0]).any())
        n.add(opening=opening, cnt_open=cnt_open, cnt_is=cnt_is, zero=zero)

    def _effective_nest(self, m, n):
        """Decode stage, the nest as this instruction runs in it, and the address
        generators: combinational.

        ``e_*`` is the opening nest's fresh values (first instruction ``pc``, last
        ``body_end``, counts ``cnt_open``, indices 0, pointers at the AGU's base: the
        job's base or 0, the word's strides) when ``opening``, else the running nest's
        registers. ``addr{k}``: address generator ``k``'s row (its level-0 pointer,
        or its base outside a nest, plus the word's offset), issued with this
        instruction.
        """
        ins, cur, pc, abits, opening = n.ins, n.cur, n.pc, n.abits, n.opening

        def eff(reg, fresh, name):
            s = Signal.like(reg, name=name)
            m.d.comb += s.eq(Mux(opening, fresh, reg))
            return s
        base_k = [Mux(ins.agu[k].base, cur.base, 0) for k in range(AGUS)]
        e_active = Signal()
        m.d.comb += e_active.eq(opening | n.n_active)
        e_start = eff(n.n_start, pc, "e_start")
        e_end = eff(n.n_end, ins.body_end, "e_end")
        e_cnt = [eff(n.n_cnt[l], n.cnt_open[l], f"e_cnt{l}") for l in range(LOOP_LEVELS)]
        e_idx = [eff(n.n_idx[l], 0, f"e_idx{l}") for l in range(LOOP_LEVELS)]
        e_ptr = [[eff(n.n_ptr[k][l], base_k[k], f"e_ptr{k}_{l}") for l in range(LOOP_LEVELS)]
                 for k in range(AGUS)]
        e_str = [[eff(n.n_str[k][l], ins.agu[k].stride[l], f"e_str{k}_{l}")
                  for l in range(LOOP_LEVELS)] for k in range(AGUS)]

        addr = [Signal(signed(abits), name=f"addr{k}") for k in range(AGUS)]
        for k in range(AGUS):
            m.d.comb += addr[k].eq(Mux(e_active, e_ptr[k][0], base_k[k]) + ins.agu[k].offset)
        n.add(e_active=e_active, e_start=e_start, e_end=e_end, e_cnt=e_cnt, e_idx=e_idx,
              e_ptr=e_ptr, e_str=e_str, addr=addr)

    def _loop_exit(self, m, n):
        """Decode stage, sequencing: combinational.

        ``at_last[l]``: level ``l`` is at its last index; ``loop_back``: this is the
        nest's last instruction and some level has iterations left; ``nest_done``:
        the last instruction of the last iteration; ``job_end``: ``end`` takes effect
        (outside a nest, at the nest's end, or skipped with a zero-count nest).
        ``next_pc`` (body end + 1 on a zero-count skip, the nest's first instruction on
        a loop back, else pc + 1) and ``same_pc`` (next_pc == pc, found without
        comparing next_pc: a single-instruction body holds its word). ``mask``: the
        job's lane mask in the last iteration of a nest, else all lanes.
        """
        c = self.config.core
        ins, pc, cur, opening, zero, cnt_is = n.ins, n.pc, n.cur, n.opening, n.zero, n.cnt_is
        e_active, e_start = n.e_active, n.e_start
        at_last = [Signal(name=f"at_last{l}") for l in range(LOOP_LEVELS)]
        m.d.comb += [at_last[l].eq(Mux(opening, cnt_is[1][l], n.n_last[l]))
                     for l in range(LOOP_LEVELS)]
        last_iter = Cat(*at_last).all()
        # an opening nest compares pc with the word's body_end; a running one has the
        # compare in a register
        ins_end_here = Signal()
        m.d.comb += ins_end_here.eq(pc == ins.body_end)
        at_end = Signal()
        m.d.comb += at_end.eq(Mux(opening, ins_end_here, n.n_active & n.end_here))
        loop_back = Signal()
        nest_done = Signal()
        m.d.comb += [loop_back.eq(at_end & ~last_iter), nest_done.eq(at_end & last_iter)]
        job_end = Signal()
        m.d.comb += job_end.eq(Mux(zero, ins.end, (~e_active | nest_done) & ins.end))
        next_pc = Signal(c.pc_bits)
        # next_pc == pc, without comparing next_pc: only a loop back to this very
        # instruction (a single-instruction body) or a zero-count skip that wraps
        same_pc = Signal()
        m.d.comb += same_pc.eq(Mux(zero, ins.body_end == (pc - 1)[:c.pc_bits],
                                   loop_back & (opening | n.start_here)))
        m.d.comb += next_pc.eq(Mux(zero, ins.body_end + 1, Mux(loop_back, e_start, pc + 1)))
        all_lanes = (1 << c.lanes) - 1
        mask = Signal(c.lanes)
        m.d.comb += mask.eq(Mux(e_active & last_iter, cur.mask, all_lanes))
        n.add(at_last=at_last, ins_end_here=ins_end_here, loop_back=loop_back,
              nest_done=nest_done, job_end=job_end, next_pc=next_pc, same_pc=same_pc,
              mask=mask)

    def _hazards(self, m, n):
        """The issue register (``isq``) and the hazard checks.

        The decoded instruction enters ``isq`` (``advance``, in :meth:`_issue_bundle`)
        when a job is running and ``isq`` is empty or leaving; it leaves (issues,
        ``leave``) unless ``freeze`` is high or a hazard holds it: a VEC waits while a
        MAC is in flight or an older storing VEC has its row in the pipeline
        (``conflict``, from the registered ``match{k}``: isq's row equals stage k's),
        MAC and SETR wait while a VEC is in flight. Drives ``stall`` (held back this
        cycle). The checks act on registers only, so neither the microcode read nor the
        address adders are on the path to ``advance`` and the enables it gates.
        ``fire``: the decoded instruction issues into ``isq`` (not skipped by a
        zero-count nest).
        """
        isa = self.isa
        v_valid, v_store, vdepth = n.v_valid, n.v_store, n.vdepth
        # The decoded instruction goes into the issue register (`isq`) when that is empty
        # or leaving; the hazard checks act on the issue register, whose row is a
        # register, so neither the microcode read nor the address adders are on the
        # path to `advance` and the enables it gates.
        cls = n.ins.cls
        isq = Signal(isa.lane_issue)
        isq_store = Signal()
        isq_valid = Signal()
        m.d.comb += isq_valid.eq(isq.vec | isq.mac | isq.setr)
        # match[k]: the issue register's row equals stage k's. Kept as registers that
        # shift with the pipeline (each row compared once, as the instruction enters
        # the issue register), so the stall is a few gates from flip-flops.
        match = [None] + [Signal(name=f"match{k}") for k in range(1, vdepth + 1)]
        conflict = Cat(*(v_valid[k] & v_store[k] & match[k]
                         for k in range(1, vdepth + 1))).any()
        ok = Signal()
        m.d.comb += ok.eq(Mux(isq.vec, ~n.mac_busy & ~conflict, ~n.vec_busy))
        leave = Signal()
        m.d.comb += [leave.eq(isq_valid & ~self.freeze & ok),
                     self.stall.eq(isq_valid & ~leave)]
        advance = Signal()
        m.d.comb += advance.eq(n.ir_valid & (~isq_valid | leave))
        fire = advance & ~n.zero
        n.add(cls=cls, isq=isq, isq_store=isq_store, isq_valid=isq_valid, match=match,
              leave=leave, advance=advance, fire=fire)

    def _issue_bundle(self, m, n):
        """The issue bundle, the issue register's load and the ``issue`` output.

        ``iss`` is the decoded instruction for the lanes (class strobe when
        ``fire``, lane mask, AGU rows, MAC type, payload, VEC controls, SETR
        destination and value); it is loaded into ``isq`` on ``advance``, and ``isq``'s
        strobes clear when it leaves with nothing behind it. ``issue`` is ``isq`` with
        its strobes high for the one cycle it leaves, which is also stage 0 of the
        shadow pipelines. The ``match{k}`` registers shift with the VEC pipeline
        (holding while frozen) and compare an entering row once. Ring buffer: ``now``
        steps at each ``tick_done`` and a MAC's slot is ``now + delay``.
        """
        c, isa = self.config.core, self.isa
        ins, cur, cls, isq, advance, leave, match = (n.ins, n.cur, n.cls, n.isq, n.advance,
                                                     n.leave, n.match)
        fire, nrow, vdepth, v_row, addr = n.fire, n.nrow, n.vdepth, n.v_row, n.addr
        # issue bundle
        iss = Signal(isa.lane_issue)
        stores = (ins.st_v != StoreSel.KEEP) | (ins.st_u != StoreSel.KEEP) | \
            (ins.st_a != AccSel.KEEP)
        rval = Signal(signed(c.state_bits))
        with m.Switch(ins.setr_src):
            with m.Case(SetrSrc.IMM):
                m.d.comb += rval.eq(ins.imm)
            with m.Case(SetrSrc.PAYLOAD):
                m.d.comb += rval.eq(cur.payload)
            with m.Case(SetrSrc.BASE):
                m.d.comb += rval.eq(cur.base)
            with m.Case(SetrSrc.COUNT):
                m.d.comb += rval.eq(cur.count)
        m.d.comb += [
            iss.vec.eq(fire & (cls == InstrClass.VEC)),
            iss.mac.eq(fire & (cls == InstrClass.MAC)),
            iss.setr.eq(fire & (cls == InstrClass.SETR)),
            iss.mask.eq(n.mask), iss.row.eq(addr[0]), iss.arow.eq(addr[1]),
            iss.mac_t.eq(ins.mac_t), iss.payload.eq(cur.payload),
            iss.ctl.eq(Cat(*(getattr(ins, f) for f in isa.vec_control.members))),
            iss.rd.eq(ins.rd), iss.rval.eq(rval),
        ]
        with m.If(advance):
            m.d.sync += [isq.eq(iss), n.isq_store.eq(stores)]
        with m.Elif(leave):
            m.d.sync += [isq.vec.eq(0), isq.mac.eq(0), isq.setr.eq(0)]
        # match registers for the next cycle: stage k then holds what stage k-1 holds
        # now unless frozen; stage 1 then holds what leaves the issue register now
        with m.If(self.freeze):
            for k in range(1, vdepth + 1):
                m.d.sync += match[k].eq(Mux(advance, v_row[k] == iss.row[:nrow], match[k]))
        with m.Else():
            # (only read when an instruction enters the issue register now)
            m.d.sync += match[1].eq(isq.row[:nrow] == iss.row[:nrow])
            for k in range(1, vdepth):
                m.d.sync += match[k + 1].eq(Mux(advance, v_row[k] == iss.row[:nrow],
                                                match[k]))
        out = self.issue
        m.d.comb += [
            out.eq(isq),
            out.vec.eq(leave & isq.vec), out.mac.eq(leave & isq.mac),
            out.setr.eq(leave & isq.setr),
            n.v_valid[0].eq(out.vec), n.v_store[0].eq(n.isq_store),
            v_row[0].eq(isq.row[:nrow]),
            n.m_valid[0].eq(out.mac),
        ]
        if isa.unit is DelayUnit.RING:
            m.d.comb += iss.slot.eq(self.now + cur.delay)
            with m.If(self.tick_done):
                m.d.sync += self.now.eq(self.now + 1)

    def _nest_update(self, m, n):
        """The loop-nest registers, written on ``advance`` (the decoded instruction
        enters the issue register).

        The nest takes the effective values (:meth:`_effective_nest`); it stays active
        unless it is done or skipped. Odometer: on a loop back the lowest level not at
        its last index steps (``step_level``), the levels below it restart at 0 and
        their pointers all take the stepping level's pointer plus its stride.
        ``nx_last`` (the new index is count - 1) comes from compares that do not wait
        for the loop-back decision.
        """
        c = self.config.core
        opening, cnt_is, at_last, loop_back = n.opening, n.cnt_is, n.at_last, n.loop_back
        n_idx, n_cnt, e_idx, e_cnt, e_ptr, e_str = (n.n_idx, n.n_cnt, n.e_idx, n.e_cnt,
                                                    n.e_ptr, n.e_str)
        n_ptr, n_str = n.n_ptr, n.n_str
        # nest registers
        # odometer: on a loop back the lowest level that is not at its last index steps
        # and the levels below it restart
        nx_idx = [Signal(c.count_bits, name=f"nx_idx{l}") for l in range(LOOP_LEVELS)]
        step = Signal(range(LOOP_LEVELS), name="step_level")
        for l in reversed(range(LOOP_LEVELS)):
            with m.If(~at_last[l]):
                m.d.comb += step.eq(l)
        for l in range(LOOP_LEVELS):
            with m.If(~loop_back | (step < l)):
                m.d.comb += nx_idx[l].eq(e_idx[l])
            with m.Elif(step == l):
                m.d.comb += nx_idx[l].eq(e_idx[l] + 1)
        # nx_last[l] == (nx_idx[l] + 1 == e_cnt[l]), from compares that do not wait for
        # the loop-back decision: a level that keeps its index keeps at_last, the
        # stepping one is last iff e_idx + 2 == e_cnt, a restarting one iff e_cnt == 1
        nx_last = [Signal(name=f"nx_last{l}") for l in range(LOOP_LEVELS)]
        for l in range(LOOP_LEVELS):
            two_left = Mux(opening, cnt_is[2][l], n_idx[l] + 2 == n_cnt[l])
            one_only = Mux(opening, cnt_is[1][l], n_cnt[l] == 1)
            with m.If(~loop_back | (step < l)):
                m.d.comb += nx_last[l].eq(at_last[l])
            with m.Elif(step == l):
                m.d.comb += nx_last[l].eq(two_left)
            with m.Else():
                m.d.comb += nx_last[l].eq(one_only)
        with m.If(n.advance):
            m.d.sync += [n.n_active.eq(n.e_active & ~n.nest_done & ~n.zero),
                         n.n_start.eq(n.e_start), n.n_end.eq(n.e_end)]
            for l in range(LOOP_LEVELS):
                m.d.sync += n_cnt[l].eq(e_cnt[l])
                for k in range(AGUS):
                    m.d.sync += [n_ptr[k][l].eq(e_ptr[k][l]), n_str[k][l].eq(e_str[k][l])]
            for l in range(LOOP_LEVELS):
                m.d.sync += [n_idx[l].eq(nx_idx[l]), n.n_last[l].eq(nx_last[l])]
            with m.If(loop_back):
                for l in range(LOOP_LEVELS):
                    with m.If(step == l):
                        for k in range(AGUS):
                            stepped = e_ptr[k][l] + e_str[k][l]
                            for j in range(l + 1):
                                m.d.sync += n_ptr[k][j].eq(stepped)

    def _fetch(self, m, n):
        """Microcode fetch and job transitions.

        A job pushed while the job queue is empty is available in the same cycle
        (``job``/``job_avail``). Drives the microcode read (``fetch_pc``, the word
        decoded in the next cycle), ``pc``, ``cur``, ``ir_valid``, the registered pc
        compares and ``tick_done``. On ``advance``: at a job's end the next job starts
        (its first word fetched now, so back-to-back jobs issue with no bubble) or the
        stage empties; otherwise ``next_pc`` is fetched (unless ``same_pc``: the held
        word is reused). With nothing running a job starts as soon as one is
        available; a tick-end marker is taken, with ``tick_done`` for one cycle, once
        the issue register and the pipelines are drained and the event generator is
        idle.
        """
        c = self.config.core
        jl = self.job_layout
        jq, push, push_valid = n.jq, n.push, n.push_valid
        pc, cur, ir_valid, n_active, ins = n.pc, n.cur, n.ir_valid, n.n_active, n.ins
        start_here, end_here, n_single, cur_is = (n.start_here, n.end_here, n.n_single,
                                                  n.cur_is)
        opening, ins_end_here, same_pc, loop_back = (n.opening, n.ins_end_here, n.same_pc,
                                                     n.loop_back)
        advance, job_end, next_pc = n.advance, n.job_end, n.next_pc
        # fetch and job transitions
        # A job pushed while the queue is empty is also available in the same cycle.
        job = Signal(jl)
        job_avail = Signal()
        job_take = Signal()
        m.d.comb += [job.eq(Mux(jq.r_rdy, jq.r_data, push)),
                     job_avail.eq(jq.r_rdy | push_valid),
                     jq.r_en.eq(job_take & jq.r_rdy),
                     jq.w_en.eq(push_valid & ~(job_take & ~jq.r_rdy))]
        job_ready = job_avail & (job.kind != JobKind.TICK_END)
        fetch_pc = Signal(c.pc_bits)
        fetch_en = Signal()
        ucode = self.microcode
        m.d.comb += [ucode.read[0].addr.eq(fetch_pc), ucode.read[0].en.eq(fetch_en)]

        def start_job():
            # start_here, end_here and n_single are only read while a nest is active
            m.d.comb += [fetch_pc.eq(job.pc), fetch_en.eq(1), job_take.eq(1)]
            m.d.sync += [pc.eq(job.pc), cur.eq(job), ir_valid.eq(1), n_active.eq(0)]
            m.d.sync += [cur_is[v].eq(job.count == v) for v in range(3)]

        # the flags for the next pc, for each way it can go; with a zero-count skip the
        # nest ends, so they are not read
        pc_1 = (pc + 1)[:c.pc_bits]
        with m.If(advance & ~job_end):
            m.d.sync += n_single.eq(Mux(opening, ins_end_here, n_single))
            with m.If(same_pc):
                m.d.sync += [start_here.eq(opening | start_here),
                             end_here.eq(Mux(opening, ins_end_here, end_here))]
            with m.Elif(loop_back):
                # back to n_start (not pc, else same_pc): the nest was running
                m.d.sync += [start_here.eq(1), end_here.eq(n_single)]
            with m.Else():
                m.d.sync += [start_here.eq(~opening & (n.n_start == pc_1)),
                             end_here.eq(Mux(opening, ins.body_end == pc_1, n.n_end == pc_1))]

        with m.If(advance):
            with m.If(job_end):
                with m.If(job_ready):
                    start_job()
                with m.Else():
                    m.d.sync += [ir_valid.eq(0), n_active.eq(0)]
            with m.Elif(~same_pc):
                m.d.comb += [fetch_pc.eq(next_pc), fetch_en.eq(1)]
                m.d.sync += pc.eq(next_pc)
        with m.Elif(~ir_valid & job_avail):
            with m.If(job.kind == JobKind.TICK_END):
                with m.If(n.drained & ~n.isq_valid):
                    m.d.comb += [job_take.eq(1), self.tick_done.eq(1)]
            with m.Else():
                start_job()

    def _idle(self, m, n):
        """``idle``: no task queued or arriving, no job queued, generated or running,
        the job generator in ``IDLE``, the issue register and pipelines drained."""
        m.d.comb += self.idle.eq(~n.tq.r_rdy & ~n.jq.r_rdy & n.gen.ongoing("IDLE")
                                 & ~n.rd_event & ~n.ir_valid & ~n.isq_valid & n.drained
                                 & ~self.tasks.valid)


class _Nets:
    """The nets the parts of :meth:`LoopController.elaborate` share: each part reads
    those of the parts before it (as attributes) and adds its own (:meth:`add`)."""

    def add(self, **nets):
        for name, net in nets.items():
            if hasattr(self, name):
                raise AttributeError(f"net {name!r} added twice")
            setattr(self, name, net)
