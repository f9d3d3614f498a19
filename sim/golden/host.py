"""Golden host: the host protocol (:mod:`hw.spec.host`) executed on the chip golden
model, byte stream in, byte stream out, with the RTL's checks in the RTL's order, so
that the driver's ``golden`` backend runs the very frames the chip gets.

What the model cannot know: cycle counters (``cycles_busy``/``cycles_idle`` of the chip
and of each core) read as 0 and ``misrouted`` as 0; memory access counts (MEMSTAT
COUNTS) are the model's own tallies of its datapath accesses. Output events of a
timestep come sorted (the RTL sends them in mesh order; the driver sorts both).

``fast`` (default) runs the chip's fast path (:mod:`sim.golden.fast`) and frames with
:class:`FastFrameDecoder`, :func:`fast_frame` and :class:`Packing`, byte for byte what
:mod:`hw.spec.host` and :meth:`hw.spec.isa.Isa.pack` make (tested); ``fast=False`` is
the interpreter and the protocol module's own functions throughout.
"""

from __future__ import annotations

import binascii
import struct

import numpy as np
from amaranth.hdl import Shape

from hw.spec.config import ChipConfig
from hw.spec.counters import CHIP_COUNTERS, access_bits, pack_counters
from hw.spec.counters import CORE_COUNTERS as COUNTERS
from hw.spec.memory import pack_counts, pack_status
from hw.spec.host import build_id, host_geometry
from hw.spec.host import (END, ESC, ESC_END, ESC_ESC, OVERHEAD, PROTOCOL_VERSION, SYNC_BYTES, Error, FrameDecoder, Op, encode_frame)
from hw.spec.isa import Isa
from hw.spec.memory import BusOp
from hw.spec.memory import FaultKind
from hw.spec.memmap import chip_memories, state_clears, tile_coords
from hw.spec.packet import packet_layout
from sim.golden.chip import GoldenChip

__all__ = ["GoldenHost", "FastFrameDecoder", "fast_frame", "Packing"]

_ESCAPED = {ESC_END: END, ESC_ESC: ESC}


def _words(data: list, width: int) -> np.ndarray:
    """Memory words as an array :meth:`GoldenFaultSRAM.write` takes (objects past 62 bits)."""
    return np.array(data, dtype=np.int64 if width < 63 else object)


def fast_frame(op: int, payload: bytes = b"") -> bytes:
    """:func:`hw.spec.host.encode_frame` with the CRC in C (``binascii.crc_hqx`` is
    CRC-16/CCITT-FALSE from the initial value 0xFFFF) and the escaping by
    ``bytes.replace`` (ESC first, so that the ESC of an escaped END stays single)."""
    head = struct.pack("<BH", op, len(payload)) + bytes(payload)
    body = head + struct.pack(">H", binascii.crc_hqx(head, 0xFFFF))
    body = body.replace(bytes([ESC]), bytes([ESC, ESC_ESC])).replace(bytes([END]),
                                                                    bytes([ESC, ESC_END]))
    return bytes([END]) + body + bytes([END])


class FastFrameDecoder(FrameDecoder):
    """:class:`hw.spec.host.FrameDecoder` taking the bytes between two ``END`` at
    once (``bytes.split``/``find``) instead of one at a time, with the CRC in C: the same
    frames and errors for every byte stream, however it is cut into ``feed`` calls."""

    def feed(self, data: bytes) -> list:
        frames = []
        parts = bytes(data).split(bytes([END]))
        for k, seg in enumerate(parts):
            if seg:
                self._segment(seg)
            if k < len(parts) - 1:              # an END follows this segment
                self._bad_escape |= self._esc
                if self._buf or self._bad_escape:
                    frames.append(self._finish())
                self._buf, self._esc, self._bad_escape = bytearray(), False, False
        return frames

    def _segment(self, seg: bytes) -> None:
        """Unescape bytes without END into the buffer (FrameDecoder's byte rules)."""
        i = 0
        if self._esc:
            self._escaped(seg[0])
            i = 1
        while True:
            j = seg.find(ESC, i)
            if j < 0:
                self._buf += seg[i:]
                return
            self._buf += seg[i:j]
            if j + 1 == len(seg):
                self._esc = True
                return
            self._escaped(seg[j + 1])
            i = j + 2

    def _escaped(self, b: int) -> None:
        self._esc = False
        if b in _ESCAPED:
            self._buf.append(_ESCAPED[b])
        else:
            # kept, as the RTL keeps it: it counts towards TOO_LONG
            self._buf.append(b)
            self._bad_escape = True



