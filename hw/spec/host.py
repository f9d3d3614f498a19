"""The host protocol: framed commands over a byte stream (UART on a board, a pipe in
simulation). One definition for the RTL (:mod:`hw.host.interface`), the driver
(:mod:`sw.runtime.driver`) and the golden host (:mod:`sim.golden.host`).

Framing
-------
A frame on the wire is SLIP-framed (RFC 1055): ``END`` (0xC0), the escaped body,
``END``. Inside the body 0xC0 is sent as ``ESC ESC_END`` (0xDB 0xDC) and 0xDB as
``ESC ESC_ESC`` (0xDB 0xDD). Empty frames (two ``END`` in a row) are ignored, so a
sender may start every frame with ``END`` and a receiver resynchronises at the next
``END`` after any garbage: a bad frame costs one error reply, never a hang.

The body::

    op (1 byte) | length (2 bytes, little-endian) | payload (length bytes) | crc (2 bytes, big-endian)

``crc`` is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection,
no final XOR) over ``op``, ``length`` and ``payload``; sent big-endian, so the CRC of the
whole body is 0. All multi-byte fields are little-endian.

Commands (host -> chip) and replies (chip -> host): a good command gets one reply
``op | 0x80``; a bad one gets one :data:`Op.ERROR` reply (code, offending op) and
changes nothing. ``RUN`` also sends frames while it runs (:data:`Op.OUTPUT`,
:data:`Op.STEP_DONE`). Memory words travel as ``word_bytes`` bytes each and packets as
``packet_bytes`` bytes (the packed :func:`hw.spec.packet.packet_layout`), both reported by
``IDENTIFY``.

=============  ===========================================  ===================================
op             payload                                      reply payload
=============  ===========================================  ===================================
IDENTIFY 0x01  --                                           :data:`IDENTITY` fields
WRITE 0x02     mem (2), addr (4), words (n x word_bytes)    --
READ 0x03      mem (2), addr (4), count (2)                 count x (word, flags (1))
FAULT 0x04     mem (2), addr (4), kind (1), mask (word)     --
MEMSTAT 0x05   mem (2), bus op (1: STATUS, COUNTS, CLEAR)   word, flags (1)
EVENTS 0x06    packets (n x packet_bytes)                   --
RUN 0x07       steps (4)                                    steps (4), after the frames below
COUNTERS 0x08  tile (2; 0xFFFF: the chip's)                 the counters, packed
CLEAR 0x09     --                                           --  (clears every counter)
RESET 0x0A     --                                           --  (resets the chip, not memories)
SYNC 0x0B      nonce (4)                                    the same nonce
FILL 0x0C      mem (2), addr (4), count (4), word           --  (count words, one per cycle)
STEP 0x0D      steps (4), packets (n x packet_bytes)        steps (4), after the frames below
CLEAR_STATE    --                                           --  (neuron state, accumulators)
0x0E
=============  ===========================================  ===================================

``STEP`` is ``EVENTS`` and ``RUN`` in one frame, with the packets sent again before each
of its ``steps`` timesteps (from the frame buffer, not the link): one frame per timestep
for inputs that change every step, one per inference for inputs that repeat (rate coding
by current). ``STEP`` with ``steps`` 1 equals ``EVENTS`` then ``RUN 1``, event for event
and frame for frame.

``CLEAR_STATE`` starts the next input from rest in one frame: every neurocore
accumulator word becomes 0, and every neuron record keeps its bias and threshold with
``v`` and ``u`` 0 (:func:`hw.spec.memmap.state_clears`; a record is read through the
memory bus, as ``READ`` reads it, and written back, one memory after the other). SDSP
tiles and delay queues are left as they are.

During ``RUN``, per timestep: zero or more ``OUTPUT`` frames (step (4), packets) with the
step's output events in the order the host port saw them, then one ``STEP_DONE``
(step (4), events (4): how many output events the step had). Read flags: bit 0
corrected, bit 1 detected, bit 2 bus error.

Resynchronisation
-----------------
The chip answers every frame, good or bad, with exactly one frame, in the order the
frames arrived. An error reply whose op field is 0 is for a frame the chip could not
read (line noise, or a command damaged on the way), so it cannot be paired with a
command by itself. ``SYNC`` is the marker that pairs them again: it changes nothing
and echoes its nonce, so once the echo of the latest nonce arrives every reply before
it has been seen. A command whose reply did not come before the echo never reached
the chip (and, since a rejected frame changes nothing, did nothing): the driver may
send it again (:class:`sw.runtime.driver.Chip`).
"""

