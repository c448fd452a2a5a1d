"""Dataset exploration: sample selection, class balance, mean images and pixel statistics."""
from __future__ import annotations

import torch

from mnist_core.data.tensors import Dataset


def sample_indices(labels: torch.Tensor, label: int | None = None, shuffle: bool = False,
                   seed: int = 0) -> torch.Tensor:
    """Indices of one class (or all), in file order or a seeded random order."""
    idx = torch.arange(len(labels)) if label is None else (labels == label).nonzero().flatten()
    if shuffle:
        idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))]
    return idx


def split_summary(data: Dataset, split: str) -> dict:
    """Counts per class, mean image per class, a 256-bin intensity histogram, mean and std.

    Mean and std come from the histogram, which is exact for uint8 pixels and avoids a
    float copy of the whole split.
    """
    images, labels = data.split(split)
    n_classes = len(data.classes)
    counts = torch.bincount(labels, minlength=n_classes)
    sums = torch.zeros(n_classes, images.shape[1] * images.shape[2], dtype=torch.float64)
    flat = images.reshape(len(images), -1)
    hist = torch.zeros(256, dtype=torch.float64)
    for start in range(0, len(images), 10000):
        chunk = flat[start:start + 10000]
        sums.index_add_(0, labels[start:start + 10000], chunk.double())
        hist += torch.bincount(chunk.reshape(-1), minlength=256)
    means = sums / counts.clamp(min=1).unsqueeze(1).double() / 255.0
    levels = torch.arange(256, dtype=torch.float64) / 255.0
    total = hist.sum().clamp(min=1)
    mean = (hist * levels).sum() / total
    std = ((hist * (levels - mean) ** 2).sum() / total).sqrt()
    return {"count": len(images), "counts": counts.tolist(),
            "mean_images": means.reshape(n_classes, *images.shape[1:]).float().numpy(),
            "histogram": hist.numpy(), "mean": mean.item(), "std": std.item()}
