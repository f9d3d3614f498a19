"""Chip configuration: the single source of truth for every width and size.

Every block of the chip (RTL in ``hw``, golden models in ``sim``, compiler and driver in
``sw``) takes its numbers from one frozen :class:`ChipConfig` tree. Nothing restates a
width by hand.

Each field carries its allowed range in its metadata; construction validates every field
and the cross-field rules, and raises :class:`ConfigError` naming the field (as a dotted
path such as ``core.lanes``), the value and what is allowed.

Configurations load from and save to TOML or JSON::

    cfg = ChipConfig.load("my_chip.toml")
    cfg.save("out.json")
    cfg.replace(core=cfg.core.replace(lanes=8))

A TOML file only needs the fields it changes::

    [core]
    lanes = 8

    [memory.protection]
    weights = "secded"
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

__all__ = [
    "ConfigError", "Protection", "ProtectionConfig", "MemoryConfig", "CoreConfig",
    "NocConfig", "HostConfig", "DelayConfig", "DelayUnit", "SdspConfig", "ChipConfig",
]


class ConfigError(ValueError):
    """A configuration value is invalid. ``path`` is the dotted field name."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


class Protection(enum.Enum):
    """Error protection of a memory's stored words."""

    #: Stored word = data word.
    NONE = "none"
    #: One even-parity bit: detects any odd number of flipped bits.
    PARITY = "parity"
    #: Extended Hamming code: corrects one flipped bit, detects two.
    SECDED = "secded"


class DelayUnit(enum.Enum):
    """How a core implements synaptic delays (:mod:`hw.delay`)."""

    #: No delay hardware: every synapse has delay 0 (the axon table has no groups).
    NONE = "none"
    #: Shared circular delay queue: delayed events are stored once per delay group and
    #: drained into the integrate path at their timestep (memory scales with activity).
    SCDQ = "scdq"
    #: Ring buffer (Loihi-style): every lane's accumulator bank holds ``slots`` future
    #: accumulators per neuron; a delayed synapse adds into the slot of its timestep.
    RING = "ring"


def _field(default, *, lo=None, hi=None, pow2=False, doc=""):
    """A config field with its allowed range (inclusive) stored in the metadata."""
    return field(default=default, metadata={"lo": lo, "hi": hi, "pow2": pow2, "doc": doc})


def _is_pow2(v: int) -> bool:
    return v > 0 and v & (v - 1) == 0


class _ConfigBase:
    """Validation, (de)serialisation and ``replace`` shared by every config dataclass."""

    _prefix: str = ""  # dotted path of this node, set while loading nested configs

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            path = self._path(f.name)
            kind = hints[f.name]
            if isinstance(kind, type) and issubclass(kind, enum.Enum):
                if not isinstance(value, kind):
                    try:
                        value = kind(value)
                    except ValueError:
                        allowed = ", ".join(repr(m.value) for m in kind)
                        raise ConfigError(path, f"{value!r} is not one of {allowed}") from None
                    object.__setattr__(self, f.name, value)
            elif kind is int:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ConfigError(path, f"must be an integer, not {value!r}")
                lo, hi, pow2 = f.metadata.get("lo"), f.metadata.get("hi"), f.metadata.get("pow2")
                if pow2 and not _is_pow2(value) or (lo is not None and value < lo) \
                        or (hi is not None and value > hi):
                    what = "a power of two" if pow2 else "an integer"
                    raise ConfigError(path, f"{value} is out of range: must be {what} in {lo}..{hi}")
            elif kind is bool:
                if not isinstance(value, bool):
                    raise ConfigError(path, f"must be true or false, not {value!r}")
            elif isinstance(kind, type) and issubclass(kind, _ConfigBase):
                if not isinstance(value, kind):
                    raise ConfigError(path, f"must be a {kind.__name__}, not {value!r}")
        self._check()

    def _path(self, name: str) -> str:
        return f"{self._prefix}{name}" if self._prefix else f"{type(self).__name__}.{name}"

    def _check(self):
        """Cross-field rules; subclasses override."""

    def _fail(self, name: str, message: str):
        raise ConfigError(self._path(name), message)

    # -- (de)serialisation -------------------------------------------------------------

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, _ConfigBase):
                value = value.to_dict()
            elif isinstance(value, enum.Enum):
                value = value.value
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict, *, prefix: str = ""):
        """Build from a (possibly partial) dict; missing fields keep their defaults."""
        if not isinstance(data, dict):
            raise ConfigError(prefix.rstrip(".") or cls.__name__,
                              f"must be a table of fields, not {data!r}")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in data.items():
            if key not in names:
                raise ConfigError(f"{prefix}{key}",
                                  f"unknown field; {cls.__name__} has: {', '.join(sorted(names))}")
            kind = hints[key]
            if isinstance(kind, type) and issubclass(kind, _ConfigBase):
                value = kind.from_dict(value, prefix=f"{prefix}{key}.")
            kwargs[key] = value
        return cls._build(kwargs, prefix)

    @classmethod
    def _build(cls, kwargs: dict, prefix: str):
        # The prefix only decorates error messages while this node is constructed.
        old = cls._prefix
        cls._prefix = prefix
        try:
            return cls(**kwargs)
        finally:
            cls._prefix = old

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ProtectionConfig(_ConfigBase):
    """Error protection per memory role."""

    #: Synaptic weights.
    weights: Protection = Protection.NONE
    #: Neuron state (membrane, accumulators, parameters).
    state: Protection = Protection.NONE
    #: Axon and routing tables.
    tables: Protection = Protection.NONE
    #: Loop-controller microcode.
    microcode: Protection = Protection.NONE
    #: Anything not named above.
    other: Protection = Protection.NONE

    def for_role(self, role: str) -> Protection:
        return getattr(self, role) if role in {f.name for f in dataclasses.fields(self)} \
            else self.other


