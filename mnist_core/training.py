"""The training loop: one generator of metric events, driven by the CLI, the job runner and tests.

Events are plain JSON-ready dicts with a "kind":
- "start": device, parameter count, sizes;
- "batch": every `log_every` batches: loss, running accuracy, lr, images/s, progress;
- "epoch": train and test loss and accuracy, elapsed time (a fractional epoch when a time
  budget ends the run part-way);
- "probe": with a time budget only, test loss and accuracy at each tenth of it;
- "end": status "completed" or "diverged", with a message.
The caller stops a run by closing the generator; every completed epoch stays in `history`.
Time the caller spends between events (pausing, writing checkpoints) is not counted.
"""
from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from . import __version__
from .config import HANDWRITING_REPEAT, ConfigError, TrainConfig
from .data import Dataset, augment, iterate_batches, load_dataset, normalise
from .device import configure_threads, resolve_device
from .evaluation import evaluate_tensors
from .models import build_model, count_parameters, set_dropout_generator

# Model initialisation draws from torch's global RNG; concurrent jobs take turns.
_INIT_LOCK = threading.Lock()
# A loss this large means the weights have blown up even if it is still finite.
DIVERGENCE_LOSS = 1e3
ONECYCLE_WARMUP = 0.25  # share of the run spent raising the rate
# A budgeted run is evaluated this many times, at the same shares of the budget whatever the
# model, so runs of different speeds can be compared point for point.
BUDGET_PROBES = 10


def versions() -> dict[str, str]:
    """Library versions for a checkpoint or manifest (a fresh dict: callers may keep it)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    # Read from its metadata: importing torchvision costs about 2 s and 160 MB that nothing else
    # in a training process needs.
    try:
        torchvision = version("torchvision")
    except PackageNotFoundError:
        torchvision = "not installed"
    # str(): torch.__version__ is a TorchVersion, which weights_only loading refuses.
    return {"mnist_core": __version__, "torch": str(torch.__version__),
            "torchvision": torchvision, "python": platform.python_version()}


def make_optimizer(model: nn.Module, c: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if c.optimizer == "adam":
        return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
    if c.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
    if c.optimizer == "sgd":
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay,
                               nesterov=c.momentum > 0)
    return torch.optim.RMSprop(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)


def make_scheduler(opt: torch.optim.Optimizer, c: TrainConfig, steps_per_epoch: int):
    """A per-batch learning-rate schedule, or None for a constant rate."""
    sched = torch.optim.lr_scheduler
    if c.schedule == "constant" or c.time_budget:
        return None  # a budgeted one-cycle follows the clock instead: see clock_onecycle_lr
    if c.schedule == "step":
        return sched.StepLR(opt, step_size=c.step_size * steps_per_epoch, gamma=c.gamma)
    if c.schedule == "onecycle":
        # Momentum cycling would override the user's momentum and Adam's betas; keep them.
        return sched.OneCycleLR(opt, max_lr=c.lr, total_steps=c.epochs * steps_per_epoch,
                                pct_start=ONECYCLE_WARMUP, cycle_momentum=False)
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


def forward_batch(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, c: TrainConfig,
                  spec, aug_gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 batch -> (logits, loss): scale, augment, normalise on whole tensors."""
    x = xb.float().div_(255).unsqueeze(1)
    if c.augment:
        x = augment(x, aug_gen)
    x = normalise(x, spec).contiguous(memory_format=torch.channels_last)
    logits = model(x)
    return logits, F.cross_entropy(logits, yb, label_smoothing=c.label_smoothing)


