"""Batched golden model of a neurocore chip: many input presentations at once.

:class:`~sim.golden.chip.GoldenChip` runs one presentation event by event through the
microcode (about a second per digits image). Fault-injection campaigns need thousands of
runs of a whole test set, so this model splits the work the way the hardware does:

* **control** (what the microcode does with each event and each tick) depends only on
  the control memories (microcode, axon, layer and target tables, route and destination
  tables), never on the data. :meth:`BatchedChip.compile` traces it once, with the
  golden model's own loop semantics (:func:`sim.golden.loopctl.run_job`) on the chip's
  memories as they read now, faults, ECC and stuck-at bits included. An axon's event
  program becomes a row of effective weights (``payload * w`` summed into each
  accumulator word it reaches); a tick becomes its list of VEC and SETR issues; a
  neuron's route becomes a row of a routing matrix;
* **data** (accumulators, neuron state, spikes) then runs for a batch of presentations
  as NumPy arrays with the first axis the presentation (:meth:`BatchedChip.run`).

It equals the event-by-event model because accumulation is modular addition (the order
of a timestep's MACs does not change any accumulator word, as the RTL's mesh order does
not) and the VEC arithmetic is :func:`sim.golden.npe.vec` itself. What it cannot batch
it refuses with :class:`NotBatchable` (the caller runs the event-by-event model):
delay units, SDSP tiles, event programs that issue VEC or SETR (their effect would
depend on the data), and stuck-at faults in accumulator words (a stuck bit makes the
order of a timestep's MACs matter). A program that never ends, or addresses a word
outside its memory, raises :class:`~sim.golden.loopctl.ProgramError` at compile time,
as the event-by-event model would on the first event that runs it.

Each presentation starts from ``state`` images (the driver's ``restore_state``: every
accumulator and neuron-state word rewritten), as :func:`sw.apps.demo.classify` does; a flip in
those words before a presentation is therefore overwritten, a stuck-at bit in a
neuron-state word is not (it is applied to every write, as the FaultSRAM does on reads).

A read of a word that decodes as uncorrectable (parity or SECDED) is what the RTL flags;
:meth:`BatchedChip.run` reports per presentation whether any such word was read
(``detected``), from which words each event, tick and route reads.

Campaigns compile and run thousands of chips that differ from one fault-free chip in a
few words, so both steps reuse that chip's work where it is provably the same
(``base=`` of :meth:`BatchedChip.compile`, ``reference=`` of :meth:`BatchedChip.run`):
a tile none of whose memories changed is taken whole; in a changed tile, the trace of
an event program is kept while the microcode words it fetched and the target-table
words it read are unchanged (weights then only re-enter the effective-weight matrix),
the tick's trace while the layer table and its microcode words are, the routes while
the route and destination tables are; and in the run, a tile whose compiled control
and inputs equal the reference's has the reference's spikes, so only the tiles a
fault reaches are computed, in the order the spikes flow.
"""


from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw.spec.config import DelayUnit, Protection
from hw.spec.isa import InstrClass, SetrSrc, decode
from hw.spec.packet import dest_layout, route_layout
from hw.spec.memmap import MemoryName, sdsp_tiles, tile_prefix
from sim.golden.loopctl import LOOP_LEVELS, Job, ProgramError, _count, run_job
from sim.golden.npe import vec, wrap

__all__ = ["BatchedChip", "NotBatchable", "BatchResult", "TIMEOUT_ISSUES", "host_events"]

#: A job issuing more instructions than this is a timeout (``ProgramError``): about
#: 65,000 cycles for one event or tick, where the demo's longest job issues 16. The
#: event-by-event model allows 2**24 issues, which a runaway program (a fault that
#: clears ``end`` or raises a loop count) takes minutes to reach.
TIMEOUT_ISSUES = 1 << 16


class NotBatchable(Exception):
    """The chip's programs or faults need the event-by-event model (the message says
    which tile, axon or memory)."""


# Decoded words, shared by every compile: campaigns decode the same few thousand
# instruction, job, layer and route words over and over, and ``hw.spec.isa.decode`` walks
# the layout field by field. The layouts are kept alive so that their ids stay theirs.
_DECODED: dict = {}
_LAYOUTS: dict = {}


def _decode(layout, word):
    key = (id(layout), int(word))
    hit = _DECODED.get(key)
    if hit is None:
        if len(_DECODED) > 1 << 18:
            _DECODED.clear()
        _LAYOUTS[id(layout)] = layout
        hit = _DECODED[key] = decode(layout, int(word))
    return hit


@dataclass
class _JobTrace:
    """What one event program does (a job word of the axon table), and what it read to
    decide it: valid while those words read the same."""

    fetched: np.ndarray            # microcode pcs fetched
    code: np.ndarray               # their data words then
    targets: np.ndarray            # target-table words read by MAC_T issues
    target_words: np.ndarray       # their data then
    lane: np.ndarray               # per MAC iteration and lane: the lane,
    wrow: np.ndarray               # the weight row read,
    col: np.ndarray                # the accumulator word (lane * rows + row) reached
    refuse: tuple | None           # (class name, pc) of a VEC or SETR it issues


@dataclass
class _TickTrace:
    """The tick's issues (``ops``) and what they read."""

    ops: list                      # ("vec", ins, rows, enable) | ("setr", rd, value)
    layers: np.ndarray             # layer-table words read
    layer_words: np.ndarray
    fetched: np.ndarray
    code: np.ndarray
    targets: np.ndarray
    target_words: np.ndarray
    weight_reads: list             # (lane, weight rows) read by MACs


