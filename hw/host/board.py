"""The chip on a board: :class:`~hw.host.interface.HostChip` behind an 8N1 UART.

:class:`UartHostChip` is the top a board build instantiates: two pins (``rx_pin``,
``tx_pin``), a ``busy`` flag for an LED and a count of UART receive errors. Everything
the host does goes through the framed protocol of :mod:`hw.spec.host`.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import ChipConfig
from .interface import HostChip
from .uart import Uart

__all__ = ["UartHostChip"]


class UartHostChip(wiring.Component):
    """:class:`~hw.host.interface.HostChip` on a UART, with a receive FIFO.

    Parameters
    ----------
    config : ChipConfig
    divisor : int
        UART bit period in clock cycles (at least 4; see :func:`hw.host.uart.uart_divisor`).
    directory, images :
        Passed to :class:`~hw.host.interface.HostChip` (and on to :class:`~hw.chip.Chip`).
    rx_fifo_depth : int
        Bytes the receive FIFO holds (16 by default).

    Members
    -------
    rx_pin : ``In(1)``
        Serial input from the host, 8N1, LSB first, idle high, ``divisor`` cycles per
        bit. Asynchronous: the UART synchronises it (two flip-flops).
    tx_pin : ``Out(1)``
        Serial output to the host, same format; registered, high when idle and out of
        reset.
    busy : ``Out(1)``
        High while the host interface is busy (see :class:`HostChip`), while received
        bytes wait in the FIFO, or while the transmitter shifts out a byte (low again from
        the last cycle of the last stop bit). A byte being received on ``rx_pin`` is not
        seen until its stop bit has been sampled.
    uart_errors : ``Out(16)``
        Framing errors plus receive overruns of the UART since reset, saturating at
        0xFFFF. Zero as long as the line is clean and the host keeps to the discipline
        below.

    Attributes
    ----------
    host : HostChip
    chip : hw.chip.Chip
        ``host.chip``.
    directory :
        The chip's memory directory (``host.directory``), for the build script.
    uart : Uart

    Receive path and the request/response discipline
    -------------------------------------------------
    UART RX -> ``lib.fifo.SyncFIFOBuffered`` (``rx_fifo_depth`` bytes) -> ``HostChip.rx``.
    :class:`HostChip` takes one byte per cycle, far faster than the line delivers them
    (one byte per ``10 * divisor`` cycles), except while it holds a complete frame: from
    the frame's closing ``END`` until the executor has finished it and loaded the last
    part of the reply. For a long ``READ`` or ``RUN`` that lasts as long as the reply
    takes on the line. A host that waits for each reply before it sends the next
    command never has more than the tail of a reply in flight, and the FIFO is not needed.
    The FIFO exists for a host that sends the next command early (or keeps typing):
    ``rx_fifo_depth`` bytes, plus one in the UART's output register, are taken while the
    interface is busy, and nothing is lost.

    A host that sends more than that while a frame is still being executed loses
    bytes: the UART drops each byte that finds its output register still full, and
    counts it as an overrun in ``uart_errors``. The damaged frame then gets an error
    reply (usually BAD_CRC, SHORT or BAD_LENGTH) and the receiver resynchronises at the
    next ``END``; if the lost bytes include an ``END``, two frames merge into one error
    reply, so the host sees fewer replies than commands. Either way the interface never
    hangs and never executes a damaged command (the CRC covers every frame).
    """

    def __init__(self, config: ChipConfig, divisor: int, *, directory=None, images=None,
                 rx_fifo_depth: int = 16):
        self.config = config
        self.divisor = divisor
        # built here, not in elaborate, so that a bad divisor or config fails at once and
        # the build script can read the directory before elaboration
        self.uart = Uart(divisor, counter_bits=16)
        self.host = HostChip(config, directory=directory, images=images)
        self.chip = self.host.chip
        self.directory = self.host.directory
        self.rx_fifo_depth = rx_fifo_depth
        super().__init__({
            "rx_pin": In(1, init=1),
            "tx_pin": Out(1, init=1),
            "busy": Out(1),
            "uart_errors": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart = uart = self.uart
        m.submodules.host = host = self.host
        m.submodules.rx_fifo = rx_fifo = fifo.SyncFIFOBuffered(width=8, depth=self.rx_fifo_depth)

        m.d.comb += [uart.rx.eq(self.rx_pin), self.tx_pin.eq(uart.tx)]
        wiring.connect(m, uart.o, rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, host.rx)
        wiring.connect(m, host.tx, uart.i)

        # Both UART counters saturate, so their sum only has to be clamped once.
        total = Signal(17)
        m.d.comb += [total.eq(uart.framing_errors + uart.overruns),
                     self.uart_errors.eq(Mux(total[16], 0xFFFF, total[:16]))]
        m.d.comb += self.busy.eq(host.busy | rx_fifo.r_rdy | ~uart.i.ready)
        return m
