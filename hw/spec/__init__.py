"""Every format that hardware and software share, in one package free of Amaranth
components: the RTL generators (:mod:`hw`), the golden models (:mod:`sim.golden`), the
testbenches and the software (:mod:`sw`) take widths, layouts and names only from here.

=====================  ===================================================================
module                 holds
=====================  ===================================================================
:mod:`.config`         the configuration dataclasses: every width and size
:mod:`.isa`            microcode word, table entries, the neuron state record
:mod:`.packet`         NoC packet, destination and route-table entries, router ports
:mod:`.memmap`         structured memory names, every memory of a core / tile / chip in
                       directory order, what ``CLEAR_STATE`` clears
:mod:`.memory`         fault-port transfers, memory-bus words, status and counts words
:mod:`.protection`     parity / SECDED code layouts and encoding
:mod:`.directory`      the memory directory file (exported at build time)
:mod:`.delay`          SCDQ push / drain / entry words
:mod:`.sdsp`           SDSP core events and memory words
:mod:`.counters`       counter names, counter words, the saturation rule
:mod:`.host`           the host protocol (frames, commands, errors) and its geometry
=====================  ===================================================================

Layouts are :mod:`amaranth.lib.data` layouts: the RTL uses them as signal shapes, software
packs and unpacks with :meth:`.isa.Isa.pack` / :func:`.isa.decode`.
"""