class Packing:
    """A flat :class:`amaranth.lib.data.StructLayout` packed and unpacked with integer
    shifts (:meth:`Isa.pack` builds an Amaranth constant per call): ``pack`` truncates
    each field to its width as ``Isa.pack`` does, ``unpack`` returns the fields as ints
    (signed fields sign-extended), in layout order."""

    def __init__(self, layout):
        self.fields = []
        for name, field in layout:
            shape = Shape.cast(field.shape)
            self.fields.append((name, field.offset, (1 << shape.width) - 1, shape.signed))
        self.size = layout.size

    def pack(self, **values) -> int:
        word = 0
        for name, offset, mask, _ in self.fields:
            word |= (int(values.get(name, 0)) & mask) << offset
        return word

    def unpack(self, word: int) -> tuple:
        out = []
        for _, offset, mask, signed in self.fields:
            v = (word >> offset) & mask
            if signed and v > mask >> 1:
                v -= mask + 1
            out.append(v)
        return tuple(out)


class GoldenHost:
    def __init__(self, config: ChipConfig, *, fast: bool = True):
        self.config = config
        self.fast = fast
        self.chip = GoldenChip(config, fast=fast)
        self.geometry = g = host_geometry(config)
        self.specs = chip_memories(config)
        self.mems = [self.chip.mems[s.name] for s in self.specs]
        self.decoder = (FastFrameDecoder if fast else FrameDecoder)(config.host.max_payload)
        self._frame = fast_frame if fast else encode_frame
        self.layout = packet_layout(config)
        self._packing = Packing(self.layout)
        names = [name for name, *_ in self._packing.fields]
        self._xyap = [names.index(k) for k in ("x", "y", "axon", "payload")]
        self.pending = []
        self.coords = tile_coords(config)
        self.clears = state_clears(config)
        self._wb, self._pb = g["word_bytes"], g["packet_bytes"]

    # -- byte stream ---------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for op, payload in self.decoder.feed(data):
            if op is None:
                out += self._error(payload, 0)
            else:
                out += self._command(op, payload)
        return bytes(out)

    def _packets(self, p: bytes, PB: int) -> list:
        """(x, y, axon, payload) of each packed packet in ``p``."""
        out = []
        if self.fast:
            ix, iy, ia, ip = self._xyap
            unpack = self._packing.unpack
            for k in range(len(p) // PB):
                f = unpack(int.from_bytes(p[k * PB:(k + 1) * PB], "little"))
                out.append((f[ix], f[iy], f[ia], f[ip]))
            return out
        for k in range(len(p) // PB):
            f = Isa.unpack(self.layout, int.from_bytes(p[k * PB:(k + 1) * PB], "little"))
            out.append((int(f.x), int(f.y), int(f.axon), int(f.payload)))
        return out

    def _output(self, x, y, axon, payload) -> int:
        """An output event as the packet the host port sends."""
        if self.fast:
            return self._packing.pack(to_host=1, x=x, y=y, axon=axon, payload=payload)
        return Isa.pack(self.layout, {"to_host": 1, "x": x, "y": y, "axon": axon,
                                      "payload": payload})

    def _error(self, code, op) -> bytes:
        return self._frame(Op.ERROR, bytes([int(code), int(op) & 0xFF]))

    def _ok(self, op, payload=b"") -> bytes:
        return self._frame(op | 0x80, payload)

    # -- commands ------------------------------------------------------------------------

    def _command(self, op: int, p: bytes) -> bytes:
        n, WB, PB = len(p), self._wb, self._pb
        maxp = self.config.host.max_payload
        hdr = p[:16].ljust(16, b"\0")
        mem_id, addr = struct.unpack_from("<HI", hdr)
        depth = self.specs[mem_id].depth if mem_id < len(self.specs) else 0

        def err(code):
            return self._error(code, op)

        if op == Op.IDENTIFY:
            if n:
                return err(Error.BAD_LENGTH)
            c = self.config
            return self._ok(op, struct.pack("<BQIBBHBBH", PROTOCOL_VERSION, int(c.hash, 16),
                                            build_id(c), WB, PB, len(self.specs),
                                            c.noc.width, c.noc.height, maxp))
        if op == Op.WRITE:
            if n < 6 + WB or (n - 6) % WB:
                return err(Error.BAD_LENGTH)
            if mem_id >= len(self.specs):
                return err(Error.BAD_MEMORY)
            words = (n - 6) // WB
            if addr + words > depth:
                return err(Error.BAD_ADDRESS)
            mem = self.mems[mem_id]
            mask = (1 << mem.width) - 1
            data = [int.from_bytes(p[6 + k * WB:6 + (k + 1) * WB], "little") & mask
                    for k in range(words)]
            mem.write(np.arange(addr, addr + words), _words(data, mem.width))
            return self._ok(op)
        if op == Op.FILL:
            if n != 10 + WB:
                return err(Error.BAD_LENGTH)
            if mem_id >= len(self.specs):
                return err(Error.BAD_MEMORY)
            count = struct.unpack_from("<I", hdr, 6)[0]
            if count == 0 or addr + count > depth:
                return err(Error.BAD_ADDRESS)
            mem = self.mems[mem_id]
            w = int.from_bytes(p[10:10 + WB], "little") & ((1 << mem.width) - 1)
            mem.write(np.arange(addr, addr + count), _words([w] * count, mem.width))
            return self._ok(op)
        if op == Op.READ:
            if n != 8:
                return err(Error.BAD_LENGTH)
            if mem_id >= len(self.specs):
                return err(Error.BAD_MEMORY)
            count = struct.unpack_from("<H", hdr, 6)[0]
            if count == 0 or addr + count > depth:
                return err(Error.BAD_ADDRESS)
            if count * (WB + 1) > maxp:
                return err(Error.BAD_ARGUMENT)
            out = bytearray()
            for a in range(addr, addr + count):
                r = self.mems[mem_id].read(a)
                out += int(r.data).to_bytes(WB, "little")
                out.append(int(r.corrected) | int(r.detected) << 1)
            return self._ok(op, bytes(out))
        if op == Op.FAULT:
            if n != 7 + WB:
                return err(Error.BAD_LENGTH)
            if mem_id >= len(self.specs):
                return err(Error.BAD_MEMORY)
            if addr >= depth:
                return err(Error.BAD_ADDRESS)
            kind = p[6]
            if kind > 3:
                return err(Error.BAD_ARGUMENT)
            mem = self.mems[mem_id]
            mask = int.from_bytes(p[7:7 + WB], "little") & ((1 << mem.stored_width) - 1)
            mem.inject(addr, mask, kind)
            return self._ok(op)
        if op == Op.MEMSTAT:
            if n != 3:
                return err(Error.BAD_LENGTH)
            if mem_id >= len(self.specs):
                return err(Error.BAD_MEMORY)
            bop = p[2]
            if bop not in (BusOp.STATUS.value, BusOp.COUNTS.value, BusOp.CLEAR.value):
                return err(Error.BAD_ARGUMENT)
            mem = self.mems[mem_id]
            name = self.specs[mem_id].name
            if bop == BusOp.CLEAR.value:
                mem.clear_status()
                self._tallies(name, clear=True)
                word = 0
            elif bop == BusOp.STATUS.value:
                word = pack_status(mem.counter_bits, {
                    "corrected": mem.corrected_count, "detected": mem.detected_count,
                    "fault_overflows": mem.overflow_count, "error": int(mem.error),
                    "fault_overflow": int(mem.fault_overflow)})
            else:
                reads, writes = self._tallies(name)
                # access counters wrap (they are not saturating): pack_counts masks
                word = pack_counts(access_bits(self.config), {"reads": reads, "writes": writes})
            return self._ok(op, word.to_bytes(WB, "little") + b"\0")
        if op == Op.CLEAR_STATE:
            if n:
                return err(Error.BAD_LENGTH)
            for i, keep in self.clears:
                mem = self.mems[i]
                addr = np.arange(mem.depth)
                if keep:
                    # read through the decoder as the bus reads (tallies counted)
                    data = mem.read(addr).data
                    words = data & (np.uint64(keep) if data.dtype != object else keep)
                else:
                    words = np.zeros(mem.depth, np.uint64 if mem.width <= 64 else object)
                mem.write(addr, words)
            return self._ok(op)
        if op == Op.EVENTS:
            if n % PB:
                return err(Error.BAD_LENGTH)
            self.pending += self._packets(p, PB)
            return self._ok(op)
        if op in (Op.RUN, Op.STEP):
            if op == Op.RUN and n != 4 or op == Op.STEP and (n < 4 or (n - 4) % PB):
                return err(Error.BAD_LENGTH)
            steps = struct.unpack_from("<I", p)[0]
            # STEP: its packets again before every one of its timesteps
            again = self._packets(p[4:], PB) if op == Op.STEP else []
            out = bytearray()
            k_max = max(1, min(self.config.host.out_fifo_depth, (maxp - 4) // PB))
            for s in range(steps):
                packets = [q for q in self.pending + again if (q[0], q[1]) in self.chip.cores]
                self.pending = []
                events = self.chip.step(packets)
                for i in range(0, len(events), k_max):
                    chunk = events[i:i + k_max]
                    body = struct.pack("<I", s) + b"".join(
                        self._output(x, y, a, v).to_bytes(PB, "little")
                        for x, y, a, v in chunk)
                    out += self._frame(Op.OUTPUT, body)
                out += self._frame(Op.STEP_DONE, struct.pack("<II", s, len(events)))
            return bytes(out) + self._ok(op, struct.pack("<I", steps))
        if op == Op.COUNTERS:
            if n != 2:
                return err(Error.BAD_LENGTH)
            tile = mem_id
            if tile != 0xFFFF and tile >= len(self.coords):
                return err(Error.BAD_TILE)
            if tile == 0xFFFF:
                values, names, size = self.chip.counters, CHIP_COUNTERS, "chip_counter_bytes"
            else:
                values = self.chip.cores[self.coords[tile]].counters
                names, size = COUNTERS, "core_counter_bytes"
            word = pack_counters(names, self.config.core.counter_bits, values)
            return self._ok(op, word.to_bytes(self.geometry[size], "little"))
        if op == Op.SYNC:
            if n != SYNC_BYTES:
                return err(Error.BAD_LENGTH)
            return self._ok(op, p)
        if op in (Op.CLEAR, Op.RESET):
            if n:
                return err(Error.BAD_LENGTH)
            self._clear_counters()
            if op == Op.RESET:
                # the RTL resets every register of the chip: queues, memory status
                # counters and flags, stuck-at slots, access counters (not memory words)
                self.pending = []
                self.chip.pending.clear()
                for core in self.chip.cores.values():
                    core.reset_delays()
                for spec, mem in zip(self.specs, self.mems):
                    mem.clear_status()
                    mem.inject(0, 0, FaultKind.CLEAR)
                    self._tallies(spec.name, clear=True)
            return self._ok(op)
        return err(Error.UNKNOWN_OP)

    def _clear_counters(self):
        for k in self.chip.counters:
            self.chip.counters[k] = 0
        for core in self.chip.cores.values():
            core.clear_counters()

    def _tallies(self, name, clear=False):
        for core in self.chip.cores.values():
            if name in core.mems:
                if clear:
                    core.reads[name] = core.writes[name] = 0
                return core.reads[name], core.writes[name]
        if clear:
            self.chip.reads[name] = 0
        return self.chip.reads[name], 0

