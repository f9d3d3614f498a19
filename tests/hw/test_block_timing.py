"""hw.block_timing: the blocks elaborate to Verilog for the out-of-context flow, and an
unknown block is refused by name (the place and route itself takes minutes and is run
by hand: python -m hw.block_timing lane)."""

import pytest

from boards import get_board
from hw.block_timing import BLOCKS, block_verilog


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_elaborates_with_top_module(name):
    text = block_verilog(name, get_board("ulx3s").config)
    assert "module top(" in text


def test_unknown_block_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown block 'alu'; blocks: lane"):
        block_verilog("alu", get_board("ulx3s").config)
