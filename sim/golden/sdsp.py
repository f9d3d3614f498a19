"""Golden model of the SDSP core (:mod:`hw.sdsp`), event by event, in vectorised NumPy.

This is where every rule of the plastic core is written once; the RTL matches it bit
for bit (``tests/hw/sdsp``). N neurons, weights ``w[a, j]`` from pre-synaptic neuron
``a`` to neuron ``j`` (unsigned, ``weight_bits``), mapping bits ``mapped[a, j]``, a sign
per pre-synaptic neuron (``inh[a]``), per-neuron membrane ``v`` (unsigned,
``membrane_bits``), calcium ``ca`` (``calcium_bits``) and calcium-leak ``count``.

Rules (``VMAX = 2**membrane_bits - 1``, ``CMAX = 2**calcium_bits - 1``,
``WMAX = 2**weight_bits - 1``; ODIN's source file for each in brackets):

* **Integration** of a weight ``w``: excitatory ``v = min(v + w, VMAX)``, inhibitory
  ``v = max(v - w, 0)`` [``lif_neuron_state.v``].
* **Neuron update**, of every neuron an event touches (time references included):
  the input (integration above, or the time reference below) gives ``v1``; the
  threshold test ``v1 >= thr`` fires: ``v = 0``, else ``v = v1`` [``lif_neuron_state.v``];
  calcium [``lif_calcium.v``]: with calcium enabled (``ca_off = 0``), a firing neuron
  whose calcium leak is not due gets ``ca + 1`` unless ``ca = CMAX``, a due leak on a
  neuron that does not fire gives ``ca - 1`` unless ``ca = 0``, and a spike and a due
  leak together cancel (no change); with ``ca_off`` calcium and ``count`` are frozen.
  The flags are then latched from the *next* state ``v``, ``ca``
  [``lif_calcium.v`` v_up_next/v_down_next, ``neuron_core.v`` NEUR_V_UP/DOWN]:
  ``up = not ca_off and v >= theta_m and theta_1 <= ca < theta_3``,
  ``down = not ca_off and v < theta_m and theta_1 <= ca < theta_2``.
  A firing neuron emits a spike unless it is disabled (``off``; its state updates
  all the same) [``neuron_core.v`` NEUR_EVENT_OUT, NEUR_STATE[127]].
* **SDSP step** of a synapse of post-synaptic neuron j by j's stored flags (those
  latched by its last update, so *before* this event): ``w + 1`` if UP, ``w - 1`` if
  DOWN, saturating in ``0..WMAX``; only mapped synapses unless
  ``control.learn_unmapped`` [``sdsp_update.v``, ``synaptic_core.v``].
* **Propagation**: the weight an event integrates is ``w[a, j]``, or 0 when
  ``control.gate`` and the synapse is unmapped, for SPIKE and SYNAPSE events alike
  [``neuron_core.v`` syn_weight].
* **SPIKE a**: every neuron j integrates the *old* ``w[a, j]`` and is updated; then,
  with ``control.learn``, every synapse of row a gets the SDSP step.
* **SYNAPSE a, j** (``j = arg mod N``): neuron j integrates ``w[a, j]`` and is
  updated; with ``control.syn_learn`` that one synapse gets the SDSP step
  [``controller.v`` SYNAPSE state, CTRL_PRE_EN].
* **VIRTUAL j, arg**: neuron j integrates ``|arg|``, inhibitory if ``arg < 0``.
* **TIME j (or all when ``arg & 1``)**: calcium-leak counter (calcium enabled and
  ``ca_leak > 0`` only, else ``count`` is kept): ``count = ca_leak - 1`` makes the
  leak due and sets ``count = 0``, else ``count + 1`` (modulo ``2**period_bits``)
  [``lif_calcium.v``]; ``v1 = max(v - leak, 0)``; then the neuron update.

**Programming a neuron** (images): ODIN latches the flags on *every* write of a neuron
word, the host's too (W_NEUR), from the next state of an update with no event and no
time reference: ``v' = 0`` and ``ca' = min(ca + 1, CMAX)`` (calcium enabled) when
``v >= thr``, else ``v' = v``, ``ca' = ca``; flags from ``v'``, ``ca'`` as above; the
stored v and ca stay as written. :meth:`GoldenSdsp.images` (and :meth:`reset_state`,
:meth:`neuron_words`) set the flags so for every neuron whose v, ca, count or
parameters were set from outside since the model last wrote or loaded them (the
model keeps a snapshot); :meth:`event` does the same first. Flags the core latched, or
loaded from an image, are kept as they are.

Spikes of one event are emitted in ascending neuron order. Counters (as the RTL's
:data:`hw.spec.counters.CORE_COUNTERS` where they apply): ``events_in``, ``events_out`` (spikes),
``synops`` (synapses integrated: N per SPIKE, 1 per SYNAPSE), ``neuron_updates``,
``ticks`` (time-reference events), ``weight_updates`` (synapses whose weight changed).

The model keeps the architectural state as arrays; :meth:`GoldenSdsp.load` reads it
from memory images (``{name: words}``, :func:`hw.spec.memmap.sdsp_memories`) and
:meth:`GoldenSdsp.images` writes it back, so the RTL's memories are compared word for
word.

Faults (:meth:`GoldenSdsp.inject`) act on stored bits, as in the RTL's FaultSRAMs: the
arrays hold what a read returns (the decoded stored word, after SECDED correction or
with an uncorrectable error), and each upset word keeps its stored bits until the core
writes the word again (an event rewrites the neuron words it covers and, when it
learns (SPIKE with ``learn``, SYNAPSE with ``syn_learn``), the synapse words it read;
parameters, signs and control are never rewritten). Every
read the RTL makes is mirrored, so the memories' ``corrected``/``detected`` counts
match the RTL's: an event issues one read of each memory per word it covers (synapse
word ``index * K + k`` even when its kind ignores it).
"""

