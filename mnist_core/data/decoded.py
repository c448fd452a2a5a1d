"""Decoded copies of gzipped IDX image files, kept on disk so that processes map one copy.

MNIST ships gzipped. Decoded into memory, its 55 MB of digits would sit once in the Streamlit
server and once more in the training workers' fork server, pushing a class's server towards
its 1 GB (benchmarks.load measures the server's peak). Decoded once to disk and
mapped (idx.map_idx_images), the digits are pages of the OS's file cache, shared by every
process that maps them and droppable under memory pressure.

Only copies this module wrote are mapped, never a user's own files: a file truncated in place
while mapped kills the process that reads it (SIGBUS), and a copy here is only ever replaced
whole (os.replace), which leaves an existing mapping intact. Where no copy can be written (a
read-only home, a full disk), the digits are decoded into memory as before: nothing fails.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from mnist_core import settings
from mnist_core.data.idx import DatasetError, map_idx_images, read_idx_array, write_idx

CACHE_ENV = "MNIST_CACHE_DIR"
# Smaller files (the tests' generated datasets) stay in memory: mapping them saves nothing.
MIN_BYTES = 1 << 20


def cache_dir() -> Path:
    """MNIST_CACHE_DIR, else ~/.cache/mnist-studio/idx (or under XDG_CACHE_HOME)."""
    return settings.current().cache_dir


def copy_path(source: Path) -> Path:
    """Where the decoded copy of `source` goes: named by a hash of its bytes (a fraction of
    decoding them), so that an edited file gets a new copy, Fashion-MNIST's same-named
    files their own, and a copy of the same file elsewhere (the tests make some) the same one."""
    digest = hashlib.sha1()
    with open(source, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return cache_dir() / f"{digest.hexdigest()[:20]}-idx3-ubyte"


def read_images(path: str | os.PathLike) -> np.ndarray:
    """The images of an IDX file (N x 28 x 28 uint8): mapped from a decoded copy where the file
    is gzipped and a copy exists or can be written, else decoded into memory."""
    path = Path(path)
    if path.suffix != ".gz":
        return read_idx_array(path, "images")
    try:
        copy = copy_path(path)
    except OSError:
        return read_idx_array(path, "images")  # read_idx_array says what is wrong with it
    if copy.is_file():
        try:
            return map_idx_images(copy)
        except DatasetError:
            pass  # a damaged copy: decoded again below, and replaced
    array = read_idx_array(path, "images")
    if array.nbytes < MIN_BYTES:
        return array
    try:
        _write_whole(copy, array)
        return map_idx_images(copy)
    except (OSError, DatasetError):
        return array


def _write_whole(copy: Path, array: np.ndarray) -> None:
    """Write an uncompressed IDX file beside `copy`, then move it into place in one step: a
    reader sees the old copy or the whole new one, and a full disk leaves nothing behind."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=copy.parent, prefix=".part-")
    os.close(fd)
    try:
        write_idx(tmp, array)
        os.replace(tmp, copy)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
