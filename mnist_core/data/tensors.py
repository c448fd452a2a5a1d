"""MNIST and Fashion-MNIST as in-memory uint8 tensors, validated IDX readers and fast batches.

The whole dataset is 55 MB as uint8, so it is read once and sliced; no per-sample
transforms run on the hot path (airbench style).
"""
from __future__ import annotations

import functools
import math
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from mnist_core import settings
from mnist_core.data.datasets import (  # noqa: F401
    DATASETS,
    FILES,
    DatasetSpec,
    candidate_dirs,
    dataset_status,
    describe_missing,
    get_spec,
    locate,
)
from mnist_core.data.decoded import read_images
from mnist_core.data.idx import DatasetError, read_idx
from mnist_core.device import one_thread


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


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, data_dir: str | None, allow_download: bool) -> Dataset:
    spec = get_spec(name)
    hit = locate(spec, data_dir)
    if hit is None and allow_download and not settings.current().offline:
        root = Path(data_dir) if data_dir else Path(settings.current().data_dir(spec.env_var) or "data")
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
    tensors = {key: (_images(path) if key.endswith("images") else read_idx(path, "labels"))
               for key, path in files.items()}
    for split in ("train", "test"):
        n_img, n_lab = len(tensors[f"{split}_images"]), len(tensors[f"{split}_labels"])
        if n_img != n_lab:
            raise DatasetError(
                f"{files[f'{split}_labels']}: {n_lab} labels but "
                f"{files[f'{split}_images']} has {n_img} images")
    return Dataset(spec=spec, source=str(folder), **tensors)


def _images(path: Path) -> torch.Tensor:
    array = read_images(path)  # mapped from a decoded copy on disk where it can be
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def load_dataset(name: str = "mnist", data_dir: str | os.PathLike | None = None,
                 allow_download: bool = True) -> Dataset:
    """Load a dataset once per process; later calls with the same arguments share the tensors."""
    key_dir = str(data_dir) if data_dir is not None else None
    return _load_cached(name, key_dir, allow_download)


