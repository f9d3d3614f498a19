"""Board demo of one neurocore: a network baked into the memories, running on its own.

This is what ``python -m hw.build`` puts on a board with ``--design core`` (a board
check that needs no host; the default design is the chip behind its UART host link,
:mod:`hw.host.board`): the resource estimate synthesizes the bare :class:`Neurocore` (its
host-facing ports kept as module ports, so nothing is optimised away), while the
board's bitstream plan gets this wrapper, which needs no host:

* a compiled core image (``image``: :func:`boards.core_demo.demo_image` compiles the
  demo network; any :class:`sw.toolchain.compiler.CoreImage` with 16 inputs and at most
  4 output neurons will do) is loaded as memory initial contents;
* every ``period`` cycles one timestep runs: the inputs whose bit is set in a 16-bit
  LFSR (stepped once per timestep) send an event with payload 1, then a tick. Input
  events pass through a two-entry FIFO with registered outputs, so the core's event
  input is driven from flip-flops, as on the chip (where it comes from the router), and
  the sequencer's bit select is not timed together with the core's task logic;
* spikes of neurons that feed other layers return to the core as events on their axon
  (a routing ROM) through a FIFO deep enough for every neuron, so the core never waits
  on its own output; they integrate at the next timestep, as the timing rules say;
* each spike of output neuron ``i`` toggles ``leds[i]``.
"""

import numpy as np
from amaranth import Module, Mux, Signal
from amaranth.lib import data, fifo, wiring
from amaranth.lib.wiring import Out

from .spec.config import ChipConfig
from .core import Neurocore
from .spec.isa import Isa

__all__ = ["CoreDemo", "lfsr_inputs"]

LFSR_TAPS = 0xB400   # x^16 + x^14 + x^13 + x^11 + 1 (maximal length, Galois form)
LFSR_SEED = 0xACE1


def lfsr_inputs(steps: int):
    """The demo's input events per timestep (what the hardware LFSR produces)."""
    state, out = LFSR_SEED, []
    for _ in range(steps):
        state = (state >> 1) ^ (LFSR_TAPS if state & 1 else 0)
        out.append([(i, 1) for i in range(16) if state >> i & 1])
    return out


class CoreDemo(wiring.Component):
    """See the module docstring. ``image``: the compiled core image to bake in (its
    ``images``, ``neurons["out"]``, ``routes`` and ``input_axons``); ``out_spikes`` counts
    output-layer spikes."""

    leds: Out(4)

    def __init__(self, config: ChipConfig, image, directory=None, *, period: int = 1 << 20):
        if len(image.input_axons) < 16 or len(image.neurons["out"]) > 4:
            raise ValueError(f"CoreDemo: the image needs 16 inputs and an 'out' layer of at "
                             f"most 4 neurons (the LFSR bits and LEDs), not "
                             f"{len(image.input_axons)} inputs and "
                             f"{len(image.neurons['out'])} outputs")
        self.config, self.period = config, period
        self.image = image
        self.core = Neurocore(config, directory=directory, images=self.image.images)
        self.out_spikes = Signal(32)
        self.steps = Signal(32)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        c, img = self.config.core, self.image
        isa = Isa(c)
        m.submodules.core = core = self.core
        m.d.comb += core.spikes.ready.eq(1)

        # spikes -> routing ROM -> feedback FIFO, or LED toggles
        m.submodules.feedback = fb = fifo.SyncFIFOBuffered(width=isa.event.size,
                                                           depth=c.neurons)
        fb_in = data.View(isa.event, fb.w_data)
        out_ids = {int(n): i for i, n in enumerate(img.neurons["out"])}
        with m.If(core.spikes.valid):
            with m.Switch(core.spikes.payload.neuron):
                for n, axon in img.routes.items():
                    with m.Case(n):
                        m.d.comb += [fb_in.axon.eq(axon), fb_in.payload.eq(1), fb.w_en.eq(1)]
                for n, i in out_ids.items():
                    with m.Case(n):
                        m.d.sync += [self.leds[i].eq(~self.leds[i]),
                                     self.out_spikes.eq(self.out_spikes + 1)]

        # timestep sequencer
        lfsr = Signal(16, init=LFSR_SEED)
        bit = Signal(range(17))
        timer = Signal(range(self.period + 1))
        ev = core.events.payload
        m.submodules.inputs = inq = fifo.SyncFIFOBuffered(width=isa.event.size, depth=2)
        in_ev = data.View(isa.event, inq.w_data)

        def feed(use_inputs):
            # input events first, then the fed-back spikes
            m.d.comb += [ev.eq(Mux(use_inputs, inq.r_data, fb.r_data)),
                         core.events.valid.eq(Mux(use_inputs, inq.r_rdy, fb.r_rdy)),
                         inq.r_en.eq(use_inputs & core.events.ready),
                         fb.r_en.eq(~use_inputs & core.events.ready)]

        with m.FSM():
            with m.State("WAIT"):
                feed(0)
                m.d.sync += timer.eq(timer + 1)
                with m.If(timer == self.period - 1):
                    m.d.sync += [timer.eq(0), bit.eq(0)]
                    with m.If(lfsr[0]):
                        m.d.sync += lfsr.eq((lfsr >> 1) ^ LFSR_TAPS)
                    with m.Else():
                        m.d.sync += lfsr.eq(lfsr >> 1)
                    m.next = "INPUTS"
            with m.State("INPUTS"):
                feed(1)
                axons = img.input_axons
                with m.Switch(bit):
                    for i in range(16):
                        with m.Case(i):
                            m.d.comb += in_ev.axon.eq(int(axons[i]))
                send = Signal()
                m.d.comb += [send.eq(lfsr.bit_select(bit, 1) & (bit != 16)),
                             in_ev.payload.eq(1), inq.w_en.eq(send)]
                with m.If(bit == 16):
                    m.next = "DRAIN"
                with m.Elif(~send | inq.w_rdy):
                    m.d.sync += bit.eq(bit + 1)
            with m.State("DRAIN"):
                feed(inq.r_rdy)
                with m.If((inq.level == 0) & ~fb.r_rdy & (fb.level == 0) & core.idle):
                    m.next = "TICK"
            with m.State("TICK"):
                m.d.comb += core.tick.valid.eq(1)
                with m.If(core.tick.ready):
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(core.tick_done):
                    m.d.sync += self.steps.eq(self.steps + 1)
                    m.next = "WAIT"
        return m
