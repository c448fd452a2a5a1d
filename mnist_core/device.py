"""Device choice and CPU thread settings. torch is imported where it is used, so counting the
cores costs nothing on a page that never loads torch (Home)."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mnist_core import settings

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

_configured = False


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def configure_threads(threads: int | None = None) -> int:
    """Use one intra-op thread per available core and a single inter-op thread.

    torch's default counts every core the host has, not the ones this container may use,
    and oversubscribing 2 cores slows training by a large factor. MNIST_THREADS overrides.
    """
    import torch

    global _configured
    if threads is None:
        threads = settings.current().threads or available_cpus()
    torch.set_num_threads(max(1, threads))
    if not _configured:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only allowed before any parallel work started
            pass
        _configured = True
    return torch.get_num_threads()


@contextmanager
def one_thread():
    """Run what is inside on the calling thread alone, then restore torch's thread count.

    For one image's forward pass in the app: Streamlit runs each rerun in a new thread, whose
    first parallel op starts an OpenMP team of its own, and on 2 cores shared with the browser
    the first prediction after a stroke waits far longer for that team than its conv and
    pooling take. One image gains nothing from a second thread: no faster on an idle machine,
    slower while a core is busy (`python -m benchmarks` times a prediction, benchmarks.browser
    a stroke on Draw). torch's count is process-wide for threads started meanwhile, so keep the
    block short."""
    import torch

    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def resolve_device(name: str = "auto") -> torch.device:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device", "CUDA was asked for but no CUDA GPU is available here; "
                                        "use 'auto' or 'cpu'")
        return torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError("device", f"unknown device {name!r}; choose auto, cpu or cuda")


def describe_device(device: torch.device | None = None) -> str:
    import torch

    device = device or resolve_device("auto")
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


def torch_loaded() -> bool:
    """Whether this process has imported torch yet (Home shows the device only once it has)."""
    return "torch" in sys.modules