def preload(name: str = "mnist") -> Dataset | None:
    """The dataset read from the folder where it already is (never downloaded), or None: for a
    process that forks others, which then share its tensors' pages (mnist_core.jobs.preload). Loaded
    by that folder, as a training worker asks for it (worker.files_of), so the worker's call
    finds this copy.

    Read on one thread: the labels' conversion is a parallel op, which would start an OpenMP
    team in the forking process, and a child forked from it then hangs on its first parallel
    op (its job never starts)."""
    folder = dataset_status(name)["folder"]
    if folder is None:
        return None
    try:
        with one_thread():
            return load_dataset(name, folder, allow_download=False)
    except Exception:  # noqa: BLE001 - unreadable files: the workers will say so
        return None


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
            translate: float = 0.1, scale: tuple[float, float] = (0.9, 1.1),
            distort: bool = False) -> torch.Tensor:
    """Random rotation, translation and scale for a whole batch (N,1,28,28) in [0,1]; with
    `distort`, also a shear, an elastic distortion and thicker or thinner strokes, as other
    writers' hands and pens differ from MNIST's (benchmarks/stress.py measures the effect)."""
    n = x01.shape[0]
    dev = x01.device

    def uniform(lo, hi, *shape):
        return torch.rand(shape or (n,), generator=generator, device=generator.device).to(dev) * (hi - lo) + lo

    angle = uniform(-degrees, degrees) * math.pi / 180
    s = uniform(*scale)
    # Only a share of the images is distorted: distorting every one cost clean accuracy
    # (docs/benchmarks.md, the stress benchmark's table).
    hit = (uniform(0, 1) < DISTORT_SHARE).float() if distort else None
    tx, ty = uniform(-translate, translate) * 2, uniform(-translate, translate) * 2
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    a01, a11 = -sin, cos
    if distort:  # a horizontal shear after the rotation
        shear = torch.tan(uniform(-SHEAR_DEGREES, SHEAR_DEGREES) * math.pi / 180) * hit
        a01, a11 = a01 + shear * cos, a11 + shear * sin
    theta = torch.stack([torch.stack([cos, a01, tx], 1), torch.stack([sin, a11, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x01.shape), align_corners=False)
    if distort:
        grid = grid + elastic_field(uniform(-1, 1, n, 2, 28, 28), x01.shape[-1]) * hit.view(n, 1, 1, 1)
    out = F.grid_sample(x01, grid, align_corners=False, padding_mode="zeros")
    if distort:
        out = _restroke(out, (uniform(-RESTROKE, RESTROKE) * hit).view(n, 1, 1, 1))
    return out


def training_view(x01: torch.Tensor, augment_on: bool, distort: bool,
                  generator: torch.Generator) -> torch.Tensor:
    """What the network is shown of a batch (N,1,28,28) in [0,1]: the digits as stored, or their
    augmented copies (`distort` implies the plain augmentation too)."""
    if augment_on or distort:
        return augment(x01, generator, distort=distort)
    return x01


def augmentation_preview(images: torch.Tensor, augment_on: bool, distort: bool, seed: int = 0) -> torch.Tensor:
    """uint8 digits (N,28,28) as one training batch would show them to the network, as uint8."""
    x = images.float().div(255).unsqueeze(1)
    out = training_view(x, augment_on, distort, torch.Generator().manual_seed(seed))
    return out.squeeze(1).clamp(0, 1).mul(255).round().to(torch.uint8)


SHEAR_DEGREES = 25.0
DISTORT_SHARE = 0.5  # of the images in a batch, the rest only rotated, shifted and scaled
ELASTIC_ALPHA, ELASTIC_SIGMA = 34.0, 4.0  # Simard et al. 2003, in 28-pixel units
# At most this much of a full 3x3 erosion or dilation: MNIST's strokes are 2-3 pixels wide, and
# a full erosion wiped out 10% of 64 test digits while keeping their labels; a full dilation
# tripled the ink, far thicker than a 30-pixel pen on the canvas.
RESTROKE = 0.6


def elastic_field(noise: torch.Tensor, side: int) -> torch.Tensor:
    """(N,2,28,28) uniform noise -> a smooth displacement grid (N,side,side,2) for grid_sample."""
    k = int(4 * ELASTIC_SIGMA) | 1
    ax = torch.arange(k, device=noise.device, dtype=noise.dtype) - k // 2
    kernel = torch.exp(-ax ** 2 / (2 * ELASTIC_SIGMA ** 2))
    kernel = kernel / kernel.sum()
    n = len(noise)
    f = noise.reshape(-1, 1, *noise.shape[-2:])
    f = F.conv2d(f, kernel.view(1, 1, 1, k), padding=(0, k // 2))
    f = F.conv2d(f, kernel.view(1, 1, k, 1), padding=(k // 2, 0)).reshape(n, 2, *noise.shape[-2:])
    f = f * ELASTIC_ALPHA * 2 / 28  # pixels of a 28-pixel image in grid units of [-1, 1]
    if f.shape[-1] != side:
        f = F.interpolate(f, size=(side, side), mode="bilinear", align_corners=False)
    return f.permute(0, 2, 3, 1)


def _restroke(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Thicker strokes where amount > 0 (towards a 3x3 dilation), thinner where < 0 (erosion)."""
    thick = F.max_pool2d(x, 3, stride=1, padding=1)
    thin = -F.max_pool2d(-x, 3, stride=1, padding=1)
    target = torch.where(amount > 0, thick, thin)
    return x + amount.abs() * (target - x)


def shuffled_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """One epoch's order of n images; each call draws the generator's next epoch."""
    return torch.randperm(n, generator=generator, device=generator.device)


def iterate_batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                    generator: torch.Generator | None = None,
                    skip: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (uint8 images, labels) slices; shuffled when a generator is given. The first `skip`
    batches are left out (the order is drawn all the same), for an epoch a stop cut short."""
    n = len(images)
    order = shuffled_order(n, generator).to(images.device) if generator is not None else None
    for start in range(skip * batch_size, n, batch_size):
        if order is None:
            yield images[start:start + batch_size], labels[start:start + batch_size]
        else:
            idx = order[start:start + batch_size]
            yield images[idx], labels[idx]
