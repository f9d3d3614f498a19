"""The memory map: every memory of a chip, with structured names, in directory order.

A memory's name is hierarchical, ``{tile}.{part}...``: ``tile1_0.lane2.acc`` is lane 2's
accumulator bank in the core of tile (1, 0); ``core.microcode`` is a stand-alone core's
microcode (prefix ``core``). :class:`MemoryName` is that string (the memory directory's
key, unchanged in JSON and on the host link) with its parts parsed, so that code asks
``name.kind == "acc"`` or ``name.lane`` instead of testing suffixes, as amaranth-soc's
``MemoryMap.Name`` is a tuple of parts rather than a dotted string.

Directory order is the order of the memory bus and of the host protocol's memory index:
tiles row by row (:func:`tile_coords`), within a tile the core's memories
(:func:`core_memories` or :func:`sdsp_memories`), then ``route_table`` and ``dest_table``.
"""

from __future__ import annotations

import re

from .config import ChipConfig, DelayUnit
from .delay import entry_layout
from .isa import Isa
from .packet import dest_layout, route_layout
from .sdsp import control_layout, neuron_layout, param_layout, synapse_layout

__all__ = ["MemoryName", "MemorySpec", "core_memories", "sdsp_memories", "queue_memory",
           "tile_prefix", "tile_coords", "sdsp_tiles", "core_tiles", "tile_memories",
           "chip_memories", "state_clears", "LANE_KINDS"]

#: The banks every lane of a neurocore has, in directory order.
LANE_KINDS = ("weights", "acc", "state")

_TILE = re.compile(r"tile(\d+)_(\d+)")
_LANE = re.compile(r"lane(\d+)")


class MemoryName(str):
    """A memory's hierarchical name: the dotted string itself, with its parts parsed.

    * :attr:`parts`: the dot-separated parts, ``("tile1_0", "lane2", "acc")``;
    * :attr:`prefix`: the first part (a tile's ``tile{x}_{y}`` or a core's own prefix);
    * :attr:`tile`: ``(x, y)`` when the prefix is a tile's, else ``None``;
    * :attr:`lane`: the lane number of a lane bank, else ``None``;
    * :attr:`kind`: the last part (``acc``, ``microcode``, ``route_table``, ...).

    Build names with :meth:`of` / :meth:`lane_bank` rather than f-strings.
    """

    __slots__ = ()

    @classmethod
    def of(cls, prefix: str, *parts: str) -> "MemoryName":
        return cls(".".join((str(prefix),) + tuple(str(p) for p in parts)))

    @classmethod
    def lane_bank(cls, prefix: str, lane: int, kind: str) -> "MemoryName":
        """``{prefix}.lane{lane}.{kind}``; ``kind`` one of :data:`LANE_KINDS`."""
        if kind not in LANE_KINDS:
            raise ValueError(f"lane bank kind must be one of {LANE_KINDS}, not {kind!r}")
        return cls.of(prefix, f"lane{int(lane)}", kind)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.split("."))

    @property
    def prefix(self) -> str:
        return self.parts[0]

    @property
    def kind(self) -> str:
        return self.parts[-1]

    @property
    def tile(self) -> tuple[int, int] | None:
        m = _TILE.fullmatch(self.prefix)
        return (int(m[1]), int(m[2])) if m else None

    @property
    def lane(self) -> int | None:
        for p in self.parts[1:-1]:
            m = _LANE.fullmatch(p)
            if m:
                return int(m[1])
        return None

    def __repr__(self):
        return f"MemoryName({str(self)!r})"


class MemorySpec:
    """One memory: :class:`MemoryName`, role (``weights``, ``state``, ``tables``,
    ``microcode``, ``delay``: what selects its protection), data width (bits) and depth
    (words)."""

    __slots__ = ("name", "role", "width", "depth")

    def __init__(self, name, role, width, depth):
        self.name = MemoryName(name)
        self.role, self.width, self.depth = role, width, depth

    def __repr__(self):
        return f"MemorySpec({str(self.name)!r}, {self.role!r}, {self.width}, {self.depth})"


def queue_memory(config: ChipConfig, prefix: str = "core") -> MemorySpec:
    """The SCDQ's FaultSRAM: ``{prefix}.delay_queue``, role ``delay``, one
    :func:`hw.spec.delay.entry_layout` word per entry."""
    return MemorySpec(MemoryName.of(prefix, "delay_queue"), "delay",
                      entry_layout(config).size, config.delay.capacity)


