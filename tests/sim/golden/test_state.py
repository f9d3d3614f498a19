"""The vectorised record packing of ``sim/golden/state.py`` against amaranth's own
``lib.data`` packing of the same layouts: the neuron-state record at several state
widths (byte views, uint64 shifts, Python ints past 64 bits) and other flat layouts."""

import numpy as np
import pytest
from amaranth import signed, unsigned
from amaranth.lib import data

from hw.spec.config import CoreConfig
from hw.spec.isa import Isa
from sim.golden.state import FieldCodec, codec, pack_state, unpack_state


def amaranth_word(layout, values: dict) -> int:
    """The unsigned word amaranth packs ``values`` into."""
    return layout.const(values).as_value().value & ((1 << layout.size) - 1)


def amaranth_fields(layout, word: int) -> dict:
    """Field values amaranth reads from an unsigned word."""
    c = layout.from_bits(word)
    return {name: int(c[name]) for name, _ in layout}


def random_values(rng, cod, n):
    """Per field, ``n`` random values in its range (and its extremes)."""
    out = []
    for w, s in zip(cod.widths, cod.signed):
        lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if s else (0, (1 << w) - 1)
        v = rng.integers(lo, hi, n, endpoint=True)
        v[:2] = lo, hi
        out.append(v.astype(np.int64))
    return out


@pytest.mark.parametrize("state_bits", [2, 7, 8, 11, 12, 16, 17, 24])
def test_state_record_round_trips_as_amaranth_packs_it(state_bits):
    core = CoreConfig(state_bits=state_bits, payload_bits=min(8, state_bits))
    layout = Isa(core).state
    cod = codec(layout)
    assert cod.names == ("v", "u", "p0", "p1")
    assert cod.widths == (state_bits,) * 4 and all(cod.signed)
    rng = np.random.default_rng(7000 + state_bits)
    fields = random_values(rng, cod, 64)
    words = pack_state(fields, layout)
    assert words.dtype == (np.uint64 if layout.size <= 64 else object)
    for i, w in enumerate(words):
        want = {n: int(f[i]) for n, f in zip(cod.names, fields)}
        assert int(w) == amaranth_word(layout, want), (i, want)
    for dtype in [object] + ([np.uint64] if layout.size <= 64 else []):
        got = unpack_state(np.array([int(w) for w in words], dtype=dtype), layout)
        for k, name in enumerate(cod.names):
            assert got[k].dtype == np.int64
            assert got[k].tolist() == fields[k].tolist(), (dtype, name)
    # and amaranth reads each packed word back as the fields
    for i in (0, 1, 5):
        assert amaranth_fields(layout, int(words[i])) == {
            n: int(f[i]) for n, f in zip(cod.names, fields)}


@pytest.mark.parametrize("state_bits", [8, 12, 24])
def test_pack_wraps_each_field_and_keeps_the_shape(state_bits):
    layout = Isa(CoreConfig(state_bits=state_bits)).state
    rng = np.random.default_rng(state_bits)
    fields = [rng.integers(-(1 << 40), 1 << 40, (3, 5)) for _ in range(4)]
    words = pack_state(fields, layout)
    assert words.shape == (3, 5)
    m = (1 << state_bits) - 1
    for idx in np.ndindex(3, 5):
        want = {n: ((int(f[idx]) & m) ^ (1 << (state_bits - 1))) - (1 << (state_bits - 1))
                for n, f in zip(("v", "u", "p0", "p1"), fields)}
        assert int(words[idx]) == amaranth_word(layout, want)
    back = unpack_state(words, layout)
    assert all(b.shape == (3, 5) for b in back)
    assert [int(b[2, 4]) for b in back] == list(want.values())


@pytest.mark.parametrize("layout", [
    data.StructLayout({"a": unsigned(3), "b": signed(5), "c": 1, "d": signed(20)}),
    data.StructLayout({"lo": unsigned(16), "hi": unsigned(16)}),           # a byte view
    data.StructLayout({"x": signed(33), "y": unsigned(40)}),               # past 64 bits
], ids=["mixed", "bytes", "wide"])
def test_other_flat_layouts_round_trip(layout):
    cod = FieldCodec(layout)
    rng = np.random.default_rng(layout.size)
    fields = random_values(rng, cod, 32)
    words = cod.pack(fields)
    for i, w in enumerate(words):
        assert int(w) == amaranth_word(layout, {n: int(f[i]) for n, f in zip(cod.names, fields)})
    back = cod.unpack(words)
    assert [b.tolist() for b in back] == [f.tolist() for f in fields]


def test_nested_layouts_are_refused_and_codecs_are_shared():
    nested = data.StructLayout({"a": data.ArrayLayout(4, 2)})
    with pytest.raises(TypeError, match="field 'a' is a nested layout"):
        FieldCodec(nested)
    a, b = Isa(CoreConfig()).state, Isa(CoreConfig()).state
    assert codec(a) is codec(b)
    with pytest.raises(ValueError, match="3 fields for a layout of 4"):
        codec(a).pack([np.zeros(2)] * 3)
