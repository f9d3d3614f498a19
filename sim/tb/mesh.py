"""Mesh traffic: random and patterned packets through :class:`hw.noc.Mesh`, every one
checked on arrival.

Each source (the tiles' local ports, and the host port) sends packets whose identity
travels inside them: the source number in ``payload`` and a per-(source, destination)
sequence number in ``axon`` (modulo its width). On arrival a packet must be at its
destination port (no misroute), carry the next sequence number of its pair (no loss,
no duplicate, order kept per pair); at the end every injected packet must have
arrived, and the RTL's ``injected``/``delivered`` counters must equal the testbench's.

:func:`traffic` runs one pattern at one offered load and returns the statistics that
``python -m benchmarks noc`` reports (latency, accepted throughput).
"""

from __future__ import annotations

import cocotb
import numpy as np
from amaranth import Shape

from hw.spec.isa import Isa
from hw.spec.packet import packet_layout
from hw.spec.memmap import tile_coords
from sim.tb import Divergence, SignalAccess, params, start_cocotb

__all__ = ["traffic"]


def _destinations(pattern, src, coords, rng, host, with_host=True):
    """Destination index (a tile index, or ``host``) for a packet from ``src``."""
    n = len(coords)
    if pattern == "uniform":
        return int(rng.integers(n + 1 if with_host else n))   # the host: one more
    if pattern == "transpose":
        if src == host:
            return int(rng.integers(n))
        x, y = coords[src]
        return coords.index((y, x)) if (y, x) in coords else src
    if pattern == "all_to_all":
        return int(rng.integers(n + 1 if with_host else n))
    if pattern == "corner":      # to the farthest tile (zero-load latency)
        return n - 1
    if pattern == "self":        # to the source's own tile (no hop)
        return src
    raise ValueError(f"unknown traffic pattern {pattern!r}")


