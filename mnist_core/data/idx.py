"""IDX files, the format MNIST ships in: read header first and bounded by what the header
announces, and written (for tests and tiny generated datasets)."""
from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np

from mnist_core.errors import DatasetError  # noqa: F401  (defined there, torch-free)
from mnist_core.limits import MAX_IDX_ITEMS

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
SIDE = 28
# Each kind's magic number and count of dimensions; a header is the magic and one 4-byte
# big-endian size per dimension.
LAYOUT = {"images": (IMAGE_MAGIC, 3), "labels": (LABEL_MAGIC, 1)}


def header_len(kind: str) -> int:
    return _header_bytes(LAYOUT[kind][1])


def _header_bytes(ndim: int) -> int:
    return 4 + 4 * ndim


def _read_capped(path: Path, n_header: int, size_of) -> bytes:
    """The header, then at most the size it announces plus one byte: a gzip bomb in place of an
    IDX file is refused after its header, not after 2 GB have been decompressed."""
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as fh:
            header = fh.read(n_header)
            expected = size_of(header)  # raises DatasetError for a bad header
            return header + fh.read(expected - n_header + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc


def _dims(path: Path, kind: str, header: bytes) -> list[int]:
    """The dimensions an IDX header announces, or DatasetError saying what is wrong with it."""
    magic_expected, ndim = LAYOUT[kind]
    if len(header) < header_len(kind):
        raise DatasetError(f"{path}: file is {len(header)} bytes, too short for an IDX header")
    magic = int.from_bytes(header[:4], "big")
    if magic != magic_expected:
        raise DatasetError(
            f"{path}: wrong magic number {magic} (expected {magic_expected} for {kind}); "
            "is this the right file, or is it corrupted?")
    dims = [int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if kind == "images" and dims[1:] != [SIDE, SIDE]:
        raise DatasetError(f"{path}: images are {dims[1]}x{dims[2]}, expected {SIDE}x{SIDE}")
    if dims[0] == 0:  # it would train on nothing, or score an empty test set as 0%
        raise DatasetError(f"{path}: holds no {kind} (its header counts 0)")
    if dims[0] > MAX_IDX_ITEMS:
        raise DatasetError(f"{path}: its header counts {dims[0]:,} {kind}; the limit is {MAX_IDX_ITEMS:,}")
    return dims


def _size_problem(path: Path, dims: list[int], size: int) -> DatasetError | None:
    expected = _header_bytes(len(dims)) + math.prod(dims)
    if size == expected:
        return None
    problem = "truncated" if size < expected else "has trailing bytes"
    shown = f"{size} bytes" if size < expected else "more"
    return DatasetError(f"{path}: {problem}: header says {dims[0]} items ({expected} bytes) "
                        f"but the file has {shown}")


def read_idx_array(path: str | os.PathLike, kind: str) -> np.ndarray:
    """Read one IDX file as a uint8 array (N x 28 x 28 images, or N labels 0-9), without torch:
    Home checks the files with it before torch has loaded."""
    path = Path(path)
    start = header_len(kind)
    sizes: list[list[int]] = []

    def size_of(header: bytes) -> int:
        sizes.append(_dims(path, kind, header))
        return start + math.prod(sizes[0])

    raw = _read_capped(path, start, size_of)
    problem = _size_problem(path, sizes[0], len(raw))
    if problem:
        raise problem
    array = np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(sizes[0])
    if kind == "labels" and array.size and int(array.max()) > 9:
        raise DatasetError(f"{path}: label {int(array.max())} is outside 0-9")
    return array


def map_idx_images(path: str | os.PathLike) -> np.ndarray:
    """An uncompressed IDX image file mapped from disk, checked as read_idx_array checks it. Its
    pages live in the OS's file cache, shared by every process that maps the file (the server,
    the workers' fork server, the workers) and droppable under memory pressure, where a decoded
    copy is private to each process. Copy-on-write: a write to it stays in its process."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            header = fh.read(header_len("images"))
        size = path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    dims = _dims(path, "images", header)
    problem = _size_problem(path, dims, size)
    if problem:
        raise problem
    return np.memmap(path, dtype=np.uint8, mode="c", offset=header_len("images"), shape=tuple(dims))


def read_idx(path: str | os.PathLike, kind: str):
    """Read one IDX file as a tensor; kind is 'images' (uint8 N x 28 x 28) or 'labels' (int64 N)."""
    import torch

    tensor = torch.from_numpy(read_idx_array(path, kind).copy())
    return tensor.long() if kind == "labels" else tensor


def write_idx(path: str | os.PathLike, tensor) -> None:
    """Write uint8 images (N,28,28) or labels (N,) as IDX, from a tensor or an array; gzipped
    when the name ends in .gz."""
    path = Path(path)
    array = np.asarray(tensor).astype(np.uint8)
    magic = IMAGE_MAGIC if array.ndim == 3 else LABEL_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(header + array.tobytes())
