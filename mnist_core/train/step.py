"""One training step's arithmetic: the forward pass on a uint8 batch, the loss reported on the
curves, the check that the loss has not blown up, and an epoch's running sums."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mnist_core.data.tensors import normalise, training_view
from mnist_core.models.registry import model_spec, spec_of
from mnist_core.train.config import TrainConfig

# A loss this large means the weights have blown up even if it is still finite.
DIVERGENCE_LOSS = 1e3


def forward_batch(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, c: TrainConfig,
                  spec, aug_gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 batch -> (logits, loss): scale, augment, normalise on whole tensors."""
    x01 = xb.float().div_(255).unsqueeze(1)

    def view() -> torch.Tensor:
        x = training_view(x01, c.augment, c.distort, aug_gen)
        return normalise(x, spec).contiguous(memory_format=torch.channels_last)

    entry = spec_of(model)
    if entry is not None and entry.member_losses:  # an ensemble: each member learns on its own loss
        # ...and, when augmenting, on its own augmented copy of the batch: an ensemble of
        # default CNNs reads higher so than sharing one copy, for every seed tried, at a little
        # more time.
        n = len(model.members)
        members = model.member_logits([view() for _ in range(n)] if c.augment or c.distort else view())
        # Summed, not averaged: each member's gradient is then the one it would get alone
        # (averaging would divide SGD's learning rate by the number of members).
        loss = sum(F.cross_entropy(m, yb, label_smoothing=c.label_smoothing) for m in members)
        return model.combine(members), loss
    logits = model(view())
    return logits, F.cross_entropy(logits, yb, label_smoothing=c.label_smoothing)


class Diverged(Exception):
    """The loss blew up; raised inside a step, before the weights are updated."""

    def __init__(self, loss: float):
        super().__init__(loss)
        self.loss = loss


def reported_loss(logits, yb, loss, c: TrainConfig) -> torch.Tensor:
    """Plain cross-entropy for the curves: label smoothing raises the optimised loss's floor
    (about 0.5 at 0.1), which would sit oddly above an unsmoothed test loss. An ensemble's
    curves show its own prediction's loss, not the sum of its members'."""
    if not c.label_smoothing and not model_spec(c.model).member_losses:
        return loss.detach()
    with torch.no_grad():
        return F.cross_entropy(logits.detach(), yb)


def healthy(loss: torch.Tensor) -> bool:
    value = loss.item()
    return math.isfinite(value) and value < DIVERGENCE_LOSS


@dataclass
class EpochStats:
    """Running sums of one epoch; tensors so that the CPU never waits on the device per batch."""
    loss_sum: torch.Tensor
    correct: torch.Tensor
    seen: int = 0
    window_seen: int = 0  # images since the last batch event, for images/s
    window_start: float = field(default_factory=time.perf_counter)
    # loss_sum and correct at the last batch event: a batch event reports the loss and the
    # accuracy of the same batches, those since the one before (the accuracy was the epoch's
    # running mean while the loss was one batch's, so the two curves told different stories).
    loss_at_event: float = 0.0
    correct_at_event: int = 0
    # Images of this epoch trained before a stop, by the run this one continues: they count
    # towards how far through the epoch it is, not towards its loss and accuracy.
    skipped: int = 0

    def share(self, train_size: int) -> float:
        """How far through the epoch: 0.37 after 37% of its images."""
        return (self.skipped + self.seen) / train_size

    def window_means(self) -> tuple[float, float]:
        """(loss, accuracy) over the images since the last batch event, which this one becomes
        (each sum is read once an event: on a GPU every read waits for the device)."""
        n = max(self.window_seen, 1)
        loss_sum, correct = self.loss_sum.item(), self.correct.item()
        means = (loss_sum - self.loss_at_event) / n, (correct - self.correct_at_event) / n
        self.loss_at_event, self.correct_at_event = loss_sum, correct
        return means

    def next_window(self) -> None:
        """After the event has been taken: images/s counts from here, not the caller's pause."""
        self.window_seen, self.window_start = 0, time.perf_counter()