from __future__ import annotations

import ast
import binascii
import enum
import hashlib
import struct
from functools import lru_cache
from pathlib import Path

from .config import ChipConfig
from .counters import CHIP_COUNTERS, CORE_COUNTERS, counter_bytes
from .memmap import chip_memories
from .memory import bus_widths
from .packet import packet_layout

__all__ = ["host_geometry", "build_id", "generator_sources", "Op", "Error", "END", "ESC", "ESC_END", "ESC_ESC", "PROTOCOL_VERSION",
           "IDENTITY", "FRAMING_ERRORS", "SYNC_BYTES", "crc16", "encode_frame", "FrameDecoder", "body", "ProtocolError"]

#: 2: ``SYNC`` added (version 1 had no way to pair replies again after line noise) and
#: ``FILL`` (a memory range set to one word at one word per clock cycle, where ``WRITE``
#: costs ``word_bytes`` link bytes per word: loading an image that is mostly zeros was
#: link-bound, 3.5 MB of frames for a default 3x2 mesh).
#: 3: ``STEP`` added (a timestep's packets and the step in one frame, and the same
#: packets again for every one of several steps: rate-coded inputs cost one frame per
#: inference instead of two per timestep) and ``CLEAR_STATE`` (neuron state and
#: accumulators back to rest in one frame, where rewriting them cost a frame per memory).
PROTOCOL_VERSION = 3
END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD
#: Header (op, length) and CRC bytes around a payload.
OVERHEAD = 5


class Op(enum.IntEnum):
    IDENTIFY = 0x01
    WRITE = 0x02
    READ = 0x03
    FAULT = 0x04
    MEMSTAT = 0x05
    EVENTS = 0x06
    RUN = 0x07
    COUNTERS = 0x08
    CLEAR = 0x09
    RESET = 0x0A
    SYNC = 0x0B
    FILL = 0x0C
    STEP = 0x0D
    CLEAR_STATE = 0x0E
    OUTPUT = 0x90
    STEP_DONE = 0x91
    ERROR = 0xFF


class Error(enum.IntEnum):
    """Codes of :data:`Op.ERROR` replies (payload: code, op of the bad frame or 0)."""

    BAD_CRC = 1
    BAD_LENGTH = 2       # length field != bytes received, or wrong size for the op
    TOO_LONG = 3         # payload longer than host.max_payload
    UNKNOWN_OP = 4
    BAD_MEMORY = 5       # memory id outside the directory
    BAD_ADDRESS = 6      # address (+ count) outside the memory
    BAD_ESCAPE = 7       # ESC followed by something other than ESC_END / ESC_ESC
    BAD_TILE = 8
    SHORT = 9            # fewer than 5 bytes between two ENDs
    BAD_ARGUMENT = 10    # e.g. MEMSTAT with an op other than STATUS/COUNTS/CLEAR


#: Error codes of frames the chip could not read; their replies carry op 0.
FRAMING_ERRORS = frozenset({Error.BAD_CRC, Error.BAD_LENGTH, Error.TOO_LONG,
                            Error.BAD_ESCAPE, Error.SHORT})
#: Bytes of a SYNC nonce.
SYNC_BYTES = 4

#: IDENTIFY reply fields, in order: (name, bytes).
IDENTITY = (("version", 1), ("config_hash", 8), ("build_id", 4), ("word_bytes", 1),
            ("packet_bytes", 1), ("memories", 2), ("width", 1), ("height", 1),
            ("max_payload", 2))


class ProtocolError(RuntimeError):
    """The chip answered with an error frame, or with something unexpected."""


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (check value of b"123456789": 0x29B1): the standard
    library's ``binascii.crc_hqx`` (polynomial 0x1021, no reflection) from 0xFFFF."""
    return binascii.crc_hqx(bytes(data), crc)


def body(op: int, payload: bytes = b"") -> bytes:
    """The unescaped frame body: op, length, payload, CRC."""
    head = struct.pack("<BH", op, len(payload)) + bytes(payload)
    return head + struct.pack(">H", crc16(head))


def encode_frame(op: int, payload: bytes = b"") -> bytes:
    """A whole frame on the wire (leading and trailing END)."""
    out = bytearray([END])
    for b in body(op, payload):
        if b == END:
            out += bytes([ESC, ESC_END])
        elif b == ESC:
            out += bytes([ESC, ESC_ESC])
        else:
            out.append(b)
    out.append(END)
    return bytes(out)


