"""The C allocator's settings for a process that trains one run from cold.

glibc hands each allocation over 128 KB straight to the kernel (mmap) and gives freed memory
back, raising both thresholds only as it sees such blocks freed. A fresh process's first epoch
therefore maps, faults in and unmaps its activations again and again, and even a warm process
pays page faults and system time on every training step. A training worker and the CLI (and
the benchmarks) start with the thresholds where glibc's own tuning ends: a small fraction of
the faults for the same peak memory (docs/benchmarks.md, "Worker processes, the allocator and
the optimiser"; the job-runner rows of `python -m benchmarks` include the effect).
Not for the Streamlit server: it does not train (jobs run in workers), and it holds memory for
a class, which freed blocks kept for reuse would add to.
"""
from __future__ import annotations

import ctypes
import sys

# mallopt's parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
# glibc's ceiling for its dynamic mmap threshold on 64-bit, and the trim threshold it sets with
# it (twice as much). Larger blocks (a 10,000-digit evaluation's activations) are still mapped.
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD


def keep_freed_memory() -> bool:
    """Start glibc's malloc warm; False where there is no glibc (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
