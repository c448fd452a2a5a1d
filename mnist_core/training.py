"""The training loop: one generator of metric events, driven by the CLI, the job runner and tests.

Events are plain JSON-ready dicts with a "kind":
- "start": device, parameter count, sizes;
- "batch": every `log_every` batches: loss, running accuracy, lr, images/s, progress;
- "epoch": train and test loss and accuracy, elapsed time;
- "end": status "completed" or "diverged", with a message.
The caller stops a run by closing the generator; every completed epoch stays in `history`.
Time the caller spends between events (pausing, writing checkpoints) is not counted.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from . import __version__
from .config import HANDWRITING_REPEAT, ConfigError, TrainConfig
from .data import Dataset, augment, iterate_batches, load_dataset
from .device import configure_threads, resolve_device
from .evaluation import evaluate_tensors
from .models import build_model, count_parameters, set_dropout_generator

# Model initialisation draws from torch's global RNG; concurrent jobs take turns.
_INIT_LOCK = threading.Lock()
# A loss this large means the weights have blown up even if it is still finite.
DIVERGENCE_LOSS = 1e3


def versions() -> dict[str, str]:
    import platform

    import torchvision

    # str(): torch.__version__ is a TorchVersion, which weights_only loading refuses.
    return {"mnist_core": __version__, "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__), "python": platform.python_version()}


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
    if c.schedule == "constant":
        return None
    if c.schedule == "step":
        return sched.StepLR(opt, step_size=c.step_size * steps_per_epoch, gamma=c.gamma)
    if c.schedule == "onecycle":
        # Momentum cycling would override the user's momentum and Adam's betas; keep them.
        return sched.OneCycleLR(opt, max_lr=c.lr, total_steps=c.epochs * steps_per_epoch,
                                pct_start=0.25, cycle_momentum=False)
    cosine = sched.CosineAnnealingWarmRestarts(
        opt, T_0=max(1, round(c.restart_epochs * steps_per_epoch)), T_mult=2)
    warm = round(c.warmup_epochs * steps_per_epoch)
    if not warm:
        return cosine
    linear = sched.LinearLR(opt, start_factor=0.01, total_iters=warm)
    return sched.SequentialLR(opt, [linear, cosine], milestones=[warm])


def forward_batch(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, c: TrainConfig,
                  spec, aug_gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 batch -> (logits, loss): scale, augment, normalise on whole tensors."""
    x = xb.float().div_(255).unsqueeze(1)
    if c.augment:
        x = augment(x, aug_gen)
    x = ((x - spec.mean) / spec.std).contiguous(memory_format=torch.channels_last)
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
            images, labels = _with_handwriting(images, labels)
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

        clock = time.perf_counter()

        def pause_clock():
            self.active_seconds += time.perf_counter() - clock

        def resume_clock():
            nonlocal clock
            clock = time.perf_counter()

        pause_clock()
        yield {"kind": "start", "device": str(dev), "params": count_parameters(self.model),
               "train_size": len(images), "test_size": len(test_images),
               "steps_per_epoch": steps_per_epoch, "total_steps": total_steps}
        resume_clock()

        step = 0
        for epoch in range(1, c.epochs + 1):
            self.model.train()
            epoch_start = self.active_seconds + (time.perf_counter() - clock)
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
                n = len(yb)
                step += 1
                seen += n
                window_seen += n
                loss_sum += _reported_loss(logits, yb, loss, c) * n
                correct += (logits.detach().argmax(1) == yb).sum()
                if step % c.log_every == 0 or batch_idx == steps_per_epoch - 1:
                    if not _healthy(loss):
                        pause_clock()
                        yield self._diverged(epoch, loss)
                        return
                    now = time.perf_counter()
                    event = {"kind": "batch", "epoch": epoch, "step": step, "total_steps": total_steps,
                             "loss": _reported_loss(logits, yb, loss, c).item(), "acc": correct.item() / seen,
                             "lr": self.optimizer.param_groups[0]["lr"],
                             "images_per_s": window_seen / max(now - window_start, 1e-9),
                             "progress": step / total_steps,
                             "elapsed": self.active_seconds + (now - clock)}
                    pause_clock()
                    yield event
                    resume_clock()
                    window_seen, window_start = 0, time.perf_counter()

            test = evaluate_tensors(self.model, test_images, labels=test_labels, spec=spec)
            self.epochs_done = epoch
            now_active = self.active_seconds + (time.perf_counter() - clock)
            event = {"kind": "epoch", "epoch": epoch, "epochs": c.epochs,
                     "train_loss": loss_sum.item() / seen, "train_acc": correct.item() / seen,
                     "test_loss": test["loss"], "test_acc": test["accuracy"],
                     "lr": self.optimizer.param_groups[0]["lr"],
                     "epoch_time": now_active - epoch_start, "elapsed": now_active}
            self.history.append(event)
            pause_clock()
            yield event
            resume_clock()
        pause_clock()
        last = self.history[-1]
        yield {"kind": "end", "status": "completed", "epochs_done": self.epochs_done,
               "message": f"completed {self.epochs_done} epoch(s): test accuracy "
                          f"{last['test_acc']:.2%} in {self.active_seconds:.1f} s",
               "elapsed": self.active_seconds}

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
    own_x = own_x.repeat(HANDWRITING_REPEAT, 1, 1)
    own_y = own_y.repeat(HANDWRITING_REPEAT)
    return torch.cat([images, own_x.to(images.dtype)]), torch.cat([labels, own_y.to(labels.dtype)])


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
