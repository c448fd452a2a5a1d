"""MNIST and Fashion-MNIST as in-memory uint8 tensors, validated IDX readers and fast batches.

The whole dataset is 55 MB as uint8, so it is read once and sliced; no per-sample
transforms run on the hot path (airbench style).
"""
from __future__ import annotations

import functools
import gzip
import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .limits import MAX_IDX_ITEMS

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
SIDE = 28


class DatasetError(Exception):
    """A dataset file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    classes: tuple[str, ...]
    mean: float  # of training pixels scaled to [0, 1]
    std: float
    env_var: str
    torchvision_folder: str  # torchvision's <root>/<folder>/raw layout
    system_dirs: tuple[str, ...] = ()


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        "mnist", "MNIST", tuple(str(d) for d in range(10)), 0.1307, 0.3081,
        "MNIST_DATA_DIR", "MNIST"),
    "fashion": DatasetSpec(
        "fashion", "Fashion-MNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        # Computed from the training images (tests/test_data.py re-checks them).
        0.2860, 0.3530, "FASHION_MNIST_DATA_DIR", "FashionMNIST",
        ("/usr/share/datasets/fashion-mnist",)),
}

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None


@dataclass(frozen=True)
class Dataset:
    spec: DatasetSpec
    train_images: torch.Tensor  # (60000, 28, 28) uint8
    train_labels: torch.Tensor  # (60000,) int64
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str  # the folder the files were read from

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name == "train":
            return self.train_images, self.train_labels
        if name == "test":
            return self.test_images, self.test_labels
        raise ValueError(f"unknown split {name!r}; use 'train' or 'test'")


# ---------------------------------------------------------------- IDX reading

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


# ---------------------------------------------------------------- locating files

def candidate_dirs(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched in order: the argument, else the env var, else ./data; plus system dirs."""
    if data_dir is not None:
        roots = [Path(data_dir)]
    elif os.environ.get(spec.env_var):
        roots = [Path(os.environ[spec.env_var])]
    else:
        roots = [Path("data")]
        # Fashion-MNIST may sit next to MNIST when only MNIST_DATA_DIR is set.
        if spec.name != "mnist" and os.environ.get("MNIST_DATA_DIR"):
            roots.append(Path(os.environ["MNIST_DATA_DIR"]))
        roots += [Path(d) for d in spec.system_dirs]
    own = {Path(d) for d in spec.system_dirs}
    if spec.name == "mnist" or data_dir is not None or os.environ.get(spec.env_var):
        own.add(roots[0])
    dirs = []
    for root in roots:
        # A shared folder holds MNIST under the very same file names at its top level, so
        # another dataset is only looked for in its own subfolders there.
        dirs += ([root] if root in own else []) + [root / spec.torchvision_folder / "raw", root / spec.name]
    return dirs


def _find_file(folder: Path, stem: str) -> Path | None:
    # Some mirrors spell the stem with a dot (train-images.idx3-ubyte).
    stems = (stem, stem.replace("-idx", ".idx"))
    for s in stems:
        for suffix in (".gz", ""):
            p = folder / (s + suffix)
            if p.is_file():
                return p
    return None


def locate(spec: DatasetSpec, data_dir=None) -> tuple[Path, dict[str, Path]] | None:
    for folder in candidate_dirs(spec, data_dir):
        found = {key: _find_file(folder, stem) for key, stem in FILES.items()}
        if all(found.values()):
            return folder, found  # type: ignore[return-value]
    return None


def describe_missing(spec: DatasetSpec, data_dir=None) -> str:
    looked = ", ".join(str(d) for d in candidate_dirs(spec, data_dir))
    return (f"{spec.title} files not found. Looked in: {looked}. "
            f"Put the four IDX files ({', '.join(FILES.values())}, .gz or raw) in a folder and "
            f"set {spec.env_var}=/that/folder (or pass --data-dir); with internet access they "
            "are downloaded into ./data automatically.")


def _network_reachable(host: str = "ossci-datasets.s3.amazonaws.com", timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _download(spec: DatasetSpec, root: Path) -> None:
    import torchvision  # imported lazily: only needed on a user's first run with internet

    cls = {"mnist": torchvision.datasets.MNIST,
           "fashion": torchvision.datasets.FashionMNIST}[spec.name]
    for train in (True, False):
        cls(str(root), train=train, download=True)


def dataset_status(name: str = "mnist", data_dir=None) -> dict:
    """Where the files are (or where we looked), without loading them."""
    spec = get_spec(name)
    hit = locate(spec, data_dir)
    if hit:
        return {"found": True, "folder": str(hit[0]), "message": f"{spec.title} found in {hit[0]}"}
    return {"found": False, "folder": None, "message": describe_missing(spec, data_dir)}


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, data_dir: str | None, allow_download: bool) -> Dataset:
    spec = get_spec(name)
    hit = locate(spec, data_dir)
    if hit is None and allow_download and os.environ.get("MNIST_OFFLINE") != "1":
        root = Path(data_dir) if data_dir else Path(os.environ.get(spec.env_var) or "data")
        if _network_reachable():
            try:
                _download(spec, root)
            except Exception as exc:  # any download failure becomes a clear data error
                raise DatasetError(f"download of {spec.title} failed ({exc}). "
                                   + describe_missing(spec, data_dir)) from exc
            hit = locate(spec, str(root))
    if hit is None:
        raise DatasetError(describe_missing(spec, data_dir))
    folder, files = hit
    tensors = {key: read_idx(path, key.split("_")[1]) for key, path in files.items()}
    for split in ("train", "test"):
        n_img, n_lab = len(tensors[f"{split}_images"]), len(tensors[f"{split}_labels"])
        if n_img != n_lab:
            raise DatasetError(
                f"{files[f'{split}_labels']}: {n_lab} labels but "
                f"{files[f'{split}_images']} has {n_img} images")
    return Dataset(spec=spec, source=str(folder), **tensors)


def load_dataset(name: str = "mnist", data_dir: str | os.PathLike | None = None,
                 allow_download: bool = True) -> Dataset:
    """Load a dataset once per process; later calls with the same arguments share the tensors."""
    key_dir = str(data_dir) if data_dir is not None else None
    return _load_cached(name, key_dir, allow_download)


# ---------------------------------------------------------------- batches

def normalise(images: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """uint8 (N,28,28) or float in [0,1] -> normalised float (N,1,28,28)."""
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return (x - spec.mean) / spec.std


def augment(x01: torch.Tensor, generator: torch.Generator, degrees: float = 10.0,
            translate: float = 0.1, scale: tuple[float, float] = (0.9, 1.1)) -> torch.Tensor:
    """Random rotation, translation and scale for a whole batch (N,1,28,28) in [0,1]."""
    n = x01.shape[0]
    dev = x01.device

    def uniform(lo, hi):
        return torch.rand(n, generator=generator, device=generator.device).to(dev) * (hi - lo) + lo

    angle = uniform(-degrees, degrees) * math.pi / 180
    s = uniform(*scale)
    tx, ty = uniform(-translate, translate) * 2, uniform(-translate, translate) * 2
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x01.shape), align_corners=False)
    return F.grid_sample(x01, grid, align_corners=False, padding_mode="zeros")


def iterate_batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                    generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (uint8 images, labels) slices; shuffled when a generator is given."""
    n = len(images)
    if generator is not None:
        order = torch.randperm(n, generator=generator, device=generator.device).to(images.device)
    else:
        order = None
    for start in range(0, n, batch_size):
        if order is None:
            yield images[start:start + batch_size], labels[start:start + batch_size]
        else:
            idx = order[start:start + batch_size]
            yield images[idx], labels[idx]
