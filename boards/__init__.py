"""Board support: which amaranth-boards platform, clock, pins and chip config per board.

Each board is one small module in this package that defines ``BOARD``, a
:class:`Board`. To add a board, copy ``arty_a7.py``, change the fields, and add the
module name to ``_MODULES`` below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from hw.spec.config import ChipConfig

__all__ = ["Board", "BOARDS", "get_board", "board_names"]

_MODULES = ["arty_a7", "ulx3s", "orangecrab", "icebreaker"]


@dataclass(frozen=True)
class Board:
    """One FPGA board.

    Attributes
    ----------
    name : str
        Name on the command line (``--board``).
    description : str
    platform : callable
        Returns the amaranth-boards platform instance.
    family : str
        Synthesis family: ``xc7`` (Xilinx 7-series: Vivado plan plus a yosys resource
        estimate), ``ecp5`` or ``ice40`` (open flow to a bitstream with the YoWASP tools).
    device : str
        Part number, as the vendor tools spell it.
    clock_hz : float
        Frequency of the chip's ``sync`` domain: the board oscillator's, or (ECP5) one an
        EHXPLLL derives from it exactly (:mod:`hw.clocks`). The build's timing check and
        the UART divisor use it.
    capacity : dict
        Device resources for the estimate of ``xc7`` boards: ``lut``, ``ff``, ``bram36``
        (36-kbit block RAMs), ``dsp``. Open-flow boards take theirs from nextpnr's report.
    config : ChipConfig
        Default chip configuration, sized to fit the device.
    leds : int
        User LEDs the design may drive.
    design : str
        What ``python -m hw.build`` puts on the board unless ``--design`` says otherwise
        (see ``hw.build.DESIGNS``): ``chip`` where the chip fits.
    resources : tuple
        Extra ``amaranth.build.Resource`` s added to the platform (e.g. a UART on a header).
    synth_opts : str
        Extra options of yosys's ``synth_<family>`` in the open flow.
    nextpnr_opts : str
        Extra nextpnr options in the open flow (e.g. ``--router router2``).
    programmer : str
        How to load the bitstream (``{bitstream}`` is replaced by its path); the first
        word is the tool ``--program`` runs when it is on PATH.
    """

    name: str
    description: str
    platform: Callable[[], object]
    family: str
    device: str
    clock_hz: float
    capacity: dict = field(default_factory=dict)
    config: ChipConfig = field(default_factory=ChipConfig)
    leds: int = 0
    design: str = "chip"
    resources: tuple = ()
    synth_opts: str = ""
    nextpnr_opts: str = ""
    programmer: str = ""

    def make_platform(self):
        """The amaranth-boards platform with :attr:`resources` added."""
        platform = self.platform()
        if self.resources:
            platform.add_resources(list(self.resources))
        return platform


def _load() -> dict[str, Board]:
    boards = {}
    for mod in _MODULES:
        board = importlib.import_module(f"{__name__}.{mod}").BOARD
        boards[board.name] = board
    return boards


BOARDS = _load()


def board_names() -> list[str]:
    return sorted(BOARDS)


def get_board(name: str) -> Board:
    """The board called ``name``; an unknown name raises ValueError listing the known ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"Unknown board {name!r}; known boards: {', '.join(board_names())}") \
            from None
