"""Golden models, cocotb testbenches and the Verilator runner."""
