"""A learning-rate finder (Smith 2015, "Cyclical Learning Rates"; fast.ai's `lr_find`).

Train from fresh weights for a hundred or so batches while the learning rate rises
exponentially from `start` to `end`, and record the loss at each rate. The loss first barely
moves (too small a rate), then falls fastest, then blows up (too large). The suggestion is the
rate where the smoothed loss falls fastest against log(rate), taken before the loss's minimum:
a rate that still learns quickly with room below the point where training becomes unstable.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from mnist_core.train.config import ConfigError, TrainConfig

START, END, STEPS = 1e-6, 1.0, 100
SMOOTHING = 0.9  # fast.ai's: an exponential moving average of the loss, bias-corrected
BLOW_UP = 4.0  # stop once the smoothed loss passes this many times its best


def rates(start: float = START, end: float = END, steps: int = STEPS) -> np.ndarray:
    if not (0 < start < end) or steps < 10:
        raise ConfigError("lr", f"the sweep needs 0 < start < end and at least 10 steps, "
                                f"got {start:g} to {end:g} in {steps}")
    return np.geomspace(start, end, steps)


def sweep(loss_at: Callable[[float], float], lrs: np.ndarray) -> dict:
    """Call `loss_at(lr)` (one training step at that rate, returning its loss) for each rate in
    turn until the loss blows up; returns the rates tried, raw and smoothed losses, and the
    suggestion (None when the loss never fell)."""
    tried, raw, smooth = [], [], []
    avg, best = 0.0, math.inf
    for i, lr in enumerate(lrs):
        loss = float(loss_at(float(lr)))
        if not math.isfinite(loss):
            break
        avg = SMOOTHING * avg + (1 - SMOOTHING) * loss
        value = avg / (1 - SMOOTHING ** (i + 1))
        tried.append(float(lr))
        raw.append(loss)
        smooth.append(value)
        best = min(best, value)
        if i > 5 and value > BLOW_UP * best:
            break
    return {"lrs": tried, "losses": raw, "smoothed": smooth, "suggestion": suggest(tried, smooth)}


def suggest(lrs: list[float], smoothed: list[float], half_width: int = 3) -> float | None:
    """The rate of steepest descent of the smoothed loss in log(rate), before its minimum. The
    slope at each point spans `half_width` points either side: a neighbour-to-neighbour slope
    picks noise (on a problem whose best rate is known, its suggestions scatter far more
    widely than with this span)."""
    k = half_width
    lows = int(np.argmin(smoothed)) if smoothed else 0
    if lows < 2 * k + 1 or smoothed[lows] >= smoothed[0]:
        return None  # it never learned: every rate tried was too large, or the loss is flat
    loss, log_lr = np.asarray(smoothed[:lows + 1]), np.log(np.asarray(lrs[:lows + 1]))
    slope = (loss[2 * k:] - loss[:-2 * k]) / (log_lr[2 * k:] - log_lr[:-2 * k])
    return float(lrs[k + int(np.argmin(slope))])


def find_lr(config: TrainConfig, data, start: float = START, end: float = END,
            steps: int = STEPS) -> dict:
    """Sweep the rate on fresh weights of `config`'s model, one batch of its training digits
    per step (with its optimizer, batch size and augmentation; a constant rate otherwise)."""
    from mnist_core.data.tensors import iterate_batches
    from mnist_core.train.step import Diverged
    from mnist_core.train.trainer import Trainer

    trainer = Trainer(dataclasses.replace(config, schedule="constant", time_budget=0.0), data)
    images, labels = trainer._training_set()
    lrs = rates(start, end, steps)
    batches = _endless(lambda: iterate_batches(images, labels, config.batch_size, trainer.shuffle_gen))
    trainer.model.train()

    def loss_at(lr: float) -> float:
        trainer._set_lr(lr)
        xb, yb = next(batches)
        try:
            _, loss = trainer.step(xb, yb)
        except Diverged as exc:
            return exc.loss if math.isfinite(exc.loss) else math.inf
        return loss.item()

    result = sweep(loss_at, lrs)
    result.update(model=config.model, optimizer=config.optimizer, batch_size=config.batch_size)
    return result


def _endless(make):
    while True:
        yield from make()