from __future__ import annotations

import numpy as np

from hw.spec.config import ChipConfig
from hw.spec.counters import SDSP_MODEL_COUNTERS
from hw.spec.memory import FaultKind
from hw.spec.sdsp import (EventKind, control_layout, neuron_layout, param_layout, synapse_layout, unsigned_fields)
from hw.spec.memmap import sdsp_memories

__all__ = ["GoldenSdsp", "EncodedSamples", "pack_words", "unpack_words", "SDSP_COUNTERS"]

#: The counters this model keeps.
SDSP_COUNTERS = SDSP_MODEL_COUNTERS


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


def time_reference(v, count, leak, ca_leak, ca_on, period_bits: int):
    """A time reference before its neuron update: the calcium-leak counter (ODIN
    ``lif_calcium.v``: it runs only with calcium on and ``ca_leak > 0``; the leak is due
    when ``count == ca_leak - 1``, which restarts it) and the membrane leak. Returns
    ``(v1, count, due)``."""
    runs = ca_on & (ca_leak > 0)
    due = runs & (count == ca_leak - 1)
    count = np.where(due, 0, np.where(runs, (count + 1) & ((1 << period_bits) - 1), count))
    return np.maximum(v - leak, 0), count, due


def threshold(v, ca, thr, due, ca_on, cmax: int):
    """The threshold test and calcium (ODIN ``lif_neuron_state.v``, ``lif_calcium.v``):
    ``v >= thr`` fires and resets ``v``; calcium (when on) rises on a spike unless
    saturated, falls on a due leak unless 0, and a spike and a due leak cancel.
    Returns ``(v, ca, fired)``."""
    fired = v >= thr
    inc = ca_on & fired & ~due & (ca < cmax)
    dec = ca_on & due & ~fired & (ca > 0)
    return np.where(fired, 0, v), np.where(inc, ca + 1, np.where(dec, ca - 1, ca)), fired


