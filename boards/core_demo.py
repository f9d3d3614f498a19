"""The board demo of one neurocore (``python -m hw.build --board B --design core``): the
network it bakes in, compiled for the board's core.

:class:`hw.core_demo.CoreDemo` is the hardware (the core, an LFSR input sequencer, a
routing ROM feeding spikes back, LEDs); it takes a compiled core image. The image comes
from here, because compiling is the toolchain's job (:mod:`sw.toolchain.compiler`) and
the generators in ``hw`` never import ``sw``: the board layer is where hardware and
software meet.
"""

from __future__ import annotations

import numpy as np

from hw.spec.config import ChipConfig

__all__ = ["demo_network", "demo_image", "design"]


def demo_network(config: ChipConfig):
    """16 inputs -> 32 LIF -> 4 LIF, fixed seed, sized to fit any default-sized core."""
    from sw.toolchain.network import Layer, Network, Neuron
    rng = np.random.default_rng(2026)
    return Network(16, [
        Layer("hidden", 32, Neuron("lif", threshold=60, leak_mult=230, leak_shift=8),
              {"input": rng.integers(-10, 40, (16, 32))}),
        Layer("out", 4, Neuron("lif", threshold=50, leak_mult=220, leak_shift=8,
                               reset="subtract"),
              {"hidden": rng.integers(-8, 20, (32, 4))}),
    ])


def demo_image(config: ChipConfig):
    """:func:`demo_network` compiled for one core of ``config``
    (a :class:`sw.toolchain.compiler.CoreImage`)."""
    from sw.toolchain.compiler import compile_core
    return compile_core(demo_network(config), config)


def design(config: ChipConfig, directory=None, *, period: int = 1 << 20):
    """The demo's :class:`~hw.core_demo.CoreDemo` with the compiled image baked in."""
    from hw.core_demo import CoreDemo
    return CoreDemo(config, demo_image(config), directory, period=period)
