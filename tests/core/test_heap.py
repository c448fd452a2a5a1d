"""The allocator settings a training process starts with (mnist_core.heap)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

# A 20 MB block: glibc maps it on its own in a fresh process (threshold 128 KB) and takes it
# from the heap once the threshold is 32 MB. A mapped chunk carries the IS_MMAPPED bit (2) in
# the size word just before the pointer.
PROBE = textwrap.dedent("""
    import ctypes, sys
    from mnist_core.heap import keep_freed_memory
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    applied = keep_freed_memory() if sys.argv[1] == "on" else None
    p = libc.malloc(20 * 2**20)
    print(applied, bool(ctypes.c_size_t.from_address(p - 8).value & 2))
    libc.free(p)
""")


def probe(mode: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}  # glibc's defaults
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60,
                         env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def glibc() -> bool:
    import platform

    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not glibc(), reason="mallopt's thresholds are glibc's")
def test_a_large_block_comes_from_the_heap_once_the_thresholds_are_set():
    assert probe("off") == ["None", "True"]  # the fresh process maps it
    assert probe("on") == ["True", "False"]  # the same request, from the heap

