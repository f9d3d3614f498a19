"""Driver: one :class:`Chip` API on every backend, speaking the host protocol
(:mod:`hw.spec.host`).

Backends (the ``backend`` string):

``golden``
    :class:`sim.golden.host.GoldenHost` in this process: the chip golden model executing
    the same frames, on its fast path (:mod:`sim.golden.fast`: the microcode traced once,
    events and ticks vectorised, the instruction-level interpreter wherever the traces
    do not hold; the same results bit for bit).
``golden:interp``
    the same golden host on the instruction-level interpreter alone (every instruction
    issued and every memory word decoded: the reference the fast path is tested
    against, about 100 times slower).
``verilator``
    the RTL (:class:`hw.host.HostChip`) as a stand-alone Verilator executable
    (:func:`sim.rtl.hostchip_exe`, built once per config and cached), talking over
    pipes. The clock runs in C++; Python only sees bytes.
``serial:PORT[@BAUD]``
    a board's UART through pyserial; ``PORT`` is a device (``/dev/ttyUSB1``) or any
    pyserial URL (``socket://host:port``). BAUD defaults to ``config.host.baud``.

Each backend is a :class:`~sw.runtime.transports.Transport` (:mod:`sw.runtime.transports`;
a new backend is one subclass there); ``Chip(..., transport=t)`` takes one already open.

On connect the driver sends IDENTIFY and refuses (:class:`ProtocolError`) a chip built
from another configuration, another RTL generator (build id; ``check_build=False``
skips that for boards flashed earlier), or with other wire sizes.

Example::

    with Chip("verilator", config) as chip:
        chip.load(image)                        # a sw.toolchain.mapper.ChipImage
        outputs = chip.run_network(image, inputs)
        print(chip.counters())
"""

from __future__ import annotations

import os
import struct
import time

import numpy as np

from hw.spec.config import ChipConfig
from hw.spec.counters import CHIP_COUNTERS, access_bits, unpack_counters
from hw.spec.counters import CORE_COUNTERS as COUNTERS
from hw.spec.memory import unpack_counts, unpack_status
from hw.spec.host import build_id, host_geometry
from hw.spec.host import (IDENTITY, OVERHEAD, PROTOCOL_VERSION, SYNC_BYTES, Error, FrameDecoder, Op, ProtocolError, encode_frame)
from hw.spec.isa import Isa
from hw.spec.memory import BusOp
from hw.spec.memory import FaultKind
from hw.spec.memmap import MemoryName, chip_memories, state_clears, tile_coords, tile_prefix
from hw.spec.packet import packet_layout
from sw.runtime.transports import VERILATOR_OPT, Transport, open_transport  # noqa: F401

__all__ = ["Chip", "ProtocolError", "open_transport", "IDEMPOTENT"]

#: Commands that may be sent twice with the effect of once: resent when their reply was
#: damaged on the link. (EVENTS, RUN, STEP and FAULT are not: a damaged reply to one of them
#: raises, since the chip did execute it.)
IDEMPOTENT = frozenset({Op.IDENTIFY, Op.WRITE, Op.FILL, Op.READ, Op.MEMSTAT,
                        Op.COUNTERS, Op.CLEAR, Op.RESET, Op.SYNC, Op.CLEAR_STATE})


class _NoReply(ProtocolError):
    """Nothing arrived in time (internal: turned into a message naming the command)."""


# -- the chip ------------------------------------------------------------------------------