def core_memories(isa: Isa, prefix: str) -> list[MemorySpec]:
    """The memories of one neurocore, in directory order.

    ``{prefix}.microcode``, ``.axon_table``, ``.layer_table``, ``.target_table``, then
    per lane ``l``: ``.lane{l}.weights``, ``.lane{l}.acc``, ``.lane{l}.state``, then with
    the SCDQ ``.delay_queue``.
    """
    c = isa.core
    n = MemoryName.of
    specs = [
        MemorySpec(n(prefix, "microcode"), "microcode", isa.instruction.size, c.microcode_depth),
        MemorySpec(n(prefix, "axon_table"), "tables", isa.job.size, c.axons * isa.groups),
        MemorySpec(n(prefix, "layer_table"), "tables", isa.layer.size, c.layers),
        MemorySpec(n(prefix, "target_table"), "tables", isa.target_bits, c.synapse_rows),
    ]
    bank = MemoryName.lane_bank
    for lane in range(c.lanes):
        specs += [
            MemorySpec(bank(prefix, lane, "weights"), "weights", c.weight_bits, c.synapse_rows),
            MemorySpec(bank(prefix, lane, "acc"), "state", c.acc_bits,
                       c.neuron_rows * isa.acc_slots),
            MemorySpec(bank(prefix, lane, "state"), "state", isa.state.size, c.neuron_rows),
        ]
    if isa.unit is DelayUnit.SCDQ:
        specs.append(queue_memory(ChipConfig(core=c, delay=isa.delay), prefix))
    return specs


def sdsp_memories(config: ChipConfig, prefix: str) -> list[MemorySpec]:
    """The memories of one SDSP core, in directory order (see :mod:`hw.spec.sdsp`)."""
    s = config.sdsp
    L, K = s.lanes, s.words
    n = MemoryName.of
    return [
        MemorySpec(n(prefix, "synapses"), "weights", L * synapse_layout(s).size,
                   s.neurons * K),
        MemorySpec(n(prefix, "neurons"), "state", L * neuron_layout(s).size, K),
        MemorySpec(n(prefix, "params"), "state", L * param_layout(s).size, K),
        MemorySpec(n(prefix, "signs"), "tables", L, K),
        MemorySpec(n(prefix, "control"), "tables", control_layout().size, 1),
    ]


def tile_prefix(x: int, y: int) -> str:
    """The name prefix of tile (x, y)'s memories: ``tile{x}_{y}``."""
    return f"tile{x}_{y}"


def tile_coords(config: ChipConfig):
    """Tiles in directory order: row by row (y), then x."""
    return [(x, y) for y in range(config.noc.height) for x in range(config.noc.width)]


def sdsp_tiles(config: ChipConfig) -> list:
    """The plastic (SDSP) tiles: the last ``sdsp.tiles`` in directory order."""
    coords = tile_coords(config)
    return coords[len(coords) - config.sdsp.tiles:] if config.sdsp.tiles else []


def core_tiles(config: ChipConfig) -> list:
    """The neurocore tiles, in directory order."""
    plastic = set(sdsp_tiles(config))
    return [xy for xy in tile_coords(config) if xy not in plastic]


def tile_memories(config: ChipConfig, x: int, y: int) -> list[MemorySpec]:
    """The core's memories (a neurocore's or an SDSP core's), then ``route_table`` (one
    entry per neuron of the core) and ``dest_table``."""
    p = tile_prefix(x, y)
    if (x, y) in sdsp_tiles(config):
        core, neurons = sdsp_memories(config, p), config.sdsp.neurons
    else:
        core, neurons = core_memories(Isa.of(config), p), config.core.neurons
    return core + [
        MemorySpec(MemoryName.of(p, "route_table"), "tables", route_layout(config).size, neurons),
        MemorySpec(MemoryName.of(p, "dest_table"), "tables", dest_layout(config).size, config.noc.routes),
    ]


def chip_memories(config: ChipConfig) -> list[MemorySpec]:
    """Every memory of the chip, in directory order (the host protocol's memory index)."""
    return [s for x, y in tile_coords(config) for s in tile_memories(config, x, y)]


def state_clears(config: ChipConfig) -> list[tuple[int, int]]:
    """What the host command ``CLEAR_STATE`` does, as ``(memory index, keep mask)`` in
    the order it visits them: every neurocore lane's accumulators (keep nothing: each
    word becomes 0) and neuron records (keep ``p0`` and ``p1``, the bias and threshold:
    ``v`` and ``u`` become 0), in directory order. SDSP tiles and delay queues are not
    in it: their state is rewritten or reset by other commands."""
    isa = Isa.of(config)
    keep = 0
    for f in ("p0", "p1"):
        field = isa.state[f]
        keep |= ((1 << field.width) - 1) << field.offset
    masks = {"acc": 0, "state": keep}
    return [(i, masks[s.name.kind]) for i, s in enumerate(chip_memories(config))
            if s.name.lane is not None and s.name.kind in masks]
