"""Shared fixtures: the real MNIST files where realism matters, tiny generated data for speed."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mnist_core.data import DATASETS, Dataset, write_idx

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist"


def mnist_dir() -> Path:
    return Path(os.environ.get("MNIST_DATA_DIR") or DEFAULT_MNIST)


@pytest.fixture(scope="session")
def real_mnist():
    from mnist_core.data import load_dataset

    folder = mnist_dir()
    if not (folder / "train-images-idx3-ubyte.gz").exists() and not (folder / "train-images-idx3-ubyte").exists():
        pytest.fail(f"real MNIST files are required in {folder} (set MNIST_DATA_DIR)")
    return load_dataset("mnist", folder, allow_download=False)


def make_synthetic(n_train: int = 600, n_test: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    """Digit-like blobs: class k draws a bright 6x6 square at one of ten grid spots, plus noise."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = torch.arange(n) % 10
        images = (torch.rand(n, 28, 28, generator=g) * 40).to(torch.uint8)
        for i, k in enumerate(labels.tolist()):
            r, c = 3 + (k // 5) * 13, 2 + (k % 5) * 5
            images[i, r:r + 8, c:c + 5] = 255
        out[f"{split}_images"], out[f"{split}_labels"] = images, labels
    return out


@pytest.fixture(scope="session")
def tiny_data() -> Dataset:
    return Dataset(spec=DATASETS["mnist"], source="synthetic", **make_synthetic())


def write_dataset(folder: Path, tensors: dict[str, torch.Tensor], gz: bool = True) -> Path:
    from mnist_core.data import FILES

    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in FILES.items():
        write_idx(folder / (stem + (".gz" if gz else "")), tensors[key])
    return folder


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "runs"
    monkeypatch.setenv("MNIST_RUNS_DIR", str(path))
    return path


def wait_for(pred, timeout: float = 60.0) -> bool:
    """Poll pred() until it holds or the timeout passes (for background jobs)."""
    import time

    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def fill_disk_after(monkeypatch, saves: int):
    """Make checkpoint writes fail with ENOSPC from the given save on, after a partial write.

    Returns a function that frees the disk again."""
    import mnist_core.runs as runs_mod

    real_save = torch.save
    calls = {"n": 0}

    def full_disk(obj, fh, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= saves:
            fh.write(b"partial")
            raise OSError(28, "No space left on device")
        return real_save(obj, fh, *args, **kwargs)

    monkeypatch.setattr(runs_mod.torch, "save", full_disk)
    return lambda: monkeypatch.setattr(runs_mod.torch, "save", real_save)


def canvas_from_digit(digit, size: int = 280):
    """A 28x28 MNIST digit drawn large: white strokes on the black canvas, as RGBA."""
    import numpy as np
    from PIL import Image

    big = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR))
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    rgba[..., :3] = big[..., None]
    rgba[..., 3] = 255
    return rgba