@dataclass
class _Tile:
    xy: tuple
    weights: np.ndarray            # (axons, lanes * rows): effective weight per acc word
    axon_bad: np.ndarray           # (axons,) the axon's event reads an uncorrectable word
    tick: list                     # ("vec", ins, rows, enable) | ("setr", rd, value)
    tick_bad: bool                 # a tick reads an uncorrectable word
    routes: dict                   # dest tile -> (neurons, axons) event counts
    host: np.ndarray               # (neurons, host keys) event counts
    neuron_bad: np.ndarray         # (neurons,) a spike of the neuron reads a bad word
    stuck_state: list = field(default_factory=list)   # (lane, row, memory)
    # what later compiles of changed copies reuse (see the module docstring)
    views: dict = field(default_factory=dict, repr=False)    # memory -> (data, bad)
    jobs: dict = field(default_factory=dict, repr=False)     # job word -> _JobTrace
    tick_trace: _TickTrace | None = field(default=None, repr=False)
    entries: tuple | None = field(default=None, repr=False)  # MAC entries of all axons
    plan: dict = field(default_factory=dict, repr=False)     # run-time index arrays
    same_as: "_Tile | None" = field(default=None, repr=False)  # the prior tile it equals


@dataclass
class BatchResult:
    """Outputs of :meth:`BatchedChip.run` for ``B`` presentations of ``T`` steps.

    ``spikes``: (B, T, tiles * neurons) spikes per neuron and step (tile-major, then the
    core's neuron index); ``payloads``: their payload sums; ``host``: (B, T, K) events
    per host key and step (``host_keys[k]`` is ``(x, y, neuron)``) and ``host_payloads``
    their payload sums; ``detected``: (B,) an uncorrectable word was read;
    ``tile_detected``: (tiles, B) the same per tile and ``tile_inputs`` each tile's
    routed input (payload sums and event counts per step and axon), which a later
    :meth:`BatchedChip.run` with this result as ``reference`` reuses.
    """

    spikes: np.ndarray
    payloads: np.ndarray
    host: np.ndarray
    host_payloads: np.ndarray
    host_keys: list
    detected: np.ndarray
    tile_detected: np.ndarray | None = None
    tile_inputs: list | None = None
    tile_multi_emit: list | None = None


