"""Accuracy under controlled distortions of the test digits: shift, rotation, stroke thickness."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mnist_core.analysis.evaluation import evaluate_tensors
from mnist_core.data.tensors import DatasetSpec

SHIFTS = (0, 1, 2, 3, 4)  # pixels, applied diagonally (right and down)
ROTATIONS = (0, 5, 10, 15, 20, 25, 30)  # degrees, counter-clockwise
THICKNESS = ("thinner", "original", "thicker")


def _affine(x01: torch.Tensor, degrees: float = 0.0, shift_px: float = 0.0) -> torch.Tensor:
    n = x01.shape[0]
    a = math.radians(degrees)
    # affine_grid works in [-1, 1] coordinates: one pixel of 28 is 2/28.
    t = -shift_px * 2 / x01.shape[-1]
    theta = torch.tensor([[math.cos(a), -math.sin(a), t], [math.sin(a), math.cos(a), t]],
                         dtype=x01.dtype, device=x01.device).expand(n, 2, 3)
    grid = F.affine_grid(theta, list(x01.shape), align_corners=False)
    return F.grid_sample(x01, grid, align_corners=False, padding_mode="zeros")


def _thickness(x01: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "thicker":  # dilation: max over a 3x3 neighbourhood
        return F.max_pool2d(x01, 3, stride=1, padding=1)
    if kind == "thinner":  # erosion as min-pool; padding with -inf in -x keeps borders at 0 ink
        return -F.max_pool2d(-x01, 3, stride=1, padding=1)
    return x01


def _to_uint8(x01: torch.Tensor) -> torch.Tensor:
    # Back to uint8 so the model sees exactly what evaluate_tensors feeds it for plain images.
    return (x01.squeeze(1) * 255).round().clamp(0, 255).to(torch.uint8)


def distort(images_uint8: torch.Tensor, shift: int = 0, rotation: float = 0.0,
            thickness: str = "original") -> torch.Tensor:
    """One distortion of a uint8 batch (N,28,28); the identity returns the images untouched."""
    if shift == 0 and rotation == 0 and thickness == "original":
        return images_uint8
    x = images_uint8.float().unsqueeze(1) / 255.0
    x = _thickness(x, thickness)
    if shift or rotation:
        x = _affine(x, rotation, shift)
    return _to_uint8(x)


def robustness_sweep(model: nn.Module, images_uint8: torch.Tensor, labels: torch.Tensor,
                     spec: DatasetSpec, n: int = 2000) -> dict[str, dict]:
    """Accuracy on the first n images for each shift, rotation and thickness, one at a time.

    Returns {"shift": {px: acc}, "rotation": {deg: acc}, "thickness": {kind: acc}}.
    """
    images, labels = images_uint8[:n], labels[:n]

    def acc(x):
        return evaluate_tensors(model, x, labels, spec)["accuracy"]

    base = acc(images)
    return {
        "shift": {s: base if s == 0 else acc(distort(images, shift=s)) for s in SHIFTS},
        "rotation": {r: base if r == 0 else acc(distort(images, rotation=r)) for r in ROTATIONS},
        "thickness": {k: base if k == "original" else acc(distort(images, thickness=k))
                      for k in THICKNESS},
    }
