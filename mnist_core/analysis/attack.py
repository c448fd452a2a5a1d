"""Fool it: the smallest change to a digit that makes the model read another digit of one's choice.

A targeted gradient-sign attack (the basic iterative method of Kurakin, Goodfellow and Bengio
2016, a few small steps of the fast gradient sign method of Goodfellow et al. 2014): each step
moves every pixel by the same small amount in the direction that raises the target's score,
stays within `strength` of the original pixel and inside [0, 1], and the walk stops at the first
step where the model reads the target, so the change is as small as the path allows.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mnist_core.data.tensors import DatasetSpec

STEPS = 20


@dataclass(frozen=True)
class Attack:
    original: torch.Tensor  # (28, 28) pixels in [0, 1], as the model saw them
    fooled: torch.Tensor  # (28, 28) in [0, 1]: the original plus the change
    target: int
    success: bool
    steps: int  # steps taken (the first success, or all of them)
    before: torch.Tensor  # class probabilities of the original
    after: torch.Tensor  # and of the changed image

    @property
    def change(self) -> torch.Tensor:
        return self.fooled - self.original

    @property
    def largest_change(self) -> float:
        """The L-infinity size of the change: the most any one pixel moved (of 1.0)."""
        return float(self.change.abs().max())


def fool(model: torch.nn.Module, x01: torch.Tensor, target: int, spec: DatasetSpec,
         strength: float = 0.25, steps: int = STEPS) -> Attack:
    """Walk from `x01` (28x28 in [0, 1]) towards class `target`, each pixel moving at most
    `strength`; see the module's note."""
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    if not 0 <= target < len(spec.classes):
        raise ValueError(f"target must be a class index from 0 to {len(spec.classes) - 1}, got {target}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    original = x01.detach().float().to(device).reshape(1, 1, 28, 28)
    step = strength / (steps / 2)  # reaches the edge of the ball halfway, then can refine along it
    goal = torch.tensor([target], device=device)

    def probs(x):
        with torch.no_grad():
            return torch.softmax(model((x - spec.mean) / spec.std).float(), 1)[0]

    before = probs(original)
    x = original.clone()
    taken, success = 0, int(before.argmax()) == target
    try:
        while not success and taken < steps:
            x.requires_grad_(True)
            loss = F.cross_entropy(model((x - spec.mean) / spec.std), goal)
            (grad,) = torch.autograd.grad(loss, x)
            with torch.no_grad():
                x = x - step * grad.sign()  # down the loss of the target: towards it
                x = torch.min(torch.max(x, original - strength), original + strength).clamp_(0, 1)
            taken += 1
            success = int(probs(x).argmax()) == target
    finally:
        model.train(was_training)
    return Attack(original=original[0, 0].cpu(), fooled=x.detach()[0, 0].cpu(), target=target,
                  success=success, steps=taken, before=before.cpu(), after=probs(x.detach()).cpu())
