"""Toolchain: integer networks (:mod:`.network`) and their network-level reference model
(:mod:`.network_model`), neuron programs (:mod:`.programs`) and the microcode assembler
(:mod:`.microcode`), the single-core compiler (:mod:`.compiler`) and the chip mapper
(:mod:`.mapper`): a network in, memory images and routing tables out."""
