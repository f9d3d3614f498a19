"""Model import: trained float spiking models (NIR graphs, the kit's own file) to integer
:class:`~sw.toolchain.network.Network` s."""
