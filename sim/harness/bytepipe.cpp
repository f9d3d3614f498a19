// Verilator harness: a design with byte streams rx/tx and a `busy` output, driven from
// stdin and to stdout, so that a host program talks to the RTL exactly as to a UART.
// No per-cycle work outside the model: the clock runs freely while the design is busy
// or input is pending, and the harness blocks on stdin only when the design is idle
// (busy low, nothing to send, no input left). Exits at end of input once idle; prints
// the cycle count and the seconds spent simulating on stderr ("cycles N busy_s S":
// wall time less the time blocked waiting for the host). The design's reset is a
// power-on counter in the Verilog top (sim/runner.py reset_wrapper), not an input:
// the harness only runs its cycles before counting. (Verilator escapes the "__" of
// Amaranth port names such as rx__valid as "___05F".)
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>
#include <vector>

#include "Vtop.h"
#include "verilated.h"

static void write_all(const uint8_t *p, size_t n) {
    while (n) {
        ssize_t k = write(1, p, n);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            std::exit(3);
        }
        p += k;
        n -= (size_t)k;
    }
}

#ifndef POR_CYCLES
#define POR_CYCLES 4
#endif

static double now_s() {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    Vtop *top = new Vtop;
    uint64_t max_cycles = 0;  // 0: no limit
    if (const char *s = std::getenv("SPIKEFORGE_MAX_CYCLES")) max_cycles = std::strtoull(s, 0, 10);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

    top->clk = 0;
    top->rx___05Fvalid = 0;
    top->tx___05Fready = 1;
    for (int i = 0; i < POR_CYCLES; i++) {
        top->clk = 0; top->eval();
        top->clk = 1; top->eval();
    }
    double t_start = now_s(), blocked = 0.0;

    std::vector<uint8_t> in(1 << 16), out;
    size_t in_pos = 0, in_len = 0;
    bool eof = false;
    uint64_t cycles = 0, quiet = 0;
    // Two evaluations per cycle (clock low with this cycle's inputs, clock high), a
    // third only in the cycle new input arrives. Verilator re-runs the logic that
    // depends on the top's inputs at every eval(); with the reset inside the top that
    // is only the host receiver's, so the clock-low evaluation costs little.
    // While the design is busy and input is drained, stdin is polled every 64 cycles:
    // bytes wait at most 64 cycles, which only shifts when the chip sees them.
    for (;;) {
        top->rx___05Fvalid = in_pos < in_len;
        top->rx___05Fpayload = in_pos < in_len ? in[in_pos] : 0;
        top->clk = 0; top->eval();
        bool idle = !top->busy && !top->tx___05Fvalid;
        if (in_pos == in_len && !eof && (idle || ++quiet >= 64)) {
            quiet = 0;
            if (idle && !out.empty()) { write_all(out.data(), out.size()); out.clear(); }
            struct pollfd p = {0, POLLIN, 0};
            double t0 = idle ? now_s() : 0.0;
            int r = poll(&p, 1, idle ? -1 : 0);
            if (idle) blocked += now_s() - t0;
            if (r > 0) {
                ssize_t k = read(0, in.data(), in.size());
                if (k > 0) {
                    in_pos = 0; in_len = (size_t)k;
                    top->rx___05Fvalid = 1;
                    top->rx___05Fpayload = in[0];
                    top->eval();
                } else if (k == 0) eof = true;
            }
        }
        if (eof && in_pos == in_len && idle) break;
        bool rx_fire = top->rx___05Fvalid && top->rx___05Fready;
        bool tx_fire = top->tx___05Fvalid;
        uint8_t tx_byte = top->tx___05Fpayload;
        top->clk = 1; top->eval();
        cycles++;
        if (rx_fire) in_pos++;
        if (tx_fire) {
            out.push_back(tx_byte);
            if (out.size() >= 4096) { write_all(out.data(), out.size()); out.clear(); }
        }
        if (max_cycles && cycles >= max_cycles) break;
    }
    if (!out.empty()) write_all(out.data(), out.size());
    top->final();
    std::fprintf(stderr, "cycles %llu busy_s %.6f\n", (unsigned long long)cycles,
                 now_s() - t_start - blocked);
    delete top;
    return 0;
}
