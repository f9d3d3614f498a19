"""NoC formats: packets, routing-table entries and the memories of a tile.

A packet carries one event to one core (``to_host = 0``: tile ``(x, y)``, ``axon`` on
that core) or one output event to the host (``to_host = 1``: ``(x, y)`` is the *source*
tile and ``axon`` the source neuron; routers send it to tile (0, 0), whose west port
is the host's). Routing is XY: first along x, then along y; ``y`` grows southward.

Multicast is replication at the source: a fired neuron ``n`` of a tile reads
``route_table[n] = (first, count)`` and sends one packet per entry
``dest_table[first .. first + count - 1]`` (each a packet without its payload).
"""

from __future__ import annotations

import enum

from amaranth import signed
from amaranth.lib import data

from ..config import ChipConfig
from ..isa import Isa, MemorySpec, core_memories

__all__ = ["Port", "packet_layout", "dest_layout", "route_layout", "tile_prefix",
           "tile_memories", "chip_memories", "tile_coords", "sdsp_tiles", "core_tiles"]


class Port(enum.IntEnum):
    """Router ports."""

    N = 0
    E = 1
    S = 2
    W = 3
    L = 4   # the tile's core (and route expander)


def _addr_bits(config: ChipConfig) -> int:
    c, s = config.core, config.sdsp
    bits = max(c.axon_bits, c.neuron_bits)
    if s.enabled:
        from ..sdsp.format import event_axon_bits
        bits = max(bits, event_axon_bits(s))
    return bits


def dest_layout(config: ChipConfig) -> data.StructLayout:
    n = config.noc
    return data.StructLayout({"to_host": 1, "x": n.x_bits, "y": n.y_bits,
                              "axon": _addr_bits(config)})


def packet_layout(config: ChipConfig) -> data.StructLayout:
    return data.StructLayout({**dict(dest_layout(config).members),
                              "payload": signed(config.core.payload_bits)})


def route_layout(config: ChipConfig) -> data.StructLayout:
    r = config.noc.routes
    return data.StructLayout({"first": max(1, (r - 1).bit_length()), "count": r.bit_length()})


def tile_prefix(x: int, y: int) -> str:
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
        from ..sdsp.format import sdsp_memories
        core, neurons = sdsp_memories(config, p), config.sdsp.neurons
    else:
        core, neurons = core_memories(Isa.of(config), p), config.core.neurons
    return core + [
        MemorySpec(f"{p}.route_table", "tables", route_layout(config).size, neurons),
        MemorySpec(f"{p}.dest_table", "tables", dest_layout(config).size, config.noc.routes),
    ]


def chip_memories(config: ChipConfig) -> list[MemorySpec]:
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
    names = {}
    for x, y in core_tiles(config):
        p = tile_prefix(x, y)
        for lane in range(config.core.lanes):
            names[f"{p}.lane{lane}.acc"] = 0
            names[f"{p}.lane{lane}.state"] = keep
    return [(i, names[s.name]) for i, s in enumerate(chip_memories(config)) if s.name in names]
