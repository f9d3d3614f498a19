"""Mapper: a :class:`~sw.toolchain.network.Network` -> a chip's memory images and routing tables.

Placement
    Tiles are filled in snake order (row 0 west to east, row 1 east to west, ...), so
    consecutive tiles are neighbours and neighbouring layers land on neighbouring
    cores. Layers go in order; a layer larger than what is left on a tile is split into
    chunks, each the largest that still fits the tile's neuron rows, layer-table
    entries, axons and synapse rows (checked exactly, by counting the synapse rows the
    chunk's projections need).

Per tile
    Every source neuron that reaches a chunk on the tile (a network input or any layer
    neuron, on this tile or another) gets one axon of that tile; each chunk is a layer
    whose projection comes from those axons, and :func:`sw.toolchain.compiler.compile_core` makes
    the core's images (placement inside the core, proofs and refusals as there).

Routes
    Spikes always travel through the mesh, to their own tile too: a fired neuron's
    ``route_table`` entry lists one destination per tile that has an axon for it
    (multicast by replication at the source), plus the host if its layer is an output
    layer (host packets carry the source tile and the neuron). Network input ``i``
    becomes one host packet per tile with an axon for it (``input_routes``).

Microcode
    A tile holds the integration program and one program per distinct neuron program
    (:func:`sw.toolchain.programs.program_key`) of its chunks; a chunk whose program
    would overflow the tile's ``microcode_depth`` goes to the next tile.

Layer start
    Layers with ``start > 0`` are stored with bias 0; :meth:`ChipImage.state_writes`
    lists the state-record writes the host makes before step ``start``
    (:meth:`sw.runtime.driver.Chip.run_network` does), after
    :func:`~sw.toolchain.compiler.refuse_starts` on the whole network.

Refusals (:class:`~sw.toolchain.compiler.CompileError`) name the layer and what ran out: tiles,
a tile's route entries, microcode, or anything :func:`compile_core` refuses; synaptic delays are
refused up front when the config's delay unit cannot hold them
(:func:`~sw.toolchain.compiler.refuse_delays`). Delays travel with their synapses into the
chunks; ``activity=`` (per timestep ``{source: indices}``) is passed on to every tile's
:func:`~sw.toolchain.compiler.compile_core` for activity-based delay-queue sizing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from hw.spec.config import ChipConfig
from hw.spec.isa import Isa
from hw.spec.memmap import MemoryName, chip_memories, sdsp_tiles, tile_prefix
from hw.spec.packet import dest_layout, route_layout
from sw.toolchain import programs
from sw.toolchain.compiler import CompileError, compile_core, refuse_delays, refuse_starts
from sw.toolchain.network import INPUT, Layer, Network

__all__ = ["ChipImage", "map_network", "snake_order"]


def snake_order(config: ChipConfig):
    """The neurocore tiles in the order layers fill them (SDSP tiles take no layer)."""
    n = config.noc
    plastic = set(sdsp_tiles(config))
    return [xy for xy in ((x if y % 2 == 0 else n.width - 1 - x, y)
                          for y in range(n.height) for x in range(n.width))
            if xy not in plastic]


@dataclass
class _Tile:
    xy: tuple
    rows: int = 0
    syn_rows: int = 0
    sources: dict = field(default_factory=dict)   # (source, index) -> axon
    chunks: list = field(default_factory=list)    # (layer name, start, stop)
    progs: dict = field(default_factory=dict)     # program key -> microcode words


@dataclass
class ChipImage:
    config: ChipConfig
    network: Network
    outputs: list
    images: dict                   # every chip memory -> data words
    placement: dict                # layer -> [(tile xy, start, stop)]
    tiles: dict                    # tile xy -> CoreImage
    input_routes: list             # network input i -> [(x, y, axon)]
    host_map: dict                 # (x, y, core neuron) -> (layer, index)
    report: list = field(default_factory=list)

    @property
    def start_steps(self) -> list:
        """Timesteps (ascending) before which the host writes state records: the starts
        of layers with ``start > 0`` (:meth:`state_writes`)."""
        return sorted({t for img in self.tiles.values() for t in img.start_writes})

    def state_writes(self, t: int) -> list:
        """``(memory, address, word)`` state-record writes due before timestep ``t``: the
        whole records (``v = u = 0``, bias, threshold) of the layers that start at ``t``,
        whose records the images hold with bias 0 (``Layer.start``;
        :func:`~sw.toolchain.compiler.refuse_starts` makes ``v = u = 0`` exact)."""
        return [w for img in self.tiles.values() for w in img.state_writes(t)]

    def host_packets(self, events):
        """Network input events (index, payload) -> host packets (x, y, axon, payload)."""
        return [(x, y, a, int(p)) for i, p in events for x, y, a in self.input_routes[i]]

    def decode_outputs(self, packets) -> dict:
        """Host packets (x, y, neuron, payload) -> ``{layer: sorted [(index, payload)]}``
        for the output layers."""
        out = {name: [] for name in self.outputs}
        for x, y, n, p in packets:
            layer, j = self.host_map[(x, y, n)]
            out[layer].append((j, p))
        return {k: sorted(v) for k, v in out.items()}


def _chunk_cost(layer: Layer, a: int, b: int, lanes: int):
    """Sources and synapse rows a chunk [a, b) of ``layer`` needs."""
    sources, rows = set(), 0
    for src, w in layer.inputs.items():
        block = np.asarray(w)[:, a:b] != 0
        used = np.nonzero(block.any(axis=1))[0]
        sources.update((src, int(i)) for i in used)
        if not len(used):
            continue
        pad = (-block.shape[1]) % lanes
        dm = layer.synapse_delays(src)
        # one synapse row per (source neuron, delay, target row) with a synapse
        delays = np.unique(dm[:, a:b][block]) if dm is not None else [0]
        for d in delays:
            sel = block if dm is None else block & (dm[:, a:b] == d)
            grouped = np.pad(sel[used], ((0, 0), (0, pad))).reshape(len(used), -1, lanes)
            rows += int(grouped.any(axis=2).sum())
    return sources, rows


def map_network(network: Network, config: ChipConfig, outputs=None, *, activity=None,
                activity_margin: float = 1.25) -> ChipImage:
    """Place ``network`` on the chip of ``config``; see the module docstring."""
    try:
        network.validate()
    except ValueError as e:
        raise CompileError(str(e)) from None
    refuse_delays(network, config)
    refuse_starts(network)
    c, noc = config.core, config.noc
    if c.out_fifo_depth < c.neurons:
        raise CompileError(f"core.out_fifo_depth ({c.out_fifo_depth}) must be at least "
                           f"core.neurons ({c.neurons}) on a chip")
    outputs = [network.layers[-1].name] if outputs is None else list(outputs)
    for name in outputs:
        network.layer(name)
    integrate_words = len(programs.integrate())
    order = snake_order(config)
    tiles = [_Tile(xy) for xy in order]
    cur = 0
    placement = {}
    for layer in network.layers:
        placement[layer.name] = []
        key = programs.program_key(layer.neuron)
        words = len(programs.neuron_program(layer.neuron, "p", slots=c.slots))
        if integrate_words + words > c.microcode_depth:
            raise CompileError(
                f"layer {layer.name!r}: its {layer.neuron.model} program takes {words} "
                f"microcode words, {integrate_words} more for integration; the core has "
                f"{c.microcode_depth} (core.microcode_depth)")
        a = 0
        while a < layer.size:
            if cur >= len(tiles):
                raise CompileError(
                    f"layer {layer.name!r}: the mesh ran out of tiles ({len(tiles)} of "
                    f"{noc.width} x {noc.height} used) with neurons {a}..{layer.size - 1} "
                    "still to place")
            t = tiles[cur]

            def fits(b):
                if len(t.chunks) + 1 > c.layers:
                    return False
                progs = {**t.progs, key: words}
                if integrate_words + sum(progs.values()) > c.microcode_depth:
                    return False
                if t.rows + -(-(b - a) // c.lanes) > c.neuron_rows:
                    return False
                srcs, rows = _chunk_cost(layer, a, b, c.lanes)
                return (len(t.sources.keys() | srcs) <= c.axons
                        and t.syn_rows + rows <= c.synapse_rows)
            lo, hi = a, layer.size            # largest b in (a, size] that fits
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if fits(mid):
                    lo = mid
                else:
                    hi = mid - 1
            if lo == a:
                if not t.chunks:
                    raise CompileError(
                        f"layer {layer.name!r}: not even one neuron fits an empty core "
                        f"(its fan-in needs more axons or synapse rows than core.axons = "
                        f"{c.axons}, core.synapse_rows = {c.synapse_rows})")
                cur += 1
                continue
            b = lo
            srcs, rows = _chunk_cost(layer, a, b, c.lanes)
            for s in sorted(srcs - t.sources.keys(), key=lambda s: (s[0] != INPUT, s)):
                t.sources[s] = len(t.sources)
            t.rows += -(-(b - a) // c.lanes)
            t.syn_rows += rows
            t.chunks.append((layer.name, a, b))
            t.progs[key] = words
            placement[layer.name].append((t.xy, a, b))
            a = b

    # -- per-tile compile ----------------------------------------------------------------
    core_images, where = {}, {}
    for t in tiles:
        if not t.chunks:
            continue
        layers = []
        for name, a, b in t.chunks:
            layer = network.layer(name)
            w = np.zeros((len(t.sources), b - a), np.int64)
            dl = np.zeros_like(w)
            for src, wsrc in layer.inputs.items():
                wsrc = np.asarray(wsrc, np.int64)
                dsrc = layer.synapse_delays(src)
                for i in np.nonzero((wsrc[:, a:b] != 0).any(axis=1))[0]:
                    w[t.sources[(src, int(i))]] = wsrc[i, a:b]
                    if dsrc is not None:
                        dl[t.sources[(src, int(i))]] = dsrc[i, a:b]
            neuron = replace(layer.neuron, threshold=layer.param("threshold")[a:b],
                             bias=layer.param("bias")[a:b])
            layers.append(Layer(f"{name}[{a}:{b}]", b - a, neuron, {INPUT: w},
                                {INPUT: dl} if dl.any() else {}, start=layer.start))
        pmax = 1 << (c.payload_bits - 1)        # |most negative payload|
        bound = [pmax if s == INPUT or network.layer(s).neuron.graded else 1
                 for s, _ in t.sources]
        tile_activity = None if activity is None else [
            {INPUT: [t.sources[(src, int(i))] for src, idx in step.items() for i in idx
                     if (src, int(i)) in t.sources]} for step in activity]
        try:
            img = compile_core(Network(len(t.sources), layers), config,
                               prefix=tile_prefix(*t.xy), input_payload_max=bound,
                               activity=tile_activity, activity_margin=activity_margin,
                               check_starts=False)
        except CompileError as e:
            raise CompileError(f"tile {t.xy}: {e}") from None
        core_images[t.xy] = img
        for name, a, b in t.chunks:
            ids = img.neurons[f"{name}[{a}:{b}]"]
            for j in range(a, b):
                where[(name, j)] = (t.xy, int(ids[j - a]))

    # -- routes --------------------------------------------------------------------------
    axon_at = {}                        # (source, index) -> [(x, y, axon)]
    for t in tiles:
        for s, axon in t.sources.items():
            axon_at.setdefault(s, []).append((*t.xy, axon))
    dlay, rlay = dest_layout(config), route_layout(config)
    route_words = {xy: np.zeros(c.neurons, dtype=object) for xy in order}
    dest_words = {xy: [] for xy in order}
    host_map = {}
    for layer in network.layers:
        for j in range(layer.size):
            (x, y), n = where[(layer.name, j)]
            dests = [{"to_host": 0, "x": dx, "y": dy, "axon": a}
                     for dx, dy, a in axon_at.get((layer.name, j), [])]
            if layer.name in outputs:
                dests.append({"to_host": 1, "x": x, "y": y, "axon": n})
                host_map[(x, y, n)] = (layer.name, j)
            first = len(dest_words[(x, y)])
            if first + len(dests) > noc.routes:
                raise CompileError(f"layer {layer.name!r}: tile {(x, y)} ran out of route "
                                   f"entries at neuron {j} ({first + len(dests)} needed, "
                                   f"noc.routes = {noc.routes})")
            dest_words[(x, y)] += [Isa.pack(dlay, d) for d in dests]
            route_words[(x, y)][n] = Isa.pack(rlay, {"first": first if dests else 0,
                                                     "count": len(dests)})
    input_routes = [axon_at.get((INPUT, i), []) for i in range(network.inputs)]

    # -- images --------------------------------------------------------------------------
    images = {}
    for spec in chip_memories(config):
        if spec.role != "delay":            # a delay queue's memory is its own
            images[spec.name] = np.zeros(spec.depth, dtype=object)
    for xy, img in core_images.items():
        images.update(img.images)
    for xy in order:
        p = tile_prefix(*xy)
        images[MemoryName.of(p, "route_table")] = route_words[xy]
        d = np.zeros(noc.routes, dtype=object)
        d[:len(dest_words[xy])] = dest_words[xy]
        images[MemoryName.of(p, "dest_table")] = d
    report = [{"tile": xy, "chunks": [f"{n}[{a}:{b}]" for n, a, b in t.chunks],
               "axons": len(t.sources), "synapse_rows": t.syn_rows, "neuron_rows": t.rows,
               "route_entries": len(dest_words[xy])} for t, xy in zip(tiles, order)]
    return ChipImage(config, network, outputs, images, placement, core_images, input_routes,
                     host_map, report)