@dataclass(frozen=True)
class MemoryConfig(_ConfigBase):
    """Parameters shared by every FaultSRAM of the chip."""

    #: Stuck-at faults each memory holds at once (0 disables stuck-at injection). Each
    #: slot costs about ``stored_width`` flip-flops and two LUTs per stored bit.
    fault_slots: int = _field(1, lo=0, hi=64)
    #: Width of the corrected/detected/overflow counters of each memory, in bits.
    counter_bits: int = _field(16, lo=1, hi=32)
    protection: ProtectionConfig = field(default_factory=ProtectionConfig)


@dataclass(frozen=True)
class CoreConfig(_ConfigBase):
    """Sizes and number formats of one neurocore. All widths are in bits."""

    #: SIMD lanes (NPEs); neuron n lives in lane/bank n mod lanes.
    lanes: int = _field(4, lo=1, hi=64, pow2=True)
    #: Neurons per core.
    neurons: int = _field(256, lo=1, hi=65536)
    #: Input axons per core.
    axons: int = _field(256, lo=1, hi=65536)
    #: Synapse memory words per core (all banks together).
    synapses: int = _field(8192, lo=1, hi=1 << 22)
    #: Weight width (two's complement).
    weight_bits: int = _field(8, lo=2, hi=16)
    #: Event payload width (two's complement). A binary spike is the payload value 1,
    #: so the narrowest width is 2 (range -2..1).
    payload_bits: int = _field(8, lo=1, hi=16)
    #: Input accumulator width (two's complement).
    acc_bits: int = _field(24, lo=4, hi=48)
    #: Membrane state width (two's complement, saturating). Neuron parameters and NPE
    #: registers have this width too.
    state_bits: int = _field(16, lo=2, hi=24)
    #: Architectural counter width.
    counter_bits: int = _field(32, lo=8, hi=48)
    #: Layers (neuron groups with their own program) per core: layer-table entries.
    layers: int = _field(8, lo=1, hi=64)
    #: Microcode words.
    microcode_depth: int = _field(64, lo=8, hi=1024, pow2=True)
    #: NPE registers per lane.
    regs: int = _field(4, lo=1, hi=16)
    #: ALU slots of the NPE's neuron-update pipeline (one operation each).
    slots: int = _field(8, lo=1, hi=16)
    #: Leading slots that have a multiplier and a barrel shifter (MUL, SRA).
    mul_slots: int = _field(1, lo=0, hi=16)
    #: Input event FIFO depth.
    event_fifo_depth: int = _field(16, lo=2, hi=1024, pow2=True)
    #: Output spike FIFO depth. On a chip it must hold every spike of one tick (at least
    #: ``neurons``): a tick then always completes, whatever the network is doing, which
    #: keeps the mesh free of deadlock.
    out_fifo_depth: int = _field(256, lo=2, hi=65536, pow2=True)

    # -- derived sizes (never restated elsewhere) ---------------------------------------

    @property
    def neuron_rows(self) -> int:
        """Rows of each lane's neuron banks: neuron n is at row n // lanes."""
        return self.neurons // self.lanes

    @property
    def synapse_rows(self) -> int:
        """Rows of each lane's weight bank."""
        return self.synapses // self.lanes

    @property
    def alu_bits(self) -> int:
        """NPE datapath width: an accumulator or a state value plus one bit of headroom.

        Products are formed at full width and shifted (``MUL``'s ``mul_shift``) before
        they are wrapped to this width.
        """
        return max(self.acc_bits, self.state_bits) + 1

    @property
    def row_bits(self) -> int:
        """Address width of the address generators (the larger bank)."""
        return max(1, (max(self.neuron_rows, self.synapse_rows) - 1).bit_length())

    @property
    def count_bits(self) -> int:
        """Loop-count width: counts up to the larger bank's rows."""
        return max(self.neuron_rows, self.synapse_rows).bit_length()

    @property
    def pc_bits(self) -> int:
        return max(1, (self.microcode_depth - 1).bit_length())

    @property
    def axon_bits(self) -> int:
        return max(1, (self.axons - 1).bit_length())

    @property
    def neuron_bits(self) -> int:
        return max(1, (self.neurons - 1).bit_length())

    def _check(self):
        if self.neurons % self.lanes:
            self._fail("neurons", f"{self.neurons} is not a multiple of lanes ({self.lanes})")
        if self.synapses % self.lanes:
            self._fail("synapses", f"{self.synapses} is not a multiple of lanes ({self.lanes})")
        if self.payload_bits < 2:
            # Refused rather than wrapped: a 1-bit two's-complement payload holds only
            # -1 and 0, so every binary spike (payload 1) would integrate as -1.
            self._fail("payload_bits", f"{self.payload_bits} cannot carry a binary spike: "
                                       "payloads are two's complement and a spike is +1, "
                                       "which needs at least 2 bits")
        if self.acc_bits < self.weight_bits + self.payload_bits:
            self._fail("acc_bits", f"{self.acc_bits} is below weight_bits + payload_bits "
                                   f"({self.weight_bits + self.payload_bits}): one product "
                                   "would not fit")
        if self.state_bits > self.acc_bits:
            self._fail("state_bits", f"{self.state_bits} exceeds acc_bits ({self.acc_bits})")
        if self.mul_slots > self.slots:
            self._fail("mul_slots", f"{self.mul_slots} exceeds slots ({self.slots})")
        if self.payload_bits > self.state_bits:
            self._fail("payload_bits", f"{self.payload_bits} exceeds state_bits "
                                       f"({self.state_bits})")


