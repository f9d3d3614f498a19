"""Amaranth generators for the spikeforge neuromorphic chip."""
