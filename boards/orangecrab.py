"""Good Stuff Department OrangeCrab r0.2 with the ECP5-25F (LFE5U-25F-8MG285C).

Open flow as for the ULX3S. The board has no UART bridge: the chip's UART is on the
Feather header, RX on pin 0 and TX on pin 1 (3.3 V; use a USB-serial cable), and the
busy/error flags drive the red and green parts of the RGB LED. Clock: 24 MHz from an
ECP5 PLL on the 48 MHz oscillator (the 2-lane chip's post-route Fmax, 40.12 MHz, is below
48 MHz).
"""

from amaranth.build import Attrs, Pins, PinsN, Resource, Subsignal
from amaranth_boards.orangecrab_r0_2 import OrangeCrabR0_2_25FPlatform

from hw.spec.config import ChipConfig, CoreConfig

from . import Board

BOARD = Board(
    name="orangecrab",
    description="OrangeCrab r0.2 (ECP5-25F)",
    platform=OrangeCrabR0_2_25FPlatform,
    family="ecp5",
    device="LFE5U-25F-8MG285C",
    clock_hz=24e6,
    # 24k LUT4s and 56 block RAMs: a 2-lane core (the ULX3S's 4-lane chip takes about
    # 28,600 LUT4s) with the default memory sizes.
    config=ChipConfig(core=CoreConfig(lanes=2, slots=6)),
    leds=2,
    resources=(
        Resource("uart", 0,
                 Subsignal("rx", Pins("0", dir="i", conn=("io", 0))),
                 Subsignal("tx", Pins("1", dir="o", conn=("io", 0))),
                 Attrs(IO_TYPE="LVCMOS33")),
        # The RGB LED's red and green cathodes as plain LEDs (active low).
        Resource("led", 0, PinsN("K4", dir="o"), Attrs(IO_TYPE="LVCMOS33")),
        Resource("led", 1, PinsN("M3", dir="o"), Attrs(IO_TYPE="LVCMOS33")),
    ),
    programmer="dfu-util -D {bitstream}  (after dfu-suffix -v 1209 -p 5af0 -a {bitstream}; "
               "hold the button while plugging in)",
)