async def traffic(dut: SignalAccess, config, *, pattern: str, packets: int, rate: float,
                  seed: int, sink_ready: float = 1.0, sources=None, host: bool = True,
                  max_cycles=2_000_000, warmup: int = 0, stall_cycles: int = 10_000):
    """Offer ``rate`` packets per source per cycle (Bernoulli) until ``packets`` have
    been injected, then drain. Raises Divergence on any misdelivery.

    ``host``: the host port sends and receives too (else tiles only). The throughput
    figure counts packets delivered between cycle ``warmup`` and the end of injection,
    per source and cycle. Packets in flight with no delivery for ``stall_cycles``
    cycles (or any left after ``max_cycles``) are reported as a deadlock."""
    coords = tile_coords(config)
    n = len(coords)
    with_host = host
    host = n
    layout = packet_layout(config)
    amod = 1 << Shape.cast(layout.members["axon"]).width
    rng = np.random.default_rng(seed)
    src_ports = [f"local_in.{t}" for t in range(n)] + ["host_in"]
    dst_ports = [f"local_out.{t}" for t in range(n)] + ["host_out"]
    if sources is None:
        sources = list(range(n + 1)) if with_host else list(range(n))
    next_seq = {}
    want_seq = {}
    pending = {s: None for s in sources}        # packet being offered (fields, t0)
    in_flight = {}
    injected = delivered = 0
    latencies = []
    cycle = 0
    window_start = window_end = None
    window_delivered = 0
    last_delivery = 0
    base = {k: dut.get(k) for k in ("injected", "delivered", "misrouted")}
    sink = {port: 1 for port in dst_ports}     # what we drive (never read back)
    for port in dst_ports:
        dut.set(f"{port}.ready", 1)
    for port in src_ports:
        dut.set(f"{port}.valid", 0)

    def make(src):
        dst = _destinations(pattern, src, coords, rng, host, with_host)
        seq = next_seq.get((src, dst), 0)
        next_seq[(src, dst)] = (seq + 1) % amod
        if dst == host:
            x, y = coords[src] if src != host else (0, 0)
            f = {"to_host": 1, "x": x, "y": y, "axon": seq, "payload": src}
        else:
            x, y = coords[dst]
            f = {"to_host": 0, "x": x, "y": y, "axon": seq, "payload": src}
        return f, dst

    while True:
        done_injecting = injected >= packets
        if cycle == warmup:
            window_start, window_delivered = cycle, delivered
        if done_injecting and window_end is None:
            window_end = cycle
            window_delivered = delivered - window_delivered
        if done_injecting and injected == delivered:
            break
        if cycle > max_cycles:
            raise Divergence(f"{pattern} traffic, seed {seed}: {injected - delivered} packets "
                             f"still in flight after {max_cycles} cycles (deadlock?)")
        if in_flight and cycle - last_delivery > stall_cycles:
            raise Divergence(f"{pattern} traffic, seed {seed}: no packet delivered for "
                             f"{stall_cycles} cycles with {len(in_flight)} in flight "
                             f"(deadlock) at cycle {cycle}")
        for s in sources:
            if pending[s] is None and not done_injecting and rng.random() < rate:
                pending[s] = (*make(s), cycle)
            port = src_ports[s]
            if pending[s] is not None:
                f, dst, t0 = pending[s]
                dut.set(f"{port}.payload", Isa.pack(layout, f))
                dut.set(f"{port}.valid", 1)
            else:
                dut.set(f"{port}.valid", 0)
        if sink_ready < 1.0:
            for port in dst_ports:
                sink[port] = int(rng.random() < sink_ready)
                dut.set(f"{port}.ready", sink[port])
        await dut.settle()
        ready = {s: dut.get(f"{src_ports[s]}.ready") for s in sources}
        arrivals = []
        for d, port in enumerate(dst_ports):
            if sink[port] and dut.get(f"{port}.valid"):
                arrivals.append((d, dut.get(f"{port}.payload")))
        await dut.tick()
        for s in sources:
            if pending[s] is not None and ready[s]:
                f, dst, t0 = pending[s]
                in_flight[(s, dst, f["axon"])] = t0
                injected += 1
                pending[s] = None
        for d, raw in arrivals:
            p = Isa.unpack(layout, raw)
            src = int(p.payload)
            seq = int(p.axon)
            if int(p.to_host):
                if d != host:
                    raise Divergence(f"{pattern} traffic, seed {seed}: packet for the host "
                                     f"from source {src} left at tile {coords[d]}")
            elif d == host or (int(p.x), int(p.y)) != coords[d]:
                raise Divergence(f"{pattern} traffic, seed {seed}: packet for "
                                 f"{(int(p.x), int(p.y))} from source {src} left at "
                                 f"{'the host port' if d == host else coords[d]}")
            key = (src, d)
            expect = want_seq.get(key, 0)
            if seq != expect:
                raise Divergence(f"{pattern} traffic, seed {seed}: from source {src} to "
                                 f"{'host' if d == host else coords[d]}: sequence {seq} "
                                 f"arrived, {expect} expected (lost, duplicated or reordered)")
            want_seq[key] = (seq + 1) % amod
            t0 = in_flight.pop((src, d, seq))
            latencies.append(cycle + 1 - t0)
            delivered += 1
            last_delivery = cycle
        cycle += 1
    for port in src_ports:
        dut.set(f"{port}.valid", 0)
    await dut.tick(2)
    rtl = {k: dut.get(k) - base[k] for k in ("injected", "delivered", "misrouted")}
    if rtl["injected"] != injected or rtl["delivered"] != delivered or rtl["misrouted"]:
        raise Divergence(f"{pattern} traffic, seed {seed}: RTL counted {rtl}, testbench "
                         f"injected {injected}, delivered {delivered}")
    span = max(1, (window_end or cycle) - (window_start or 0))
    return {"pattern": pattern, "rate": rate, "packets": injected, "delivered": delivered,
            "cycles": cycle, "sources": len(sources),
            "accepted_per_node_cycle": window_delivered / span / len(sources),
            "mean_latency": float(np.mean(latencies)) if latencies else 0.0,
            "max_latency": int(max(latencies)) if latencies else 0}


@cocotb.test()
async def test_mesh_traffic(dut):
    """Runs the patterns listed in the runner's parameters; writes results if asked."""
    import json
    from hw.spec.config import ChipConfig
    p = params()
    config = ChipConfig.from_dict(p["config"])
    access = await start_cocotb(dut)
    results = []
    for run in p["runs"]:
        r = await traffic(access, config, **run)
        dut._log.info("%s", r)
        results.append(r)
    if p.get("out"):
        with open(p["out"], "w") as f:
            json.dump(results, f)
