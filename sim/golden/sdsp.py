"""Golden model of the SDSP core (:mod:`hw.sdsp`), event by event, in vectorised NumPy.

This is where every rule of the plastic core is written once; the RTL matches it bit
for bit (``tests/hw/sdsp``). N neurons, weights ``w[a, j]`` from pre-synaptic neuron
``a`` to neuron ``j`` (unsigned, ``weight_bits``), mapping bits ``mapped[a, j]``, a sign
per pre-synaptic neuron (``inh[a]``), per-neuron membrane ``v`` (unsigned,
``membrane_bits``), calcium ``ca`` (``calcium_bits``) and calcium-leak ``count``.

Rules (``VMAX = 2**membrane_bits - 1``, ``CMAX = 2**calcium_bits - 1``,
``WMAX = 2**weight_bits - 1``):

* **Integration** of a weight ``w``: excitatory ``v = min(v + w, VMAX)``, inhibitory
  ``v = max(v - w, 0)``.
* **Threshold test**, after every update of a neuron (time references included):
  ``v >= thr`` fires: ``v = 0``, ``ca = min(ca + 1, CMAX)``; the spike goes out.
* **Flags** of neuron j, from its stored ``v`` and ``ca`` (so: as computed after its
  last update): ``UP = v >= theta_m and theta_1 <= ca < theta_3``,
  ``DOWN = v < theta_m and theta_1 <= ca < theta_2``.
* **SPIKE a**: every neuron j integrates the *old* ``w[a, j]`` (only mapped synapses
  when ``control.gate``); then, with ``control.learn``, every mapped synapse of row a
  steps by the flags of j *before* this event: ``w + 1`` if UP, ``w - 1`` if DOWN,
  saturating in ``0..WMAX``.
* **SYNAPSE a, j** (``j = arg mod N``): neuron j integrates ``w[a, j]`` whatever its
  mapping bit (as ODIN); no learning.
* **VIRTUAL j, arg**: neuron j integrates ``|arg|``, inhibitory if ``arg < 0``.
* **TIME j (or all when ``arg & 1``)**: calcium leak first: when ``ca_leak > 0``,
  ``count + 1 >= ca_leak`` sets ``count = 0`` and ``ca = max(ca - 1, 0)``, else
  ``count += 1`` (``ca_leak = 0``: no calcium leak, count kept); then
  ``v = max(v - leak, 0)``; then the threshold test.

Spikes of one event are emitted in ascending neuron order. Counters (as the RTL's
:data:`hw.core.COUNTERS` where they apply): ``events_in``, ``events_out`` (spikes),
``synops`` (synapses integrated: N per SPIKE, 1 per SYNAPSE), ``neuron_updates``,
``ticks`` (time-reference events), ``weight_updates`` (synapses whose weight changed).

The model keeps the architectural state as arrays; :meth:`GoldenSdsp.load` reads it
from memory images (``{name: words}``, :func:`hw.sdsp.format.sdsp_memories`) and
:meth:`GoldenSdsp.images` writes it back, so the RTL's memories are compared word for
word.

Faults (:meth:`GoldenSdsp.inject`) act on stored bits, as in the RTL's FaultSRAMs: the
arrays hold what a read returns (the decoded stored word, after SECDED correction or
with an uncorrectable error), and each upset word keeps its stored bits until the core
writes the word again (a spike event rewrites every neuron word and, when learning,
the synapse words of its row; parameters, signs and control are never rewritten). Every
read the RTL makes is mirrored, so the memories' ``corrected``/``detected`` counts
match the RTL's: an event issues one read of each memory per word it covers (synapse
word ``index * K + k`` even when its kind ignores it).
"""

from __future__ import annotations

import numpy as np

from hw.config import ChipConfig
from hw.mem.fault_sram import FaultKind
from hw.sdsp.format import (EventKind, control_layout, neuron_layout, param_layout,
                            sdsp_memories, synapse_layout, unsigned_fields)

