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

from .config import ChipConfig

__all__ = ["Port", "packet_layout", "dest_layout", "route_layout"]


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
        from .sdsp import event_axon_bits
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
