"""The container's PID 1: supervisord's output through a pipe this process owns, and signals passed on.

supervisord reopens ``/dev/stdout`` for its programs' output. As a non-root user that fails with "Permission
denied" wherever the container runtime's stdout belongs to root (a TTY from ``docker run -t``, the pipes of
containerd). A pipe created here belongs to the image's user, so the reopen works, and this process copies
everything onto the stdout it inherited, which needs no reopening. SIGTERM and SIGINT go on to supervisord;
the exit status is supervisord's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

CHUNK = 65536


def run_supervisord(config: str) -> int:
    """Run supervisord with ``config`` until it exits; returns its exit status."""
    process = subprocess.Popen(["supervisord", "-c", config], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def forward(signum: int, _frame: FrameType | None) -> None:
        process.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    assert process.stdout is not None
    out = sys.stdout.fileno()
    while chunk := os.read(process.stdout.fileno(), CHUNK):
        os.write(out, chunk)
    return process.wait()
