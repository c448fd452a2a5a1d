"""Optimisers and learning-rate schedules, built from a TrainConfig."""
from __future__ import annotations

import math

import torch
from torch import nn

from mnist_core.train.config import TrainConfig

ONECYCLE_WARMUP = 0.25  # share of the run spent raising the rate


def make_optimizer(model: nn.Module, c: TrainConfig) -> torch.optim.Optimizer:
    params = list(model.parameters())
    fused = _fusable(params)
    if c.optimizer == "adam":
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay, fused=fused)
    if c.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay, fused=fused)
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay,
                               nesterov=c.momentum > 0, fused=fused)
    return torch.optim.RMSprop(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)


def _fusable(params: list[nn.Parameter]) -> bool | None:
    """Whether to update every parameter in one fused kernel, not a Python loop over them: on
    the CPU the optimiser's step then takes a fraction of the looped one's time for the
    presets' networks (docs/benchmarks.md, "Worker processes, the allocator and the
    optimiser"). torch fuses float tensors on the CPU and CUDA only; elsewhere its default."""
    ok = params and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return True if ok else None


def make_scheduler(opt: torch.optim.Optimizer, c: TrainConfig, steps_per_epoch: int,
                   total_steps: int | None = None):
    """A per-batch learning-rate schedule, or None for a constant rate. A one-cycle spans
    `total_steps` (by default the config's epochs): a continued run that first finishes a
    stopped epoch trains fewer steps than whole epochs, and its cycle must end with it."""
    sched = torch.optim.lr_scheduler
    if c.schedule == "constant" or c.time_budget:
        return None  # a budgeted one-cycle follows the clock instead: see clock_onecycle_lr
    if c.schedule == "step":
        return sched.StepLR(opt, step_size=c.step_size * steps_per_epoch, gamma=c.gamma)
    if c.schedule == "onecycle":
        total = total_steps if total_steps is not None else c.epochs * steps_per_epoch
        if total < 3:
            return None  # too short to warm up and anneal: a constant rate
        # OneCycleLR divides by zero when its warm-up is under one step (4 steps or fewer at
        # 25%), so a very short run warms up for at least one step.
        # Momentum cycling would override the user's momentum and Adam's betas; keep them.
        return sched.OneCycleLR(opt, max_lr=c.lr, total_steps=total,
                                pct_start=max(ONECYCLE_WARMUP, 2 / total), cycle_momentum=False)
    cosine = sched.CosineAnnealingWarmRestarts(
        opt, T_0=max(1, round(c.restart_epochs * steps_per_epoch)), T_mult=2)
    warm = round(c.warmup_epochs * steps_per_epoch)
    if not warm:
        return cosine
    linear = sched.LinearLR(opt, start_factor=0.01, total_iters=warm)
    return sched.SequentialLR(opt, [linear, cosine], milestones=[warm])


def clock_onecycle_lr(max_lr: float, fraction: float) -> float:
    """OneCycleLR's rate (same warm-up share and end points) at a fraction of a time budget.

    Steps are not known in advance when a run is cut by the clock, so the cycle is laid over
    seconds: every model warms up and anneals fully within the same budget.
    """
    start, end = max_lr / 25, max_lr / 25 / 1e4
    f = min(max(fraction, 0.0), 1.0)
    if f < ONECYCLE_WARMUP:
        lo, hi, pct = start, max_lr, f / ONECYCLE_WARMUP
    else:
        lo, hi, pct = max_lr, end, (f - ONECYCLE_WARMUP) / (1 - ONECYCLE_WARMUP)
    return hi + (lo - hi) / 2 * (math.cos(math.pi * pct) + 1)


def lr_curve(c: TrainConfig, steps_per_epoch: int, points: int = 400) -> tuple[list[tuple[float, float]], str]:
    """The learning rate over a run, as (x, lr) points and what x is: epochs, or the share of the
    time budget when one-cycle follows the clock. Computed by stepping torch's own schedulers on
    one dummy parameter, on a coarser grid of steps for long runs (the shape stays the same)."""
    if c.time_budget and c.schedule == "onecycle":
        xs = [i / points for i in range(points + 1)]
        return [(x, clock_onecycle_lr(c.lr, x)) for x in xs], "share of the time budget"
    # At most `points` steps in all: the schedule's epochs and warm-ups scale with them.
    spe = max(1, min(steps_per_epoch, math.ceil(points / c.epochs)))
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=c.lr)
    out = []
    sched = make_scheduler(opt, c.replace(time_budget=0.0), spe)
    # No optimizer.step() between: the first one imports torch._dynamo (seconds), and only the
    # rates are wanted. torch warns about that order; the flag it reads says it is on purpose.
    # Not warnings.catch_warnings(): it swaps the process's filters, which is not thread-safe,
    # and a class's server draws this chart in many sessions' threads at once (its warning
    # leaked into the log).
    opt._opt_called = True
    for step in range(spe * c.epochs + 1):
        out.append((step / spe, opt.param_groups[0]["lr"]))
        if sched is not None and step < spe * c.epochs:
            sched.step()
    return out, "epoch"
