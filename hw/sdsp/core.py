"""SDSP core: an ODIN-style plastic crossbar that processes a synapse word per cycle.

N neurons, an N x N array of (weight, mapping bit) synapses, per-neuron state
(membrane, calcium, calcium-leak count, the SDSP flags up/down) and parameters
(including the calcium-off and neuron-disable bits), a sign per pre-synaptic neuron
and a control word (learn, gate, syn_learn, learn_unmapped), all in FaultSRAMs
(:func:`hw.spec.memmap.sdsp_memories`). The rules are those of the golden model
:class:`sim.golden.sdsp.GoldenSdsp`, which this RTL matches bit for bit.

Data flow and cycle behaviour
-----------------------------
``events`` enter a FIFO of ``event_fifo_depth`` entries; when it is full ``events.ready``
is low (back-pressure: an event is never dropped). An event is then issued as one
read per cycle of ``L = lanes`` neurons' words (state, parameters, the synapse word of
the pre-synaptic row, the sign word, the control word):

* SPIKE and time-reference-all: all ``K = N / L`` words, ``K`` cycles;
* SYNAPSE, VIRTUAL and single-neuron time reference: one word, one cycle.

One cycle after its read a word is computed for all ``L`` lanes at once (integration,
threshold, calcium, the next flags from the next state; SDSP step of the synapse
word from the *stored* flags, i.e. those latched before this event, as ODIN's
NEUR_V_UP/DOWN registers) and written back in that cycle: the neuron word always, the
synapse word when the event learns (SPIKE with ``learn``, SYNAPSE with
``syn_learn``; a SYNAPSE event steps its one lane only). So a SPIKE event processes
``L`` synapses per cycle and costs ``K`` cycles (ODIN: 2 cycles per synapse, 512 for
N = 256); the next event's first read follows its last at once. A read of a word that
the compute stage writes in the same cycle waits one cycle (read-after-write hazard:
only back-to-back events on the same word, or ``K = 1``).

Spikes of a word (fired lanes whose neuron is not disabled, ``params.off``) are
loaded into a pending set and sent lowest lane first, one per cycle, into an output
FIFO of ``out_fifo_depth`` (``spikes``: neuron index, payload 1). While the pending set
cannot take the next word's spikes the pipeline freezes (read data hold), so a full
output FIFO stalls the core and no spike is lost. The cycle behaviour does not depend
on the options: each is a few gates in the one-cycle compute stage.

Counters (:data:`hw.spec.counters.CORE_COUNTERS` layout, saturating, ``clear_counters``):
``cycles_busy``/``cycles_idle``, ``events_in`` (taken from the FIFO), ``events_out``
(spikes), ``synops`` (synapses integrated), ``neuron_updates``, ``ticks`` (time
references), ``weight_updates`` (synapses whose weight changed); the others stay 0.
"""

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.config import ChipConfig
from ..spec.counters import CORE_COUNTERS, counter_layout
from ..counters import saturating
from ..mem import FaultSRAM
from ..mem.bus import MemoryBus
from ..spec.sdsp import (EventKind, control_layout, event_layout, neuron_layout, param_layout, synapse_layout)
from ..spec.memmap import sdsp_memories

__all__ = ["SdspCore", "spike_layout"]


def spike_layout(config: ChipConfig) -> data.StructLayout:
    """An output spike: the neuron's index and a payload (always 1)."""
    return data.StructLayout({"neuron": config.sdsp.index_bits,
                              "payload": signed(config.core.payload_bits)})


