"""Starting worker processes: from a fork server that preloaded torch and the digits, without
re-importing the server's __main__, and naming how one ended."""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import sys
import threading
import types


def context():
    """Workers fork from a server process that imported torch but never ran it (so no OpenMP
    pool or lock is copied mid-use), and starting one takes milliseconds, not an import of
    torch; where there is no fork server (Windows), each worker is a fresh interpreter."""
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver":
        # torch's optimizers import torch._dynamo on first use, which takes seconds. Preloaded,
        # the fork server pays it once and each worker starts with it; the server itself never
        # needs it. mnist_core.jobs.preload reads MNIST there once, for the same reason.
        ctx.set_forkserver_preload(["mnist_core.jobs.worker", "torch._dynamo", "mnist_core.jobs.preload"])
    return ctx


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def main_hidden():
    """Start a worker without it importing this process's __main__ script again, as
    multiprocessing does for a script: under `streamlit run` that is Streamlit's command line,
    which would cost each worker time and memory for nothing. The worker's target lives in
    mnist_core."""
    with _MAIN_LOCK:
        main = sys.modules["__main__"]
        stand_in = types.ModuleType("__main__")
        sys.modules["__main__"] = stand_in
        try:
            yield
        finally:
            sys.modules["__main__"] = main


def describe_exit(code: int | None) -> str:
    if code is None:
        return "it did not exit"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = "; the system may have run out of memory" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"
