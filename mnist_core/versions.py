"""The library versions a checkpoint or an export records."""
from __future__ import annotations

import functools

import torch

from mnist_core import __version__


def versions() -> dict[str, str]:
    """Library versions for a checkpoint or manifest (a fresh dict: callers may keep it)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    # Read from its metadata: importing torchvision costs seconds and memory that nothing else
    # in a training process needs.
    try:
        torchvision = version("torchvision")
    except PackageNotFoundError:
        torchvision = "not installed"
    # str(): torch.__version__ is a TorchVersion, which weights_only loading refuses.
    return {"mnist_core": __version__, "torch": str(torch.__version__),
            "torchvision": torchvision, "python": platform.python_version()}
