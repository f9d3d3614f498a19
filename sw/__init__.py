"""Compiler, driver, model import and fault-injection campaigns."""
