"""Bit-exact NumPy golden models, one per RTL block (same module names as in ``hw``)."""
