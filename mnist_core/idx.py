"""IDX files, the format MNIST ships in: read header first and bounded by what the header
announces, and written (for tests and tiny generated datasets)."""
from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np
import torch

from .limits import MAX_IDX_ITEMS

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
SIDE = 28


class DatasetError(Exception):
    """A dataset file is missing or malformed; the message names the file and the problem."""


def _read_capped(path: Path, header_len: int, size_of) -> bytes:
    """The header, then at most the size it announces plus one byte: a gzip bomb in place of an
    IDX file is refused after its header, not after 2 GB have been decompressed."""
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as fh:
            header = fh.read(header_len)
            expected = size_of(header)  # raises DatasetError for a bad header
            return header + fh.read(expected - header_len + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc


def read_idx(path: str | os.PathLike, kind: str) -> torch.Tensor:
    """Read one IDX file; kind is 'images' (uint8 N x 28 x 28) or 'labels' (int64 N)."""
    path = Path(path)
    magic_expected, ndim = (IMAGE_MAGIC, 3) if kind == "images" else (LABEL_MAGIC, 1)
    header_len = 4 + 4 * ndim

    def size_of(header: bytes) -> int:
        if len(header) < header_len:
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
        sizes.append(dims)
        return header_len + math.prod(dims)

    sizes: list[list[int]] = []
    raw = _read_capped(path, header_len, size_of)
    dims = sizes[0]
    expected = header_len + math.prod(dims)
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "has trailing bytes"
        shown = f"{len(raw)} bytes" if len(raw) < expected else "more"
        raise DatasetError(
            f"{path}: {problem}: header says {dims[0]} items ({expected} bytes) "
            f"but the file has {shown}")
    array = np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)
    tensor = torch.from_numpy(array.copy())
    if kind == "labels":
        tensor = tensor.long()
        if tensor.numel() and int(tensor.max()) > 9:
            raise DatasetError(f"{path}: label {int(tensor.max())} is outside 0-9")
    return tensor


def write_idx(path: str | os.PathLike, tensor: torch.Tensor) -> None:
    """Write uint8 images (N,28,28) or labels (N,) as IDX; gzipped when the name ends in .gz."""
    path = Path(path)
    array = tensor.to(torch.uint8).numpy()
    magic = IMAGE_MAGIC if array.ndim == 3 else LABEL_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(header + array.tobytes())
