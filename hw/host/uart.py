"""8N1 UART: a transmitter, a receiver and a wrapper with both, for the host link.

Frames are 8N1, LSB first: one start bit (0), eight data bits, one stop bit (1); the
line idles high. ``divisor`` is the bit period in clock cycles (at least 4), all bits
exactly ``divisor`` cycles long; :func:`uart_divisor` picks it for a clock and a baud
rate.

Cycle behaviour
---------------
:class:`UartTx`
    ``i`` is a :mod:`~amaranth.lib.stream` of bytes. A byte accepted in cycle *a*
    (``i.valid & i.ready``) drives ``tx`` (registered, idle high) from cycle *a+1*:
    start bit, data bits 0..7, stop bit, each ``divisor`` cycles. ``i.ready`` is high
    when idle and in the last cycle of a stop bit, so back-to-back bytes take exactly
    ``10 * divisor`` cycles each (the line never idles between them).
:class:`UartRx`
    ``rx`` passes through a two-flop synchronizer (two cycles of latency, which shift
    every sample alike). In the idle state, a falling edge of the synchronized line
    (high the cycle before, low now; cycle *e*) starts a frame. With
    ``h = (divisor - 1) // 2`` (the middle of samples *e* .. *e + divisor - 1*, which
    are the start bit's at the exact rate), the start bit is validated at *e + h* (a
    line high again there was a glitch: back to idle, nothing counted), data bit *k* is
    sampled at *e + h + (k + 1) * divisor* and the stop bit at *e + h + 9 * divisor*.
    The receiver is idle again right after the stop bit's sample, so the next start
    edge is seen even from a fast sender.

    Baud tolerance: the real edge lies in the cycle before *e*, so a sender with ``p``
    cycles per bit is received whenever ``(h + 9 * divisor + 1) / 10 < p <= divisor +
    h / 9`` (stop bit sampled before its end, resp. after its start): at least 2.7%
    either way for every divisor (the worst: 4, slow senders), about 4.5% from 16 up.

    At the stop bit's sample:

    * stop bit low: the byte is dropped and ``framing_errors`` counts it; a new frame
      needs a new falling edge (a line held low, a break, gives one error, not many);
    * else if ``o`` is free (``~o.valid``, or its byte is taken in this cycle): the
      byte is on ``o.payload`` with ``o.valid`` from the next cycle until taken;
    * else (the previous byte is still waiting): the new byte is dropped, the waiting
      one kept (a stream's payload must not change while valid), and ``overruns``
      counts it.

    Both counters saturate at ``2**counter_bits - 1`` (16 bits by default).
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["uart_divisor", "UartTx", "UartRx", "Uart"]

#: The largest baud rate error :func:`uart_divisor` accepts (fraction).
MAX_BAUD_ERROR = 0.02


def uart_divisor(clk_hz: float, baud: float) -> int:
    """Clock cycles per bit for a ``clk_hz`` clock and ``baud`` bits per second: the
    nearest integer (halves round up). Raises ValueError, naming both, if the baud rate
    it gives is more than 2% off ``baud`` or if the divisor is below 4."""
    if not clk_hz > 0 or not baud > 0:
        raise ValueError(f"UART clock ({clk_hz} Hz) and baud ({baud}) must be positive")
    divisor = int(clk_hz / baud + 0.5)
    if divisor < 4:
        raise ValueError(f"UART clock {clk_hz} Hz is too slow for baud {baud}: divisor "
                         f"{divisor} is below the minimum of 4 cycles per bit")
    actual = clk_hz / divisor
    error = abs(actual - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(f"UART clock {clk_hz} Hz cannot make baud {baud}: divisor {divisor} "
                         f"gives {actual:.1f} baud, {error:.2%} off (the limit is 2%)")
    return divisor


def _check_divisor(divisor):
    if not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"UART divisor must be an integer of at least 4 cycles per bit, "
                         f"not {divisor!r}")


def _count(m, counter):
    """Saturating increment (a counter that wraps would hide a storm of errors)."""
    with m.If(counter != (1 << len(counter)) - 1):
        m.d.sync += counter.eq(counter + 1)


class UartTx(wiring.Component):
    """Transmitter: bytes from stream ``i`` (8 bits) out on ``tx`` (1 bit, registered,
    idle high), ``divisor`` cycles per bit; see the module docstring for timing."""

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__({
            "i": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        shreg = Signal(9)                  # data bits then the stop bit; bit 0 goes next
        left = Signal(range(10))           # bits still to send after the current one
        timer = Signal(range(d))           # cycles left in the current bit, minus one
        busy = Signal()
        last = Signal()                    # last cycle of a stop bit

        m.d.comb += [last.eq(busy & (left == 0) & (timer == 0)),
                     # accepting in the stop bit's last cycle keeps the line busy
                     self.i.ready.eq(~busy | last)]
        with m.If(busy):
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Elif(left != 0):
                m.d.sync += [self.tx.eq(shreg[0]), shreg.eq(shreg >> 1),
                             left.eq(left - 1), timer.eq(d - 1)]
            with m.Else():
                m.d.sync += busy.eq(0)
        # after the block above, so that a byte accepted in the last cycle wins
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [self.tx.eq(0), shreg.eq(Cat(self.i.payload, 1)),
                         left.eq(9), timer.eq(d - 1), busy.eq(1)]
        return m


class UartRx(wiring.Component):
    """Receiver: ``rx`` (1 bit, asynchronous, idle high) to stream ``o`` (8 bits), with
    ``framing_errors`` and ``overruns`` (``counter_bits`` wide, saturating); see the
    module docstring for sampling, errors and timing."""

    def __init__(self, divisor: int, *, counter_bits: int = 16):
        _check_divisor(divisor)
        self.divisor = divisor
        #: cycles from the start edge to the start bit's sample (see the module docstring)
        self.half = (divisor - 1) // 2   # h: balances fast and slow senders' margins
        super().__init__({
            "rx": In(1, init=1),
            "o": Out(stream.Signature(8)),
            "framing_errors": Out(counter_bits),
            "overruns": Out(counter_bits),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1, stages=2)
        prev = Signal(init=1)
        m.d.sync += prev.eq(line)
        timer = Signal(range(d))
        bit = Signal(range(8))
        shreg = Signal(8)

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(prev & ~line):
                    m.d.sync += timer.eq(self.half - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(~line):
                    m.d.sync += [timer.eq(d - 1), bit.eq(0)]
                    m.next = "DATA"
                with m.Else():
                    m.next = "IDLE"        # a glitch, not a start bit
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    # LSB first: shift right, the newest bit enters at the top
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), bit.eq(bit + 1),
                                 timer.eq(d - 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.next = "IDLE"
                    with m.If(~line):
                        _count(m, self.framing_errors)
                    with m.Elif(~self.o.valid | self.o.ready):
                        m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                    with m.Else():
                        _count(m, self.overruns)
        return m


class Uart(wiring.Component):
    """A :class:`UartTx` and a :class:`UartRx` with the same ``divisor``: ports ``rx``,
    ``tx`` (1 bit each, idle high), ``i`` (bytes to send), ``o`` (bytes received),
    ``framing_errors`` and ``overruns`` (``counter_bits``, saturating)."""

    def __init__(self, divisor: int, *, counter_bits: int = 16):
        _check_divisor(divisor)
        self.divisor, self.counter_bits = divisor, counter_bits
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "i": In(stream.Signature(8)),
            "o": Out(stream.Signature(8)),
            "framing_errors": Out(counter_bits),
            "overruns": Out(counter_bits),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.tx = tx = UartTx(self.divisor)
        m.submodules.rx = rx = UartRx(self.divisor, counter_bits=self.counter_bits)
        wiring.connect(m, wiring.flipped(self.i), tx.i)
        wiring.connect(m, rx.o, wiring.flipped(self.o))
        m.d.comb += [self.tx.eq(tx.tx), rx.rx.eq(self.rx),
                     self.framing_errors.eq(rx.framing_errors),
                     self.overruns.eq(rx.overruns)]
        return m
