"""The C allocator's settings for a process that trains one run from cold.

glibc hands each allocation over 128 KB straight to the kernel (mmap) and gives freed memory
back, raising both thresholds only as it sees such blocks freed. A fresh process's first epoch
therefore maps, faults in and unmaps its activations again and again: the default preset on
20,000 digits took 212,505 page faults and 0.86 s of system time in a fresh process's first
run, against 4,116 faults in its second (2026-12-03, load ~1.5); even warm, a process took
78-482 faults a training step (0.3-1.0 ms of system time in an 11-13 ms step). A training
worker and the CLI (and the benchmarks) start with the thresholds where glibc's own tuning
ends: 10,000-11,000 faults in the first run, 1-7 a step once warm, the same peak memory (777 MB
against 778 MB).
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