__all__ = ["GoldenSdsp", "pack_words", "unpack_words", "SDSP_COUNTERS"]

SDSP_COUNTERS = ("events_in", "events_out", "synops", "neuron_updates", "ticks",
                 "weight_updates")


def pack_words(fields, lanes: int, values: dict) -> list[int]:
    """Pack per-neuron field arrays (length ``words * lanes``) into words of ``lanes``
    lanes; ``fields`` is ``[(name, width), ...]``, lowest first."""
    lane_bits = sum(w for _, w in fields)
    n = len(next(iter(values.values())))
    lane_words = np.zeros(n, dtype=object)
    shift = 0
    for name, width in fields:
        v = np.asarray(values[name]).astype(np.int64)
        if v.min(initial=0) < 0 or v.max(initial=0) >= 1 << width:
            raise ValueError(f"SDSP field {name!r} has values outside 0..{(1 << width) - 1}")
        lane_words = lane_words + (v.astype(object) << shift)
        shift += width
    out = []
    for k in range(n // lanes):
        word = 0
        for i in range(lanes):
            word |= int(lane_words[k * lanes + i]) << (i * lane_bits)
        out.append(word)
    return out


def unpack_words(fields, lanes: int, words) -> dict:
    """Inverse of :func:`pack_words`: ``{name: int64 array of words * lanes}``."""
    lane_bits = sum(w for _, w in fields)
    lane_mask = (1 << lane_bits) - 1
    flat = [int(word) >> (i * lane_bits) & lane_mask for word in words for i in range(lanes)]
    out = {}
    shift = 0
    for name, width in fields:
        out[name] = np.array([x >> shift & ((1 << width) - 1) for x in flat], dtype=np.int64)
        shift += width
    return out


def integrate(v, w, inhibitory, vmax: int):
    """Integration of weights ``w``: ``min(v + w, vmax)``, or ``max(v - w, 0)`` where
    ``inhibitory``."""
    return np.where(inhibitory, np.maximum(v - w, 0), np.minimum(v + w, vmax))


def time_reference(v, ca, count, leak, ca_leak):
    """A time reference before its threshold test: calcium leak (every ``ca_leak``-th
    reference, none when 0), then membrane leak. Returns ``(v, ca, count)``."""
    due = (ca_leak > 0) & (count + 1 >= ca_leak)
    count = np.where(due, 0, np.where(ca_leak > 0, count + 1, count))
    ca = np.where(due, np.maximum(ca - 1, 0), ca)
    return np.maximum(v - leak, 0), ca, count


def threshold(v, ca, thr, cmax: int):
    """The threshold test: ``v >= thr`` fires, resets ``v`` and raises ``ca``
    (saturating). Returns ``(v, ca, fired)``."""
    fired = v >= thr
    return np.where(fired, 0, v), np.where(fired, np.minimum(ca + 1, cmax), ca), fired


class GoldenSdsp:
    """Event-by-event model of one SDSP core (see the module docstring for the rules)."""

    def __init__(self, config: ChipConfig, prefix: str = "sdsp"):
        self.config, self.prefix = config, prefix
        s = self.s = config.sdsp
        N = s.neurons
        self.vmax = (1 << s.membrane_bits) - 1
        self.cmax = (1 << s.calcium_bits) - 1
        self.wmax = (1 << s.weight_bits) - 1
        self.names = [m.name for m in sdsp_memories(config, prefix)]
        self.w = np.zeros((N, N), np.int64)
        self.mapped = np.zeros((N, N), bool)
        self.inh = np.zeros(N, bool)
        self.v = np.zeros(N, np.int64)
        self.ca = np.zeros(N, np.int64)
        self.count = np.zeros(N, np.int64)
        self.params = {name: np.zeros(N, np.int64)
                       for name, _ in unsigned_fields(param_layout(s))}
        self.learn = False
        self.gate = False
        self.counters = dict.fromkeys(SDSP_COUNTERS, 0)
        from sim.golden.fault_sram import GoldenFaultSRAM
        m = config.memory
        specs = sdsp_memories(config, prefix)
        # one-word codecs: encode/decode of a stored word with the memory's protection
        self.codecs = {sp.name: GoldenFaultSRAM(sp.width, 1, m.protection.for_role(sp.role),
                                                counter_bits=m.counter_bits, name=sp.name)
                       for sp in specs}
        self.upsets = {sp.name: {} for sp in specs}     # word -> stored bits (int)
        self.depths = {sp.name: sp.depth for sp in specs}
        self._decoded = {}          # (memory, stored word) -> decode result, shared by copies
        self.status = {sp.name: {"corrected": 0, "detected": 0, "overflow": 0}
                       for sp in specs}
        self.stuck = {sp.name: {} for sp in specs}      # word -> [(mask, value 1?)]
        self._fields = {
            f"{prefix}.synapses": unsigned_fields(synapse_layout(s)),
            f"{prefix}.neurons": unsigned_fields(neuron_layout(s)),
            f"{prefix}.params": unsigned_fields(param_layout(s)),
            f"{prefix}.signs": [("inh", 1)],
            f"{prefix}.control": unsigned_fields(control_layout()),
        }

    # -- images ------------------------------------------------------------------------

    def load(self, images: dict) -> None:
        """Set the state from memory images (``{name: words}``; missing memories keep
        their contents)."""
        s, p, N, L = self.s, self.prefix, self.s.neurons, self.s.lanes
        for name in images:
            if name in self.upsets:
                self.upsets[name].clear()       # a write replaces the stored word
        if f"{p}.synapses" in images:
            syn = unpack_words(unsigned_fields(synapse_layout(s)), L, images[f"{p}.synapses"])
            self.w = syn["weight"].reshape(N, N)
            self.mapped = syn["mapped"].reshape(N, N).astype(bool)
        if f"{p}.neurons" in images:
            st = unpack_words(unsigned_fields(neuron_layout(s)), L, images[f"{p}.neurons"])
            self.v, self.ca, self.count = st["v"], st["ca"], st["count"]
        if f"{p}.params" in images:
            self.params = unpack_words(unsigned_fields(param_layout(s)), L,
                                       images[f"{p}.params"])
        if f"{p}.signs" in images:
            self.inh = unpack_words([("inh", 1)], L, images[f"{p}.signs"])["inh"].astype(bool)
        if f"{p}.control" in images:
            ctl = unpack_words(unsigned_fields(control_layout()), 1, images[f"{p}.control"])
            self.learn, self.gate = bool(ctl["learn"][0]), bool(ctl["gate"][0])
        from sim.golden.fault_sram import bits_to_int
        for name in images:                     # stuck-at faults outlive writes
            for w in self.stuck.get(name, {}):
                self.upsets[name][w] = int(bits_to_int(
                    self.codecs[name].encode([self._word(name, w)]))[0])
                self._refresh(name, w)

    def images(self) -> dict:
        """Every memory's words, as the RTL stores them."""
        s, p, L = self.s, self.prefix, self.s.lanes
        return {
            f"{p}.synapses": pack_words(unsigned_fields(synapse_layout(s)), L,
                                        {"weight": self.w.ravel(),
                                         "mapped": self.mapped.ravel().astype(np.int64)}),
            f"{p}.neurons": pack_words(unsigned_fields(neuron_layout(s)), L,
                                       {"v": self.v, "ca": self.ca, "count": self.count}),
            f"{p}.params": pack_words(unsigned_fields(param_layout(s)), L, self.params),
            f"{p}.signs": pack_words([("inh", 1)], L, {"inh": self.inh.astype(np.int64)}),
            f"{p}.control": pack_words(unsigned_fields(control_layout()), 1,
                                       {"learn": [int(self.learn)], "gate": [int(self.gate)]}),
        }

    def copy(self) -> "GoldenSdsp":
        """An independent copy (state, weights, faults, counters; the codecs are shared,
        they hold no state)."""
        import copy
        new = object.__new__(GoldenSdsp)
        new.__dict__.update(self.__dict__)
        for name in ("w", "mapped", "inh", "v", "ca", "count"):
            setattr(new, name, getattr(self, name).copy())
        new.params = {k: a.copy() for k, a in self.params.items()}
        for name in ("counters", "upsets", "status", "stuck"):
            setattr(new, name, copy.deepcopy(getattr(self, name)))
        return new

    def reset_state(self) -> None:
        """Zero every neuron's v, ca and count (weights and parameters are kept), as the
        host does by writing the ``neurons`` memory."""
        self.v[:] = 0
        self.ca[:] = 0
        self.count[:] = 0
        self.upsets[f"{self.prefix}.neurons"].clear()

    # -- faults --------------------------------------------------------------------------

    def _word(self, name: str, word: int) -> int:
        """The data word the arrays hold at ``word`` of memory ``name``."""
        p, L, K = self.prefix, self.s.lanes, self.s.words
        if name == f"{p}.synapses":
            a, k = divmod(word, K)
            cols = slice(k * L, (k + 1) * L)
            vals = {"weight": self.w[a, cols], "mapped": self.mapped[a, cols].astype(np.int64)}
        elif name == f"{p}.neurons":
            cols = slice(word * L, (word + 1) * L)
            vals = {"v": self.v[cols], "ca": self.ca[cols], "count": self.count[cols]}
        elif name == f"{p}.params":
            cols = slice(word * L, (word + 1) * L)
            vals = {n: a[cols] for n, a in self.params.items()}
        elif name == f"{p}.signs":
            vals = {"inh": self.inh[word * L:(word + 1) * L].astype(np.int64)}
        else:
            return pack_words(self._fields[name], 1, {"learn": [int(self.learn)],
                                                      "gate": [int(self.gate)]})[0]
        return pack_words(self._fields[name], L if name != f"{p}.control" else 1, vals)[0]

    def _set_word(self, name: str, word: int, data: int) -> None:
        p, L, K = self.prefix, self.s.lanes, self.s.words
        if name == f"{p}.control":
            f = unpack_words(self._fields[name], 1, [data])
            self.learn, self.gate = bool(f["learn"][0]), bool(f["gate"][0])
            return
        f = unpack_words(self._fields[name], L, [data])
        if name == f"{p}.synapses":
            a, k = divmod(word, K)
            self.w[a, k * L:(k + 1) * L] = f["weight"]
            self.mapped[a, k * L:(k + 1) * L] = f["mapped"].astype(bool)
            return
        cols = slice(word * L, (word + 1) * L)
        if name == f"{p}.neurons":
            self.v[cols], self.ca[cols], self.count[cols] = f["v"], f["ca"], f["count"]
        elif name == f"{p}.params":
            for n in self.params:
                self.params[n][cols] = f[n]
        else:
            self.inh[cols] = f["inh"].astype(bool)

    def _decode(self, name: str, stored: int):
        """``(data, corrected, detected)`` of a stored word (memoised: campaigns decode
        the same upset words over and over)."""
        key = (name, stored)
        hit = self._decoded.get(key)
        if hit is None:
            from sim.golden.fault_sram import int_to_bits
            codec = self.codecs[name]
            data, corrected, detected = codec.decode(int_to_bits([stored],
                                                                 codec.stored_width))
            hit = self._decoded[key] = (int(data[0]), bool(corrected[0]), bool(detected[0]))
        return hit

    def inject(self, name: str, word: int, mask: int, kind=FaultKind.FLIP) -> bool:
        """A fault in memory ``name``, as the FaultSRAM's fault port makes it.

        ``FLIP`` XORs ``mask`` into the stored bits of ``word`` (an SEU or MBU).
        ``STUCK_AT_0``/``STUCK_AT_1`` hold the stored bits ``mask`` of ``word`` at 0/1
        on every read; each takes one of ``memory.fault_slots`` slots per memory (a fault
        beyond them is refused and counted as ``overflow``; returns False). ``CLEAR``
        removes every stuck-at fault of the memory. Stuck-at faults are modelled in
        words the core never rewrites during the run (parameters, signs, control, and
        synapses while learning is off); the core rewriting such a word raises
        ``ValueError``."""
        if name not in self.upsets:
            raise KeyError(f"No SDSP memory {name!r}; this core has: "
                           f"{', '.join(self.upsets)}")
        kind = FaultKind(kind)
        codec = self.codecs[name]
        depth = self.depths[name]
        if kind is FaultKind.CLEAR:
            words = list(self.stuck[name])
            self.stuck[name].clear()
            for w in words:
                self._refresh(name, w)
            return True
        if not 0 <= word < depth:
            raise ValueError(f"{name}: word {word} is outside 0..{depth - 1}")
        if not 0 < mask < 1 << codec.stored_width:
            raise ValueError(f"{name}: mask {mask:#x} is not a nonzero "
                             f"{codec.stored_width}-bit stored-word mask")
        from sim.golden.fault_sram import bits_to_int
        stored = self.upsets[name].get(word)
        if stored is None:
            stored = int(bits_to_int(codec.encode([self._word(name, word)]))[0])
        if kind is FaultKind.FLIP:
            stored ^= mask
        else:
            if sum(map(len, self.stuck[name].values())) >= self.config.memory.fault_slots:
                self.status[name]["overflow"] += 1
                return False
            self.stuck[name].setdefault(word, []).append((mask, kind is FaultKind.STUCK_AT_1))
        self.upsets[name][word] = stored
        self._refresh(name, word)
        return True

    def _forced(self, name: str, word: int, stored: int) -> int:
        for mask, one in self.stuck[name].get(word, ()):
            stored = (stored & ~mask) | (mask if one else 0)
        return stored

    def _refresh(self, name: str, word: int) -> None:
        """Set the arrays to what a read of a tracked word returns; stop tracking a word
        whose stored bits are clean and not stuck."""
        from sim.golden.fault_sram import bits_to_int
        stored = self.upsets[name][word]
        data = self._decode(name, self._forced(name, word, stored))[0]
        self._set_word(name, word, data)
        clean = int(bits_to_int(self.codecs[name].encode([data]))[0])
        if stored == clean and word not in self.stuck[name]:
            del self.upsets[name][word]

    def _reads(self, name: str, words) -> None:
        """Count the status of reads of upset words (as the RTL's counters do)."""
        ups = self.upsets[name]
        if not ups:
            return
        st = self.status[name]
        top = (1 << self.config.memory.counter_bits) - 1
        for w in words:
            if w in ups:
                _, c, d = self._decode(name, self._forced(name, w, ups[w]))
                st["corrected"] = min(st["corrected"] + c, top)
                st["detected"] = min(st["detected"] + d, top)

    def _account(self, kind, index: int, words, learn: bool) -> None:
        """Mirror the RTL's reads of one event (``words``: the issued word indices) and
        forget the upsets of the words it rewrites."""
        p, K, L = self.prefix, self.s.words, self.s.lanes
        if not any(self.upsets.values()):
            return
        words = list(words)
        syn = [index * K + k for k in words]
        rewritten = [(f"{p}.neurons", k) for k in words]
        if kind is EventKind.SPIKE and learn:
            rewritten += [(f"{p}.synapses", w) for w in syn]
        for name, w in rewritten:
            if w in self.stuck[name]:
                raise ValueError(f"{name} word {w} has a stuck-at fault and the core rewrites "
                                 "it: stuck-at faults are modelled only in words the core "
                                 "never writes during the run")
        self._reads(f"{p}.synapses", syn)
        self._reads(f"{p}.neurons", words)
        self._reads(f"{p}.params", words)
        self._reads(f"{p}.signs", [index // L] * len(words))
        self._reads(f"{p}.control", [0] * len(words))
        for k in words:
            self.upsets[f"{p}.neurons"].pop(k, None)
        if kind is EventKind.SPIKE and learn:
            for w in syn:
                self.upsets[f"{p}.synapses"].pop(w, None)

    # -- rules -------------------------------------------------------------------------

    def flags(self, sel=slice(None)):
        """(UP, DOWN) of the neurons ``sel`` from their stored v and ca."""
        p, v, ca = self.params, self.v[sel], self.ca[sel]
        band = p["theta_1"][sel] <= ca
        up = (v >= p["theta_m"][sel]) & band & (ca < p["theta_3"][sel])
        down = (v < p["theta_m"][sel]) & band & (ca < p["theta_2"][sel])
        return up, down

    def _integrate(self, sel, w, inhibitory):
        self.v[sel] = integrate(self.v[sel], w, inhibitory, self.vmax)

    def _fire(self, sel):
        """Threshold test of neurons ``sel`` (an index array); returns those that fire."""
        self.v[sel], self.ca[sel], fired = threshold(self.v[sel], self.ca[sel],
                                                     self.params["thr"][sel], self.cmax)
        fire = sel[fired]
        self.counters["neuron_updates"] += len(sel)
        self.counters["events_out"] += len(fire)
        return fire

    def event(self, kind, index: int, arg: int = 0) -> list[int]:
        """Process one event; returns the neurons that fired, ascending."""
        kind = EventKind(kind)
        N = self.s.neurons
        index = int(index)
        if not 0 <= index < N:
            raise ValueError(f"SDSP event {kind.name}: neuron {index} is outside 0..{N - 1}")
        pb = self.config.core.payload_bits
        if not -(1 << (pb - 1)) <= int(arg) < 1 << (pb - 1):
            raise ValueError(f"SDSP event {kind.name} on neuron {index}: arg {arg} does not "
                             f"fit the {pb}-bit signed payload")
        self.counters["events_in"] += 1
        K, L = self.s.words, self.s.lanes
        one = (int(arg) % N if kind is EventKind.SYNAPSE else index) // L
        covers = kind is EventKind.SPIKE or (kind is EventKind.TIME and int(arg) & 1)
        self._account(kind, index, range(K) if covers else [one], self.learn)
        everyone = np.arange(N)
        if kind is EventKind.SPIKE:
            a = index
            up, down = self.flags()
            w = self.w[a] if not self.gate else np.where(self.mapped[a], self.w[a], 0)
            self._integrate(everyone, w, bool(self.inh[a]))
            self.counters["synops"] += N
            fired = self._fire(everyone)
            if self.learn:
                m = self.mapped[a]
                new = np.clip(self.w[a] + (up & m) - (down & m), 0, self.wmax)
                self.counters["weight_updates"] += int((new != self.w[a]).sum())
                self.w[a] = new
        elif kind is EventKind.SYNAPSE:
            j = np.array([int(arg) % N])
            self._integrate(j, self.w[index, j], bool(self.inh[index]))
            self.counters["synops"] += 1
            fired = self._fire(j)
        elif kind is EventKind.VIRTUAL:
            j = np.array([index])
            self._integrate(j, abs(int(arg)), int(arg) < 0)
            fired = self._fire(j)
        else:
            sel = everyone if int(arg) & 1 else np.array([index])
            self.counters["ticks"] += 1
            self.v[sel], self.ca[sel], self.count[sel] = time_reference(
                self.v[sel], self.ca[sel], self.count[sel], self.params["leak"][sel],
                self.params["ca_leak"][sel])
            fired = self._fire(sel)
        return [int(n) for n in fired]

    def run(self, events) -> list[list[int]]:
        """Process ``(kind, index, arg)`` events in order; the spikes of each."""
        return [self.event(*e) for e in events]

    def infer(self, samples):
        """Many samples at once, for inference: each sample's events from a reset state
        (``v = ca = count = 0``, as :meth:`reset_state`), with learning off, vectorised
        over the samples. It equals ``reset_state(); run(events)`` per sample with
        ``learn = False`` (tested), leaves the core unchanged and counts nothing.

        Returns ``(spikes, v)``: spike counts per sample and neuron (``B x N``) and the
        final membranes (``B x N``)."""
        N, B = self.s.neurons, len(samples)
        T = max((len(e) for e in samples), default=0)
        kind = np.full((B, T), -1)
        index = np.zeros((B, T), np.int64)
        arg = np.zeros((B, T), np.int64)
        for b, events in enumerate(samples):
            for t, (k, i, a) in enumerate(events):
                kind[b, t], index[b, t], arg[b, t] = EventKind(k).value, i, a
        w = np.where(self.mapped, self.w, 0) if self.gate else self.w
        # Neurons do not interact inside the core, so only the "live" ones need work: a
        # neuron with no nonzero input weight, no event of its own and a threshold above 0
        # stays at v = 0 and never fires (exact, not an approximation).
        targeted = np.zeros(N, bool)
        own = (kind == EventKind.VIRTUAL.value) | (kind == EventKind.TIME.value)
        targeted[index[own]] = True
        targeted[arg[kind == EventKind.SYNAPSE.value] % N] = True
        cols = np.flatnonzero((w != 0).any(axis=0) | (self.params["thr"] == 0) | targeted)
        full_spikes = np.zeros((B, N), np.int64)
        full_v = np.zeros((B, N), np.int64)
        if T == 0 or len(cols) == 0:
            return full_spikes, full_v
        w, w_all = w[:, cols], self.w[:, cols]
        p = {name: a[cols] for name, a in self.params.items()}
        n = len(cols)
        v = np.zeros((B, n), np.int64)
        ca = np.zeros((B, n), np.int64)
        count = np.zeros((B, n), np.int64)
        spikes = np.zeros((B, n), np.int64)
        for t in range(T):
            k, i, a = kind[:, t], index[:, t], arg[:, t]
            spike = (k == EventKind.SPIKE.value)[:, None]
            single = k == EventKind.SYNAPSE.value
            virtual = k == EventKind.VIRTUAL.value
            tref = k == EventKind.TIME.value
            target = np.where(single, a % N, i)
            one = cols[None, :] == target[:, None]
            # input magnitude and sign per sample and neuron
            x = np.where(spike, w[i], 0)
            x = np.where(single[:, None] & one, w_all[i], x)    # unmapped synapses too
            x = np.where(virtual[:, None] & one, np.abs(a)[:, None], x)
            inh = np.where(virtual, a < 0, self.inh[i])[:, None]
            touched = spike | ((single | virtual)[:, None] & one) \
                | (tref[:, None] & (one | (a & 1).astype(bool)[:, None]))
            v1 = integrate(v, x, inh, self.vmax)
            lv, lca, lcount = time_reference(v, ca, count, p["leak"], p["ca_leak"])
            is_t = tref[:, None] & touched
            v1 = np.where(is_t, lv, v1)
            ca1 = np.where(is_t, lca, ca)
            count = np.where(is_t, lcount, count)
            v2, ca2, fired = threshold(v1, ca1, p["thr"], self.cmax)
            fired &= touched
            v = np.where(touched, v2, v)
            ca = np.where(touched, ca2, ca)
            spikes += fired
        full_spikes[:, cols] = spikes
        full_v[:, cols] = v
        return full_spikes, full_v
