"""Vectorised NumPy packing of flat :mod:`amaranth.lib.data` struct layouts.

The golden models and the compiler hold many packed words of one layout at once (above
all the neuron-state record :attr:`hw.spec.isa.Isa.state`, ``(v, u, p0, p1)``) and need
their fields as integer arrays. :class:`FieldCodec` reads every field's offset, width
and signedness from the layout (so nothing here restates a format) once, and picks the
quickest exact way to (un)pack them:

* every field the same whole number of bytes wide (8, 16 or 32 bits), at consecutive
  offsets from 0 and of one signedness, in a word of at most 64 bits: the words,
  little-endian, are the fields (a NumPy view);
* a word of at most 64 bits: shifts on ``uint64`` (a field moved to the top of the word
  and shifted down arithmetically when signed);
* wider words: shifts on Python ints (``object`` arrays).

:func:`unpack_state` and :func:`pack_state` are the neuron-state record's.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from sim.golden.npe import wrap

__all__ = ["FieldCodec", "codec", "unpack_state", "pack_state"]


class FieldCodec:
    """(Un)packing of the words of a flat :class:`~amaranth.lib.data.StructLayout`
    (every field a plain signed or unsigned shape) as NumPy arrays.

    ``names``, ``offsets``, ``widths``, ``signed``: the fields in layout order (as the
    layout's iteration gives them); ``size``: bits of a word.
    """

    def __init__(self, layout: data.StructLayout):
        self.layout = layout
        self.size = layout.size
        names, offsets, widths, signed = [], [], [], []
        for name, field in layout:
            if isinstance(field.shape, data.Layout):
                raise TypeError(f"field {name!r} is a nested layout; FieldCodec packs "
                                "flat layouts only")
            shape = Shape.cast(field.shape)
            names.append(name)
            offsets.append(field.offset)
            widths.append(shape.width)
            signed.append(shape.signed)
        self.names, self.offsets = tuple(names), tuple(offsets)
        self.widths, self.signed = tuple(widths), tuple(signed)
        n = len(names)
        w = widths[0] if n else 0
        #: (word dtype, field dtype) when the fields are the word's bytes, else None
        self._view = None
        if n and w in (8, 16, 32) and n * w in (8, 16, 32, 64) and \
                all(x == w for x in widths) and len(set(signed)) == 1 and \
                offsets == [k * w for k in range(n)]:
            self._view = (f"<u{n * w // 8}", f"<{'i' if signed[0] else 'u'}{w // 8}")
        # per field: (offset, mask, left shift to the top, arithmetic shift down)
        self._u64 = [(np.uint64(o), np.uint64((1 << wd) - 1), np.uint64(64 - o - wd),
                      np.int64(64 - wd), s)
                     for o, wd, s in zip(offsets, widths, signed)] if self.size <= 64 else None

    def __repr__(self):
        return f"FieldCodec({', '.join(f'{n}@{o}:{w}' for n, o, w in zip(self.names, self.offsets, self.widths))})"

    def unpack(self, words) -> list:
        """Packed words (unsigned: any integer dtype, or Python ints in an ``object``
        array) -> one ``int64`` array per field, in layout order, of the words' shape
        (signed fields sign-extended)."""
        words = np.asarray(words)
        if self.size <= 64:
            if self._view is not None and words.dtype != object:
                word, field = self._view
                n = len(self.names)
                if words.ndim == 1:
                    f = words.astype(word, copy=False).view(field).reshape(-1, n)
                else:
                    f = words.astype(word, copy=False).reshape(-1).view(field)
                    f = f.reshape(words.shape + (n,))
                f = f.astype(np.int64)
                return [f[..., k] for k in range(n)]
            words = words.astype(np.uint64, copy=False)
            out = []
            for off, mask, top, down, s in self._u64:
                if s:
                    out.append((words << top).view(np.int64) >> down)
                else:
                    out.append(((words >> off) & mask).view(np.int64))
            return out
        if words.dtype != object:
            words = words.astype(object)
        out = []
        for off, wd, s in zip(self.offsets, self.widths, self.signed):
            f = ((words >> off) & ((1 << wd) - 1)).astype(np.int64)
            out.append(wrap(f, wd) if s else f)
        return out

    def pack(self, fields) -> np.ndarray:
        """One integer array per field, in layout order (of the first one's shape, the
        others broadcast to it; values wrap to their field's width) -> packed unsigned words: ``uint64`` when a word
        has at most 64 bits, else Python ints (``object``)."""
        if len(fields) != len(self.names):
            raise ValueError(f"{len(fields)} fields for a layout of {len(self.names)} "
                             f"({', '.join(self.names)})")
        shape = np.shape(fields[0])
        if self._view is not None:
            word, field = self._view
            out = np.empty(shape + (len(fields),), field)
            for k, f in enumerate(fields):
                out[..., k] = f                 # a cast to the field's width wraps
            return out.reshape(-1).view(word).reshape(shape).astype(np.uint64, copy=False)
        if self._u64 is not None:
            out = None
            for f, (off, mask, _, _, _) in zip(fields, self._u64):
                v = np.asarray(f, np.int64).astype(np.uint64) & mask
                if off:
                    v <<= off
                if out is None:
                    out = np.broadcast_to(v, shape).copy() if v.shape != shape else v
                else:
                    out |= v
            return out
        out = np.zeros(shape, object)
        for f, off, wd in zip(fields, self.offsets, self.widths):
            out = out | ((np.asarray(f, np.int64) & ((1 << wd) - 1)).astype(object) << off)
        return out


_CODECS: dict = {}


def codec(layout: data.StructLayout) -> FieldCodec:
    """The (shared) :class:`FieldCodec` of ``layout`` (layouts compare by their fields)."""
    c = _CODECS.get(layout)
    if c is None:
        c = _CODECS[layout] = FieldCodec(layout)
    return c


def _state_layout(layout):
    return layout.state if hasattr(layout, "state") else layout


def unpack_state(words, layout) -> list:
    """Neuron-state words -> ``[v, u, p0, p1]`` int64 arrays; ``layout``: the record
    (:attr:`hw.spec.isa.Isa.state`) or the :class:`~hw.spec.isa.Isa` itself."""
    return codec(_state_layout(layout)).unpack(words)


def pack_state(fields, layout) -> np.ndarray:
    """``[v, u, p0, p1]`` -> neuron-state words (``layout`` as :func:`unpack_state`)."""
    return codec(_state_layout(layout)).pack(fields)