@dataclass(frozen=True)
class NocConfig(_ConfigBase):
    """Mesh network-on-chip."""

    #: Mesh columns.
    width: int = _field(1, lo=1, hi=16)
    #: Mesh rows.
    height: int = _field(1, lo=1, hi=16)
    #: Router input FIFO depth in flits.
    fifo_depth: int = _field(4, lo=2, hi=256, pow2=True)
    #: Destination-list entries per core (each fired neuron sends one packet per entry
    #: of its list: multicast by replication at the source).
    routes: int = _field(4096, lo=1, hi=1 << 20)

    @property
    def x_bits(self) -> int:
        return max(1, (self.width - 1).bit_length())

    @property
    def y_bits(self) -> int:
        return max(1, (self.height - 1).bit_length())

    @property
    def tiles(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class DelayConfig(_ConfigBase):
    """Synaptic delays (:mod:`hw.delay`)."""

    #: Time slots D of the delay queue: delays 1 .. D-1 timesteps (0 bypasses it).
    slots: int = _field(16, lo=2, hi=256, pow2=True)
    #: Entries of the shared circular delay queue (one per delayed event in flight).
    capacity: int = _field(256, lo=2, hi=65536)
    #: Delay groups per axon (distinct delays of one axon's synapses).
    groups: int = _field(4, lo=1, hi=256, pow2=True)
    #: The cores' delay hardware; ``none`` builds cores without any.
    unit: DelayUnit = DelayUnit.NONE

    @property
    def enabled(self) -> bool:
        return self.unit is not DelayUnit.NONE


@dataclass(frozen=True)
class SdspConfig(_ConfigBase):
    """ODIN-style plastic crossbar tiles (:mod:`hw.sdsp`). All widths are in bits.

    The defaults are ODIN's: 256 neurons, 3-bit weights plus a mapping bit, 8-bit
    membranes and thresholds, 3-bit calcium, a 32-entry input queue.
    """

    #: Plastic tiles in the mesh: the last ``tiles`` tiles in directory order (row by
    #: row, then x) are SDSP cores; the others are neurocores.
    tiles: int = _field(0, lo=0, hi=256)
    #: Neurons N of one SDSP core (and pre-synaptic sources: an N x N crossbar).
    neurons: int = _field(256, lo=2, hi=4096, pow2=True)
    #: Synapses (and neurons) processed per cycle: one synapse-memory word.
    lanes: int = _field(8, lo=1, hi=64, pow2=True)
    #: Unsigned weight width (a mapping bit is stored next to each weight).
    weight_bits: int = _field(3, lo=1, hi=8)
    #: Unsigned membrane width; thresholds, leak and theta_m have it too.
    membrane_bits: int = _field(8, lo=2, hi=16)
    #: Unsigned calcium width; theta_1..3 have it too.
    calcium_bits: int = _field(3, lo=1, hi=8)
    #: Width of the calcium-leak period (time references per calcium decrement).
    period_bits: int = _field(8, lo=1, hi=16)
    #: Input event FIFO depth (a full FIFO back-pressures the sender; nothing is dropped).
    event_fifo_depth: int = _field(32, lo=2, hi=1024, pow2=True)
    #: Output spike FIFO depth (a full FIFO stalls the core).
    out_fifo_depth: int = _field(16, lo=2, hi=4096, pow2=True)

    @property
    def enabled(self) -> bool:
        return self.tiles > 0

    @property
    def index_bits(self) -> int:
        """Width of a neuron index."""
        return max(1, (self.neurons - 1).bit_length())

    @property
    def words(self) -> int:
        """Synapse-memory words per pre-synaptic row (and state words per core)."""
        return self.neurons // self.lanes

    @property
    def synapse_bits(self) -> int:
        """Stored bits per synapse: the weight and its mapping bit."""
        return self.weight_bits + 1

    def _check(self):
        if self.lanes > self.neurons:
            self._fail("lanes", f"{self.lanes} exceeds neurons ({self.neurons})")


@dataclass(frozen=True)
class HostConfig(_ConfigBase):
    """Host interface (:mod:`hw.host`)."""

    #: Largest frame payload in bytes the chip accepts (its frame buffer holds
    #: ``max_payload + 5`` bytes); longer frames get a TOO_LONG error reply.
    max_payload: int = _field(1024, lo=64, hi=65535)
    #: UART baud rate on boards (the divisor comes from the board clock).
    baud: int = _field(115200, lo=1200, hi=12_000_000)
    #: Output-event FIFO between the chip's host port and the transmitter, in packets.
    out_fifo_depth: int = _field(64, lo=4, hi=4096, pow2=True)


@dataclass(frozen=True)
class ChipConfig(_ConfigBase):
    """The whole chip. Every width and size of hw, sim and sw derives from this."""

    core: CoreConfig = field(default_factory=CoreConfig)
    noc: NocConfig = field(default_factory=NocConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    host: HostConfig = field(default_factory=HostConfig)
    delay: DelayConfig = field(default_factory=DelayConfig)
    sdsp: SdspConfig = field(default_factory=SdspConfig)

    def _check(self):
        s = self.sdsp
        if s.tiles > self.noc.tiles:
            raise ConfigError("sdsp.tiles", f"{s.tiles} exceeds the mesh's "
                                            f"{self.noc.tiles} tiles")
        if s.tiles and self.core.payload_bits < s.index_bits:
            raise ConfigError("core.payload_bits",
                              f"{self.core.payload_bits} is below sdsp's neuron index width "
                              f"({s.index_bits}): a single-synapse event carries the "
                              "post-synaptic neuron in the payload")

    @property
    def hash(self) -> str:
        """Stable 16-hex-digit digest of the whole configuration."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # -- files -------------------------------------------------------------------------

    @classmethod
    def load(cls, path) -> "ChipConfig":
        """Load from a ``.toml`` or ``.json`` file; missing fields keep their defaults."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigError(str(path), f"cannot read config file: {e.strerror}") from None
        try:
            if path.suffix == ".toml":
                data = tomllib.loads(text)
            elif path.suffix == ".json":
                data = json.loads(text)
            else:
                raise ConfigError(str(path), "config files must end in .toml or .json")
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(str(path), f"not valid {path.suffix[1:].upper()}: {e}") from None
        return cls.from_dict(data)

    def save(self, path) -> None:
        path = Path(path)
        path.write_text(self.dumps(path.suffix[1:]))

    def dumps(self, fmt: str = "toml") -> str:
        if fmt == "toml":
            return tomli_w.dumps(self.to_dict())
        if fmt == "json":
            return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        raise ConfigError("format", f"{fmt!r} is not one of 'toml', 'json'")
