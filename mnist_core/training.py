"""The training loop: one generator of metric events, driven by the CLI, the job runner and tests.

Events are plain JSON-ready dicts with a "kind":
- "start": device, parameter count, sizes;
- "batch": every `log_every` batches: loss and accuracy over those batches, lr, images/s,
  progress;
- "epoch": train and test loss and accuracy, elapsed time (a fractional epoch when a time
  budget ends the run part-way);
- "probe": with a time budget only, test loss and accuracy at each tenth of it;
- "health": every READ_EVERY steps, the network's health (mnist_core.health): per layer,
  histograms of weights and gradients and the update ratio; dead ReLU units; hints;
- "lr_change": the learner moved the live learning-rate knob (`change_lr`): from this step on
  the schedule's rate is multiplied by `lr_scale`;
- "end": status "completed" or "diverged", with a message (and `test_acc_tta`, the test
  accuracy with test-time augmentation, when the config asks for it).
The caller stops a run by closing the generator; every completed epoch stays in `history`.
Time the caller spends between events (pausing, writing checkpoints) is not counted.
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
from typing import Iterator

import torch

from .config import HANDWRITING_REPEAT, ConfigError, TrainConfig
from .data import Dataset, iterate_batches, load_dataset
from .device import configure_threads, resolve_device
from .evaluation import evaluate_split, evaluate_tensors
from .health import READ_EVERY, HealthWatch
from .models import build_model, count_parameters, set_dropout_generator
from .clock import Clock
from .outcome import chance_verdict
from .step import Diverged, EpochStats, forward_batch, healthy, reported_loss
from .versions import versions
from .optim import clock_onecycle_lr, make_optimizer, make_scheduler

# Model initialisation draws from torch's global RNG; concurrent jobs take turns.
_INIT_LOCK = threading.Lock()
# A budgeted run is evaluated this many times, at the same shares of the budget whatever the
# model, so runs of different speeds can be compared point for point.
BUDGET_PROBES = 10


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
        self.scheduler = None  # per-batch; made in events(), once the steps per epoch are known
        self.shuffle_gen, self.aug_gen = self._generator(1), self._generator(2)
        set_dropout_generator(self.model, self._generator(3))
        self.check_every_batch = self.device.type == "cpu"  # a sync per batch is free on the CPU only
        self.health = HealthWatch(self.model)
        self.health_every = READ_EVERY  # steps between health readings; 0 turns them off
        self.history: list[dict] = []  # one "epoch" event per completed epoch
        self.epochs_done = 0
        self.step_count = 0
        self.clock = Clock()
        self.eval_seconds = 0.0  # part of the clock spent on test evaluation
        self.used = 0.0  # share of the time budget trained
        self.probes: list[dict] = []  # a budgeted run's test checks
        self._open_epoch: tuple | None = None  # the epoch under way: what a stop would keep
        self.first_epoch = 1  # a continued run starts after the epochs it already has
        self.lr_scale = 1.0  # the live knob: the schedule's rate times this
        self._asked_scale: float | None = None  # a knob change waiting for the next step
        # The user's digits this run trained on (count, per class, fingerprint): the set on
        # disk may change afterwards, and the run should say which one it saw.
        self.handwriting_set: dict | None = None

    @classmethod
    def continued(cls, run_dir, extra_epochs: int | None = None, data: Dataset | None = None, data_dir=None,
                  *, until: int | None = None) -> "Trainer":
        """A trainer that goes on from a saved run's checkpoint for `extra_epochs` more epochs
        (or up to epoch `until`): its weights, optimizer state, history, step count and clock, a
        fresh schedule over the added epochs. The run's config then counts every epoch."""
        from .runs import RunError, load_checkpoint

        state = load_checkpoint(run_dir)
        if "optimizer_state" not in state or not state.get("history"):
            raise RunError(f"{run_dir} cannot be continued: its checkpoint keeps no optimizer state "
                           "(the bundled model's is dropped); train a new run from its settings instead")
        old = TrainConfig.from_dict(state["config"])
        if old.time_budget:
            raise ConfigError("time_budget", "a run with a time budget cannot be continued: train a new run")
        done = math.floor(state["history"][-1]["epoch"])  # a stopped part-epoch is redone in full
        if until is not None:
            extra_epochs = until - done
        if not 1 <= int(extra_epochs) <= 1000:
            raise ConfigError("epochs", f"continue for 1 to 1000 more epochs, got {extra_epochs}")
        trainer = cls(old.replace(epochs=done + int(extra_epochs)), data, data_dir)
        trainer.model.load_state_dict(state["model_state"])
        trainer.optimizer.load_state_dict(state["optimizer_state"])
        trainer.history = list(state["history"])
        last = trainer.history[-1]
        trainer.epochs_done, trainer.first_epoch = last["epoch"], done + 1
        trainer.step_count = int(last.get("step", 0))
        trainer.clock.spent = float(last.get("elapsed", 0.0))
        trainer.eval_seconds = trainer.clock.spent - float(last.get("train_seconds", trainer.clock.spent))
        return trainer

    @property
    def active_seconds(self) -> float:
        return self.clock.seconds()

    @property
    def out_of_time(self) -> bool:
        return bool(self.config.time_budget) and self.used >= 1

    def _generator(self, offset: int) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(self.config.seed + offset)
        return g

    def _training_set(self) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self.data.train_images, self.data.train_labels
        n = self.config.train_subset
        pick = None
        if n and n < len(images):
            pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(self.config.seed))[:n]
        if self.config.leave_out:
            # Dropped from the subset the seed picks, not before picking: with and without the
            # marked images, a run sees the same other images (a fair comparison).
            pick = torch.arange(len(images)) if pick is None else pick
            drop = torch.tensor(self.config.leave_out, dtype=torch.long)
            pick = pick[~torch.isin(pick, drop)]
        if pick is not None:
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

    # ------------------------------------------------------------ the loop

    def events(self) -> Iterator[dict]:
        c = self.config
        images, labels = self._training_set()
        test = self.data.test_images.to(self.device), self.data.test_labels.to(self.device)
        steps_per_epoch = math.ceil(len(images) / c.batch_size)
        # A continued run gets a schedule of its own over the epochs it adds (a one-cycle warms
        # up and anneals again, as fast.ai's fit_one_cycle does on each call).
        self.scheduler = make_scheduler(self.optimizer, c.replace(epochs=c.epochs - self.first_epoch + 1),
                                        steps_per_epoch)
        if c.time_budget and c.schedule == "onecycle":
            self._set_lr(clock_onecycle_lr(c.lr, 0.0))
        yield self._start_event(len(images), len(test[1]), steps_per_epoch)
        self.clock.start()
        epoch = 1
        try:
            for epoch in range(self.first_epoch, c.epochs + 1):
                stats = yield from self._train_epoch(epoch, images, labels, test, steps_per_epoch)
                partial = self.out_of_time and stats.seen < len(images)
                yield from self._paused(self._epoch_event(epoch, stats, len(images), test, partial))
                if self.out_of_time:
                    break
        except Diverged as exc:
            self.clock.stop()
            yield self._diverged(epoch, exc.loss)
            return
        tta = self._tta_accuracy(test) if c.tta else None
        self.clock.stop()
        yield self._end_event(tta)

    def _train_epoch(self, epoch: int, images, labels, test, steps_per_epoch: int):
        """One pass over the training images (cut short by the budget); returns its stats."""
        c = self.config
        self.model.train()
        stats = EpochStats(torch.zeros((), device=self.device),
                           torch.zeros((), device=self.device, dtype=torch.long))
        self._open_epoch = (epoch, stats, len(images), test)
        for batch_idx, (xb, yb) in enumerate(iterate_batches(images, labels, c.batch_size, self.shuffle_gen)):
            if self._asked_scale is not None:
                yield from self._paused(self._lr_change_event(epoch, stats.seen / len(images)))
            if self.health_every and (self.step_count + 1) % self.health_every == 0:
                self.health.arm()
            logits, loss = self.step(xb, yb)
            self._tick_budget()
            reported = reported_loss(logits, yb, loss, c)
            stats.loss_sum += reported * len(yb)
            stats.correct += (logits.detach().argmax(1) == yb).sum()
            stats.seen += len(yb)
            stats.window_seen += len(yb)
            last = batch_idx == steps_per_epoch - 1
            if self.step_count % c.log_every == 0 or last or self.out_of_time:
                if not self.check_every_batch and not healthy(loss):  # the GPU's only check
                    raise Diverged(loss.item())
                yield from self._paused(self._batch_event(epoch, stats, steps_per_epoch))
                stats.next_window()
            if self.health.armed:
                yield from self._paused(self._health_event(epoch, stats.seen / len(images)))
            # Every tenth of the budget gets its test check, even when one slow step (a busy
            # machine) crosses two of them, or the last one: then they share that step.
            while self._probe_due():
                yield from self._paused(self._probe_event(epoch, stats.seen / len(images), test))
                self.model.train()
            if self.out_of_time:
                break
        return stats

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step on a uint8 batch: (logits, loss). Raises Diverged, before
        updating anything, when the loss has blown up (checked per batch on the CPU only)."""
        logits, loss = forward_batch(self.model, xb, yb, self.config, self.data.spec, self.aug_gen)
        if self.check_every_batch and not healthy(loss):
            raise Diverged(loss.item())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            # The schedule steps from its own rate; the knob's factor goes back on afterwards
            # (StepLR and LinearLR multiply the rate they find, so they must find their own).
            self._scale_lr(1 / self.lr_scale)
            self.scheduler.step()
            self._scale_lr(self.lr_scale)
        self.step_count += 1
        return logits, loss

    def _paused(self, event: dict) -> Iterator[dict]:
        """Yield with the clock stopped: the caller's time (pauses, checkpoints) is not training."""
        self.clock.stop()
        yield event
        self.clock.start()

    # ------------------------------------------------------------ the clock and the budget

    def _tick_budget(self) -> None:
        """After a step: the share of the budget trained, which drives a clock-based one-cycle."""
        c = self.config
        if not c.time_budget:
            return
        self.used = (self.clock.seconds() - self.eval_seconds) / c.time_budget
        if c.schedule == "onecycle":
            self._set_lr(clock_onecycle_lr(c.lr, self.used) * self.lr_scale)

    def _probe_due(self) -> bool:
        # The last tenth ends the run; its evaluation is the closing "epoch" event.
        done = len(self.probes)
        return (bool(self.config.time_budget) and done < BUDGET_PROBES - 1
                and self.used >= (done + 1) / BUDGET_PROBES)

    def _evaluate(self, test) -> dict:
        """Test loss and accuracy, timed into eval_seconds: a budget counts training, not this."""
        return self._timed(lambda: evaluate_tensors(self.model, test[0], labels=test[1], spec=self.data.spec))

    def _tta_accuracy(self, test) -> float:
        """Test accuracy of the mean prediction over TTA_SHIFTS, timed into eval_seconds."""
        return self._timed(lambda: evaluate_split(self.model, *test, self.data.spec, tta=True))["accuracy"]

    def _timed(self, evaluate):
        start = self.clock.seconds()
        try:
            return evaluate()
        finally:
            self.eval_seconds += self.clock.seconds() - start

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _scale_lr(self, factor: float) -> None:
        if factor != 1.0:
            for group in self.optimizer.param_groups:
                group["lr"] *= factor

    # ------------------------------------------------------------ the live knob

    def change_lr(self, scale: float) -> None:
        """Multiply the schedule's learning rate by `scale` from the next step on (any thread;
        the loop applies it between steps and reports it as an "lr_change" event)."""
        self._asked_scale = check_lr_scale(scale)

    def _lr_change_event(self, epoch: int, share_of_epoch: float) -> dict:
        scale, self._asked_scale = self._asked_scale, None
        self._scale_lr(scale / self.lr_scale)
        self.lr_scale = scale
        return {"kind": "lr_change", "epoch": round(epoch - 1 + share_of_epoch, 4), "step": self.step_count,
                "lr_scale": scale, "lr": self.optimizer.param_groups[0]["lr"]}

    # ------------------------------------------------------------ events

    def _start_event(self, train_size: int, test_size: int, steps_per_epoch: int) -> dict:
        event = {"kind": "start", "device": str(self.device), "params": count_parameters(self.model),
                 "train_size": train_size, "test_size": test_size, "steps_per_epoch": steps_per_epoch,
                 "total_steps": steps_per_epoch * self.config.epochs}
        if self.handwriting_set is not None:
            event["handwriting_set"] = dict(self.handwriting_set)
        if self.first_epoch > 1:  # a continued run: the epochs it already had, for its curves
            event["history"] = list(self.history)
        return event

    def _batch_event(self, epoch: int, stats: EpochStats, steps_per_epoch: int) -> dict:
        now = time.perf_counter()
        total = steps_per_epoch * self.config.epochs
        progress = self.step_count / total
        if self.config.time_budget:
            progress = min(1.0, max(progress, self.used))
        elapsed = self.clock.seconds()
        loss, acc = stats.window_means()
        return {"kind": "batch", "epoch": epoch, "step": self.step_count, "total_steps": total,
                "loss": loss, "acc": acc,
                "lr": self.optimizer.param_groups[0]["lr"],
                "images_per_s": stats.window_seen / max(now - stats.window_start, 1e-9),
                "progress": progress, "elapsed": elapsed, "train_seconds": elapsed - self.eval_seconds}

    def _health_event(self, epoch: int, share_of_epoch: float) -> dict:
        lr = self.optimizer.param_groups[0]["lr"]
        reading = self.health.read(lr_share=lr / (self.config.lr * self.lr_scale))
        return {"kind": "health", "epoch": round(epoch - 1 + share_of_epoch, 4), "step": self.step_count,
                "lr": lr, **reading}

    def _probe_event(self, epoch: int, share_of_epoch: float, test) -> dict:
        result = self._evaluate(test)
        event = {"kind": "probe", "epoch": round(epoch - 1 + share_of_epoch, 3), "step": self.step_count,
                 "test_acc": result["accuracy"], "test_loss": result["loss"], "test_size": len(test[1]),
                 "train_seconds": self.used * self.config.time_budget}
        self.probes.append(event)
        return event

    def stop(self) -> dict | None:
        """Close the epoch under way when the caller stops the run part-way: it is evaluated and
        reported as a fraction (0.47), so a stop keeps what the run has learned. None when
        nothing was trained since the last epoch event."""
        if self._open_epoch is None or self._open_epoch[1].seen == 0:
            return None
        self.clock.stop()
        return self._epoch_event(*self._open_epoch, partial=True)

    def _epoch_event(self, epoch: int, stats: EpochStats, train_size: int, test, partial: bool) -> dict:
        self._open_epoch = None
        result = self._evaluate(test)
        elapsed = self.clock.seconds()
        # A budget or a stop can end an epoch part-way: it is reported as a fraction (2.37), so
        # curves and histories put it where it belongs.
        self.epochs_done = round(epoch - 1 + stats.seen / train_size, 2) if partial else epoch
        epoch_start = self.history[-1]["elapsed"] if self.history else 0.0
        event = {"kind": "epoch", "epoch": self.epochs_done, "epochs": self.config.epochs,
                 "train_loss": stats.loss_sum.item() / stats.seen, "train_acc": stats.correct.item() / stats.seen,
                 "test_loss": result["loss"], "test_acc": result["accuracy"],
                 "lr": self.optimizer.param_groups[0]["lr"],
                 "epoch_time": elapsed - epoch_start, "elapsed": elapsed,
                 "train_seconds": elapsed - self.eval_seconds, "step": self.step_count}
        self.history.append(event)
        return event

    def _end_event(self, tta: float | None = None) -> dict:
        last, seconds = self.history[-1], self.clock.seconds()
        accuracy = f"{last['test_acc']:.2%}"
        if tta is not None:
            accuracy += f" ({tta:.2%} with test-time augmentation)"
        if self.out_of_time:
            message = (f"reached its {self.config.time_budget:g} s time budget after {self.epochs_done:g} "
                       f"epoch(s), {self.step_count:,} steps: test accuracy {accuracy} "
                       f"({seconds:.1f} s with the test evaluations)")
        else:
            message = (f"completed {self.epochs_done} epoch(s): test accuracy {accuracy} in "
                       f"{seconds:.1f} s")
        verdict = chance_verdict(last["test_acc"], len(self.data.spec.classes), self.config)
        return {"kind": "end", "status": "completed", "epochs_done": self.epochs_done, "steps": self.step_count,
                "message": f"{verdict} ({message})" if verdict else message, "learned": verdict is None,
                "elapsed": seconds, "train_seconds": seconds - self.eval_seconds,
                **({"test_acc_tta": tta} if tta is not None else {})}

    def _diverged(self, epoch: int, value: float) -> dict:
        kept = (f"epoch {self.epochs_done} is kept" if self.epochs_done else "no epoch completed")
        return {"kind": "end", "status": "diverged", "epochs_done": self.epochs_done,
                "message": f"training diverged in epoch {epoch}: loss became {value:.4g}. "
                           f"Try a smaller learning rate (now {self.config.lr:g}); {kept}.",
                "elapsed": self.active_seconds}


def check_lr_scale(scale: float) -> float:
    """The live knob's factor, refused outside 1e-4..1000 (the slider offers 0.01..10)."""
    if not (math.isfinite(scale) and 1e-4 <= scale <= 1e3):
        raise ConfigError("lr", f"the learning-rate factor must be between 1e-4 and 1000, got {scale:g}")
    return float(scale)


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


def train(config: TrainConfig, data: Dataset | None = None, data_dir=None) -> Iterator[dict]:
    """Shortcut: the events of a fresh Trainer."""
    return Trainer(config, data, data_dir).events()
