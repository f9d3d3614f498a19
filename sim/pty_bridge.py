"""A serial port without a board: a pseudo-terminal whose other side is a process
speaking the host protocol on stdin/stdout (the Verilator harness of the chip).

``with pty_bridge([exe]) as port: Chip(f"serial:{port}", config)`` drives the RTL
through pyserial exactly as the driver drives a board's UART.
"""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
import threading
import tty

__all__ = ["pty_bridge"]


@contextlib.contextmanager
def pty_bridge(argv):
    """Start ``argv`` and yield the path of a raw pseudo-terminal bridged to its
    stdin/stdout; the process is stopped (stdin closed) on exit."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, bufsize=0)

    def pump(src, dst):
        while True:
            try:
                data = os.read(src, 4096)
            except OSError:
                return
            if not data:
                return
            os.write(dst, data)
    for args in ((master, proc.stdin.fileno()), (proc.stdout.fileno(), master)):
        threading.Thread(target=pump, args=args, daemon=True).start()
    try:
        yield os.ttyname(slave)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        os.close(master)
        os.close(slave)