def host_events(host, payloads, keys, b: int, t: int) -> list:
    """Presentation ``b``'s host output events of step ``t`` from event counts and
    payload sums per key (``host[b, t, k]`` events for ``keys[k] = (x, y, neuron)``),
    sorted as :meth:`GoldenChip.step` returns them. Events of one key in one step share
    their payload sum evenly: exact while an output neuron sends one event per step (as
    the demo's do; :attr:`BatchedChip.multi_emit` tells when a neuron emitted twice)."""
    out = []
    for k in np.nonzero(host[b, t])[0]:
        n = int(host[b, t, k])
        x, y, neuron = keys[k]
        out += [(x, y, neuron, int(payloads[b, t, k]) // n)] * n
    return sorted(out)


class BatchedChip:
    """A compiled chip: control traced from a :class:`~sim.golden.chip.GoldenChip`'s
    memories, data run in batches (see the module docstring)."""

    def __init__(self, chip, tiles, host_keys, base=None):
        self.chip = chip
        self.config = chip.config
        self.tiles = tiles
        self.host_keys = host_keys
        self.base = base
        self.multi_emit = False

    # -- compile -----------------------------------------------------------------------

    @classmethod
    def compile(cls, chip, *, base: "BatchedChip | None" = None,
                changed=None) -> "BatchedChip":
        """Trace the control of every tile of ``chip`` (a GoldenChip, faults applied).

        With ``base`` (the same chip compiled before) and ``changed`` (the memories
        written or faulted since), a tile none of whose memories changed is taken from
        ``base`` instead of traced again, and a changed tile reuses the traces of
        ``base``'s that read only unchanged words (the result is the same)."""
        config = chip.config
        if config.delay.unit is not DelayUnit.NONE:
            raise NotBatchable(f"delay unit {config.delay.unit.value!r}: delayed groups "
                               "run in later timesteps (use the event-by-event model)")
        if sdsp_tiles(config):
            raise NotBatchable("SDSP tiles learn event by event (use the event-by-event "
                               "model)")
        host_index: dict = {}
        reuse, prior = {}, {}
        if base is not None and changed is not None:
            host_index = {k: i for i, k in enumerate(base.host_keys)}
            for t in base.tiles:
                mine = {n for n in changed if n.startswith(tile_prefix(*t.xy) + ".")}
                if mine:
                    prior[t.xy] = (t, mine)
                else:
                    reuse[t.xy] = t
        tiles = [reuse.get(xy) or cls._compile_tile(chip, xy, host_index, *prior.get(xy, ()))
                 for xy in chip.coords]
        keys = sorted(host_index, key=host_index.get)
        for t in tiles:
            if t.host.shape[1] < len(keys):
                t.host = np.pad(t.host, ((0, 0), (0, len(keys) - t.host.shape[1])))
        return cls(chip, tiles, keys, base if changed is not None else None)

    @staticmethod
    def _bad_words(mem) -> np.ndarray:
        """Words of a FaultSRAM that read as uncorrectable now."""
        if not mem.stuck_faults and mem.protection is Protection.NONE:
            return np.zeros(mem.depth, bool)
        return mem.peek()[2]

    @classmethod
    def _views(cls, chip, core, prior=None, changed=()) -> dict:
        """``{memory: (data words, uncorrectable words)}`` of a tile: ``prior``'s for the
        memories not in ``changed``."""
        p = core.prefix
        out = {}
        tables = [MemoryName.of(p, "route_table"), MemoryName.of(p, "dest_table")]
        mems = {**core.mems, **{n: chip.tables[n] for n in tables}}
        for name, mem in mems.items():
            if prior is not None and name not in changed:
                out[name] = prior.views[name]
                continue
            data = mem.peek()[0]
            out[name] = (data, cls._bad_words(mem))
        return out

    @classmethod
    def _compile_tile(cls, chip, xy, host_index, prior: _Tile | None = None,
                      changed=()) -> _Tile:
        """One tile's control. ``prior``: the same tile compiled before, ``changed``
        the names of its memories written or faulted since (their traces are reused
        where they read only unchanged words)."""
        core = chip.cores[xy]
        c, isa, p = core.core, core.isa, core.prefix
        lanes = c.lanes
        for name, mem in core.mems.items():
            if mem.stuck_faults and name.kind == "acc":
                raise NotBatchable(f"{name}: a stuck-at bit in an accumulator word makes "
                                   "the order of a timestep's MACs matter")
        views = cls._views(chip, core, prior, changed)
        tt_mem, acc_mem, st_mem = core.mem("target_table"), core.lane_mem(0, "acc"), \
            core.lane_mem(0, "state")
        rows = acc_mem.depth
        acc_slots = isa.acc_slots
        mc_name, tt_name = core.mem("microcode").name, tt_mem.name
        at_name, lt_name = core.mem("axon_table").name, core.mem("layer_table").name
        mc_words, mc_bad = views[mc_name]
        target, tt_bad = views[tt_name]
        target = np.asarray(target, np.int64)

        def same_words(name, addrs, words):
            """Whether words ``addrs`` of memory ``name`` still read ``words``."""
            if name not in changed:
                return True
            now = views[name][0]
            return all(int(now[a]) == int(w) for a, w in zip(addrs, words))

        def acc_addr(arows):
            if acc_slots == 1:
                return core.bank_addr(acc_mem, arows)
            return core.bank_addr(st_mem, arows) * acc_slots

        def timeout(job):
            return ProgramError(f"{p}: the program started at pc {job.pc} issued more than "
                                f"{TIMEOUT_ISSUES} instructions without ending (a timeout)")

        def trace(job, fetched):
            """The job's issues; the pcs it fetches are added to ``fetched``."""
            def fetch(pc):
                fetched.add(pc)
                ins = _decode(isa.instruction, mc_words[pc])
                if int(ins.loop):
                    # refuse a nest too long to expand before run_job builds its
                    # addresses
                    size = int(np.prod([_count(ins, lvl, job) for lvl in range(LOOP_LEVELS)]))
                    if size > TIMEOUT_ISSUES:
                        raise timeout(job)
                return ins
            n = 0
            for issue in run_job(fetch, job, c):
                n += len(issue.addr)
                if n > TIMEOUT_ISSUES:
                    raise timeout(job)
                yield issue

        def mac(issue, targets, reads):
            """(lane, weight rows, acc rows) of a MAC issue's enabled iterations; the
            target-table words it reads go to ``targets``, its weight reads to
            ``reads``."""
            wrows = core.bank_addr(tt_mem, issue.addr[:, 0])
            if int(issue.ins.mac_t):
                arows = target[wrows]
                targets.append(wrows)
            else:
                arows = issue.addr[:, 1]
            arows = acc_addr(arows)
            enable = core.lane_enable(issue.mask)
            out = []
            for lane in range(lanes):
                sel = enable[lane]
                if sel.any():
                    out.append((lane, wrows[sel], arows[sel]))
                    reads.append((lane, wrows[sel]))
            return out

        def job_trace(word) -> _JobTrace:
            d = _decode(isa.job, word)
            job = Job(int(d.pc), int(d.base), int(d.count), int(d.mask), 0)
            fetched, targets, reads = set(), [], []
            lane_l, wrow_l, col_l = [], [], []
            refuse = None
            for issue in trace(job, fetched):
                cls_ = InstrClass(int(issue.ins.cls))
                if cls_ is InstrClass.MAC:
                    for lane, wr, ar in mac(issue, targets, reads):
                        lane_l.append(np.full(len(wr), lane, np.int64))
                        wrow_l.append(wr)
                        col_l.append(lane * rows + ar)
                elif cls_ is not InstrClass.NOP and refuse is None:
                    refuse = (cls_.name, issue.pc)
            fetched = np.array(sorted(fetched), np.int64)
            tg = np.unique(np.concatenate(targets)) if targets else np.zeros(0, np.int64)
            cat = (lambda parts: np.concatenate(parts).astype(np.int64) if parts
                   else np.zeros(0, np.int64))
            return _JobTrace(fetched, mc_words[fetched].copy(), tg, target[tg].copy(),
                             cat(lane_l), cat(wrow_l), cat(col_l), refuse)

        def still_valid(jt: _JobTrace) -> bool:
            return same_words(mc_name, jt.fetched, jt.code) and \
                same_words(tt_name, jt.targets, jt.target_words)

        # events: one row of effective weights per axon
        atab, atab_bad = views[at_name]
        jobs = {}
        refuse = None       # raised once every job is traced (a timeout comes first)
        for a in range(c.axons):
            w = int(atab[a])
            jt = jobs.get(w)
            if jt is None:
                jt = prior.jobs.get(w) if prior is not None else None
                if jt is None or not still_valid(jt):
                    jt = job_trace(w)
                jobs[w] = jt
            if jt.refuse is not None and refuse is None:
                refuse = NotBatchable(f"{p}: the event program of axon {a} issues "
                                      f"{jt.refuse[0]} at pc {jt.refuse[1]}; its effect "
                                      "depends on the events' order and payloads")
        same_events = prior is not None and prior.entries is not None and \
            len(jobs) == len(prior.jobs) and all(prior.jobs.get(w) is jt
                                                 for w, jt in jobs.items()) and \
            at_name not in changed
        if same_events:
            entries = prior.entries
        else:
            per = [jobs[int(atab[a])] for a in range(c.axons)]
            axon = np.repeat(np.arange(c.axons), [len(jt.lane) for jt in per])
            entries = (axon, np.concatenate([jt.lane for jt in per]),
                       np.concatenate([jt.wrow for jt in per]),
                       np.concatenate([jt.col for jt in per]))
        axon, e_lane, e_wrow, e_col = entries
        depth = core.lane_mem(0, "weights").depth
        wnames = [core.lane_mem(l, "weights").name for l in range(lanes)]
        wvals = np.concatenate([wrap(np.asarray(views[n][0], np.int64), c.weight_bits)
                                for n in wnames])
        if same_events and not any(n in changed for n in wnames):
            W = prior.weights
        else:
            # integer sums of weight_bits-wide values: exact in float64
            W = np.bincount(axon * (lanes * rows) + e_col,
                            weights=wvals[e_lane * depth + e_wrow].astype(np.float64),
                            minlength=c.axons * lanes * rows)
            W = W.astype(np.int64).reshape(c.axons, lanes * rows)
        wbad = np.concatenate([views[n][1] for n in wnames])
        axon_bad = np.asarray(atab_bad, bool).copy()
        if wbad.any():
            hit = wbad[e_lane * depth + e_wrow]
            axon_bad[np.unique(axon[hit])] = True
        if mc_bad.any() or tt_bad.any():
            job_bad = {w: bool(mc_bad[jt.fetched].any() or tt_bad[jt.targets].any())
                       for w, jt in jobs.items()}
            axon_bad |= np.array([job_bad[int(atab[a])] for a in range(c.axons)])

        # tick: the layer programs' issues, in order
        tt = prior.tick_trace if prior is not None else None
        if tt is None or not (same_words(lt_name, tt.layers, tt.layer_words)
                              and same_words(mc_name, tt.fetched, tt.code)
                              and same_words(tt_name, tt.targets, tt.target_words)):
            tt = cls._trace_tick(core, views, trace, mac)
        lt_bad = views[lt_name][1]
        tick_hit = bool(lt_bad[tt.layers].any() or mc_bad[tt.fetched].any()
                        or tt_bad[tt.targets].any())
        for lane, wr in tt.weight_reads:
            tick_hit |= bool(views[wnames[lane]][1][wr].any())

        # routes: neuron -> destination tiles' axons, host keys
        rname, dname = MemoryName.of(p, "route_table"), MemoryName.of(p, "dest_table")
        if prior is not None and rname not in changed and dname not in changed:
            routes, host, neuron_bad = prior.routes, prior.host, prior.neuron_bad
        else:
            routes, host, neuron_bad = cls._routes(chip, c, views, rname, dname, host_index)

        if refuse is not None:
            raise refuse
        stuck = []
        for lane in range(lanes):
            mem = core.lane_mem(lane, "state")
            for addr, _, _ in mem.stuck_faults:
                stuck.append((lane, addr, mem))
        tile = _Tile(xy, W, axon_bad, tt.ops, tick_hit, routes, host, neuron_bad, stuck,
                     views, jobs, tt, entries)
        if prior is not None and not stuck and not prior.stuck_state \
                and tt.ops is prior.tick and tick_hit == prior.tick_bad \
                and routes is prior.routes and host is prior.host \
                and neuron_bad is prior.neuron_bad \
                and np.array_equal(W, prior.weights) \
                and np.array_equal(axon_bad, prior.axon_bad):
            # the faults change nothing this tile does: a run may take prior's results
            tile.weights, tile.axon_bad, tile.same_as = prior.weights, prior.axon_bad, prior
        return tile

    @staticmethod
    def _trace_tick(core, views, trace, mac) -> _TickTrace:
        c, isa, st_mem = core.core, core.isa, core.lane_mem(0, "state")
        tick, fetched_tick = [], set()
        layers, targets, reads = [], [], []
        lt_words = views[core.mem("layer_table").name][0]
        for i in range(c.layers):
            layers.append(i)
            d = _decode(isa.layer, lt_words[i])
            if not d.valid:
                break
            for issue in trace(Job(d.pc, d.base, d.count, d.mask, 0), fetched_tick):
                cls_ = InstrClass(int(issue.ins.cls))
                if cls_ is InstrClass.VEC:
                    r = core.bank_addr(st_mem, issue.addr[:, 0])
                    tick.append(("vec", issue.ins, r, core.lane_enable(issue.mask)))
                elif cls_ is InstrClass.SETR:
                    src = SetrSrc(int(issue.ins.setr_src))
                    value = {SetrSrc.IMM: int(issue.ins.imm), SetrSrc.PAYLOAD: 0,
                             SetrSrc.BASE: d.base, SetrSrc.COUNT: d.count}[src]
                    for _ in range(len(issue.addr)):
                        tick.append(("setr", int(issue.ins.rd), int(wrap(value, c.state_bits))))
                elif cls_ is InstrClass.MAC:
                    # payload 0: the accumulators keep their words; only the reads count
                    mac(issue, targets, reads)
        layers = np.array(layers, np.int64)
        fetched = np.array(sorted(fetched_tick), np.int64)
        tg = np.unique(np.concatenate(targets)) if targets else np.zeros(0, np.int64)
        mc_words = views[core.mem("microcode").name][0]
        target = views[core.mem("target_table").name][0]
        return _TickTrace(tick, layers, lt_words[layers].copy(), fetched,
                          mc_words[fetched].copy(), tg, np.asarray(target)[tg].copy(), reads)

    @staticmethod
    def _routes(chip, c, views, rname, dname, host_index):
        rlay, dlay = route_layout(chip.config), dest_layout(chip.config)
        rwords, rbad = views[rname]
        dwords, dbad = views[dname]
        ddepth = len(dwords)
        routes = {}
        host_counts: dict = {}
        neuron_bad = np.zeros(c.neurons, bool)
        for n in range(c.neurons):
            r = _decode(rlay, rwords[n])
            hit = bool(rbad[n])
            for i in range(int(r.count)):
                if not 0 <= r.first + i < ddepth:
                    raise ValueError(f"{dname}: address {r.first + i} is outside "
                                     f"0..{ddepth - 1}")
                hit |= bool(dbad[r.first + i])
                dst = _decode(dlay, dwords[r.first + i])
                if dst.to_host:
                    key = (int(dst.x), int(dst.y), int(dst.axon))
                    k = host_index.setdefault(key, len(host_index))
                    host_counts[(n, k)] = host_counts.get((n, k), 0) + 1
                else:
                    to = (int(dst.x), int(dst.y))
                    if to not in chip.cores:
                        continue        # the golden mesh drops it (no such tile)
                    dc = chip.cores[to].core
                    if int(dst.axon) >= dc.axons:
                        raise ValueError(f"{tile_prefix(*to)}: axon {int(dst.axon)} is "
                                         f"outside 0..{dc.axons - 1}")
                    m = routes.setdefault(to, np.zeros((c.neurons, dc.axons), np.int64))
                    m[n, int(dst.axon)] += 1
            neuron_bad[n] = hit
        host = np.zeros((c.neurons, max(1, len(host_index))), np.int64)
        for (n, k), v in host_counts.items():
            host[n, k] = v
        return routes, host, neuron_bad

    # -- run -----------------------------------------------------------------------------

    @staticmethod
    def inputs(config, packets) -> tuple:
        """Host packets as arrays (compute once, run many): ``packets[b][t]`` is
        presentation ``b``'s packets ``(x, y, axon, payload)`` of step ``t``. Returns
        (payload sums, event counts), each (tiles, B, T, axons), tiles in
        :func:`~hw.spec.memmap.tile_coords` order."""
        from hw.spec.memmap import tile_coords
        coords = tile_coords(config)
        index = {xy: i for i, xy in enumerate(coords)}
        B = len(packets)
        T = len(packets[0]) if B else 0
        if any(len(p) != T for p in packets):
            raise ValueError("every presentation must have the same number of steps")
        pin = np.zeros((len(coords), B, T, config.core.axons), np.int64)
        ein = np.zeros_like(pin)
        for b, steps in enumerate(packets):
            for t, step in enumerate(steps):
                for x, y, axon, payload in step:
                    if (x, y) not in index:
                        raise ValueError(f"host packet for tile {(x, y)}, outside the "
                                         f"{config.noc.width} x {config.noc.height} mesh")
                    if not 0 <= axon < config.core.axons:
                        raise ValueError(f"host packet for tile {(x, y)}: axon {axon} is "
                                         f"outside 0..{config.core.axons - 1}")
                    i = index[(x, y)]
                    pin[i, b, t, axon] += payload
                    ein[i, b, t, axon] += 1
        return pin, ein

    def run(self, packets, state: dict, *, reference: BatchResult | None = None
            ) -> BatchResult:
        """Run presentations. ``packets``: per presentation, per step, host packets
        ``(x, y, axon, payload)`` (every presentation the same number of steps), or
        what :meth:`inputs` made of them; ``state``: the words every presentation starts
        from (``{memory: words}`` for the accumulator and neuron-state memories, as
        ``restore_state`` writes).

        ``reference``: the result of the chip this one was compiled from (``base`` of
        :meth:`compile`) on the same packets and state. A tile whose control equals the
        reference's and whose routed inputs do too then has the reference's spikes
        (the same numbers, not recomputed)."""
        pin, ein = packets if isinstance(packets, tuple) else self.inputs(self.config, packets)
        B, T = pin.shape[1], pin.shape[2]
        tiles = self.tiles
        c = self.chip.cores[tiles[0].xy].core
        N = c.neurons
        K = len(self.host_keys)
        order = self._flow_order()
        base_tiles = self.base.tiles if reference is not None and self.base is not None \
            else None
        spikes = np.zeros((B, T, len(tiles) * N), np.int64)
        pays = np.zeros_like(spikes)
        tile_detected = np.zeros((len(tiles), B), bool)
        multi = [False] * len(tiles)
        shape = pin.shape[1:]
        # routed inputs per tile: (payload sums, event counts), each (B, T, axons), or
        # None while nothing is routed to the tile
        routed = [None] * len(tiles)
        if order is None:
            # spikes go round a cycle of tiles: every tile step by step
            routed = [(np.zeros(shape, np.int64), np.zeros(shape, np.int64)) for _ in tiles]
            self._run_stepwise(pin, ein, state, spikes, pays, routed, tile_detected, multi)
        index = self._index
        senders = {i: [] for i in range(len(tiles))}
        for i, t in enumerate(tiles):
            for to in t.routes:
                senders[index[to]].append(i)
        base_senders = None
        if base_tiles is not None:
            base_senders = {i: sorted(i2 for i2, t in enumerate(base_tiles)
                                      if tiles[i].xy in t.routes) for i in senders}
        same_out = [False] * len(tiles)    # the tile's spikes equal the reference's
        for ti in order or ():
            tile = tiles[ti]
            bt = base_tiles[ti] if base_tiles is not None else None
            sl = slice(ti * N, (ti + 1) * N)
            # inputs as the reference's: the same senders, each sending the reference's
            # spikes through the reference's routes
            same_in = bt is not None and sorted(senders[ti]) == base_senders[ti] and all(
                same_out[s] and tiles[s].routes[tile.xy] is base_tiles[s].routes[tile.xy]
                for s in senders[ti])
            if same_in:
                routed[ti] = reference.tile_inputs[ti]
            elif senders[ti]:
                rpay, rcnt = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
                if T > 1:
                    # spikes of step t reach their tiles' accumulators in step t + 1
                    for s in senders[ti]:
                        m = tiles[s].routes[tile.xy]
                        ss = slice(s * N, (s + 1) * N)
                        rpay[:, 1:] += self._dot(pays[:, :, ss].reshape(-1, N),
                                                 m).reshape(B, T, -1)[:, :-1]
                        rcnt[:, 1:] += self._dot(spikes[:, :, ss].reshape(-1, N),
                                                 m).reshape(B, T, -1)[:, :-1]
                routed[ti] = (rpay, rcnt)
            xin, nin = pin[ti], ein[ti]
            if routed[ti] is not None:
                xin, nin = xin + routed[ti][0], nin + routed[ti][1]
            if same_in and self._same_dynamics(tile, bt):
                # the reference's spikes; what it reads (detection) may differ
                cnt, pay = reference.spikes[:, :, sl], reference.payloads[:, :, sl]
                spikes[:, :, sl], pays[:, :, sl] = cnt, pay
                multi[ti] = reference.tile_multi_emit[ti]
                same_out[ti] = True
                if tile is bt or tile.same_as is bt:
                    tile_detected[ti] = reference.tile_detected[ti]
                else:
                    tile_detected[ti] = self._detected(tile, nin, cnt, np.zeros(B, bool))
                continue
            cnt, pay, tile_detected[ti], multi[ti] = self._run_tile(ti, xin, nin, state, B, T)
            spikes[:, :, sl] = cnt
            pays[:, :, sl] = pay
            same_out[ti] = bt is not None and \
                np.array_equal(cnt, reference.spikes[:, :, sl]) and \
                np.array_equal(pay, reference.payloads[:, :, sl])
        host = np.zeros((B, T, K), np.int64)
        hpay = np.zeros_like(host)
        for ti, tile in enumerate(tiles):
            h = tile.host[:, :K]
            if not h.any():
                continue
            sl = slice(ti * N, (ti + 1) * N)
            host += self._dot(spikes[:, :, sl].reshape(-1, N), h).reshape(B, T, K)
            hpay += self._dot(pays[:, :, sl].reshape(-1, N), h).reshape(B, T, K)
        self.multi_emit |= any(multi)
        return BatchResult(spikes, pays, host, hpay, self.host_keys,
                           tile_detected.any(axis=0), tile_detected, routed, multi)

    @property
    def _index(self) -> dict:
        return {t.xy: i for i, t in enumerate(self.tiles)}

    def _flow_order(self):
        """Tile indices in the order spikes flow (every tile after the tiles that send
        to it), or None when routes form a cycle."""
        index = self._index
        into = {i: set() for i in range(len(self.tiles))}
        for i, t in enumerate(self.tiles):
            for to in t.routes:
                into[index[to]].add(i)
        order, done = [], set()
        while len(order) < len(self.tiles):
            ready = [i for i in into if i not in done and into[i] <= done]
            if not ready:
                return None
            order.append(ready[0])
            done.add(ready[0])
        return order

    def _tile_start(self, ti, state, B, T):
        """A tile's accumulators (B, lanes * rows), state fields [v, u, p0, p1] (each
        (B, lanes, rows)), start registers and stuck-at flags before its first step."""
        tile = self.tiles[ti]
        core = self.chip.cores[tile.xy]
        c = core.core
        L = c.lanes
        rows = core.lane_mem(0, "acc").depth
        a, f = self._initial(state, core)
        acc = np.broadcast_to(a.reshape(1, L * rows), (B, L * rows)).copy()
        fields = [np.broadcast_to(x.reshape(1, L, -1), (B, L, x.shape[1])).copy() for x in f]
        det = np.zeros(B, bool)
        for lane, row, mem in tile.stuck_state:
            det |= self._through(mem, fields, lane, row, core.state_codec)
        return acc, fields, self._start_regs(tile, core, T, B), det

    def _run_tile(self, ti, xin, nin, state, B, T):
        """One tile over every step, its inputs known: ``xin``/``nin`` (B, T, axons)
        payload sums and event counts arriving per step. Returns (spike counts, payload
        sums), each (B, T, neurons), whether an uncorrectable word was read (B,) and
        whether a neuron emitted twice in a step."""
        tile = self.tiles[ti]
        core = self.chip.cores[tile.xy]
        c = core.core
        rows = core.lane_mem(0, "acc").depth
        acc, fields, regs, det = self._tile_start(ti, state, B, T)
        x = self._dot(xin.reshape(B * T, -1), tile.weights).reshape(B, T, -1)
        cnt = np.zeros((B, T, c.neurons), np.int64)
        pay = np.zeros_like(cnt)
        flags = {"detected": det, "multi": False}
        for t in range(T):
            acc = wrap(acc + x[:, t], c.acc_bits)
            cnt[:, t], pay[:, t] = self._tick(tile, acc, fields, regs, c, rows, flags)
        return cnt, pay, self._detected(tile, nin, cnt, flags["detected"]), flags["multi"]

    @staticmethod
    def _same_dynamics(tile, bt) -> bool:
        """Whether ``tile`` computes the spikes ``bt`` does from the same inputs: the
        same tick, effective weights and no stuck-at state (routes and detection may
        differ)."""
        if tile is bt or tile.same_as is bt:
            return True
        return not tile.stuck_state and not bt.stuck_state and tile.tick is bt.tick and \
            (tile.weights is bt.weights or np.array_equal(tile.weights, bt.weights))

    @staticmethod
    def _detected(tile, nin, cnt, stuck) -> np.ndarray:
        """(B,) an uncorrectable word was read by a tile that received ``nin`` (B, T,
        axons) events and fired ``cnt`` (B, T, neurons); ``stuck``: by its stuck-at
        state words."""
        det = stuck.copy()
        det |= tile.tick_bad and cnt.shape[1] > 0
        det |= ((nin.sum(axis=1) > 0) & tile.axon_bad[None, :]).any(axis=1)
        det |= ((cnt > 0).any(axis=1) & tile.neuron_bad[None, :]).any(axis=1)
        return det

    def _run_stepwise(self, pin, ein, state, spikes, pays, routed, tile_detected, multi):
        """Every tile one step at a time (routes with a cycle): fills ``spikes``,
        ``pays``, ``routed``, ``tile_detected`` and ``multi``."""
        B, T = pin.shape[1], pin.shape[2]
        tiles, index = self.tiles, self._index
        c = self.chip.cores[tiles[0].xy].core
        N = c.neurons
        rows = self.chip.cores[tiles[0].xy].lane_mem(0, "acc").depth
        start = [self._tile_start(ti, state, B, T) for ti in range(len(tiles))]
        acc = [s[0] for s in start]
        flags = [{"detected": s[3], "multi": False} for s in start]
        events = np.zeros((len(tiles), B, c.axons), np.int64)
        fired = np.zeros((len(tiles), B, N), bool)
        for t in range(T):
            for ti, tile in enumerate(tiles):
                xin = pin[ti, :, t] + routed[ti][0][:, t]
                acc[ti] = wrap(acc[ti] + self._dot(xin, tile.weights), c.acc_bits)
                events[ti] += ein[ti, :, t] + routed[ti][1][:, t]
            for ti, tile in enumerate(tiles):
                cnt, pay = self._tick(tile, acc[ti], start[ti][1], start[ti][2], c, rows,
                                      flags[ti])
                spikes[:, t, ti * N:(ti + 1) * N] = cnt
                pays[:, t, ti * N:(ti + 1) * N] = pay
                fired[ti] |= cnt > 0
                if t + 1 < T:
                    for to, m in tile.routes.items():
                        routed[index[to]][0][:, t + 1] += self._dot(pay, m)
                        routed[index[to]][1][:, t + 1] += self._dot(cnt, m)
        for ti, tile in enumerate(tiles):
            det = flags[ti]["detected"]
            det |= tile.tick_bad and T > 0
            det |= ((events[ti] > 0) & tile.axon_bad[None, :]).any(axis=1)
            det |= (fired[ti] & tile.neuron_bad[None, :]).any(axis=1)
            tile_detected[ti] = det
            multi[ti] = flags[ti]["multi"]

    _initial_cache: dict = {}

    @classmethod
    def _initial(cls, state, core):
        """A tile's state words decoded: accumulators (lanes, rows) and the state
        record's fields (v, u, p0, p1 in the record's order), each (lanes, rows);
        cached per state image."""
        key = (id(state), core.prefix)
        hit = cls._initial_cache.get(key)
        if hit is not None and hit[0] is state:
            return hit[1]
        c, L = core.core, core.core.lanes
        a = wrap(np.stack([np.asarray(state[core.lane_mem(l, "acc").name], np.int64)
                           for l in range(L)]), c.acc_bits)
        f = core.state_codec.unpack(np.stack([np.asarray(state[core.lane_mem(l, "state").name])
                                              for l in range(L)]))
        cls._initial_cache = {key: (state, (a, f))}
        return a, f

    @staticmethod
    def _dot(x, w):
        """Integer matrix product through BLAS: in float32 while every partial sum stays
        below 2**24, else float64 while below 2**53 (checked, so exact), else in
        integers."""
        xmax = float(max(x.max(initial=0), -x.min(initial=0)))
        wmax = float(max(w.max(initial=0), -w.min(initial=0)))
        bound = xmax * wmax * x.shape[-1]
        if bound < 2.0 ** 24:
            return (x.astype(np.float32) @ w.astype(np.float32)).astype(np.int64)
        bound = float(np.abs(x).sum(axis=1).max(initial=0)) * wmax
        if bound >= 2.0 ** 53:
            return x @ w
        return (x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)

    @staticmethod
    def _through(mem, f, lane, row, codec):
        """A stuck-at word of a neuron-state bank: what reads return after a write (the
        fields ``f``, packed by ``codec``, updated in place); returns (B,) whether the
        read is uncorrectable."""
        data, _, det = mem.readback(row, codec.pack([x[:, lane, row] for x in f]))
        for x, new in zip(f, codec.unpack(data)):
            x[:, lane, row] = new
        return det

    @staticmethod
    def _start_regs(tile, core, T, B):
        """A tile's registers at the start of each presentation: the chip's now for the
        first, then what the ticks' SETRs leave (data-independent) for the next ones."""
        key = ("regs", T, B, tuple(int(x) for x in core.regs[0]))
        hit = tile.plan.get(key)
        if hit is not None:
            return hit
        setrs = [(rd, v) for kind, rd, v in (op for op in tile.tick if op[0] == "setr")]
        r = [int(x) for x in core.regs[0]]
        per = []
        for _ in range(B):
            per.append(list(r))
            for _ in range(T):
                for rd, v in setrs:
                    if rd < len(r):
                        r[rd] = v
        per = np.array(per, np.int64).reshape(B, -1)
        out = [per[:, j:j + 1] if len(set(per[:, j])) > 1 else int(per[0, j])
               for j in range(per.shape[1])]
        tile.plan[key] = out
        return out

    @staticmethod
    def _tick_plan(tile, rows, L):
        """The tick's issues with their index arrays, worked out once per tile:
        ``("setr", rd, value)`` or ``("vec", ins, parts)``, each part ``(lanes, rows,
        accumulator words, neurons, stuck-at words written)`` of the enabled
        iterations (an issue whose iterations revisit a row runs one at a time)."""
        key = ("tick", rows, L)
        hit = tile.plan.get(key)
        if hit is not None:
            return hit
        stuck = {(lane, row) for lane, row, _ in tile.stuck_state}
        plan = []
        for op in tile.tick:
            if op[0] == "setr":
                plan.append(op)
                continue
            _, ins, r_all, enable = op
            if len(r_all) > 1 and len(np.unique(r_all)) < len(r_all):
                split = [(r_all[i:i + 1], enable[:, i:i + 1]) for i in range(len(r_all))]
            else:
                split = [(r_all, enable)]
            parts = []
            for r_part, en in split:
                lane_i, it = np.nonzero(en)
                if not len(lane_i):
                    continue
                r = r_part[it]
                hits = [(int(lane), int(row)) for lane, row in zip(lane_i, r)
                        if (int(lane), int(row)) in stuck]
                parts.append((lane_i, r, lane_i * rows + r, r * L + lane_i, hits))
            plan.append(("vec", ins, parts))
        tile.plan[key] = plan
        return plan

    def _tick(self, tile, acc, f, regs, c, rows, flags):
        """One tick of one tile on the batch: returns (spike counts, payload sums),
        each (B, neurons); ``flags["detected"]`` gains the presentations whose write
        read back an uncorrectable stuck-at word, ``flags["multi"]`` whether a neuron
        emitted twice."""
        B = acc.shape[0]
        L = c.lanes
        codec = self._codec
        names = codec.names
        iv, iu = names.index("v"), names.index("u")
        cnt = np.zeros((B, c.neurons), np.int64)
        pay = np.zeros((B, c.neurons), np.int64)
        emitted = np.zeros((B, c.neurons), bool)
        regs = list(regs)
        stuck = {(lane, row): mem for lane, row, mem in tile.stuck_state}
        for op in self._tick_plan(tile, rows, L):
            if op[0] == "setr":
                _, rd, value = op
                if rd < len(regs):
                    regs[rd] = value
                continue
            _, ins, parts = op
            for lane_i, r, cols, n, hits in parts:
                # every enabled (lane, row) of the issue at once: lanes share the
                # instruction and the registers (SETR writes every lane)
                a = acc[:, cols]
                st = {name: x[:, lane_i, r] for name, x in zip(names, f)}
                res = vec(ins, c, self._shift_bits, a=a, **st, pay=np.int64(0), regs=regs)
                if res["write_state"]:
                    f[iv][:, lane_i, r] = res["v"]
                    f[iu][:, lane_i, r] = res["u"]
                    for lane, row in hits:
                        flags["detected"] |= self._through(stuck[(lane, row)], f, lane,
                                                           row, codec)
                if res["a"] is not None:
                    acc[:, cols] = wrap(res["a"], c.acc_bits)
                e = np.broadcast_to(res["emit"], a.shape)
                p = np.broadcast_to(res["payload"], a.shape)
                flags["multi"] |= bool((emitted[:, n] & e).any())
                cnt[:, n] += e
                pay[:, n] += np.where(e, p, 0)
                emitted[:, n] |= e
        return cnt, pay

    @property
    def _shift_bits(self):
        return self.chip.cores[self.tiles[0].xy].isa.shift_bits

    @property
    def _codec(self):
        """The neuron-state record's codec (every tile's core has one config)."""
        return self.chip.cores[self.tiles[0].xy].state_codec