class SdspCore(wiring.Component):
    """One plastic crossbar core.

    Parameters
    ----------
    config : ChipConfig
        ``config.sdsp`` gives every size; ``config.memory`` the FaultSRAMs' protection.
    prefix : str
        Hierarchical name prefix of the memories (``tile1_0``).
    directory : MemoryDirectory, optional
    images : dict, optional
        Initial memory contents (``{name: words}``).
    own_bus : bool
        Give the core its own memory bus (``mem_req``/``mem_resp``); a chip drives the
        memories from its bus instead.

    Members
    -------
    events : ``In(stream.Signature(event_layout))``
    spikes : ``Out(stream.Signature(spike_layout))``
    idle : ``Out(1)``, no event queued or in flight and no spike waiting.
    counters : ``Out(counter_layout)``; ``clear_counters : In(1)``
    mem_req, mem_resp : the memory bus (with ``own_bus``); usable while ``idle``.
    """

    def __init__(self, config: ChipConfig, *, prefix: str = "sdsp", directory=None,
                 images=None, own_bus: bool = True):
        if config.core.payload_bits < config.sdsp.index_bits:
            raise ValueError(f"SdspCore: core.payload_bits ({config.core.payload_bits}) is "
                             f"below the neuron index width ({config.sdsp.index_bits}); a "
                             "single-synapse event carries its neuron in the payload")
        self.config = config
        self.prefix = prefix
        specs = sdsp_memories(config, prefix)
        self.synapses, self.neurons, self.params, self.signs, self.control = [
            FaultSRAM.for_chip(spec, config, directory, images=images) for spec in specs]
        self.srams = [self.synapses, self.neurons, self.params, self.signs, self.control]
        self.bus = MemoryBus(self.srams) if own_bus else None
        bus_ports = {
            "mem_req": In(stream.Signature(self.bus.req.payload.shape())),
            "mem_resp": Out(stream.Signature(self.bus.resp.payload.shape())),
        } if own_bus else {}
        cb = config.core.counter_bits
        self.counter_layout = counter_layout(CORE_COUNTERS, cb)
        super().__init__({
            "events": In(stream.Signature(event_layout(config))),
            "spikes": Out(stream.Signature(spike_layout(config))),
            "idle": Out(1),
            "counters": Out(self.counter_layout),
            "clear_counters": In(1),
            **bus_ports,
        })

    def elaborate(self, platform):
        m = Module()
        s = self.config.sdsp
        L, K, N = s.lanes, s.words, s.neurons
        lane_bits = (L - 1).bit_length()
        for mem in self.srams:
            m.submodules[mem.name.rsplit(".", 1)[1]] = mem
        if self.bus is not None:
            m.submodules.bus = bus = self.bus
            wiring.connect(m, wiring.flipped(self.mem_req), bus.req)
            wiring.connect(m, bus.resp, wiring.flipped(self.mem_resp))

        # --- input FIFO --------------------------------------------------------------
        ev_layout = event_layout(self.config)
        m.submodules.in_fifo = ififo = fifo.SyncFIFOBuffered(width=ev_layout.size,
                                                             depth=s.event_fifo_depth)
        m.d.comb += [ififo.w_data.eq(self.events.payload), ififo.w_en.eq(self.events.valid),
                     self.events.ready.eq(ififo.w_rdy)]
        head = data.View(ev_layout, ififo.r_data)

        # --- issue stage: the current event and its next word ------------------------
        busy = Signal()
        ev = Signal(ev_layout)
        k = Signal(range(K))
        last_k = Signal(range(K))
        every = Signal()         # the event covers every word
        is_last = Signal()
        m.d.comb += is_last.eq(k == last_k)

        def post(e):
            """The one neuron a single-word event targets."""
            return Mux(e.kind == EventKind.SYNAPSE, e.arg[:s.index_bits], e.index)

        def covers_all(e):
            return (e.kind == EventKind.SPIKE) | ((e.kind == EventKind.TIME) & e.arg[0])

        # read addresses of the word being issued
        syn_row = ev.index
        r_k = k
        r_syn = Signal(range(N * K))
        m.d.comb += r_syn.eq(syn_row * K + r_k)

        # --- compute stage registers -------------------------------------------------
        c_valid = Signal()
        c_kind = Signal(EventKind)
        c_k = Signal(range(K))
        c_syn = Signal(range(N * K))
        c_mask = Signal(L)
        c_arg = Signal.like(ev.arg)
        c_pre_lane = Signal(range(L) if L > 1 else 1)

        freeze = Signal()
        writes_syn = Signal()
        hazard = Signal()
        m.d.comb += hazard.eq(c_valid & ((c_k == r_k) | (writes_syn & (c_syn == r_syn))))
        issue = Signal()
        m.d.comb += issue.eq(busy & ~freeze & ~hazard)
        rd = [self.synapses.read[0], self.neurons.read[0], self.params.read[0],
              self.signs.read[0], self.control.read[0]]
        m.d.comb += [
            rd[0].addr.eq(r_syn), rd[1].addr.eq(r_k), rd[2].addr.eq(r_k),
            rd[3].addr.eq(ev.index >> lane_bits),
            rd[4].addr.eq(0),
        ]
        for p in rd:
            m.d.comb += p.en.eq(issue)

        load = Signal()
        m.d.comb += [load.eq(ififo.r_rdy & (~busy | (issue & is_last))),
                     ififo.r_en.eq(load)]
        with m.If(load):
            one = post(head)
            word = one >> lane_bits
            m.d.sync += [ev.eq(head), busy.eq(1), every.eq(covers_all(head)),
                         k.eq(Mux(covers_all(head), 0, word)),
                         last_k.eq(Mux(covers_all(head), K - 1, word))]
        with m.Elif(issue):
            with m.If(is_last):
                m.d.sync += busy.eq(0)
            with m.Else():
                m.d.sync += k.eq(k + 1)

        with m.If(~freeze):
            m.d.sync += c_valid.eq(issue)
            with m.If(issue):
                one_lane = post(ev)[:lane_bits] if lane_bits else Const(0, 1)
                m.d.sync += [c_kind.eq(ev.kind), c_k.eq(r_k), c_syn.eq(r_syn),
                             c_arg.eq(ev.arg),
                             c_mask.eq(Mux(every, (1 << L) - 1, 1 << one_lane)),
                             c_pre_lane.eq(ev.index[:lane_bits] if lane_bits else 0)]

        # --- compute: all lanes of one word ------------------------------------------
        syn_w = data.View(data.ArrayLayout(synapse_layout(s), L), rd[0].data)
        st = data.View(data.ArrayLayout(neuron_layout(s), L), rd[1].data)
        par = data.View(data.ArrayLayout(param_layout(s), L), rd[2].data)
        ctl = data.View(control_layout(), rd[4].data)
        sign = Signal()
        m.d.comb += sign.eq(rd[3].data.bit_select(c_pre_lane, 1) if L > 1 else rd[3].data[0])
        arg_neg = c_arg[-1]
        arg_mag = Signal(len(c_arg))
        m.d.comb += arg_mag.eq(Mux(arg_neg, -c_arg, c_arg))
        kind_spike = c_kind == EventKind.SPIKE
        kind_time = c_kind == EventKind.TIME
        kind_syn = c_kind == EventKind.SYNAPSE
        # the event steps its synapse word (SPIKE: the row's word; SYNAPSE: its one
        # synapse, ODIN's SPI_SDSP_ON_SYN_STIM) and writes it back
        learn_now = Signal()
        m.d.comb += learn_now.eq((kind_spike & ctl.learn) | (kind_syn & ctl.syn_learn))
        m.d.comb += writes_syn.eq(learn_now)

        vmax = (1 << s.membrane_bits) - 1
        cmax = (1 << s.calcium_bits) - 1
        wmax = (1 << s.weight_bits) - 1
        new_st = Signal(data.ArrayLayout(neuron_layout(s), L))
        new_syn = Signal(data.ArrayLayout(synapse_layout(s), L))
        fire = Signal(L)
        changed = Signal(L)
        emit = Signal(L)        # fired and not disabled: the spikes that go out
        for i in range(L):
            v, ca, cnt = st[i].v, st[i].ca, st[i].count
            p, sy = par[i], syn_w[i]
            mb = s.membrane_bits
            ca_on = ~p.ca_off
            # the input magnitude and its sign; an unmapped synapse propagates 0 under
            # gate for SPIKE and SYNAPSE alike (ODIN neuron_core.v: one syn_weight wire)
            x = Signal(max(s.weight_bits, len(arg_mag), s.membrane_bits), name=f"x{i}")
            inh = Signal(name=f"inh{i}")
            with m.Switch(c_kind):
                with m.Case(EventKind.SPIKE, EventKind.SYNAPSE):
                    m.d.comb += [x.eq(Mux(ctl.gate & ~sy.mapped, 0, sy.weight)),
                                 inh.eq(sign)]
                with m.Case(EventKind.VIRTUAL):
                    m.d.comb += [x.eq(arg_mag), inh.eq(arg_neg)]
                with m.Case(EventKind.TIME):
                    m.d.comb += [x.eq(p.leak), inh.eq(1)]
            sum_ = Signal(mb + 1 + len(x), name=f"sum{i}")
            m.d.comb += sum_.eq(v + x)
            v1 = Signal(mb, name=f"v1_{i}")
            m.d.comb += v1.eq(Mux(inh, Mux(v > x, v - x, 0), Mux(sum_ > vmax, vmax, sum_)))
            # calcium-leak counter (time references, calcium on, ca_leak > 0; ODIN
            # lif_calcium.v): due when count == ca_leak - 1, which restarts it
            runs = Signal(name=f"runs{i}")
            due = Signal(name=f"due{i}")
            cnt1 = Signal(s.period_bits, name=f"cnt1_{i}")
            m.d.comb += [
                runs.eq(kind_time & ca_on & (p.ca_leak != 0)),
                due.eq(runs & (cnt == (p.ca_leak - 1)[:s.period_bits])),
                cnt1.eq(Mux(runs, Mux(due, 0, (cnt + 1)[:s.period_bits]), cnt)),
            ]
            m.d.comb += fire[i].eq(c_mask[i] & (v1 >= p.thr))
            m.d.comb += emit[i].eq(fire[i] & ~p.off)
            # calcium (ODIN lif_calcium.v): a spike and a due leak cancel
            ca1 = Signal(s.calcium_bits, name=f"ca1_{i}")
            m.d.comb += ca1.eq(Mux(ca_on & fire[i] & ~due & (ca != cmax), ca + 1,
                                   Mux(ca_on & due & ~fire[i] & (ca != 0), ca - 1, ca)))
            v2 = Signal(mb, name=f"v2_{i}")
            m.d.comb += v2.eq(Mux(fire[i], 0, v1))
            with m.If(c_mask[i]):
                # flags latched from the next state (ODIN v_up_next/v_down_next)
                band = ca_on & (p.theta_1 <= ca1)
                m.d.comb += [
                    new_st[i].v.eq(v2), new_st[i].ca.eq(ca1), new_st[i].count.eq(cnt1),
                    new_st[i].up.eq(band & (v2 >= p.theta_m) & (ca1 < p.theta_3)),
                    new_st[i].down.eq(band & (v2 < p.theta_m) & (ca1 < p.theta_2)),
                ]
            with m.Else():
                m.d.comb += new_st[i].eq(st[i])
            # SDSP: old weight integrated above; the step uses the stored flags, those
            # before the event; unmapped synapses only with learn_unmapped
            # (synaptic_core.v); SYNAPSE events step their one lane only (c_mask)
            up, down = st[i].up, st[i].down
            steps = Signal(name=f"steps{i}")
            m.d.comb += steps.eq(c_mask[i] & (sy.mapped | ctl.learn_unmapped))
            stepped = Mux(up & (sy.weight != wmax), sy.weight + 1,
                          Mux(down & (sy.weight != 0), sy.weight - 1, sy.weight))
            m.d.comb += [new_syn[i].mapped.eq(sy.mapped),
                         new_syn[i].weight.eq(Mux(steps, stepped, sy.weight)),
                         changed[i].eq(learn_now & (new_syn[i].weight != sy.weight))]

        commit = Signal()
        m.d.comb += commit.eq(c_valid & ~freeze)
        m.d.comb += [
            self.neurons.write.addr.eq(c_k), self.neurons.write.data.eq(new_st),
            self.neurons.write.en.eq(commit),
            self.synapses.write.addr.eq(c_syn), self.synapses.write.data.eq(new_syn),
            self.synapses.write.en.eq(commit & learn_now),
        ]

        # --- spikes out: pending set, one per cycle, lowest lane first ---------------
        spk = spike_layout(self.config)
        m.submodules.out_fifo = ofifo = fifo.SyncFIFOBuffered(width=spk.size,
                                                              depth=s.out_fifo_depth)
        m.d.comb += [self.spikes.payload.eq(ofifo.r_data), self.spikes.valid.eq(ofifo.r_rdy),
                     ofifo.r_en.eq(self.spikes.ready)]
        pending = Signal(L)
        pend_k = Signal(range(K))
        first = Signal(range(L) if L > 1 else 1)
        for i in reversed(range(L)):
            with m.If(pending[i]):
                m.d.comb += first.eq(i)
        send = Signal()
        m.d.comb += send.eq(pending.any() & ofifo.w_rdy)
        out = data.View(spk, ofifo.w_data)
        m.d.comb += [out.neuron.eq(Cat(first[:lane_bits], pend_k) if lane_bits else pend_k),
                     out.payload.eq(1), ofifo.w_en.eq(send)]
        after = Signal(L)
        m.d.comb += after.eq(Mux(send, pending & ~(1 << first), pending))
        m.d.comb += freeze.eq(c_valid & emit.any() & after.any())
        with m.If(commit & emit.any()):
            m.d.sync += [pending.eq(emit), pend_k.eq(c_k)]
        with m.Else():
            m.d.sync += pending.eq(after)

        idle = Signal()
        m.d.comb += [idle.eq(~busy & ~c_valid & ~pending.any() & (ififo.level == 0)
                             & (ofifo.level == 0)),
                     self.idle.eq(idle)]
        if self.bus is not None:
            m.d.comb += self.bus.enable.eq(idle)

        # --- counters ----------------------------------------------------------------
        def popcount(v):
            return sum(v[i].as_unsigned() for i in range(len(v)))
        integrates = (c_kind == EventKind.SPIKE) | (c_kind == EventKind.SYNAPSE)
        increments = {
            "cycles_busy": ~idle, "cycles_idle": idle,
            "events_in": load, "events_out": send,
            "synops": Mux(commit & integrates, popcount(c_mask), 0),
            "neuron_updates": Mux(commit, popcount(c_mask), 0),
            "ticks": load & (head.kind == EventKind.TIME),
            "weight_updates": Mux(commit, popcount(changed), 0),
        }
        for name, inc in increments.items():
            saturating(m, getattr(self.counters, name), inc, self.clear_counters, name=name)
        return m