class FrameDecoder:
    """Incremental SLIP decoder: ``feed(bytes)`` returns the complete frames received
    as ``(op, payload)`` or, for a frame that is damaged, ``(None, Error)``."""

    def __init__(self, max_payload: int = 1 << 16):
        self.max_payload = max_payload
        self._buf = bytearray()
        self._esc = False
        self._bad_escape = False

    def feed(self, data: bytes) -> list:
        frames = []
        for b in data:
            if b == END:
                # an ESC right before END escapes nothing: a bad escape (as in the RTL)
                self._bad_escape |= self._esc
                if self._buf or self._bad_escape:
                    frames.append(self._finish())
                self._buf, self._esc, self._bad_escape = bytearray(), False, False
            elif self._esc:
                self._esc = False
                if b == ESC_END:
                    self._buf.append(END)
                elif b == ESC_ESC:
                    self._buf.append(ESC)
                else:
                    # kept, as the RTL keeps it: it counts towards TOO_LONG
                    self._buf.append(b)
                    self._bad_escape = True
            elif b == ESC:
                self._esc = True
            else:
                self._buf.append(b)
        return frames

    def _finish(self):
        b = bytes(self._buf)
        if len(b) > self.max_payload + OVERHEAD:
            return None, Error.TOO_LONG
        if self._bad_escape:
            return None, Error.BAD_ESCAPE
        if len(b) < OVERHEAD:
            return None, Error.SHORT
        if crc16(b) != 0:
            return None, Error.BAD_CRC
        op, length = struct.unpack("<BH", b[:3])
        if length != len(b) - OVERHEAD:
            return None, Error.BAD_LENGTH
        return op, b[3:-2]


def host_geometry(config: ChipConfig) -> dict:
    """Byte sizes on the wire, derived from the config alone (the driver and the golden
    host use them; :class:`hw.host.HostChip` checks that its chip agrees):
    ``word_bytes`` (a memory word, from the memory bus's data width ``data_bits``),
    ``packet_bytes``, ``memories`` and their ``depths`` (directory order), and the
    counter words' ``chip_counter_bytes`` and ``core_counter_bytes``."""
    specs = chip_memories(config)
    _, data_bits = bus_widths(specs, config)
    cb = config.core.counter_bits
    return {"word_bytes": -(-data_bits // 8), "data_bits": data_bits,
            "packet_bytes": -(-packet_layout(config).size // 8),
            "memories": len(specs), "depths": [s.depth for s in specs],
            "chip_counter_bytes": counter_bytes(CHIP_COUNTERS, cb),
            "core_counter_bytes": counter_bytes(CORE_COUNTERS, cb)}


_HW = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def generator_sources() -> tuple[Path, ...]:
    """The ``hw`` source files the chip behind the host interface is generated from: the
    import closure of :mod:`hw.host.interface` within ``hw`` (read, not imported), sorted.
    Build and board scripts (``hw/build.py``, ``hw/pnr.py``, ``hw/synth.py``, ``boards/``)
    are not in it, so changing one changes no :func:`build_id`."""
    seen, todo = set(), [_HW / "host" / "interface.py", _HW / "host" / "__init__.py"]
    while todo:
        path = todo.pop()
        if path in seen or not path.exists():
            continue
        seen.add(path)
        pkg = path.parent
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg
                    for _ in range(node.level - 1):
                        base = base.parent
                elif node.module and node.module.split(".")[0] == "hw":
                    base = _HW.parent
                else:
                    continue
                mods = [node.module] if node.module else []
                targets = [mods] + [mods + [a.name] for a in node.names]
            elif isinstance(node, ast.Import):
                base = _HW.parent
                targets = [[a.name] for a in node.names if a.name.split(".")[0] == "hw"]
            else:
                continue
            for parts in targets:
                where = base.joinpath(*".".join(parts).split(".")) if parts else base
                # a package's __init__ runs before any of its modules
                for up in [where, *where.parents]:
                    if up == _HW.parent or _HW not in [up, *up.parents]:
                        break
                    todo.append(up / "__init__.py")
                todo.append(where.with_suffix(".py"))
    return tuple(sorted(seen))


def build_id(config: ChipConfig) -> int:
    """32-bit id of (configuration, RTL generator source, :func:`generator_sources`): two
    builds answer IDENTIFY alike only if they come from the same config and the same
    generator."""
    h = hashlib.sha256(config.hash.encode())
    for path in generator_sources():
        h.update(str(path.relative_to(_HW)).encode())
        h.update(path.read_bytes())
    return int.from_bytes(h.digest()[:4], "little")