class Trainer:
    """Holds the model and optimizer of one run; `events()` trains and reports."""

    def __init__(self, config: TrainConfig, data: Dataset | None = None, data_dir=None):
        self.config = config
        self.device = resolve_device(config.device)
        if self.device.type == "cpu":
            configure_threads()
        self.data = data if data is not None else load_dataset(config.dataset, data_dir)
        with _INIT_LOCK:
            torch.manual_seed(config.seed)
            self.model = build_model(config.model, **config.model_kwargs).to(self.device)
        # NHWC convolutions run about 1.5x faster on the CPU here (docs/benchmarks.md).
        self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, config)
        self.history: list[dict] = []  # one "epoch" event per completed epoch
        self.epochs_done = 0
        self.active_seconds = 0.0
        self.eval_seconds = 0.0  # part of active_seconds spent on test evaluation
        # The user's digits this run trained on (count, per class, fingerprint): the set on
        # disk may change afterwards, and the run should say which one it saw.
        self.handwriting_set: dict | None = None

    def _generator(self, offset: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(self.config.seed + offset)
        return g

    def _training_set(self) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self.data.train_images, self.data.train_labels
        n = self.config.train_subset
        if n and n < len(images):
            pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.config.seed))[:n]
            images, labels = images[pick], labels[pick]
        if self.config.handwriting:
            images, labels, self.handwriting_set = _with_handwriting(images, labels)
        # Resident on the device once; batches are slices of it.
        return images.to(self.device), labels.to(self.device)

    def checkpoint(self, include_optimizer: bool = True) -> dict:
        state = {
            "format": 1,
            "model_state": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "epoch": self.epochs_done,
            "config": self.config.to_dict(),
            "history": list(self.history),
            "versions": versions(),
        }
        if self.handwriting_set is not None:
            state["handwriting_set"] = dict(self.handwriting_set)
        if include_optimizer:
            state["optimizer_state"] = self.optimizer.state_dict()
        return state

    def events(self) -> Iterator[dict]:
        c, spec, dev = self.config, self.data.spec, self.device
        images, labels = self._training_set()
        test_images, test_labels = self.data.test_images.to(dev), self.data.test_labels.to(dev)
        steps_per_epoch = math.ceil(len(images) / c.batch_size)
        total_steps = steps_per_epoch * c.epochs
        scheduler = make_scheduler(self.optimizer, c, steps_per_epoch)
        shuffle_gen, aug_gen = self._generator(1), self._generator(2)
        set_dropout_generator(self.model, self._generator(3))
        check_every_batch = dev.type == "cpu"  # a sync per batch is free on the CPU only

        budget = c.time_budget
        probes_done = 0
        clock_lr = bool(budget) and c.schedule == "onecycle"
        if clock_lr:
            self._set_lr(clock_onecycle_lr(c.lr, 0.0))
        clock = time.perf_counter()

        def active() -> float:
            return self.active_seconds + (time.perf_counter() - clock)

        def pause_clock():
            self.active_seconds += time.perf_counter() - clock

        def resume_clock():
            nonlocal clock
            clock = time.perf_counter()

        pause_clock()
        start = {"kind": "start", "device": str(dev), "params": count_parameters(self.model),
                 "train_size": len(images), "test_size": len(test_images),
                 "steps_per_epoch": steps_per_epoch, "total_steps": total_steps}
        if self.handwriting_set is not None:
            start["handwriting_set"] = dict(self.handwriting_set)
        yield start
        resume_clock()

        step = 0
        out_of_time = False
        for epoch in range(1, c.epochs + 1):
            self.model.train()
            epoch_start = active()
            loss_sum = torch.zeros((), device=dev)
            correct = torch.zeros((), device=dev, dtype=torch.long)
            seen = window_seen = 0
            window_start = time.perf_counter()
            for batch_idx, (xb, yb) in enumerate(iterate_batches(images, labels, c.batch_size, shuffle_gen)):
                logits, loss = forward_batch(self.model, xb, yb, c, spec, aug_gen)
                if check_every_batch and not _healthy(loss):
                    pause_clock()
                    yield self._diverged(epoch, loss)
                    return
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                if budget:
                    used = (active() - self.eval_seconds) / budget  # share of the budget trained
                    out_of_time = used >= 1
                    if clock_lr:
                        self._set_lr(clock_onecycle_lr(c.lr, used))
                n = len(yb)
                step += 1
                seen += n
                window_seen += n
                reported = _reported_loss(logits, yb, loss, c)
                loss_sum += reported * n
                correct += (logits.detach().argmax(1) == yb).sum()
                if step % c.log_every == 0 or batch_idx == steps_per_epoch - 1 or out_of_time:
                    if not check_every_batch and not _healthy(loss):  # the GPU's only check
                        pause_clock()
                        yield self._diverged(epoch, loss)
                        return
                    now = time.perf_counter()
                    event = {"kind": "batch", "epoch": epoch, "step": step, "total_steps": total_steps,
                             "loss": reported.item(), "acc": correct.item() / seen,
                             "lr": self.optimizer.param_groups[0]["lr"],
                             "images_per_s": window_seen / max(now - window_start, 1e-9),
                             "progress": min(1.0, max(step / total_steps, used)) if budget else step / total_steps,
                             "elapsed": self.active_seconds + (now - clock),
                             "train_seconds": self.active_seconds + (now - clock) - self.eval_seconds}
                    pause_clock()
                    yield event
                    resume_clock()
                    window_seen, window_start = 0, time.perf_counter()
                if out_of_time:
                    break
                # The last tenth ends the run; its evaluation is the closing "epoch" event.
                if budget and probes_done < BUDGET_PROBES - 1 and used >= (probes_done + 1) / BUDGET_PROBES:
                    probes_done += 1
                    test = self._evaluate(active, test_images, test_labels)
                    event = {"kind": "probe", "epoch": round(epoch - 1 + seen / len(images), 3), "step": step,
                             "test_acc": test["accuracy"], "test_loss": test["loss"],
                             "test_size": len(test_labels), "train_seconds": used * budget}
                    pause_clock()
                    yield event
                    resume_clock()
                    self.model.train()

            test = self._evaluate(active, test_images, test_labels)
            now_active = active()
            # A budget can end an epoch part-way: it is reported as a fraction (2.37), so curves
            # and histories put it where it belongs.
            partial = out_of_time and seen < len(images)
            self.epochs_done = round(epoch - 1 + seen / len(images), 2) if partial else epoch
            event = {"kind": "epoch", "epoch": self.epochs_done, "epochs": c.epochs,
                     "train_loss": loss_sum.item() / seen, "train_acc": correct.item() / seen,
                     "test_loss": test["loss"], "test_acc": test["accuracy"],
                     "lr": self.optimizer.param_groups[0]["lr"],
                     "epoch_time": now_active - epoch_start, "elapsed": now_active,
                     "train_seconds": now_active - self.eval_seconds, "step": step}
            self.history.append(event)
            pause_clock()
            yield event
            resume_clock()
            if out_of_time:
                break
        pause_clock()
        last = self.history[-1]
        if out_of_time:
            message = (f"reached its {budget:g} s time budget after {self.epochs_done:g} epoch(s), {step:,} "
                       f"steps: test accuracy {last['test_acc']:.2%} ({self.active_seconds:.1f} s with "
                       "the test evaluations)")
        else:
            message = (f"completed {self.epochs_done} epoch(s): test accuracy {last['test_acc']:.2%} in "
                       f"{self.active_seconds:.1f} s")
        yield {"kind": "end", "status": "completed", "epochs_done": self.epochs_done, "steps": step,
               "message": message,
               "elapsed": self.active_seconds, "train_seconds": self.active_seconds - self.eval_seconds}

    def _evaluate(self, active, images, labels) -> dict:
        """Test loss and accuracy, timed into eval_seconds: a budget counts training, not this."""
        start = active()
        test = evaluate_tensors(self.model, images, labels=labels, spec=self.data.spec)
        self.eval_seconds += active() - start
        return test

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _diverged(self, epoch: int, loss: torch.Tensor) -> dict:
        value = loss.item()
        kept = (f"epoch {self.epochs_done} is kept" if self.epochs_done else "no epoch completed")
        return {"kind": "end", "status": "diverged", "epochs_done": self.epochs_done,
                "message": f"training diverged in epoch {epoch}: loss became {value:.4g}. "
                           f"Try a smaller learning rate (now {self.config.lr:g}); {kept}.",
                "elapsed": self.active_seconds}


