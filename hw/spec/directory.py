"""The memory directory: every FaultSRAM of a design, by id and hierarchical name.

A :class:`MemoryDirectory` is filled as FaultSRAMs are constructed (each registers
itself, receiving the next id). It is exported as JSON with every build
(``memories.json``); the golden models, the driver and fault campaigns find memories
through it, never by re-typing an address or a width.

JSON format::

    {"format": "spikeforge-memory-directory", "version": 1,
     "config_hash": "806439576f4da974",
     "memories": [{"id": 0, "name": "core0.weights", "role": "weights", "width": 8,
                   "depth": 4096, "protection": "secded", "stored_width": 13,
                   "addr_width": 12, "read_ports": 1, "fault_slots": 4,
                   "counter_bits": 16}, ...]}
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import Protection

__all__ = ["MemoryInfo", "MemoryDirectory"]

FORMAT = "spikeforge-memory-directory"
VERSION = 1


@dataclass(frozen=True)
class MemoryInfo:
    """What software needs to know about one memory."""

    id: int
    name: str
    role: str
    width: int
    depth: int
    protection: Protection
    stored_width: int
    addr_width: int
    read_ports: int
    fault_slots: int
    counter_bits: int

    @property
    def bits(self) -> int:
        """Stored bits in the whole memory (data + check bits)."""
        return self.depth * self.stored_width

    def to_dict(self) -> dict:
        d = asdict(self)
        d["protection"] = self.protection.value
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MemoryInfo":
        d = dict(d)
        d["protection"] = Protection(d["protection"])
        return cls(**d)


class MemoryDirectory:
    """Registry of the memories of one design, in registration order (id = index)."""

    def __init__(self, config_hash: str | None = None):
        self.config_hash = config_hash
        self._infos: list[MemoryInfo] = []
        self._srams: list = []

    def add(self, sram) -> int:
        """Register a FaultSRAM; sets and returns its id. Names must be unique."""
        if any(i.name == sram.name for i in self._infos):
            raise ValueError(f"Memory name {sram.name!r} is already in the directory")
        info = MemoryInfo(
            id=len(self._infos), name=sram.name, role=sram.role, width=sram.width,
            depth=sram.depth, protection=sram.protection, stored_width=sram.stored_width,
            addr_width=sram.addr_width, read_ports=sram.read_ports,
            fault_slots=sram.fault_slots, counter_bits=sram.counter_bits)
        self._infos.append(info)
        self._srams.append(sram)
        sram.id = info.id
        return info.id

    def __len__(self):
        return len(self._infos)

    def __iter__(self):
        return iter(self._infos)

    def __getitem__(self, key) -> MemoryInfo:
        """Look up by id (int) or exact name (str)."""
        if isinstance(key, int):
            if not 0 <= key < len(self._infos):
                raise KeyError(f"No memory with id {key}; ids are 0..{len(self._infos) - 1}")
            return self._infos[key]
        for info in self._infos:
            if info.name == key:
                return info
        raise KeyError(f"No memory named {key!r}; known: {', '.join(i.name for i in self._infos)}")

    def sram(self, key):
        """The FaultSRAM component (only in the directory that built the design)."""
        if not self._srams:
            raise KeyError("This directory was loaded from JSON; it has no RTL components")
        return self._srams[self[key].id]

    def select(self, pattern: str = "*", *, role: str | None = None) -> list[MemoryInfo]:
        """Memories whose name matches a shell-style pattern (and role, if given)."""
        return [i for i in self._infos
                if fnmatch.fnmatchcase(i.name, pattern) and (role is None or i.role == role)]

    @property
    def total_bits(self) -> int:
        return sum(i.bits for i in self._infos)

    # -- JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "config_hash": self.config_hash,
                "memories": [i.to_dict() for i in self._infos]}

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path) -> "MemoryDirectory":
        d = json.loads(Path(path).read_text())
        if d.get("format") != FORMAT:
            raise ValueError(f"{path}: not a spikeforge memory directory")
        if d.get("version") != VERSION:
            raise ValueError(f"{path}: memory directory version {d.get('version')} is not "
                             f"supported (this spikeforge reads version {VERSION})")
        out = cls(d.get("config_hash"))
        out._infos = [MemoryInfo.from_dict(m) for m in d["memories"]]
        return out
