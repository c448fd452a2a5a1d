"""Dataset files checked without loading them: what Home reports before anyone waits for a load.

Labels are small, so they are read in full (magic, count, values 0-9). Images are checked from
their header and their size: a gzip file records its uncompressed size in its last four bytes,
so a truncated or padded file shows without decompressing 47 MB.
"""
from __future__ import annotations

import gzip
import math
from pathlib import Path

from mnist_core.data.datasets import get_spec, locate
from mnist_core.data.idx import IMAGE_MAGIC, SIDE, DatasetError, read_idx_array


def _image_header(path: Path) -> tuple[int, list[int], int]:
    """(magic, dims, uncompressed size) of an images file."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as fh:
            head = fh.read(16)
        with open(path, "rb") as fh:
            fh.seek(-4, 2)
            size = int.from_bytes(fh.read(4), "little")  # ISIZE: the length modulo 2**32
    else:
        with open(path, "rb") as fh:
            head = fh.read(16)
        size = path.stat().st_size
    if len(head) < 16:
        raise DatasetError(f"{path}: file is {len(head)} bytes, too short for an IDX header")
    return int.from_bytes(head[:4], "big"), [int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(3)], size


def check_files(name: str = "mnist", data_dir=None) -> str | None:
    """None when the dataset's files look whole, else what is wrong with which file."""
    hit = locate(get_spec(name), data_dir)
    if hit is None:
        return "the files are missing"
    _, files = hit
    try:
        for split in ("train", "test"):
            labels = read_idx_array(files[f"{split}_labels"], "labels")
            path = files[f"{split}_images"]
            magic, dims, size = _image_header(path)
            if magic != IMAGE_MAGIC:
                return f"{path}: wrong magic number {magic} (expected {IMAGE_MAGIC}); is it the right file?"
            if dims[1:] != [SIDE, SIDE]:
                return f"{path}: images are {dims[1]}x{dims[2]}, expected {SIDE}x{SIDE}"
            expected = 16 + math.prod(dims)
            if size != expected % 2**32:
                problem = "truncated" if size < expected % 2**32 else "has trailing bytes"
                return f"{path}: {problem}: the header says {dims[0]} images ({expected} bytes) but it holds {size}"
            if dims[0] != len(labels):
                return f"{files[f'{split}_labels']}: {len(labels)} labels but {path} has {dims[0]} images"
    except DatasetError as exc:
        return str(exc)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        return f"a file cannot be read ({exc})"
    return None
