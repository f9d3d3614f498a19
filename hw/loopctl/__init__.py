"""Microcoded loop controller of the neurocore."""

from .controller import JobKind, LoopController, task_layout

__all__ = ["LoopController", "JobKind", "task_layout"]
