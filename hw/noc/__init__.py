"""Network-on-chip: routers, the mesh, and the route expander; packet and route formats
are in :mod:`hw.spec.packet`."""

from .mesh import Mesh
from .router import Router

__all__ = ["Mesh", "Router"]
