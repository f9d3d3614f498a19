"""Neural processing element: one SIMD lane of the neurocore."""

from .lane import NpeLane

__all__ = ["NpeLane"]
