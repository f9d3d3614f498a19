"""Radiation-style fault-injection campaigns: the engine, the models it injects into and
the statistics (:mod:`.reliability`); the command is ``python sw/inject.py``."""
