"""Instruction-level golden model of the neurocore (:mod:`hw.core.neurocore`).

Executes the same microcode on the same memory images as the RTL, bit for bit, using
the semantics of :mod:`sim.golden.loopctl` (issue order, loops, addresses, masks) and
:mod:`sim.golden.npe` (arithmetic). Every memory is a
:class:`~sim.golden.fault_sram.GoldenFaultSRAM` with the RTL's name, so images, faults
and ECC behave as in the RTL.

Architectural results, compared with the RTL by the cross-checks: the spikes of each
tick in emission order (issue order of the VEC instructions, lanes ascending within an
instruction), final memory contents, and the counters ``events_in``, ``events_out``,
``synops`` (enabled lanes of MAC instructions), ``neuron_updates`` (enabled lanes of VEC
instructions that write the membrane ``v``), ``ticks``, ``acc_overflows``, and the reads
and writes of every memory. Cycle counts are not modelled (they are measured on the
RTL by ``python -m benchmarks core``).

Delays (``config.delay.unit``): an event on axon ``a`` walks the axon's delay groups
(axon-table words ``a * groups + g`` for ``g = 0, 1, ...`` while ``more`` is set). With
the SCDQ a group of nonzero delay is pushed into the queue (a
:class:`~sim.golden.delay.GoldenDelayQueue`) as ``(a, g, payload)``; the others run at
once. ``tick`` first drains the due slot, running each drained group's job in push
order, then runs the layers, then advances ``now``. With the ring buffer every group
runs at once and its MACs add into accumulator slot ``(now + delay) mod slots``
(word ``row * slots + slot``); the layers' VECs use slot ``now``; ``tick`` advances
``now``. The queue is modelled at transaction level: the contents and the access
counts of ``{prefix}.delay_queue`` (a linked list in the RTL, read ahead by timing) are
not, so cross-checks skip that memory's access counts and words.

One microarchitectural effect is not modelled: when back-to-back MACs update one
accumulator row, the RTL forwards the sum and also re-reads the (stale) stored word;
with a fault injected into that word mid-timestep, the RTL's ECC counters of the
accumulator bank can count that stale read once more than this model. Results (data)
are unaffected, and faults injected between timesteps (what campaigns do) behave alike.

Two ways to run (``GoldenCore(config, fast=...)``): the instruction-level interpreter
(``fast=False``, memories decoded on every read: the reference), and by default the
fast path of :mod:`sim.golden.fast`, which traces the microcode once per change of the
control memories and applies a timestep's events and each tick vectorised, falling back
to the interpreter for exactly the events and ticks its traces cannot stand for (that
module's docstring lists them). Counters and access tallies are the same either way;
read them through the attributes (``counters``, ``reads``, ``writes`` are properties
that bring the fast path's pending counts in).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from hw.spec.config import ChipConfig, DelayUnit
from hw.spec.counters import NEUROCORE_MODEL_COUNTERS
from hw.spec.isa import InstrClass, Isa, SetrSrc, decode
from hw.spec.memmap import LANE_KINDS, MemoryName, core_memories
from sim.golden.delay import GoldenDelayQueue
from sim.golden.fast import FastCore
from sim.golden.fault_sram import GoldenFaultSRAM
from sim.golden.loopctl import Job, ProgramError, run_job
from sim.golden.npe import mac_sums_grouped, vec, wrap
from sim.golden.state import codec, pack_state, unpack_state

__all__ = ["GoldenCore", "decode", "ProgramError", "unpack_state", "pack_state"]

#: The counters this model keeps.
COUNTERS = NEUROCORE_MODEL_COUNTERS

#: Lane banks that a fast core keeps as rows of one block (one mirror array per kind).
BANKS = LANE_KINDS


def _signed(x, bits):
    return wrap(np.asarray(x, dtype=np.int64), bits)


class GoldenCore:
    """One neurocore. ``prefix`` names its memories (``"core"`` -> ``core.lane0.acc``).

    ``fast`` (default): events and ticks run through :class:`sim.golden.fast.FastCore`
    (traces of the microcode, vectorised data) wherever that is equal to the
    interpreter, and through the interpreter elsewhere; the memories keep decoded
    mirrors. ``fast=False``: the interpreter alone on reference FaultSRAMs (every read
    decoded), the reference the fast path is tested against.
    """

    def __init__(self, config: ChipConfig, prefix: str = "core", *, fast: bool = True):
        self.config = config
        self.core = c = config.core
        self.isa = Isa.of(config)
        self.prefix = prefix
        specs = core_memories(self.isa, prefix)
        #: (lanes, depth) mirror blocks of the lane banks (fast cores): ``{kind: (data,
        #: unclean, stale)}``, row ``l`` of each the mirror of ``lane{l}.{kind}``.
        self.blocks = {}
        if fast:
            for kind in BANKS:
                s0 = next(s for s in specs if s.name == MemoryName.lane_bank(prefix, 0, kind))
                dtype = np.uint64 if s0.width <= 64 else object
                self.blocks[kind] = (np.zeros((c.lanes, s0.depth), dtype),
                                     np.zeros((c.lanes, s0.depth), bool),
                                     np.zeros((c.lanes, s0.depth), bool))

        def views(name: MemoryName):
            if name.lane is None or name.kind not in self.blocks:
                return None
            return tuple(b[name.lane] for b in self.blocks[name.kind])

        self.mems = {s.name: GoldenFaultSRAM.for_chip(s, config, mirror=fast,
                                                       views=views(s.name))
                     for s in specs}
        self._named = {s.name.kind: self.mems[s.name] for s in specs if s.name.lane is None}
        #: ``{kind: [memory of lane 0, lane 1, ...]}`` (:meth:`lane_mem`)
        self._lane_mems = {kind: [self.mems[MemoryName.lane_bank(prefix, lane, kind)]
                                  for lane in range(c.lanes)] for kind in LANE_KINDS}
        #: The codec of the neuron-state record (:attr:`hw.spec.isa.Isa.state`).
        self.state_codec = codec(self.isa.state)
        self.regs = np.zeros((c.lanes, c.regs), dtype=np.int64)
        self.fast = None
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._reads = defaultdict(int)
        self._writes = defaultdict(int)
        self._cache = {}
        self._bits = {name: max(1, (mem.depth - 1).bit_length()) for name, mem in self.mems.items()}
        #: The due slot of the delay unit (0 without one).
        self.now = 0
        self.queue = GoldenDelayQueue(config) if self.isa.unit is DelayUnit.SCDQ else None
        self._slot = 0          # accumulator slot of the running job's MACs (ring)
        if fast:
            #: The fast path (None: the interpreter only).
            self.fast = FastCore(self)

    # -- counts --------------------------------------------------------------------------

    @property
    def counters(self) -> dict:
        """The core's counters (:data:`COUNTERS`), up to date when read through this
        attribute (the fast path adds its runs' counts here when it is read)."""
        if self.fast is not None and self.fast.dirty:
            self.fast.flush()
        return self._counters

    @property
    def reads(self) -> defaultdict:
        """Reads per memory name (the RTL's access counters), as :attr:`counters`."""
        if self.fast is not None and self.fast.dirty:
            self.fast.flush()
        return self._reads

    @property
    def writes(self) -> defaultdict:
        """Writes per memory name, as :attr:`reads`."""
        if self.fast is not None and self.fast.dirty:
            self.fast.flush()
        return self._writes

    # -- memories ------------------------------------------------------------------------

    def mem(self, kind: str) -> GoldenFaultSRAM:
        """The core memory ``{prefix}.{kind}`` (``microcode``, ``axon_table``, ...); lane
        banks: :meth:`lane_mem`."""
        mem = self._named.get(kind)
        return mem if mem is not None else self.mems[MemoryName.of(self.prefix, kind)]

    def lane_mem(self, lane: int, kind: str) -> GoldenFaultSRAM:
        """Lane ``lane``'s bank ``kind`` (one of :data:`hw.spec.memmap.LANE_KINDS`):
        the memory :meth:`MemoryName.lane_bank(prefix, lane, kind)
        <hw.spec.memmap.MemoryName.lane_bank>` names."""
        return self._lane_mems[kind][lane]

    def load(self, images: dict) -> None:
        """Write data images (``{memory name: array of unsigned words}``)."""
        for name, words in images.items():
            if name not in self.mems:
                raise KeyError(f"{name!r} is not a memory of {self.prefix}; "
                               f"known: {', '.join(self.mems)}")
            words = np.asarray(words)
            self.mems[name].write(np.arange(len(words)), words)

    def dump(self, name: str) -> np.ndarray:
        """Data words of a memory as the RTL would read them (no access counted)."""
        return self.mems[name].peek()[0]

    def _read(self, mem: GoldenFaultSRAM, addr):
        """Data words of ``mem`` (int for a scalar address; int64, or object when wider
        than 63 bits), counted as reads."""
        if np.ndim(addr) == 0:
            self.reads[mem.name] += 1
            return int(mem.read(int(addr)).data)
        addr = np.asarray(addr, dtype=np.int64)
        self.reads[mem.name] += int(addr.size)
        if not addr.size:
            return np.zeros(0, np.int64)
        data = mem.read(addr).data
        return data.astype(np.int64) if mem.width < 64 else data

    def _write(self, mem: GoldenFaultSRAM, addr, data):
        """Write unsigned data words (int64 or object arrays) to ``mem``, counted."""
        addr = np.asarray(addr, dtype=np.int64)
        self.writes[mem.name] += int(addr.size)
        if addr.size:
            data = np.asarray(data)
            mem.write(addr, data.astype(np.uint64) if data.dtype != object else data)

    def bank_addr(self, mem: GoldenFaultSRAM, addr) -> np.ndarray:
        """Words of ``mem`` that AGU addresses ``addr`` reach: their low bits that the
        bank needs; one at or past its depth is a :class:`ProgramError`."""
        a = np.asarray(addr, dtype=np.int64) & ((1 << self._bits[mem.name]) - 1)
        bad = a[a >= mem.depth]
        if len(bad):
            raise ProgramError(f"{mem.name}: address {int(bad[0])} is outside 0..{mem.depth - 1}")
        return a

    def fetch(self, pc: int):
        word = self._read(self.mem("microcode"), pc)
        ins = self._cache.get(word)
        if ins is None:
            ins = self._cache[word] = decode(self.isa.instruction, word)
        return ins

    # -- tasks ---------------------------------------------------------------------------

    def event(self, axon: int, payload: int) -> list:
        """Integrate one event; returns the spikes its program emits (usually none)."""
        if self.fast is not None:
            return self.fast.events(((axon, payload),))
        return self._event_interp(axon, payload)

    def events(self, events) -> list:
        """Integrate events ``(axon, payload)`` in order, as :meth:`event` one by one
        would; returns the spikes their programs emit (usually none)."""
        if self.fast is not None:
            return self.fast.events(events)
        spikes = []
        for axon, payload in events:
            spikes += self._event_interp(axon, payload)
        return spikes

    def _event_interp(self, axon: int, payload: int) -> list:
        c = self.core
        if not 0 <= axon < c.axons:
            raise ValueError(f"{self.prefix}: axon {axon} is outside 0..{c.axons - 1}")
        lo, hi = -(1 << (c.payload_bits - 1)), (1 << (c.payload_bits - 1)) - 1
        if not lo <= payload <= hi:
            raise ValueError(f"{self.prefix}: payload {payload} does not fit in "
                             f"{c.payload_bits} signed bits ({lo}..{hi})")
        self.counters["events_in"] += 1
        isa = self.isa
        if not isa.delay.enabled:
            d = decode(isa.job, self._read(self.mem("axon_table"), axon))
            return self._run(Job(d.pc, d.base, d.count, d.mask, payload))
        spikes = []
        for g in range(isa.groups):
            d = decode(isa.job, self._read(self.mem("axon_table"), isa.axon_word(axon, g)))
            if self.queue is not None and d.delay:
                self.queue.push(axon, g, d.delay, payload)
                self._queue_counters()
            else:
                self._slot = (self.now + d.delay) % isa.acc_slots
                spikes += self._run(Job(d.pc, d.base, d.count, d.mask, payload))
            if not d.more:
                break
        return spikes

    def clear_counters(self) -> None:
        """As the RTL's ``clear_counters``: zero the counters; the queue's peak
        occupancy restarts from what it holds."""
        for k in self.counters:
            self.counters[k] = 0
        if self.queue is not None:
            self.queue.clear_counters()
            self._queue_counters()

    def reset_delays(self) -> None:
        """As the RTL's reset does to the delay unit: the queue empty, ``now`` 0."""
        self.now = 0
        if self.queue is not None:
            self.queue = GoldenDelayQueue(self.config)

    def _queue_counters(self):
        q = self.queue
        self._counters.update(delay_pushes=q.pushes, delay_overflows=q.overflows,
                              delay_max_occupancy=q._sat(q.max_occupancy))

    def tick(self) -> list:
        """Drain the due delay slot (SCDQ), run every valid layer's program in
        layer-table order, advance the delay slot; returns the spikes."""
        if self.fast is not None:
            return self.fast.tick()
        spikes = self._drain_interp()
        spikes += self._layers_interp()
        self._tick_end()
        return spikes

    def _drain_interp(self) -> list:
        """Run the due slot's delayed groups in push order (SCDQ)."""
        spikes = []
        if self.queue is not None:
            while (item := self.queue.drain()) is not None:
                spikes += self._run_group(*item)
        return spikes

    def _run_group(self, axon: int, g: int, payload: int) -> list:
        """A delayed group's job, drained from the queue."""
        d = decode(self.isa.job, self._read(self.mem("axon_table"), self.isa.axon_word(axon, g)))
        return self._run(Job(d.pc, d.base, d.count, d.mask, payload))

    def _layers_interp(self) -> list:
        """Every valid layer's program, in layer-table order."""
        spikes = []
        isa = self.isa
        self._slot = self.now % isa.acc_slots
        for i in range(self.core.layers):
            d = decode(isa.layer, self._read(self.mem("layer_table"), i))
            if not d.valid:
                break
            spikes += self._run(Job(d.pc, d.base, d.count, d.mask, 0))
        return spikes

    def _tick_end(self) -> None:
        isa = self.isa
        self._counters["ticks"] += 1
        if isa.delay.enabled:
            if self.queue is not None:
                self.queue.advance()
            self.now = (self.now + 1) % isa.delay.slots

    def run(self, steps) -> list:
        """``steps``: per timestep a list of (axon, payload); returns spikes per step."""
        out = []
        for events in steps:
            self.events([(int(axon), int(payload)) for axon, payload in events])
            out.append(self.tick())
        return out

    # -- execution -----------------------------------------------------------------------

    def _run(self, job: Job) -> list:
        spikes = []
        for issue in run_job(self.fetch, job, self.core):
            cls = InstrClass(int(issue.ins.cls))
            if cls is InstrClass.MAC:
                self._mac(issue, job)
            elif cls is InstrClass.VEC:
                spikes += self._vec(issue, job)
            elif cls is InstrClass.SETR:
                self._setr(issue.ins, job)
        self.counters["events_out"] += len(spikes)
        return spikes

    def _setr(self, ins, job):
        src = SetrSrc(int(ins.setr_src))
        value = {SetrSrc.IMM: int(ins.imm), SetrSrc.PAYLOAD: job.payload,
                 SetrSrc.BASE: job.base, SetrSrc.COUNT: job.count}[src]
        rd = int(ins.rd)
        if rd < self.core.regs:
            self.regs[:, rd] = int(wrap(value, self.core.state_bits))

    def acc_addr(self, rows, slot):
        """Accumulator words of neuron rows (ring: ``row * slots + slot``)."""
        k = self.isa.acc_slots
        if k == 1:
            return self.bank_addr(self.lane_mem(0, "acc"), rows)
        return self.bank_addr(self.lane_mem(0, "state"), rows) * k + slot

    def lane_enable(self, mask):
        """(lanes, iterations) boolean enable matrix from per-iteration lane masks."""
        return ((mask[None, :] >> np.arange(self.core.lanes)[:, None]) & 1).astype(bool)

    def _mac(self, issue, job):
        c = self.core
        tt = self.mem("target_table")
        wrows = self.bank_addr(tt, issue.addr[:, 0])
        if int(issue.ins.mac_t):
            arows = self._read(tt, wrows)
        else:
            arows = issue.addr[:, 1]
        arows = self.acc_addr(arows, self._slot)
        enable = self.lane_enable(issue.mask)
        for lane in range(c.lanes):
            sel = enable[lane]
            n = int(sel.sum())
            if not n:
                continue
            self.counters["synops"] += n
            acc = self.lane_mem(lane, "acc")
            w = _signed(self._read(self.lane_mem(lane, "weights"), wrows[sel]), c.weight_bits)
            contrib = w * np.int64(job.payload)
            rows = arows[sel]
            uniq, inverse = np.unique(rows, return_inverse=True)
            old = _signed(self._read(acc, uniq), c.acc_bits)
            # Every MAC reads and writes its accumulator word once in the RTL.
            self.reads[acc.name] += n - len(uniq)
            new, ovf = mac_sums_grouped(old, contrib, inverse, c.acc_bits)
            self.counters["acc_overflows"] += ovf
            self._write(acc, uniq, new & ((1 << c.acc_bits) - 1))
            self.writes[acc.name] += n - len(uniq)

    def _vec(self, issue, job):
        rows = self.bank_addr(self.lane_mem(0, "state"), issue.addr[:, 0])
        if len(rows) > 1 and len(np.unique(rows)) < len(rows):
            # Iterations revisit a row: later ones see earlier stores, so run in order.
            out = []
            for i in range(len(rows)):
                sub = type(issue)(issue.pc, issue.ins, issue.addr[i:i + 1],
                                  issue.mask[i:i + 1], issue.idx[i:i + 1])
                out += self._vec(sub, job)
            return out
        c = self.core
        names = self.state_codec.names
        ins = issue.ins
        enable = self.lane_enable(issue.mask)
        found = []
        for lane in range(c.lanes):
            sel = enable[lane]
            if not sel.any():
                continue
            r = rows[sel]
            acc, st = self.lane_mem(lane, "acc"), self.lane_mem(lane, "state")
            ra = self.acc_addr(r, self.now % self.isa.acc_slots)   # VECs use slot now
            a = _signed(self._read(acc, ra), c.acc_bits)
            f = dict(zip(names, self.state_codec.unpack(self._read(st, r))))
            res = vec(ins, c, self.isa.shift_bits, a=a, **f, pay=np.int64(job.payload),
                      regs=list(self.regs[lane]))
            if res["write_state"]:
                # the VEC stores v and u; the parameters are written back as loaded
                f.update(v=res["v"], u=res["u"])
                self._write(st, r, self.state_codec.pack([f[n] for n in names]))
                if int(ins.st_v) != 0:
                    self.counters["neuron_updates"] += len(r)
            if res["a"] is not None:
                self._write(acc, ra, res["a"] & ((1 << c.acc_bits) - 1))
            iters = np.nonzero(sel)[0]
            for i, row, p in zip(iters[res["emit"]], r[res["emit"]], res["payload"][res["emit"]]):
                found.append((int(i), lane, int(row) * c.lanes + lane, int(p)))
        found.sort()
        return [(n, p) for _, _, n, p in found]