class Chip:
    """A chip of ``config`` behind ``backend``; see the module docstring."""

    def __init__(self, backend: str, config: ChipConfig, *, timeout: float = 30.0,
                 check_build: bool = True, transport=None, retries: int = 3):
        self.backend, self.config, self.timeout = backend, config, timeout
        self.geometry = g = host_geometry(config)
        self.specs = chip_memories(config)
        self.ids = {s.name: i for i, s in enumerate(self.specs)}
        self.layout = packet_layout(config)
        self.coords = tile_coords(config)
        self._wb, self._pb = g["word_bytes"], g["packet_bytes"]
        self._decoder = FrameDecoder(1 << 16)
        self._frames = []
        #: resends after a lost frame, and frames dropped while resynchronising
        self.resent = self.dropped = 0
        self.retries = retries
        self._nonce = int.from_bytes(os.urandom(SYNC_BYTES), "little")
        self._unsynced = False
        self._clearable = None     # (images, whether CLEAR_STATE restores them)
        #: state memories that run_network wrote layer-start records into
        self._started = set()
        self.link = transport if transport is not None else open_transport(backend, config)
        try:
            self.identity = self.identify()
            self._check_identity(check_build)
        except BaseException:
            self.close()
            raise

    # -- plumbing ------------------------------------------------------------------------

    def close(self):
        if self.link is not None:
            self.link.close()
            self.link = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _next_frame(self, timeout: float | None = None):
        timeout = self.timeout if timeout is None else timeout
        end = time.monotonic() + timeout
        while not self._frames:
            left = end - time.monotonic()
            if left <= 0:
                raise _NoReply(f"{self.backend}: no reply within {timeout} s")
            self._frames += self._decoder.feed(self.link.read(min(left, 0.5)))
        return self._frames.pop(0)

    def send_raw(self, data: bytes):
        """Bytes straight onto the link (for protocol tests)."""
        self.link.write(data)

    def receive(self):
        """The next frame from the chip: ``(op, payload)`` or ``(None, Error)``."""
        return self._next_frame()

    def command(self, op: int, payload: bytes = b"", on_frame=None) -> bytes:
        """Send one command; return its reply's payload. Frames that arrive before the
        reply (RUN's OUTPUT/STEP_DONE) go to ``on_frame``. An error reply to the command
        raises :class:`ProtocolError` naming the command and the error.

        Replies are paired with commands even on a noisy link. Any frame that is not
        this command's reply (an error for a frame the chip could not read, a damaged
        frame, a stale reply) starts a resynchronisation (:meth:`sync`); the frames up
        to the SYNC echo are searched for this command's reply. A command that never
        reached the chip changed nothing and is sent again (up to ``retries`` times);
        a command whose reply was damaged on the way back is sent again only if doing
        it twice is harmless (:data:`IDEMPOTENT`; a second READ is counted by the
        memory's access counters), otherwise ProtocolError says so. ``resent`` and
        ``dropped`` count what the link cost.
        """
        name = Op(op).name if op in Op._value2member_map_ else hex(op)
        if self._unsynced:
            self.sync()
        for attempt in range(self.retries + 1):
            self.link.write(encode_frame(op, payload))
            try:
                outcome = self._await(op, on_frame, self.timeout)
            except _NoReply:
                self._unsynced = True
                raise ProtocolError(f"{self.backend}: no reply to {name} within "
                                    f"{self.timeout} s") from None
            if outcome[0] == "other":
                # something else arrived first: pair the replies again
                rop, rp = outcome[1]
                outcome = self._sync(op, on_frame, rp.name if rop is None else None)
            kind, value = outcome
            if kind == "reply":
                return value
            if kind == "error":
                code = Error(value[0]) if value and value[0] in Error._value2member_map_ \
                    else value[:1]
                raise ProtocolError(f"{self.backend}: the chip refused {name}: "
                                    f"{getattr(code, 'name', code)}")
            if kind == "damaged" and op not in IDEMPOTENT:
                raise ProtocolError(f"{self.backend}: the reply to {name} was damaged on "
                                    f"the link ({value}); the chip may have executed it, "
                                    "so it is not sent again: check the chip's state")
            # "lost" (never reached the chip) or a damaged reply to an idempotent command
            self.resent += 1
        raise ProtocolError(f"{self.backend}: {name} did not get through in "
                            f"{self.retries + 1} attempts: the link loses frames")

    def _classify(self, op, frame, on_frame):
        """What ``frame`` means to a command ``op`` waiting for its reply: ("reply",
        payload), ("error", payload) for its own error, "pass" (a RUN frame handed to
        ``on_frame``), or None: a frame that does not belong to it."""
        rop, rp = frame
        if rop == op | 0x80:
            return "reply", rp
        if rop == Op.ERROR and len(rp) >= 2 and rp[1] == op and op != 0:
            return "error", rp
        if rop in (Op.OUTPUT, Op.STEP_DONE) and on_frame is not None:
            on_frame(rop, rp)
            return "pass"
        return None

    def _await(self, op, on_frame, timeout):
        while True:
            frame = self._next_frame(timeout)
            got = self._classify(op, frame, on_frame)
            if got is None:
                self.dropped += 1
                return "other", frame
            if got != "pass":
                return got

    def sync(self) -> int:
        """Pair replies with commands again: send SYNC and drop every frame up to its
        echo. Returns the number of frames dropped. :meth:`command` calls it by
        itself after any frame it cannot pair; call it after writing raw bytes."""
        before = self.dropped
        self._sync(None, None)
        return self.dropped - before

    def _sync(self, op, on_frame, damaged=None):
        """SYNC until the echo of the latest nonce; meanwhile look for the reply of
        ``op``. Returns its outcome, ("lost", None) if it did not come, or ("damaged",
        error name) if a damaged frame (``damaged``: one seen before) may have been it."""
        found = None
        for _ in range(self.retries + 4):
            self._nonce = (self._nonce + 1) & 0xFFFFFFFF
            nonce = self._nonce.to_bytes(SYNC_BYTES, "little")
            self.link.write(encode_frame(Op.SYNC, nonce))
            while True:
                try:
                    frame = self._next_frame()
                except _NoReply:
                    self._unsynced = True
                    raise ProtocolError(f"{self.backend}: no reply to SYNC within "
                                        f"{self.timeout} s") from None
                if frame == (Op.SYNC | 0x80, nonce):
                    self._unsynced = False
                    if found is not None:
                        return found
                    return ("damaged", damaged) if damaged else ("lost", None)
                got = None if op is None or found is not None else \
                    self._classify(op, frame, on_frame)
                if got == "pass":
                    continue
                if got is not None:
                    found = got
                    continue
                self.dropped += 1
                rop, rp = frame
                if rop is None:
                    # a frame damaged on the way back: perhaps the reply wanted
                    damaged = damaged or rp.name
                elif rop == Op.ERROR and len(rp) >= 2 and rp[1] == 0:
                    # an unreadable frame: perhaps this SYNC itself; send another
                    break
        self._unsynced = True
        raise ProtocolError(f"{self.backend}: no SYNC echo after {self.retries + 4} "
                            "attempts: the link is too noisy to pair replies")

    # -- identity ------------------------------------------------------------------------

    def identify(self) -> dict:
        p = self.command(Op.IDENTIFY)
        out, pos = {}, 0
        for name, n in IDENTITY:
            out[name] = int.from_bytes(p[pos:pos + n], "little")
            pos += n
        out["config_hash"] = f"{out['config_hash']:016x}"
        return out

    def _check_identity(self, check_build: bool):
        i, c, g = self.identity, self.config, self.geometry
        if i["version"] != PROTOCOL_VERSION:
            raise ProtocolError(f"chip speaks protocol version {i['version']}, this driver "
                                f"{PROTOCOL_VERSION}")
        if i["config_hash"] != c.hash:
            raise ProtocolError(f"chip was built from configuration {i['config_hash']}, "
                                f"the driver has {c.hash}: load the chip's config file or "
                                "rebuild the chip")
        if check_build and i["build_id"] != build_id(c):
            raise ProtocolError(f"chip build id {i['build_id']:08x} differs from this "
                                f"source tree's {build_id(c):08x} (same config, other RTL "
                                "generator): rebuild, or pass check_build=False")
        want = {"word_bytes": g["word_bytes"], "packet_bytes": g["packet_bytes"],
                "memories": g["memories"], "width": c.noc.width, "height": c.noc.height,
                "max_payload": c.host.max_payload}
        for k, v in want.items():
            if i[k] != v:
                raise ProtocolError(f"chip reports {k} = {i[k]}, the config implies {v}")

    # -- memories ------------------------------------------------------------------------

    def memory(self, name: str) -> int:
        """Directory id of a memory, by name (``tile0_0.lane1.weights``)."""
        try:
            return self.ids[name]
        except KeyError:
            raise KeyError(f"no memory named {name!r}; e.g. {', '.join(list(self.ids)[:4])}, "
                           f"... ({len(self.ids)} memories)") from None

    def _range(self, name, addr, count):
        spec = self.specs[self.memory(name)]
        if addr < 0 or count < 0 or addr + count > spec.depth:
            raise ValueError(f"memory {name!r}: addresses {addr}..{addr + count - 1} are "
                             f"outside its depth {spec.depth}")
        return spec

    def write(self, name: str, addr: int, words, *, skip_zero: bool = False) -> None:
        """Set words ``addr..`` of a memory. Runs of one repeated word long enough to be
        cheaper as a ``FILL`` (one frame, then one word per clock cycle) than as
        ``WRITE`` bytes on the link are sent as ``FILL``; ``skip_zero`` leaves runs of
        zeros out altogether (only right for a memory known to hold zeros there)."""
        words = [int(w) for w in np.asarray(words, dtype=object).ravel()]
        spec = self._range(name, addr, len(words))
        for k, w in enumerate(words):
            if w < 0 or w >> spec.width:
                raise ValueError(f"memory {name!r}: word {addr + k} = {w} does not fit "
                                 f"{spec.width} bits")
        mid = self.memory(name)
        for kind, start, arg in self._plan(words, skip_zero):
            if kind == "fill":
                self._fill(mid, addr + start, *arg)
            else:
                self._write_words(mid, addr + start, arg)

    def fill(self, name: str, addr: int, count: int, word: int = 0) -> None:
        """Set ``count`` words from ``addr`` to ``word`` (``FILL``: one frame, then one
        word per clock cycle in the chip)."""
        spec = self._range(name, addr, count)
        if count < 1:
            raise ValueError(f"memory {name!r}: fill of {count} words")
        if word < 0 or word >> spec.width:
            raise ValueError(f"memory {name!r}: fill word {word} does not fit "
                             f"{spec.width} bits")
        self._fill(self.memory(name), addr, count, word)

    def _fill(self, mid: int, addr: int, count: int, word: int) -> None:
        self.command(Op.FILL, struct.pack("<HII", mid, addr, count)
                     + word.to_bytes(self._wb, "little"))

    def _plan(self, words: list, skip_zero: bool):
        """Split words into ``("fill", start, (count, word))`` for long runs of one
        word and ``("write", start, words)`` for the rest (less skipped zero runs)."""
        # A FILL frame costs about as many link bytes as this many WRITE words, and
        # splitting a WRITE around it costs one more frame header.
        fill_min = max(2, -(-(2 * OVERHEAD + 16) // self._wb))
        skip_min = max(1, -(-(OVERHEAD + 6) // self._wb))
        n = len(words)
        if n == 0:
            return
        arr = np.array(words, dtype=object)
        cuts = np.flatnonzero(arr[1:] != arr[:-1]) + 1
        starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [n]])
        pending = None
        for a, b in zip(starts.tolist(), ends.tolist()):
            w = words[a]
            skip = skip_zero and w == 0 and b - a >= skip_min
            if skip or b - a >= fill_min:
                if pending is not None:
                    yield "write", pending, words[pending:a]
                    pending = None
                if not skip:
                    yield "fill", a, (b - a, w)
            elif pending is None:
                pending = a
        if pending is not None:
            yield "write", pending, words[pending:]

    def _write_words(self, mid: int, addr: int, words: list) -> None:
        per = (self.config.host.max_payload - 6) // self._wb
        for i in range(0, len(words), per):
            chunk = words[i:i + per]
            self.command(Op.WRITE, struct.pack("<HI", mid, addr + i) + b"".join(
                w.to_bytes(self._wb, "little") for w in chunk))

    def read(self, name: str, addr: int = 0, count: int | None = None):
        """Words (through faults and the decoder) and per-word flags (bit 0 corrected,
        bit 1 detected)."""
        spec = self.specs[self.memory(name)]
        count = spec.depth - addr if count is None else count
        self._range(name, addr, count)
        per = self.config.host.max_payload // (self._wb + 1)
        words, flags = [], []
        for i in range(0, count, per):
            n = min(per, count - i)
            p = self.command(Op.READ, struct.pack("<HIH", self.memory(name), addr + i, n))
            for k in range(n):
                item = p[k * (self._wb + 1):(k + 1) * (self._wb + 1)]
                words.append(int.from_bytes(item[:-1], "little"))
                flags.append(item[-1])
        return words, flags

    def load(self, image, *, skip_zero: bool = False) -> None:
        """Write memory images (a ChipImage or ``{name: words}``), every word of each
        (long runs of one word as ``FILL``); ``skip_zero`` leaves runs of zeros out
        (only right for memories known to be zero)."""
        images = getattr(image, "images", image)
        for name, words in images.items():
            self.write(name, 0, words, skip_zero=skip_zero)
        self._started = set()

    def fault(self, name: str, addr: int, kind, mask: int) -> None:
        """Fault-port transfer: ``kind`` a FaultKind (FLIP, STUCK_AT_0, STUCK_AT_1,
        CLEAR) and ``mask`` over the stored (encoded) bits."""
        kind = FaultKind(kind)
        self._range(name, addr, 1)
        self.command(Op.FAULT, struct.pack("<HIB", self.memory(name), addr, kind.value)
                     + int(mask).to_bytes(self._wb, "little"))

    def memory_status(self, name: str) -> dict:
        st = unpack_status(self.config.memory.counter_bits, self._memstat(name, BusOp.STATUS))
        return {**st, "error": bool(st["error"]), "fault_overflow": bool(st["fault_overflow"])}

    def memory_counts(self, name: str) -> dict:
        return unpack_counts(access_bits(self.config), self._memstat(name, BusOp.COUNTS))

    def clear_memory_status(self, name: str) -> None:
        self._memstat(name, BusOp.CLEAR)

    def _memstat(self, name, op) -> int:
        p = self.command(Op.MEMSTAT, struct.pack("<HB", self.memory(name), op.value))
        return int.from_bytes(p[:self._wb], "little")

    # -- running -------------------------------------------------------------------------

    def _pack(self, x, y, axon, payload) -> bytes:
        if (x, y) not in self.coords:
            raise ValueError(f"event for tile {(x, y)}, outside the {self.config.noc.width} "
                             f"x {self.config.noc.height} mesh")
        lo, hi = -(1 << self.config.core.payload_bits - 1), (1 << self.config.core.payload_bits - 1) - 1
        if not lo <= payload <= hi:
            raise ValueError(f"event payload {payload} outside {lo}..{hi} (core.payload_bits)")
        return Isa.pack(self.layout, {"to_host": 0, "x": x, "y": y, "axon": axon,
                                      "payload": payload}).to_bytes(self._pb, "little")

    def events(self, packets) -> None:
        """Input events (x, y, axon, payload) for the coming timestep."""
        per = self.config.host.max_payload // self._pb
        data = [self._pack(*p) for p in packets]
        for i in range(0, len(data), per):
            self.command(Op.EVENTS, b"".join(data[i:i + per]))

    def run(self, steps: int = 1, packets=()) -> list:
        """Run ``steps`` timesteps; per step the output events (x, y, neuron, payload),
        sorted (the mesh decides arrival order; DESIGN.md section 4).

        ``packets`` (x, y, axon, payload) are input events sent again before *each* of
        the steps (one ``STEP`` frame: for inputs that repeat, such as rate coding by
        current). Events sent before by :meth:`events` go to the first step."""
        packets = list(packets)
        data = [self._pack(*q) for q in packets]
        cap = (self.config.host.max_payload - 4) // self._pb   # packets a STEP frame holds
        if len(data) > cap:
            if steps != 1:
                # too many to repeat from the chip's frame buffer: one step at a time
                return [self.run(1, packets)[0] for _ in range(steps)]
            head = len(data) - cap
            self.events(packets[:head])
            data = data[head:]
        out = [[] for _ in range(steps)]
        counts = {}

        def on_frame(op, p):
            s = struct.unpack_from("<I", p)[0]
            if op == Op.OUTPUT:
                for k in range((len(p) - 4) // self._pb):
                    raw = int.from_bytes(p[4 + k * self._pb:4 + (k + 1) * self._pb], "little")
                    f = Isa.unpack(self.layout, raw)
                    out[s].append((int(f.x), int(f.y), int(f.axon), int(f.payload)))
            elif op == Op.STEP_DONE:
                counts[s] = struct.unpack_from("<I", p, 4)[0]
            else:
                raise ProtocolError(f"unexpected frame {op:#x} during RUN")
        if data:
            self.command(Op.STEP, struct.pack("<I", steps) + b"".join(data), on_frame=on_frame)
        else:
            self.command(Op.RUN, struct.pack("<I", steps), on_frame=on_frame)
        for s in range(steps):
            if s not in counts:
                raise ProtocolError(f"timestep {s}: no STEP_DONE arrived ({len(out[s])} "
                                    "output events did): a frame was lost on the link")
            if counts.get(s) != len(out[s]):
                raise ProtocolError(f"timestep {s}: STEP_DONE reports {counts.get(s)} output "
                                    f"events, {len(out[s])} arrived")
        return [sorted(o) for o in out]

    def step(self, packets=()) -> list:
        """One timestep with input events (one ``STEP`` frame when they fit); returns
        its sorted output events."""
        return self.run(1, list(packets))[0]

    def run_network(self, image, inputs) -> list:
        """Per step of ``inputs`` (lists of (input index, payload)): the decoded output
        events ``{layer: [(index, payload)]}`` of a ChipImage, from the image's state
        (after :meth:`load`, :meth:`reset_state` or :meth:`restore_state`): step 0 is the
        network's timestep 0. Inputs that are the same at every step go in one ``STEP``
        frame per stretch of steps when they fit. Before each step ``t`` of
        ``image.start_steps`` (layers with ``Layer.start``) the image's
        :meth:`~sw.toolchain.mapper.ChipImage.state_writes` for ``t`` are written, so a
        run is split there."""
        inputs = [list(ev) for ev in inputs]
        starts = [t for t in getattr(image, "start_steps", ()) if 0 < t < len(inputs)]
        out = []
        for a, b in zip([0] + starts, starts + [len(inputs)]):
            if a:
                self._write_records(image.state_writes(a))
            out += self._run_stretch(image, inputs[a:b])
        return out

    def _run_stretch(self, image, inputs) -> list:
        if len(inputs) > 1 and all(ev == inputs[0] for ev in inputs[1:]):
            packets = image.host_packets(inputs[0])
            if len(packets) * self._pb + 4 <= self.config.host.max_payload:
                return [image.decode_outputs(o) for o in self.run(len(inputs), packets)]
        return [image.decode_outputs(self.step(image.host_packets(ev))) for ev in inputs]

    def _write_records(self, writes) -> None:
        """``(memory, address, word)`` writes, consecutive addresses of a memory in one
        :meth:`write`; the memories are remembered for :meth:`reset_state`."""
        runs = []
        for name, addr, word in sorted(writes):
            if runs and runs[-1][0] == name and runs[-1][1] + len(runs[-1][2]) == addr:
                runs[-1][2].append(word)
            else:
                runs.append((name, addr, [word]))
        for name, addr, words in runs:
            self.write(name, addr, words)
            self._started.add(name)

    def layer_states(self, image, field: str = "v") -> dict:
        """Neuron state ``field`` (``v``, ``u``, ``p0`` bias, ``p1`` threshold) of every
        layer of a ChipImage, as signed ints per neuron, read from the chip."""
        state = Isa.of(self.config).state
        lanes = self.config.core.lanes
        cache = {}
        out = {}
        for layer in image.network.layers:
            values = np.zeros(layer.size, np.int64)
            for (x, y), a, b in image.placement[layer.name]:
                ids = image.tiles[(x, y)].neurons[f"{layer.name}[{a}:{b}]"]
                for j, n in zip(range(a, b), ids):
                    # core neuron n is row n // lanes of lane n % lanes (sw.toolchain.compiler)
                    name = MemoryName.lane_bank(tile_prefix(x, y), int(n) % lanes, "state")
                    if name not in cache:
                        cache[name] = self.read(name)[0]
                    # the record's fields are signed: the layout sign-extends them
                    values[j] = int(getattr(Isa.unpack(state, cache[name][int(n) // lanes]), field))
            out[layer.name] = values
        return out

    # -- counters, reset -----------------------------------------------------------------

    def counters(self, tile=None) -> dict:
        """The chip's counters, or those of tile ``(x, y)`` (or its index)."""
        cb = self.config.core.counter_bits
        if tile is None:
            idx, names = 0xFFFF, CHIP_COUNTERS
        else:
            idx = self.coords.index(tuple(tile)) if not isinstance(tile, int) else tile
            names = COUNTERS
        w = int.from_bytes(self.command(Op.COUNTERS, struct.pack("<H", idx)), "little")
        return unpack_counters(names, cb, w)

    def all_counters(self) -> dict:
        """Chip counters and the sum of every core's counters."""
        total = dict.fromkeys(COUNTERS, 0)
        for t in range(len(self.coords)):
            for k, v in self.counters(t).items():
                total[k] += v
        return {"chip": self.counters(), "cores": total}

    def clear_counters(self) -> None:
        self.command(Op.CLEAR)

    def reset(self) -> None:
        """Reset the chip's registers (queues, counters, fault slots); memories keep
        their words."""
        self.command(Op.RESET)

    def clear_state(self) -> None:
        """``CLEAR_STATE``: every neurocore accumulator 0, every neuron's ``v`` and
        ``u`` 0 (bias and threshold kept, as stored: a fault in them stays), in one
        frame; SDSP tiles and delay queues untouched."""
        self.command(Op.CLEAR_STATE)

    def reset_state(self, image) -> None:
        """A fresh start for the next input, as :meth:`restore_state` but in as few
        frames as the image allows: ``CLEAR_STATE`` when it leaves the neurocore
        memories as the image has them (accumulators 0, neurons at ``v = u = 0``),
        then the rest of the state memories rewritten. Unlike restore_state, a fault
        in a kept field (bias, threshold) is not rewritten away. CLEAR_STATE keeps the
        bias that :meth:`run_network` wrote at a layer's start (``Layer.start``): the
        records it wrote go back to the image's (bias 0), the rest of those memories
        untouched."""
        images = getattr(image, "images", image)
        if self._clearable is None or self._clearable[0] is not images:
            ok = True
            for i, keep in state_clears(self.config):
                words = images.get(self.specs[i].name)
                if words is None or any(int(w) & ~keep for w in np.asarray(words).ravel()):
                    ok = False
                    break
            self._clearable = (images, ok)
        if not self._clearable[1]:
            return self.restore_state(image)
        self.clear_state()
        cleared = {self.specs[i].name for i, _ in state_clears(self.config)}
        for spec in self.specs:
            if spec.role == "state" and spec.name not in cleared:
                self.write(spec.name, 0, images[spec.name])
        if self._started and hasattr(image, "state_writes"):
            for t in image.start_steps:
                self._write_records([(name, addr, int(images[name][addr]))
                                     for name, addr, _ in image.state_writes(t)])
        self._started = set()

    def restore_state(self, image) -> None:
        """Rewrite every neuron-state memory (membranes, accumulators, ring slots) from
        ``image`` (a ChipImage or ``{name: words}``): a fresh start for the next input."""
        images = getattr(image, "images", image)
        for spec in self.specs:
            if spec.role == "state":
                self.write(spec.name, 0, images[spec.name])
        self._started = set()
