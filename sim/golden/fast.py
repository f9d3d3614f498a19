"""Fast path of the instruction-level golden neurocore (:class:`~sim.golden.core.GoldenCore`).

The interpreter (:mod:`sim.golden.core`) walks the microcode issue by issue for every
event and tick, through :func:`sim.golden.loopctl.run_job` and the FaultSRAM models. What
a job issues depends only on the *control* memories (microcode, axon, layer and target
tables, weights), never on the data (accumulators, neuron state) nor on the payload. So
:class:`FastCore` runs each job through :func:`~sim.golden.loopctl.run_job` once, with the
interpreter's own address and lane-mask rules (``GoldenCore.bank_addr``, ``acc_addr``,
``lane_enable``), and keeps the result as a *trace*:

* per axon (all its delay groups): the MAC contributions in issue order, lanes ascending
  within an issue -- accumulator word (lane, row and, with the ring, delay), signed
  weight -- the SCDQ pushes ``(group, delay)``, the synaptic ops and the reads and writes
  of every memory;
* per delayed group ``(axon, group)`` (SCDQ drain): the same for that group's job;
* per tick (the layers, in layer-table order): the VEC and SETR issues with their enabled
  (lane, row) elements in the interpreter's emission order (iteration, then lane), each
  VEC compiled once (:func:`sim.golden.npe.compile_vec`), and the tick's counts.

Traces hold as long as the control memories do: each FaultSRAM's ``version`` goes up with
every write, fault and ``bits`` assignment, and any change of a control memory's version
drops every trace of the core (they are rebuilt when next needed).

Running: the events of one :meth:`FastCore.events` call (the chip passes all of a core's
events of a timestep) are taken in order; consecutive events that may run fast form a run,
applied at once, straight on the decoded mirrors of the lane banks
(:mod:`sim.golden.fault_sram`; their stored bits are encoded when something looks at
them). With one accumulator slot (no delay unit, or the SCDQ) and small enough tables
a run is two matrix products: per axon the summed payloads times its row of summed
weights per accumulator word (float64, exact below 2**53, checked). Otherwise the run's
contributions ``weight * payload`` are gathered in issue order and summed per word
(:func:`numpy.bincount`). Either equals the interpreter's word-by-word accumulation
because addition is modular, as long as no partial sum leaves the ``acc_bits`` range:
``acc_overflows`` depends on issue order, so when a word's old value plus the
magnitudes added to it could leave the range (a bound, checked per run), the run takes
:func:`~sim.golden.npe.mac_sums_grouped` on the ordered contributions, which counts
overflows as the interpreter does. SCDQ pushes of a run go in order through
``GoldenDelayQueue.push_many`` (equal to pushes one by one). A tick runs its VEC issues
in order, each vectorised over all its (lane, row) elements, with the instruction
compiled once (``compile_vec(..., ranges=True)``: the wraps its range analysis proves
idle left out). Counters (``events_in``, ``synops``, ``neuron_updates``, ``events_out``,
``acc_overflows``) and the memories' read and write tallies are the traces', added per
run into ``FastCore.pending`` and moved into the core's dicts when those are read.
Nothing else differs: reads of clean words flag nothing in any code, so ECC tallies
stay as they are.

When the interpreter runs instead (exactly there, and the results are still equal):

* events that are not pairs of integers, and an event whose axon or payload is out of
  range (the interpreter raises the error);
* an event whose trace cannot be made: its program issues VEC or SETR (their effect
  depends on the data and the payload), raises :class:`~sim.golden.loopctl.ProgramError`
  (runaway, address outside a bank), issues more than :data:`TRACE_ISSUES` instructions,
  reads an *unclean* control word (a flip since the word was written, or a stuck-at
  fault: its decode changes the data or the ECC tallies) in the axon table, microcode,
  target table or weights, or has a delay the queue refuses (``delay >= delay.slots``);
* an event whose MACs touch an unclean accumulator word (checked per event, only when the
  core's accumulator banks hold one);
* a delayed group drained from the queue whose job cannot be traced (as for an event)
  or whose MACs touch an unclean accumulator word;
* a whole tick's layers when their trace cannot be made (as for events, VEC and SETR
  allowed), or when any accumulator or state word they read is unclean;
* interpreter and fast runs follow each other in event order, so that everything before
  a fallback has been applied when it runs (and when it raises).

Also equal by construction: SETR writes every lane's register (the interpreter's
``regs[:, rd]``); VECs read each lane's registers; the ring's slots come from ``now``
at run time; ``GoldenCore._slot`` is left as the interpreter leaves it.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from hw.spec.isa import AccSel, InstrClass, SetrSrc, StoreSel, decode
from sim.golden.loopctl import LOOP_LEVELS, Job, ProgramError, _count, run_job
from sim.golden.npe import compile_vec, mac_sums_grouped, wrap

__all__ = ["FastCore", "TRACE_ISSUES"]

#: A job issuing more instructions than this is left to the interpreter (the demo's
#: longest issues 16; a runaway program reaches the interpreter's own limit there).
TRACE_ISSUES = 1 << 16

_MISSING = object()


class _NotFast(Exception):
    """The job cannot be traced (the interpreter runs it)."""


class _Trace:
    """A traced event (all groups of an axon), delayed group, or tick.

    ``words``/``dslot``/``w``: MAC contributions in issue order (accumulator word in the
    flat ``lanes x depth`` block with slot 0, the group's delay, the signed weight);
    ``pushes``: SCDQ pushes ``(group, delay)``; ``counts``: reads then writes per memory
    (the core's memory order), then synaptic ops and neuron updates; ``last_delay``: the
    delay of the last group run at once (None: none); ``ops``: a tick's VEC/SETR issues;
    ``acc_words``/``state_words``: the data words it reads (acc with slot 0)."""

    __slots__ = ("words", "dslot", "w", "pushes", "counts", "last_delay", "ops",
                 "acc_words", "state_words", "synops", "updates")

    def __init__(self):
        self.words = self.dslot = self.w = None
        self.pushes = []
        self.counts = None
        self.last_delay = None
        self.ops = []
        self.acc_words = self.state_words = None
        self.synops = self.updates = 0


class _Vec:
    """One VEC issue of a tick: compiled program and its elements in emission order."""

    __slots__ = ("prog", "lane", "acc", "state", "neuron", "write_state", "write_acc")

    def __init__(self, prog, lane, acc, state, neuron):
        self.prog, self.lane, self.acc, self.state, self.neuron = prog, lane, acc, state, neuron
        self.write_state = prog.write_state
        self.write_acc = prog.st_a is not AccSel.KEEP


class FastCore:
    """The traces of one :class:`~sim.golden.core.GoldenCore` and the runs on them
    (module docstring). The core must have been made with ``fast=True`` (its lane banks
    kept as mirror blocks).

    Counts (counters, memory reads and writes) of fast runs gather in ``pending`` and
    reach the core's dicts when they are next read (``GoldenCore.counters``, ``reads``
    and ``writes`` are properties that call :meth:`flush`)."""

    def __init__(self, core):
        self.core = core
        c, isa = core.core, core.isa
        self.lanes = c.lanes
        self.names = list(core.mems)
        self.index = {n: i for i, n in enumerate(self.names)}
        M = len(self.names)
        #: reads (M), writes (M), then synops, neuron_updates, events_in, events_out,
        #: acc_overflows
        self._n_counts = 2 * M + 5
        self._extra = {2 * M: "synops", 2 * M + 1: "neuron_updates", 2 * M + 2: "events_in",
                       2 * M + 3: "events_out", 2 * M + 4: "acc_overflows"}
        self.pending = np.zeros(self._n_counts, np.int64)
        self.dirty = False
        self.control = [core.mem(s) for s in ("microcode", "axon_table", "layer_table",
                                              "target_table")]
        self.control += [core.lane_mem(l, "weights") for l in range(c.lanes)]
        self.acc, self.acc_unclean, self.acc_stale = (b.reshape(-1) for b in core.blocks["acc"])
        self.state, self.state_unclean, self.state_stale = (
            b.reshape(-1) for b in core.blocks["state"])
        self.acc_depth = core.blocks["acc"][0].shape[1]
        self.state_depth = core.blocks["state"][0].shape[1]
        self.k = isa.acc_slots
        self.acc_mask = np.uint64((1 << c.acc_bits) - 1)
        self.acc_hi = (1 << (c.acc_bits - 1)) - 1
        self.pay_lo, self.pay_hi = -(1 << (c.payload_bits - 1)), (1 << (c.payload_bits - 1)) - 1
        self.acc_names = [core.lane_mem(l, "acc").name for l in range(c.lanes)]
        self.state_names = [core.lane_mem(l, "state").name for l in range(c.lanes)]
        #: the neuron-state record's codec and where v, u sit in its fields
        self.codec = core.state_codec
        self.iv, self.iu = self.codec.names.index("v"), self.codec.names.index("u")
        self.n_axons = c.axons
        #: runs as matrix products (one accumulator slot and matrices of at most 2**20
        #: entries), else by gathering contributions
        self.dense = self.k == 1 and c.axons * len(self.acc) <= 1 << 20
        self._versions = None
        self._progs = {}
        self._reset_traces()

    # -- trace validity ------------------------------------------------------------------

    def _reset_traces(self) -> None:
        A = self.n_axons
        self._axons = {}
        self._groups = {}
        self._tick = _MISSING
        #: per axon: traced, fast, where its contributions sit in the flat arrays, the
        #: delay of its last group run at once (-1: none), whether it pushes (SCDQ)
        self.kind = np.zeros(A, np.int8)       # 0 not traced, 1 interpreter, 2 fast
        self.f_start = np.zeros(A, np.int64)
        self.f_len = np.zeros(A, np.int64)
        self.last_delay = np.full(A, -1, np.int64)
        self.has_push = np.zeros(A, bool)
        self.C = np.zeros((A, self._n_counts), np.int64)
        self._flat_stale = False
        self.f_words = self.f_w = self.f_dslot = np.zeros(0, np.int64)
        if self.dense:
            #: per axon and accumulator word: the sum of its weights and of their
            #: magnitudes (one accumulator slot: a run is then two matrix products)
            self.W = np.zeros((A, len(self.acc)))
            self.Wa = np.zeros((A, len(self.acc)))
            self.wa_max = 0.0

    def _check(self) -> None:
        v = tuple(m.version for m in self.control)
        if v != self._versions:
            self._versions = v
            self._reset_traces()

    def flush(self) -> None:
        """Move the pending counts into the core's counters and read/write tallies."""
        core = self.core
        p = self.pending
        M = len(self.names)
        for i in np.flatnonzero(p).tolist():
            n = int(p[i])
            if i < M:
                core._reads[self.names[i]] += n
            elif i < 2 * M:
                core._writes[self.names[i - M]] += n
            else:
                core._counters[self._extra[i]] += n
        p[:] = 0
        self.dirty = False

    # -- tracing -------------------------------------------------------------------------

    def _word(self, kind, addr) -> int:
        """A control word through the mirror; unclean -> not traceable."""
        mem = self.core.mem(kind)
        word = mem.clean_data(addr)
        if word is None:
            raise _NotFast(f"{mem.name}[{addr}] is unclean")
        return word

    def _trace_job(self, t: _Trace, job: Job, kind: str, reads, writes, contrib, delay=0):
        """Append the issues of one job to trace ``t`` (``kind``: "event" or "tick")."""
        core = self.core
        c, isa = core.core, core.isa
        mc = core.mem("microcode")
        issued = [0]

        def fetch(pc):
            word = self._word("microcode", pc)
            reads[mc.name] += 1
            ins = core._cache.get(word)
            if ins is None:
                ins = core._cache[word] = decode(isa.instruction, word)
            if int(ins.loop):
                size = 1
                for lvl in range(LOOP_LEVELS):
                    size *= _count(ins, lvl, job)
                if size > TRACE_ISSUES:
                    raise _NotFast(f"a loop of {size} iterations at pc {pc}")
            return ins

        tt = core.mem("target_table")
        for issue in run_job(fetch, job, c):
            issued[0] += len(issue.addr)
            if issued[0] > TRACE_ISSUES:
                raise _NotFast(f"more than {TRACE_ISSUES} issues")
            cls = InstrClass(int(issue.ins.cls))
            if cls is InstrClass.MAC:
                wrows = core.bank_addr(tt, issue.addr[:, 0])
                if int(issue.ins.mac_t):
                    arows = tt.clean_data(wrows)
                    if arows is None:
                        raise _NotFast(f"{tt.name}: an unclean word")
                    reads[tt.name] += len(wrows)
                    arows = arows.astype(np.int64)
                else:
                    arows = issue.addr[:, 1]
                abase = core.acc_addr(arows, 0)
                enable = core.lane_enable(issue.mask)
                for lane in range(c.lanes):
                    sel = enable[lane]
                    n = int(sel.sum())
                    if not n:
                        continue
                    wm = core.lane_mem(lane, "weights")
                    wr = wrows[sel]
                    wd = wm.clean_data(wr)
                    if wd is None:
                        raise _NotFast(f"{wm.name}: an unclean word")
                    t.synops += n
                    reads[wm.name] += n
                    reads[self.acc_names[lane]] += n
                    writes[self.acc_names[lane]] += n
                    contrib.append((lane * self.acc_depth + abase[sel],
                                    wrap(wd.astype(np.int64), c.weight_bits),
                                    delay))
            elif cls is InstrClass.VEC:
                if kind == "event":
                    raise _NotFast(f"the event program issues VEC at pc {issue.pc}")
                self._trace_vec(t, issue, reads, writes)
            elif cls is InstrClass.SETR:
                if kind == "event":
                    raise _NotFast(f"the event program issues SETR at pc {issue.pc}")
                src = SetrSrc(int(issue.ins.setr_src))
                value = {SetrSrc.IMM: int(issue.ins.imm), SetrSrc.PAYLOAD: job.payload,
                         SetrSrc.BASE: job.base, SetrSrc.COUNT: job.count}[src]
                rd = int(issue.ins.rd)
                if rd < c.regs:
                    t.ops.append(("setr", rd, int(wrap(value, c.state_bits))))

    def _trace_vec(self, t: _Trace, issue, reads, writes):
        core = self.core
        c = core.core
        rows = core.bank_addr(core.lane_mem(0, "state"), issue.addr[:, 0])
        if len(rows) > 1 and len(np.unique(rows)) < len(rows):
            # iterations revisit a row: later ones see earlier stores, one at a time
            parts = [(rows[i:i + 1], issue.mask[i:i + 1]) for i in range(len(rows))]
        else:
            parts = [(rows, issue.mask)]
        word = id(issue.ins)
        prog = self._progs.get(word)
        if prog is None or prog[0] is not issue.ins:
            prog = self._progs[word] = (issue.ins, compile_vec(issue.ins, c, core.isa.shift_bits,
                                                                    ranges=True))
        prog = prog[1]
        for r_all, mask in parts:
            enable = core.lane_enable(mask)
            it, lane = np.nonzero(enable.T)          # emission order: iteration, then lane
            if not len(it):
                continue
            r = r_all[it]
            ra = core.acc_addr(r, 0)
            per_lane = np.bincount(lane, minlength=c.lanes)
            for l in np.flatnonzero(per_lane):
                n = int(per_lane[l])
                reads[self.acc_names[l]] += n
                reads[self.state_names[l]] += n
                if prog.write_state:
                    writes[self.state_names[l]] += n
                if prog.st_a is not AccSel.KEEP:
                    writes[self.acc_names[l]] += n
            if prog.write_state and prog.st_v is not StoreSel.KEEP:
                t.updates += len(r)
            t.ops.append(("vec", _Vec(prog, lane, lane * self.acc_depth + ra,
                                      lane * self.state_depth + r, r * c.lanes + lane)))

    def _finish(self, t: _Trace, reads, writes, contrib) -> _Trace:
        counts = np.zeros(self._n_counts, np.int64)
        M = len(self.names)
        for name, n in reads.items():
            counts[self.index[name]] += n
        for name, n in writes.items():
            counts[M + self.index[name]] += n
        counts[2 * M] = t.synops
        counts[2 * M + 1] = t.updates
        t.counts = counts
        if contrib:
            t.words = np.concatenate([w for w, _, _ in contrib])
            t.w = np.concatenate([v for _, v, _ in contrib])
            t.dslot = np.concatenate([np.full(len(w), d, np.int64) for w, _, d in contrib])
        else:
            t.words = t.w = t.dslot = np.zeros(0, np.int64)
        return t

    def _trace_axon(self, axon: int):
        """The trace of an event on ``axon`` (all its delay groups), or None."""
        core = self.core
        isa = core.isa
        t = _Trace()
        reads, writes, contrib = defaultdict(int), defaultdict(int), []
        at = core.mem("axon_table").name
        try:
            if not isa.delay.enabled:
                d = decode(isa.job, self._word("axon_table", axon))
                reads[at] += 1
                self._trace_job(t, Job(d.pc, d.base, d.count, d.mask, 0), "event", reads,
                                writes, contrib)
                t.last_delay = 0
            else:
                for g in range(isa.groups):
                    d = decode(isa.job, self._word("axon_table", isa.axon_word(axon, g)))
                    reads[at] += 1
                    if core.queue is not None and d.delay:
                        if not 0 < d.delay < isa.delay.slots:
                            raise _NotFast(f"delay {d.delay}: the queue refuses it")
                        t.pushes.append((g, int(d.delay)))
                    else:
                        self._trace_job(t, Job(d.pc, d.base, d.count, d.mask, 0), "event",
                                        reads, writes, contrib, int(d.delay))
                        t.last_delay = int(d.delay)
                    if not d.more:
                        break
        except (_NotFast, ProgramError):
            return None
        return self._finish(t, reads, writes, contrib)

    def _trace_group(self, axon: int, g: int):
        """The trace of a delayed group drained from the queue, or None."""
        core = self.core
        isa = core.isa
        t = _Trace()
        reads, writes, contrib = defaultdict(int), defaultdict(int), []
        try:
            d = decode(isa.job, self._word("axon_table", isa.axon_word(axon, g)))
            reads[core.mem("axon_table").name] += 1
            # with the SCDQ a neuron has one accumulator word (slot 0)
            self._trace_job(t, Job(d.pc, d.base, d.count, d.mask, 0), "event", reads, writes,
                            contrib)
        except (_NotFast, ProgramError):
            return None
        return self._finish(t, reads, writes, contrib)

    def _trace_tick(self):
        """The trace of the tick's layers, or None."""
        core = self.core
        isa = core.isa
        t = _Trace()
        reads, writes, contrib = defaultdict(int), defaultdict(int), []
        lt = core.mem("layer_table").name
        try:
            for i in range(core.core.layers):
                d = decode(isa.layer, self._word("layer_table", i))
                reads[lt] += 1
                if not d.valid:
                    break
                self._trace_job(t, Job(d.pc, d.base, d.count, d.mask, 0), "tick", reads,
                                writes, contrib)
        except (_NotFast, ProgramError):
            return None
        t = self._finish(t, reads, writes, contrib)
        # the words a tick reads: its MACs' accumulators (payload 0: they keep their
        # values), its VECs' accumulators and states
        vecs = [op[1] for op in t.ops if op[0] == "vec"]
        t.acc_words = np.concatenate([t.words] + [v.acc for v in vecs])
        t.state_words = np.concatenate([np.zeros(0, np.int64)] + [v.state for v in vecs])
        return t

    # -- running -------------------------------------------------------------------------

    def _axon_traced(self, axon: int) -> None:
        t = self._trace_axon(axon)
        self._axons[axon] = t
        self.kind[axon] = 1
        if t is None:
            return
        self.kind[axon] = 2
        self.C[axon] = t.counts
        self.C[axon, 2 * len(self.names) + 2] = 1            # events_in
        self.f_len[axon] = len(t.words)
        self.last_delay[axon] = -1 if t.last_delay is None else t.last_delay
        self.has_push[axon] = bool(t.pushes)
        self._flat_stale = True
        if self.dense and len(t.words):
            size = len(self.acc)
            self.W[axon] = np.bincount(t.words, weights=t.w, minlength=size)
            self.Wa[axon] = np.bincount(t.words, weights=np.abs(t.w), minlength=size)
            self.wa_max = max(self.wa_max, float(self.Wa[axon].max()))

    def _flatten(self) -> None:
        """Every traced axon's contributions in three flat arrays (``f_start`` and
        ``f_len`` say where), so that a run gathers them without a loop over events."""
        axons = [a for a, t in self._axons.items() if t is not None]
        pos = 0
        for a in axons:
            self.f_start[a] = pos
            pos += len(self._axons[a].words)
        ts = [self._axons[a] for a in axons]
        cat = (lambda xs: np.concatenate(xs)) if ts else (lambda xs: np.zeros(0, np.int64))
        self.f_words = cat([t.words for t in ts])
        self.f_w = cat([t.w for t in ts])
        self.f_dslot = cat([t.dslot for t in ts])
        self._flat_stale = False

    def _touches_unclean(self, t: _Trace) -> bool:
        if not len(t.words):
            return False
        return bool(self.acc_unclean[self._slotted(t.words, t.dslot)].any())

    def _slotted(self, words, dslot):
        """Accumulator words with the ring's slot ``(now + delay) mod slots``."""
        if self.k == 1:
            return words
        return words + (self.core.now + dslot) % self.k

    def events(self, events) -> list:
        """Integrate events ``(axon, payload)`` in order (module docstring)."""
        core = self.core
        self._check()
        events = list(events)
        n = len(events)
        if not n:
            return []
        try:
            arr = np.array(events, dtype=np.int64)
        except (TypeError, ValueError, OverflowError):
            arr = None
        if arr is None or arr.shape != (n, 2):
            # not (axon, payload) integer pairs: the interpreter says what is wrong
            spikes = []
            for axon, payload in events:
                spikes += core._event_interp(axon, payload)
            return spikes
        ax, pay = arr[:, 0], arr[:, 1]
        valid = (ax >= 0) & (ax < self.n_axons) & (pay >= self.pay_lo) & (pay <= self.pay_hi)
        axc = ax if valid.all() else np.where(valid, ax, 0)
        kind = self.kind[axc]
        if not kind.all():
            for a in np.unique(axc[valid & (kind == 0)]).tolist():
                self._axon_traced(a)
            kind = self.kind[axc]
        fast = valid & (kind == 2)
        if self.acc_unclean.any():
            for i in np.flatnonzero(fast).tolist():
                fast[i] = not self._touches_unclean(self._axons[int(ax[i])])
        if fast.all():
            self._apply(ax, pay)
            return []
        spikes = []
        i = 0
        for j in np.flatnonzero(~fast).tolist():
            if j > i:
                self._apply(ax[i:j], pay[i:j])
            spikes += core._event_interp(int(events[j][0]), int(events[j][1]))
            i = j + 1
        if i < n:
            self._apply(ax[i:], pay[i:])
        return spikes

    def _apply(self, ax, pay) -> None:
        """Consecutive fast events (axons, payloads) at once."""
        core = self.core
        if not (self.dense and self._dense(ax, pay)):
            self._sparse(ax, pay)
        if core.queue is not None:
            sel = np.flatnonzero(self.has_push[ax])
            if len(sel):
                pushes = [(int(ax[i]), g, d, int(pay[i])) for i in sel.tolist()
                          for g, d in self._axons[int(ax[i])].pushes]
                a, g, d, p = (np.array(x, np.int64) for x in zip(*pushes))
                core.queue.push_many(a, g, d, p)
                core._queue_counters()
        if self.k > 1:
            last = np.flatnonzero(self.last_delay[ax] >= 0)
            if len(last):
                core._slot = (core.now + int(self.last_delay[ax[last[-1]]])) % self.k
        self.pending += np.bincount(ax, minlength=self.n_axons) @ self.C
        self.dirty = True

    def _dense(self, ax, pay) -> bool:
        """The run's accumulation as matrix products, when no accumulator word can
        overflow and none is unclean (returns False, changing nothing, otherwise)."""
        if self.acc_unclean.any():
            return False
        A = self.n_axons
        reach = float(np.abs(pay).sum()) * self.wa_max    # bounds what any word gains
        if reach >= 2.0 ** 52:
            return False                    # float64 products no longer exact
        old = wrap(self.acc.astype(np.int64), self.core.core.acc_bits)
        if float(np.abs(old).max()) + reach > self.acc_hi:
            # a closer look, word by word
            sa = np.bincount(ax, weights=np.abs(pay), minlength=A) @ self.Wa
            if ((np.abs(old) + sa)[sa > 0] > self.acc_hi).any():
                return False                # a word may overflow: the ordered path counts it
        s = np.bincount(ax, weights=pay, minlength=A) @ self.W
        # no partial sum leaves the range, so the sum is the interpreter's word by word;
        # words that gain 0 are rewritten with their value
        self.acc[:] = (old + s.astype(np.int64)).astype(np.uint64) & self.acc_mask
        self.acc_stale |= s != 0
        return True

    def _sparse(self, ax, pay) -> None:
        """The run's accumulation from its MAC contributions, in issue order."""
        core = self.core
        if self._flat_stale:
            self._flatten()
        lens = self.f_len[ax]
        total = int(lens.sum())
        if total:
            ends = np.cumsum(lens)
            idx = np.repeat(self.f_start[ax] - ends + lens, lens) + np.arange(total)
            words = self.f_words[idx]
            if self.k > 1:
                words = words + (core.now + self.f_dslot[idx]) % self.k
            self._accumulate(words, self.f_w[idx] * np.repeat(pay, lens))

    def _run_groups(self, run) -> None:
        """Consecutive fast drained groups ``(trace, payload)`` at once."""
        traces = [t for t, _ in run]
        lens = [len(t.words) for t in traces]
        if sum(lens):
            pays = np.array([p for _, p in run], np.int64)
            words = np.concatenate([t.words for t in traces])
            contrib = np.concatenate([t.w for t in traces]) * np.repeat(pays, lens)
            self._accumulate(words, contrib)
        self.pending += np.sum([t.counts for t in traces], axis=0)
        self.dirty = True

    def _accumulate(self, words, contrib) -> None:
        """``acc[words[i]] += contrib[i]`` in order, wrapping at ``acc_bits``, with the
        overflows counted as the interpreter counts them."""
        acc = self.acc
        bits = self.core.core.acc_bits
        absc = np.abs(contrib)
        new = None
        # float64 sums are exact below 2**53
        if float(absc.sum()) < 2.0 ** 52:
            size = len(acc)
            s = np.bincount(words, weights=contrib, minlength=size)
            sa = np.bincount(words, weights=absc, minlength=size)
            touched = np.flatnonzero(sa)
            old = wrap(acc[touched].astype(np.int64), bits)
            if not len(touched) or (np.abs(old) + sa[touched]).max() <= self.acc_hi:
                new = old + s[touched].astype(np.int64)    # never leaves the range
        if new is None:
            touched, inverse = np.unique(words, return_inverse=True)
            old = wrap(acc[touched].astype(np.int64), bits)
            new, overflows = mac_sums_grouped(old, contrib, inverse, bits)
            self.pending[-1] += overflows
            self.dirty = True
        acc[touched] = new.astype(np.uint64) & self.acc_mask
        self.acc_stale[touched] = True

    # -- tick ----------------------------------------------------------------------------

    def tick(self) -> list:
        """Drain the due delay slot, run the layers, advance (as ``GoldenCore.tick``)."""
        core = self.core
        self._check()
        spikes = []
        if core.queue is not None:
            spikes += self._drain()
        core._slot = core.now % self.k
        t = self._tick
        if t is _MISSING:
            t = self._tick = self._trace_tick()
        if t is None or not self._clean_for(t):
            spikes += core._layers_interp()
        else:
            spikes += self._run_tick(t)
        core._tick_end()
        return spikes

    def _drain(self) -> list:
        core = self.core
        spikes = []
        run = []
        dirty = bool(self.acc_unclean.any())
        while (item := core.queue.drain()) is not None:
            axon, g, payload = item
            t = self._groups.get((axon, g), _MISSING)
            if t is _MISSING:
                t = self._groups[(axon, g)] = self._trace_group(axon, g)
            if t is not None and dirty and self._touches_unclean(t):
                t = None
            if t is None:
                if run:
                    self._run_groups(run)
                    run = []
                spikes += core._run_group(axon, g, payload)
            else:
                run.append((t, payload))
        if run:
            self._run_groups(run)
        return spikes

    def _clean_for(self, t: _Trace) -> bool:
        """No accumulator or state word the tick reads is unclean."""
        if self.acc_unclean.any():
            if self.acc_unclean[t.acc_words + self.core.now % self.k].any():
                return False
        if self.state_unclean.any() and self.state_unclean[t.state_words].any():
            return False
        return True

    def _run_tick(self, t: _Trace) -> list:
        core = self.core
        c = core.core
        bits = c.acc_bits
        names = self.codec.names
        slot = core.now % self.k
        regs = core.regs
        zero = np.int64(0)
        spikes = []
        for op in t.ops:
            if op[0] == "setr":
                regs[:, op[1]] = op[2]
                continue
            v = op[1]
            ra = v.acc + slot if slot else v.acc
            a = wrap(self.acc[ra].astype(np.int64), bits)
            f = self.codec.unpack(self.state[v.state])
            if not v.prog.uses_regs:
                rv = ()
            elif len(regs) == 1 or (regs == regs[0]).all():
                rv = list(regs[0])
            else:
                rv = [regs[v.lane, j] for j in range(regs.shape[1])]
            res = v.prog(a=a, **dict(zip(names, f)), pay=zero, regs=rv)
            if v.write_state:
                # the VEC stores v and u; the parameters are written back as loaded
                f[self.iv], f[self.iu] = res["v"], res["u"]
                self.state[v.state] = self.codec.pack(f)
                self.state_stale[v.state] = True
            if v.write_acc:
                self.acc[ra] = res["a"].astype(np.uint64) & self.acc_mask
                self.acc_stale[ra] = True
            e = res["emit"]
            if e.any():
                spikes += zip(v.neuron[e].tolist(), res["payload"][e].tolist())
        self.pending += t.counts
        self.pending[-2] += len(spikes)
        self.dirty = True
        return spikes