def _with_handwriting(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from . import handwriting  # only runs that ask for it touch the folder

    own_x, own_y = handwriting.load_set()
    if len(own_y) == 0:
        raise ConfigError("handwriting", f"the set is empty ({handwriting.folder_path()}): "
                                         "save some digits on the Draw page first")
    digest = hashlib.sha256(own_x.to(torch.uint8).numpy().tobytes() + own_y.to(torch.int64).numpy().tobytes())
    used = {"samples": len(own_y), "per_class": handwriting.class_counts(own_y),
            "repeat": HANDWRITING_REPEAT, "sha256": digest.hexdigest()}
    own_x = own_x.repeat(HANDWRITING_REPEAT, 1, 1)
    own_y = own_y.repeat(HANDWRITING_REPEAT)
    return (torch.cat([images, own_x.to(images.dtype)]), torch.cat([labels, own_y.to(labels.dtype)]), used)


def _reported_loss(logits, yb, loss, c: TrainConfig) -> torch.Tensor:
    """Plain cross-entropy for the curves: label smoothing raises the optimised loss's floor
    (about 0.5 at 0.1), which would sit oddly above an unsmoothed test loss."""
    if not c.label_smoothing:
        return loss.detach()
    with torch.no_grad():
        return F.cross_entropy(logits.detach(), yb)


def _healthy(loss: torch.Tensor) -> bool:
    value = loss.item()
    return math.isfinite(value) and value < DIVERGENCE_LOSS


def train(config: TrainConfig, data: Dataset | None = None, data_dir=None) -> Iterator[dict]:
    """Shortcut: the events of a fresh Trainer."""
    return Trainer(config, data, data_dir).events()
