"""Network-on-chip: packets, routers, the mesh, and tiles."""

from .mesh import Mesh
from .packet import Port, packet_layout
from .router import Router

__all__ = ["Mesh", "Router", "Port", "packet_layout"]
