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
accumulator and neuron-state word rewritten), as :func:`sw.demo.classify` does; a flip in
those words before a presentation is therefore overwritten, a stuck-at bit in a
neuron-state word is not (it is applied to every write, as the FaultSRAM does on reads).

A read of a word that decodes as uncorrectable (parity or SECDED) is what the RTL flags;
:meth:`BatchedChip.run` reports per presentation whether any such word was read
(``detected``), from which words each event, tick and route reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hw.config import DelayUnit
from hw.isa import InstrClass, SetrSrc, decode
from hw.noc.packet import dest_layout, route_layout, sdsp_tiles, tile_prefix
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
    stuck_state: list = field(default_factory=list)   # (lane, row, transform)


@dataclass
class BatchResult:
    """Outputs of :meth:`BatchedChip.run` for ``B`` presentations of ``T`` steps.

    ``spikes``: (B, T, tiles * neurons) spikes per neuron and step (tile-major, then the
    core's neuron index); ``payloads``: their payload sums; ``host``: (B, T, K) events
    per host key and step (``host_keys[k]`` is ``(x, y, neuron)``) and ``host_payloads``
    their payload sums; ``detected``: (B,) an uncorrectable word was read.
    """

    spikes: np.ndarray
    payloads: np.ndarray
    host: np.ndarray
    host_payloads: np.ndarray
    host_keys: list
    detected: np.ndarray


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

    def __init__(self, chip, tiles, host_keys):
        self.chip = chip
        self.config = chip.config
        self.tiles = tiles
        self.host_keys = host_keys
        self.multi_emit = False

    # -- compile -----------------------------------------------------------------------

    @classmethod
    def compile(cls, chip, *, base: "BatchedChip | None" = None,
                changed=None) -> "BatchedChip":
        """Trace the control of every tile of ``chip`` (a GoldenChip, faults applied).

        With ``base`` (the same chip compiled before) and ``changed`` (the memories
        written or faulted since), a tile none of whose memories changed is taken from
        ``base`` instead of traced again."""
        config = chip.config
        if config.delay.unit is not DelayUnit.NONE:
            raise NotBatchable(f"delay unit {config.delay.unit.value!r}: delayed groups "
                               "run in later timesteps (use the event-by-event model)")
        if sdsp_tiles(config):
            raise NotBatchable("SDSP tiles learn event by event (use the event-by-event "
                               "model)")
        host_index: dict = {}
        reuse = {}
        if base is not None and changed is not None:
            host_index = {k: i for i, k in enumerate(base.host_keys)}
            reuse = {t.xy: t for t in base.tiles
                     if not any(n.startswith(tile_prefix(*t.xy) + ".") for n in changed)}
        tiles = [reuse.get(xy) or cls._compile_tile(chip, xy, host_index)
                 for xy in chip.coords]
        keys = sorted(host_index, key=host_index.get)
        for t in tiles:
            if t.host.shape[1] < len(keys):
                t.host = np.pad(t.host, ((0, 0), (0, len(keys) - t.host.shape[1])))
        return cls(chip, tiles, keys)

    @staticmethod
    def _bad_words(mem) -> np.ndarray:
        """Words of a FaultSRAM that read as uncorrectable now."""
        if not mem._slots and mem.protection.value == "none":
            return np.zeros(mem.depth, bool)
        return mem.decode(mem._forced(np.arange(mem.depth)))[2]

    @classmethod
    def _compile_tile(cls, chip, xy, host_index) -> _Tile:
        core = chip.cores[xy]
        c, isa, p = core.core, core.isa, core.prefix
        lanes = c.lanes
        for name, mem in core.mems.items():
            if mem._slots and name.endswith(".acc"):
                raise NotBatchable(f"{name}: a stuck-at bit in an accumulator word makes "
                                   "the order of a timestep's MACs matter")
        rows = core.mem("lane0.acc").depth
        bad = {name: cls._bad_words(mem) for name, mem in core.mems.items()}
        words = {name: core.dump(name) for name in core.mems
                 if ".weights" in name or name.endswith(".target_table")}
        wvals = [wrap(np.asarray(words[f"{p}.lane{l}.weights"], np.int64), c.weight_bits)
                 for l in range(lanes)]
        target = np.asarray(words[f"{p}.target_table"], np.int64)

        fetched = set()
        job_now = [None]

        def timeout(job):
            return ProgramError(f"{p}: the program started at pc {job.pc} issued more than "
                                f"{TIMEOUT_ISSUES} instructions without ending (a timeout)")

        # every microcode word decoded once (a fetch through the FaultSRAM model decodes
        # the wide word bit by bit)
        mc_words = core.dump(f"{p}.microcode")

        def fetch(pc):
            fetched.add(pc)
            word = int(mc_words[pc])
            ins = core._cache.get(word)
            if ins is None:
                ins = core._cache[word] = decode(isa.instruction, word)
            if int(ins.loop):
                # refuse a nest too long to expand before run_job builds its addresses
                size = int(np.prod([_count(ins, lvl, job_now[0]) for lvl in range(LOOP_LEVELS)]))
                if size > TIMEOUT_ISSUES:
                    raise timeout(job_now[0])
            return ins

        def trace(job):
            job_now[0] = job
            n = 0
            for issue in run_job(fetch, job, c):
                n += len(issue.addr)
                if n > TIMEOUT_ISSUES:
                    raise timeout(job)
                yield issue

        def reads_bad(suffix, addr) -> bool:
            b = bad[f"{p}.{suffix}"]
            return bool(np.any(b[np.atleast_1d(np.asarray(addr, np.int64))]))

        def mac_words(issue):
            """(lane, weight rows, acc rows) of a MAC issue, and whether it reads a bad
            word."""
            wrows = core._bank_addr("target_table", issue.addr[:, 0])
            hit = False
            if int(issue.ins.mac_t):
                arows = target[wrows]
                hit |= reads_bad("target_table", wrows)
            else:
                arows = issue.addr[:, 1]
            arows = core._acc_addr(arows, 0)
            enable = core._lanes(issue.mask)
            out = []
            for lane in range(lanes):
                sel = enable[lane]
                if sel.any():
                    out.append((lane, wrows[sel], arows[sel]))
                    hit |= reads_bad(f"lane{lane}.weights", wrows[sel])
            return out, hit

        # events: one row of effective weights per axon
        W = np.zeros((c.axons, lanes * rows), np.int64)
        axon_bad = np.zeros(c.axons, bool)
        atab = core.dump(f"{p}.axon_table")
        jobs = {}
        refuse = None       # raised once every job is traced (a timeout comes first)
        for a in range(c.axons):
            fetched.clear()
            hit = reads_bad("axon_table", a)
            w = int(atab[a])
            if w not in jobs:
                d = decode(isa.job, w)
                jobs[w] = Job(int(d.pc), int(d.base), int(d.count), int(d.mask), 0)
            for issue in trace(jobs[w]):
                cls_ = InstrClass(int(issue.ins.cls))
                if cls_ is InstrClass.MAC:
                    triples, h = mac_words(issue)
                    hit |= h
                    for lane, wr, ar in triples:
                        np.add.at(W[a], lane * rows + ar, wvals[lane][wr])
                elif cls_ is not InstrClass.NOP and refuse is None:
                    refuse = NotBatchable(f"{p}: the event program of axon {a} issues "
                                          f"{cls_.name} at pc {issue.pc}; its effect "
                                          "depends on the events' order and payloads")
            axon_bad[a] = hit or reads_bad("microcode", sorted(fetched))

        # tick: the layer programs' issues, in order
        tick, fetched_tick = [], set()
        tick_hit = False
        for i in range(c.layers):
            tick_hit |= reads_bad("layer_table", i)
            d = decode(isa.layer, core._read("layer_table", i))
            if not d.valid:
                break
            fetched.clear()
            for issue in trace(Job(d.pc, d.base, d.count, d.mask, 0)):
                cls_ = InstrClass(int(issue.ins.cls))
                if cls_ is InstrClass.VEC:
                    r = core._bank_addr("lane0.state", issue.addr[:, 0])
                    tick.append(("vec", issue.ins, r, core._lanes(issue.mask)))
                elif cls_ is InstrClass.SETR:
                    src = SetrSrc(int(issue.ins.setr_src))
                    value = {SetrSrc.IMM: int(issue.ins.imm), SetrSrc.PAYLOAD: 0,
                             SetrSrc.BASE: d.base, SetrSrc.COUNT: d.count}[src]
                    for _ in range(len(issue.addr)):
                        tick.append(("setr", int(issue.ins.rd), int(wrap(value, c.state_bits))))
                elif cls_ is InstrClass.MAC:
                    # payload 0: the accumulators keep their words; only the reads count
                    tick_hit |= mac_words(issue)[1]
            fetched_tick |= fetched
        tick_hit |= reads_bad("microcode", sorted(fetched_tick))

        # routes: neuron -> destination tiles' axons, host keys
        rlay, dlay = route_layout(chip.config), dest_layout(chip.config)
        rname, dname = f"{p}.route_table", f"{p}.dest_table"
        rmem, dmem = chip.tables[rname], chip.tables[dname]
        rwords = rmem.decode(rmem._forced(np.arange(rmem.depth)))[0]
        dwords = dmem.decode(dmem._forced(np.arange(dmem.depth)))[0]
        rbad, dbad = cls._bad_words(rmem), cls._bad_words(dmem)
        routes = {}
        host_counts: dict = {}
        neuron_bad = np.zeros(c.neurons, bool)
        for n in range(c.neurons):
            r = decode(rlay, int(rwords[n]))
            hit = bool(rbad[n])
            for i in range(int(r.count)):
                if not 0 <= r.first + i < dmem.depth:
                    raise ValueError(f"{dname}: address {r.first + i} is outside "
                                     f"0..{dmem.depth - 1}")
                hit |= bool(dbad[r.first + i])
                dst = decode(dlay, int(dwords[r.first + i]))
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

        if refuse is not None:
            raise refuse
        stuck = []
        for lane in range(lanes):
            mem = core.mem(f"lane{lane}.state")
            for addr, _, _ in mem._slots:
                stuck.append((lane, addr, mem))
        return _Tile(xy, W, axon_bad, tick, bool(tick_hit), routes, host, neuron_bad, stuck)

    # -- run -----------------------------------------------------------------------------

    @staticmethod
    def inputs(config, packets) -> tuple:
        """Host packets as arrays (compute once, run many): ``packets[b][t]`` is
        presentation ``b``'s packets ``(x, y, axon, payload)`` of step ``t``. Returns
        (payload sums, event counts), each (tiles, B, T, axons), tiles in
        :func:`~hw.noc.packet.tile_coords` order."""
        from hw.noc.packet import tile_coords
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

    def run(self, packets, state: dict) -> BatchResult:
        """Run presentations. ``packets``: per presentation, per step, host packets
        ``(x, y, axon, payload)`` (every presentation the same number of steps), or
        what :meth:`inputs` made of them; ``state``: the words every presentation starts
        from (``{memory: words}`` for the accumulator and neuron-state memories, as
        ``restore_state`` writes)."""
        pin, ein = packets if isinstance(packets, tuple) else self.inputs(self.config, packets)
        B, T = pin.shape[1], pin.shape[2]
        chip, tiles = self.chip, self.tiles
        index = {t.xy: i for i, t in enumerate(tiles)}
        cores = [chip.cores[t.xy] for t in tiles]
        c = cores[0].core
        N, L, sb = c.neurons, c.lanes, c.state_bits
        rows = cores[0].mem("lane0.acc").depth
        K = len(self.host_keys)

        # state: per tile (B, lanes * rows) accumulators and fields v, u, p0, p1
        acc, fields = [], []
        for core in cores:
            a, f = self._initial(state, core.prefix, c)
            acc.append(np.broadcast_to(a.reshape(1, L * rows), (B, L * rows)).copy())
            fields.append([np.broadcast_to(x.reshape(1, L, -1), (B, L, x.shape[1])).copy()
                           for x in f])
        self._stuck_detected = np.zeros(B, bool)
        for ti, tile in enumerate(tiles):
            for lane, row, mem in tile.stuck_state:
                self._stuck_detected |= self._through(mem, fields[ti], lane, row, sb)

        regs = self._start_regs(cores, T, B)
        spikes = np.zeros((B, T, len(tiles) * N), np.int64)
        pays = np.zeros_like(spikes)
        host = np.zeros((B, T, K), np.int64)
        hpay = np.zeros_like(host)
        events = np.zeros((len(tiles), B, c.axons), np.int64)   # events received per axon
        fired = np.zeros((len(tiles), B, N), bool)
        pend = np.zeros((len(tiles), B, c.axons), np.int64)
        pend_n = np.zeros_like(pend)
        for t in range(T):
            for ti, tile in enumerate(tiles):
                acc[ti] = wrap(acc[ti] + self._dot(pin[ti, :, t] + pend[ti], tile.weights),
                               c.acc_bits)
                events[ti] += ein[ti, :, t] + pend_n[ti]
            pend[:] = 0
            pend_n[:] = 0
            for ti, tile in enumerate(tiles):
                cnt, pay = self._tick(tile, acc[ti], fields[ti], regs[ti], c, rows)
                spikes[:, t, ti * N:(ti + 1) * N] = cnt
                pays[:, t, ti * N:(ti + 1) * N] = pay
                fired[ti] |= cnt > 0
                for to, m in tile.routes.items():
                    pend[index[to]] += self._dot(pay, m)
                    pend_n[index[to]] += self._dot(cnt, m)
                host[:, t] += self._dot(cnt, tile.host[:, :K])
                hpay[:, t] += self._dot(pay, tile.host[:, :K])
        detected = self._stuck_detected.copy()
        for ti, tile in enumerate(tiles):
            detected |= tile.tick_bad and T > 0
            detected |= ((events[ti] > 0) & tile.axon_bad[None, :]).any(axis=1)
            detected |= (fired[ti] & tile.neuron_bad[None, :]).any(axis=1)
        return BatchResult(spikes, pays, host, hpay, self.host_keys, detected)

    _initial_cache: dict = {}

    @classmethod
    def _initial(cls, state, prefix, c):
        """A tile's state words decoded: accumulators (lanes, rows) and the fields
        v, u, p0, p1, each (lanes, rows); cached per state image."""
        key = (id(state), prefix)
        hit = cls._initial_cache.get(key)
        if hit is not None and hit[0] is state:
            return hit[1]
        L, sb = c.lanes, c.state_bits
        a = wrap(np.stack([np.asarray(state[f"{prefix}.lane{l}.acc"], np.int64)
                           for l in range(L)]), c.acc_bits)
        rec = [[int(w) for w in state[f"{prefix}.lane{l}.state"]] for l in range(L)]
        f = [wrap(np.array([[(w >> (k * sb)) & ((1 << sb) - 1) for w in row] for row in rec],
                           np.int64), sb) for k in range(4)]
        cls._initial_cache = {key: (state, (a, f))}
        return a, f

    @staticmethod
    def _dot(x, w):
        """Integer matrix product through BLAS: exact while every partial sum stays
        below 2**53 (checked)."""
        bound = float(np.abs(x).sum(axis=1).max(initial=0)) * float(np.abs(w).max(initial=0))
        if bound >= 2.0 ** 53:
            return x @ w
        return (x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)

    @staticmethod
    def _through(mem, f, lane, row, sb):
        """A stuck-at word of a neuron-state bank: what reads return after a write (the
        fields ``f`` updated in place); returns (B,) whether the read is uncorrectable."""
        vals = np.stack([x[:, lane, row] for x in f], axis=1) & ((1 << sb) - 1)
        words = [sum(int(v) << (k * sb) for k, v in enumerate(r)) for r in vals]
        stored = mem.encode(np.array(words, dtype=object))
        for a, mbits, value in mem._slots:
            if a == row:
                stored = (stored & (1 - mbits)) | (mbits * value)
        data, _, det = mem.decode(stored)
        for k in range(4):
            f[k][:, lane, row] = wrap(np.array([(int(w) >> (k * sb)) & ((1 << sb) - 1)
                                                for w in data], np.int64), sb)
        return det

    def _start_regs(self, cores, T, B):
        """Registers at the start of each presentation: the chip's now for the first,
        then what the ticks' SETRs leave (data-independent) for the next ones."""
        out = []
        for tile, core in zip(self.tiles, cores):
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
            out.append([per[:, j:j + 1] if len(set(per[:, j])) > 1 else int(per[0, j])
                        for j in range(per.shape[1])])
        return out

    def _tick(self, tile, acc, f, regs, c, rows):
        """One tick of one tile on the batch: returns (spike counts, payload sums),
        each (B, neurons)."""
        B = acc.shape[0]
        L, sb = c.lanes, c.state_bits
        cnt = np.zeros((B, c.neurons), np.int64)
        pay = np.zeros((B, c.neurons), np.int64)
        emitted = np.zeros((B, c.neurons), bool)
        regs = list(regs)
        stuck = {(lane, row): mem for lane, row, mem in tile.stuck_state}
        for op in tile.tick:
            if op[0] == "setr":
                _, rd, value = op
                if rd < len(regs):
                    regs[rd] = value
                continue
            _, ins, r_all, enable = op
            if len(r_all) > 1 and len(np.unique(r_all)) < len(r_all):
                parts = [(r_all[i:i + 1], enable[:, i:i + 1]) for i in range(len(r_all))]
            else:
                parts = [(r_all, enable)]
            for r_part, en in parts:
                # every enabled (lane, row) of the issue at once: lanes share the
                # instruction and the registers (SETR writes every lane)
                lane_i, it = np.nonzero(en)
                if not len(lane_i):
                    continue
                r = r_part[it]
                cols = lane_i * rows + r
                a = acc[:, cols]
                v, u, p0, p1 = (x[:, lane_i, r] for x in f)
                res = vec(ins, c, self._shift_bits, a=a, v=v, u=u, p0=p0, p1=p1,
                          pay=np.int64(0), regs=regs)
                if res["write_state"]:
                    f[0][:, lane_i, r] = res["v"]
                    f[1][:, lane_i, r] = res["u"]
                    for lane, row in zip(lane_i, r):
                        if (int(lane), int(row)) in stuck:
                            self._stuck_detected |= self._through(
                                stuck[(int(lane), int(row))], f, int(lane), int(row), sb)
                if res["a"] is not None:
                    acc[:, cols] = wrap(res["a"], c.acc_bits)
                e = np.broadcast_to(res["emit"], a.shape)
                n = r * L + lane_i
                p = np.broadcast_to(res["payload"], a.shape)
                self.multi_emit |= bool((emitted[:, n] & e).any())
                cnt[:, n] += e
                pay[:, n] += np.where(e, p, 0)
                emitted[:, n] |= e
        return cnt, pay

    @property
    def _shift_bits(self):
        return self.chip.cores[self.tiles[0].xy].isa.shift_bits
