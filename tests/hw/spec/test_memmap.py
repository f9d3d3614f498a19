"""Structured memory names and the chip's memory map (:mod:`hw.spec.memmap`)."""

import pytest

from hw.spec.config import ChipConfig, CoreConfig, DelayConfig, NocConfig, SdspConfig
from hw.spec.isa import Isa
from hw.spec.memmap import (LANE_KINDS, MemoryName, chip_memories, core_memories,
                            core_tiles, sdsp_tiles, state_clears, tile_coords)


def test_name_parts():
    n = MemoryName.lane_bank("tile1_0", 2, "acc")
    assert n == "tile1_0.lane2.acc" and isinstance(n, str)
    assert (n.tile, n.lane, n.kind, n.prefix) == ((1, 0), 2, "acc", "tile1_0")
    m = MemoryName.of("core", "microcode")
    assert (m.tile, m.lane, m.kind) == (None, None, "microcode")
    assert MemoryName("tile3_12.route_table").tile == (3, 12)
    # a lane-like part that is the kind itself is not a lane
    assert MemoryName("core.lane7").lane is None


def test_lane_bank_refuses_unknown_kind():
    with pytest.raises(ValueError, match="lane bank kind must be one of"):
        MemoryName.lane_bank("core", 0, "weight")


def test_core_memories_names_are_structured():
    cfg = ChipConfig(core=CoreConfig(lanes=2), delay=DelayConfig(unit="scdq"))
    specs = core_memories(Isa.of(cfg), "core")
    lanes = [s.name for s in specs if s.name.lane is not None]
    assert [(n.lane, n.kind) for n in lanes] == [(l, k) for l in range(2) for k in LANE_KINDS]
    assert specs[-1].name.kind == "delay_queue"


def test_chip_memories_directory_order_and_tiles():
    cfg = ChipConfig(noc=NocConfig(width=2, height=2), sdsp=SdspConfig(tiles=1))
    specs = chip_memories(cfg)
    tiles = [s.name.tile for s in specs]
    # tiles appear in tile_coords order, each tile's memories contiguous
    order = list(dict.fromkeys(tiles))
    assert order == tile_coords(cfg)
    assert sdsp_tiles(cfg) == [(1, 1)] and (1, 1) not in core_tiles(cfg)
    kinds = {s.name.kind for s in specs if s.name.tile == (1, 1)}
    assert {"synapses", "neurons", "params", "signs", "control"} <= kinds


def test_state_clears_covers_every_core_lane_acc_and_state():
    cfg = ChipConfig(noc=NocConfig(width=2, height=1), core=CoreConfig(lanes=2),
                     sdsp=SdspConfig(tiles=1))
    specs = chip_memories(cfg)
    clears = state_clears(cfg)
    names = [specs[i].name for i, _ in clears]
    assert [(n.tile, n.lane, n.kind) for n in names] == [
        ((0, 0), l, k) for l in range(2) for k in ("acc", "state")]
    isa = Isa.of(cfg)
    keep = {specs[i].name.kind: mask for i, mask in clears}
    assert keep["acc"] == 0
    for f in ("v", "u"):
        assert keep["state"] >> isa.state[f].offset & ((1 << isa.state[f].width) - 1) == 0
    for f in ("p0", "p1"):
        assert keep["state"] >> isa.state[f].offset & 1 == 1