def sdsp_flags(v, ca, p, sel=slice(None)):
    """ODIN's v_up_next/v_down_next (``lif_calcium.v``) of the state ``v``, ``ca`` of
    neurons ``sel`` with parameters ``p``: ``(up, down)``, both 0 with calcium off."""
    on = p["ca_off"][sel] == 0
    band = on & (p["theta_1"][sel] <= ca)
    up = band & (v >= p["theta_m"][sel]) & (ca < p["theta_3"][sel])
    down = band & (v < p["theta_m"][sel]) & (ca < p["theta_2"][sel])
    return up, down


class EncodedSamples:
    """Presentations as ``B x T`` arrays of event ``kind`` (-1 pads the shorter ones),
    ``index`` and ``arg`` (:meth:`GoldenSdsp.encode_samples`), with what
    :meth:`GoldenSdsp.infer` derives from them once: the rows whose weights and signs
    the events read, and the neurons with events of their own."""

    def __init__(self, kind, index, arg):
        self.kind, self.index, self.arg = kind, index, arg
        self.rows = np.unique(index[(kind == EventKind.SPIKE.value)
                                    | (kind == EventKind.SYNAPSE.value)])
        self._targeted = {}

    def targeted(self, neurons: int) -> np.ndarray:
        """(neurons,) the neurons a VIRTUAL, TIME or SYNAPSE event names."""
        hit = self._targeted.get(neurons)
        if hit is None:
            hit = np.zeros(neurons, bool)
            own = (self.kind == EventKind.VIRTUAL.value) | (self.kind == EventKind.TIME.value)
            hit[self.index[own]] = True
            hit[self.arg[self.kind == EventKind.SYNAPSE.value] % neurons] = True
            self._targeted[neurons] = hit
        return hit


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
        self.up = np.zeros(N, bool)
        self.down = np.zeros(N, bool)
        self.params = {name: np.zeros(N, np.int64)
                       for name, _ in unsigned_fields(param_layout(s))}
        #: control bits (:func:`hw.spec.sdsp.control_layout`)
        self.learn = False
        self.gate = False
        self.syn_learn = False
        self.learn_unmapped = False
        self._seen = None           # snapshot of what the model last wrote or loaded
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
        self.program_flags()

    # -- flags of programmed neurons -----------------------------------------------------

    _WATCHED = ("v", "ca", "count")

    def _snap(self) -> None:
        """Remember the neuron state and parameters as the model wrote or loaded them."""
        self._seen = ({n: getattr(self, n).copy() for n in self._WATCHED},
                      {n: a.copy() for n, a in self.params.items()})

    def program_flags(self, sel=slice(None)) -> None:
        """Latch the flags of neurons ``sel`` as ODIN does when the host writes their
        word (W_NEUR): from the no-event update of the written state (``v >= thr``:
        ``v' = 0``, ``ca' = min(ca + 1, CMAX)`` with calcium on; else unchanged). The
        stored v and ca are not changed."""
        p = self.params
        v, ca = self.v[sel], self.ca[sel]
        fired = v >= p["thr"][sel]
        on = p["ca_off"][sel] == 0
        v1 = np.where(fired, 0, v)
        ca1 = np.where(on & fired & (ca < self.cmax), ca + 1, ca)
        self.up[sel], self.down[sel] = sdsp_flags(v1, ca1, p, sel)
        self._snap()

    def _sync_flags(self) -> None:
        """Program the flags of the neurons whose state or parameters were set from
        outside since the model last wrote or loaded them (a host write of their word)."""
        state, par = self._seen
        changed = np.zeros(self.s.neurons, bool)
        for n in self._WATCHED:
            changed |= getattr(self, n) != state[n]
        for n, a in self.params.items():
            changed |= a != par[n]
        if changed.any():
            self.program_flags(np.flatnonzero(changed))

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
            # the flags as stored: an image carries them (see the module docstring)
            self.up, self.down = st["up"].astype(bool), st["down"].astype(bool)
        if f"{p}.params" in images:
            self.params = unpack_words(unsigned_fields(param_layout(s)), L,
                                       images[f"{p}.params"])
        if f"{p}.signs" in images:
            self.inh = unpack_words([("inh", 1)], L, images[f"{p}.signs"])["inh"].astype(bool)
        if f"{p}.control" in images:
            self._set_control(images[f"{p}.control"][0])
        from sim.golden.fault_sram import bits_to_int
        for name in images:                     # stuck-at faults outlive writes
            for w in self.stuck.get(name, {}):
                self.upsets[name][w] = int(bits_to_int(
                    self.codecs[name].encode([self._word(name, w)]))[0])
                self._refresh(name, w)
        self._snap()

    def _control(self) -> dict:
        return {name: [int(getattr(self, name))] for name, _ in
                unsigned_fields(control_layout())}

    def _set_control(self, word: int) -> None:
        ctl = unpack_words(unsigned_fields(control_layout()), 1, [word])
        for name, a in ctl.items():
            setattr(self, name, bool(a[0]))

    def _neuron_values(self, cols=slice(None)) -> dict:
        return {"v": self.v[cols], "ca": self.ca[cols], "count": self.count[cols],
                "up": self.up[cols].astype(np.int64),
                "down": self.down[cols].astype(np.int64)}

    def neuron_words(self) -> list[int]:
        """The ``neurons`` memory's words (flags of neurons set from outside programmed
        first, as :meth:`images`): what a host writes to reset or set the state."""
        self._sync_flags()
        return pack_words(unsigned_fields(neuron_layout(self.s)), self.s.lanes,
                          self._neuron_values())

    def images(self) -> dict:
        """Every memory's words, as the RTL stores them. Neurons whose v, ca, count or
        parameters were set from outside since the model last wrote them get the flags
        ODIN latches when their word is programmed (:meth:`program_flags`)."""
        s, p, L = self.s, self.prefix, self.s.lanes
        return {
            f"{p}.synapses": pack_words(unsigned_fields(synapse_layout(s)), L,
                                        {"weight": self.w.ravel(),
                                         "mapped": self.mapped.ravel().astype(np.int64)}),
            f"{p}.neurons": self.neuron_words(),
            f"{p}.params": pack_words(unsigned_fields(param_layout(s)), L, self.params),
            f"{p}.signs": pack_words([("inh", 1)], L, {"inh": self.inh.astype(np.int64)}),
            f"{p}.control": pack_words(unsigned_fields(control_layout()), 1, self._control()),
        }

    _ARRAYS = ("w", "mapped", "inh", "v", "ca", "count", "up", "down")

    def copy(self, into: "GoldenSdsp | None" = None) -> "GoldenSdsp":
        """An independent copy (state, weights, faults, counters; the codecs are shared,
        they hold no state). ``into``: an earlier copy of a core of the same
        configuration to overwrite instead of allocating a new one (what a campaign
        does for every run: the weight matrix alone is N x N words)."""
        import copy
        if into is None or into is self or into.config != self.config:
            new = object.__new__(GoldenSdsp)
            buffers = None
        else:
            new = into
            state, par = new._seen
            buffers = ({n: getattr(new, n) for n in self._ARRAYS}, dict(new.params),
                       dict(state), dict(par))
        new.__dict__.update(self.__dict__)

        def dup(a, buf):
            if buf is None or buf.shape != a.shape or buf.dtype != a.dtype:
                return a.copy()
            np.copyto(buf, a)
            return buf
        arrays, params, seen_state, seen_par = buffers or ({}, {}, {}, {})
        for name in self._ARRAYS:
            setattr(new, name, dup(getattr(self, name), arrays.get(name)))
        new.params = {k: dup(a, params.get(k)) for k, a in self.params.items()}
        state, par = self._seen
        new._seen = ({n: dup(a, seen_state.get(n)) for n, a in state.items()},
                     {n: dup(a, seen_par.get(n)) for n, a in par.items()})
        for name in ("counters", "upsets", "status", "stuck"):
            setattr(new, name, copy.deepcopy(getattr(self, name)))
        return new

    def reset_state(self) -> None:
        """Zero every neuron's v, ca and count (weights and parameters are kept), as the
        host does by writing the ``neurons`` memory with :meth:`neuron_words`; the flags
        are programmed (ODIN's W_NEUR latch, :meth:`program_flags`)."""
        self.v[:] = 0
        self.ca[:] = 0
        self.count[:] = 0
        self.program_flags()
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
            vals = self._neuron_values(slice(word * L, (word + 1) * L))
        elif name == f"{p}.params":
            cols = slice(word * L, (word + 1) * L)
            vals = {n: a[cols] for n, a in self.params.items()}
        elif name == f"{p}.signs":
            vals = {"inh": self.inh[word * L:(word + 1) * L].astype(np.int64)}
        else:
            return pack_words(self._fields[name], 1, self._control())[0]
        return pack_words(self._fields[name], L if name != f"{p}.control" else 1, vals)[0]

    def _set_word(self, name: str, word: int, data: int) -> None:
        p, L, K = self.prefix, self.s.lanes, self.s.words
        if name == f"{p}.control":
            self._set_control(data)
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
            self.up[cols], self.down[cols] = f["up"].astype(bool), f["down"].astype(bool)
        elif name == f"{p}.params":
            for n in self.params:
                self.params[n][cols] = f[n]
        else:
            self.inh[cols] = f["inh"].astype(bool)
        if name in (f"{p}.neurons", f"{p}.params") and self._seen is not None:
            # what a read returns, not a host write: no flags are programmed
            state, par = self._seen
            for n in self._WATCHED:
                state[n][cols] = getattr(self, n)[cols]
            for n in par:
                par[n][cols] = self.params[n][cols]

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
        self._sync_flags()          # outside settings first: a fault is no host write
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

    def peek(self, name: str, word: int):
        """``(data, corrected, detected)`` of what a read of ``word`` of memory ``name``
        returns now (its upsets and stuck-at faults through the decoder), counting
        nothing."""
        stored = self.upsets[name].get(word)
        if stored is None:
            from sim.golden.fault_sram import bits_to_int
            stored = int(bits_to_int(self.codecs[name].encode([self._word(name, word)]))[0])
        return self._decode(name, self._forced(name, word, stored))

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
        forget the upsets of the words it rewrites (``learn``: the event writes its
        synapse words back)."""
        p, K, L = self.prefix, self.s.words, self.s.lanes
        if not any(self.upsets.values()):
            return
        words = list(words)
        syn = [index * K + k for k in words]
        rewritten = [(f"{p}.neurons", k) for k in words]
        if learn:
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
        if learn:
            for w in syn:
                self.upsets[f"{p}.synapses"].pop(w, None)

    # -- rules -------------------------------------------------------------------------

    def flags(self, sel=slice(None)):
        """(UP, DOWN) of the neurons ``sel``: the stored per-neuron flags (ODIN's
        NEUR_V_UP/NEUR_V_DOWN), latched by each neuron's last update."""
        self._sync_flags()
        return self.up[sel].copy(), self.down[sel].copy()

    def _learns(self, kind) -> bool:
        """Whether an event of ``kind`` steps (and writes back) its synapse words."""
        return (kind is EventKind.SPIKE and self.learn) or \
            (kind is EventKind.SYNAPSE and self.syn_learn)

    def _weights(self, a: int, cols):
        """The weights row ``a`` propagates to neurons ``cols``: unmapped ones are 0
        when ``gate`` (ODIN ``neuron_core.v``: SPI_PROPAGATE_UNMAPPED_SYN = 0)."""
        w = self.w[a, cols]
        return np.where(self.mapped[a, cols], w, 0) if self.gate else w

    def _step(self, a: int, cols, up, down) -> None:
        """SDSP step of synapses ``(a, cols)`` by the flags ``up``, ``down`` (ODIN
        ``sdsp_update.v``; unmapped ones only with ``learn_unmapped``)."""
        m = self.mapped[a, cols] | self.learn_unmapped
        old = self.w[a, cols]
        new = np.clip(old + (up & m) - (down & m), 0, self.wmax)
        self.counters["weight_updates"] += int((new != old).sum())
        self.w[a, cols] = new

    def _update(self, sel, v1, due):
        """Neuron update of neurons ``sel`` (an index array) whose input gave ``v1``:
        threshold test, calcium, flags latched from the next state. Returns the
        neurons that emit a spike (fired and not ``off``)."""
        p = self.params
        on = p["ca_off"][sel] == 0
        self.v[sel], self.ca[sel], fired = threshold(v1, self.ca[sel], p["thr"][sel], due,
                                                     on, self.cmax)
        self.up[sel], self.down[sel] = sdsp_flags(self.v[sel], self.ca[sel], p, sel)
        fire = sel[fired & (p["off"][sel] == 0)]
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
        self._sync_flags()
        self.counters["events_in"] += 1
        K, L = self.s.words, self.s.lanes
        one = (int(arg) % N if kind is EventKind.SYNAPSE else index) // L
        covers = kind is EventKind.SPIKE or (kind is EventKind.TIME and int(arg) & 1)
        self._account(kind, index, range(K) if covers else [one], self._learns(kind))
        no_due = np.zeros(N, bool)
        if kind is EventKind.TIME:
            sel = np.arange(N) if int(arg) & 1 else np.array([index])
            self.counters["ticks"] += 1
            v1, self.count[sel], due = time_reference(
                self.v[sel], self.count[sel], self.params["leak"][sel],
                self.params["ca_leak"][sel], self.params["ca_off"][sel] == 0,
                self.s.period_bits)
            fired = self._update(sel, v1, due)
        elif kind is EventKind.VIRTUAL:
            sel = np.array([index])
            v1 = integrate(self.v[sel], abs(int(arg)), int(arg) < 0, self.vmax)
            fired = self._update(sel, v1, no_due[sel])
        else:
            # SPIKE: the whole row; SYNAPSE: one synapse. The old weight is integrated
            # and the step uses the flags before this event (ODIN: the synapse word and
            # the neuron are written in the same cycle, from the registers' old values).
            a = index
            sel = np.arange(N) if kind is EventKind.SPIKE else np.array([int(arg) % N])
            up, down = self.up[sel].copy(), self.down[sel].copy()
            v1 = integrate(self.v[sel], self._weights(a, sel), bool(self.inh[a]), self.vmax)
            self.counters["synops"] += len(sel)
            fired = self._update(sel, v1, no_due[sel])
            if self._learns(kind):
                self._step(a, sel, up, down)
        self._snap()
        return [int(n) for n in fired]

    def run(self, events) -> list[list[int]]:
        """Process ``(kind, index, arg)`` events in order; the spikes of each."""
        return [self.event(*e) for e in events]

    @staticmethod
    def encode_samples(samples) -> "EncodedSamples":
        """Presentations as arrays, to compute once and infer many times (what
        :meth:`infer` takes in place of the event lists)."""
        B = len(samples)
        T = max((len(e) for e in samples), default=0)
        kind = np.full((B, T), -1, np.int64)
        index = np.zeros((B, T), np.int64)
        arg = np.zeros((B, T), np.int64)
        values = {k: k.value for k in EventKind}
        for b, events in enumerate(samples):
            if events:
                k, i, a = zip(*events)
                n = len(events)
                kind[b, :n] = [values[x] if x in values else EventKind(x).value for x in k]
                index[b, :n], arg[b, :n] = i, a
        return EncodedSamples(kind, index, arg)

    def infer(self, samples, *, like=None):
        """Many samples at once, for inference: each sample's events from a reset state
        (``v = ca = count = 0``, as :meth:`reset_state`), with learning off, vectorised
        over the samples. It equals ``reset_state(); run(events)`` per sample with
        ``learn = syn_learn = False`` (tested; it ignores both), leaves the core
        unchanged and counts nothing. Calcium and flags do not act on spikes or
        membranes, so it does not track the flags.

        Parameters
        ----------
        samples : list of event lists, or :meth:`encode_samples` of them
        like : (GoldenSdsp, (spikes, v)), optional
            Another core and its ``infer`` result on the same samples (a fault-free
            reference). Neurons do not interact here, so a neuron whose inputs equal the
            reference's (its parameters, its column of weights and, with ``gate``,
            mapping bits, the signs of the rows the samples' events read, ``gate``) has
            the reference's result, copied instead of computed: the same answer, at the
            cost of the neurons a change touches only.

        Returns ``(spikes, v)``: spike counts per sample and neuron (``B x N``) and the
        final membranes (``B x N``); with ``like`` and nothing changed, read-only views
        of the reference's."""
        N = self.s.neurons
        enc = samples if isinstance(samples, EncodedSamples) else self.encode_samples(samples)
        kind, index, arg, rows = enc.kind, enc.index, enc.arg, enc.rows
        B, T = kind.shape
        # Neurons do not interact inside the core, so only the "live" ones need work: a
        # neuron with no nonzero input weight in the rows the events read, no event of
        # its own and a threshold above 0 stays at v = 0 and never fires (exact, not an
        # approximation).
        nonzero = self.w != 0
        if self.gate:
            nonzero &= self.mapped
        live = nonzero[rows].any(axis=0) | (self.params["thr"] == 0) | enc.targeted(N)
        self._sync_flags()          # infer() leaves the model as it finds it
        if like is not None:
            ref, (ref_spikes, ref_v) = like
            if self.gate != ref.gate or not np.array_equal(self.inh[rows], ref.inh[rows]):
                changed = np.ones(N, bool)
            else:
                # a superset of the neurons whose effective weights differ: exact all
                # the same, as every neuron in it is computed
                diff = self.w != ref.w
                if self.gate:
                    diff |= self.mapped != ref.mapped
                changed = diff[rows].any(axis=0)
                for name, a in self.params.items():
                    changed |= a != ref.params[name]
            if not changed.any():
                out = ref_spikes.view(), ref_v.view()
                for a in out:
                    a.flags.writeable = False
                return out
            full_spikes, full_v = ref_spikes.copy(), ref_v.copy()
            full_spikes[:, changed] = 0
            full_v[:, changed] = 0
            cols = np.flatnonzero(live & changed)
        else:
            full_spikes = np.zeros((B, N), np.int64)
            full_v = np.zeros((B, N), np.int64)
            cols = np.flatnonzero(live)
        if T == 0 or len(cols) == 0:
            return full_spikes, full_v
        w = self.w[:, cols]
        if self.gate:
            w = np.where(self.mapped[:, cols], w, 0)
        full_spikes[:, cols], full_v[:, cols] = self._infer_columns(kind, index, arg,
                                                                    cols, w)
        return full_spikes, full_v

    def _infer_columns(self, kind, index, arg, cols, w):
        """The batched inference of neurons ``cols`` (``w``: their effective weights,
        ``N x len(cols)``): ``(spikes, v)``, each ``B x len(cols)``."""
        N, B, T = self.s.neurons, kind.shape[0], kind.shape[1]
        p = {name: a[cols] for name, a in self.params.items()}
        on = p["ca_off"] == 0
        emits = p["off"] == 0
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
            x = np.where(single[:, None] & one, w[i], x)        # gated as SPIKE
            x = np.where(virtual[:, None] & one, np.abs(a)[:, None], x)
            inh = np.where(virtual, a < 0, self.inh[i])[:, None]
            touched = spike | ((single | virtual)[:, None] & one) \
                | (tref[:, None] & (one | (a & 1).astype(bool)[:, None]))
            v1 = integrate(v, x, inh, self.vmax)
            lv, lcount, due = time_reference(v, count, p["leak"], p["ca_leak"], on,
                                             self.s.period_bits)
            is_t = tref[:, None] & touched
            v1 = np.where(is_t, lv, v1)
            count = np.where(is_t, lcount, count)
            v2, ca2, fired = threshold(v1, ca, p["thr"], is_t & due, on, self.cmax)
            fired &= touched
            v = np.where(touched, v2, v)
            ca = np.where(touched, ca2, ca)
            spikes += fired & emits
        return spikes, v
