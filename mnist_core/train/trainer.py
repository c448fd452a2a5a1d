"""The training loop: one generator of metric events, driven by the CLI, the job runner and tests.

Events are plain JSON-ready dicts with a "kind":
- "start": device, parameter count, sizes;
- "batch": every `log_every` batches: loss and accuracy over those batches, lr, images/s,
  progress;
- "epoch": train and test loss and accuracy, elapsed time (a fractional epoch when a time
  budget ends the run part-way);
- "probe": with a time budget only, test loss and accuracy at each tenth of it;
- "health": every READ_EVERY steps, the network's health (mnist_core.train.health): per layer,
  histograms of weights and gradients and the update ratio; dead ReLU units; hints;
- "lr_change": the learner moved the live learning-rate knob (`change_lr`): from this step on
  the schedule's rate is multiplied by `lr_scale`;
- "end": status "completed" or "diverged", with a message (and `test_acc_tta`, the test
  accuracy with test-time augmentation, when the config asks for it).
The caller stops a run by closing the generator; every completed epoch stays in `history`.
Time the caller spends between events (pausing, writing checkpoints) is not counted.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import torch

from mnist_core.analysis.evaluation import evaluate_split, evaluate_tensors
from mnist_core.data import handwriting
from mnist_core.data.tensors import Dataset, iterate_batches, load_dataset, shuffled_order
from mnist_core.device import configure_threads, resolve_device
from mnist_core.models.registry import build_model, set_dropout_generator
from mnist_core.train.clock import Clock
from mnist_core.train.config import HANDWRITING_REPEAT, ConfigError, TrainConfig
from mnist_core.train.events import TrainerEvents
from mnist_core.train.health import READ_EVERY, HealthWatch
from mnist_core.train.optim import clock_onecycle_lr, make_optimizer, make_scheduler
from mnist_core.train.step import Diverged, EpochStats, forward_batch, healthy, reported_loss
from mnist_core.versions import versions

# Model initialisation draws from torch's global RNG; concurrent jobs take turns.
_INIT_LOCK = threading.Lock()
# A budgeted run is evaluated this many times, at the same shares of the budget whatever the
# model, so runs of different speeds can be compared point for point.
BUDGET_PROBES = 10


class Trainer(TrainerEvents):
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
        # NHWC convolutions run faster on the CPU (`python -m benchmarks --levers` measures it).
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
        # Steps of first_epoch that a stop cut short, in the run this one continues: only the
        # rest of that epoch is trained (None: the history cannot tell; its share is used).
        self.part_steps: int | None = 0
        self.start_step = 0  # the step this run of the loop starts from (a continued run's last)
        self.end_step = 0  # the step it will end at, once events() knows the epoch's length
        self.lr_scale = 1.0  # the live knob: the schedule's rate times this
        self._asked_scale: float | None = None  # a knob change waiting for the next step
        # The user's digits this run trained on (count, per class, fingerprint): the set on
        # disk may change afterwards, and the run should say which one it saw.
        self.handwriting_set: dict | None = None

    @classmethod
    def continued(cls, run_dir, extra_epochs: int | None = None, data: Dataset | None = None, data_dir=None,
                  *, until: int | None = None) -> Trainer:
        """A trainer that goes on from a saved run's checkpoint (mnist_core.train.resume)."""
        from mnist_core.train.resume import continue_run

        return continue_run(cls, run_dir, extra_epochs, data, data_dir, until=until)

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
            images, labels, self.handwriting_set = handwriting.added_to(images, labels, HANDWRITING_REPEAT)
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
        skip = self._resume(len(images), steps_per_epoch)
        self.start_step = self.step_count
        self.end_step = self.step_count + steps_per_epoch * (c.epochs - self.first_epoch + 1) - skip
        # A continued run gets a schedule of its own over the steps it adds (a one-cycle warms
        # up and anneals again, as fast.ai's fit_one_cycle does on each call).
        self.scheduler = make_scheduler(self.optimizer, c, steps_per_epoch,
                                        total_steps=self.end_step - self.start_step)
        if c.time_budget and c.schedule == "onecycle":
            self._set_lr(clock_onecycle_lr(c.lr, 0.0))
        yield self._start_event(len(images), len(test[1]), steps_per_epoch)
        self.clock.start()
        epoch = 1
        try:
            for epoch in range(self.first_epoch, c.epochs + 1):
                stats = yield from self._train_epoch(epoch, images, labels, test, steps_per_epoch,
                                                     skip if epoch == self.first_epoch else 0)
                partial = self.out_of_time and stats.share(len(images)) < 1
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

    def _resume(self, train_size: int, steps_per_epoch: int) -> int:
        """Where a continued run picks up: the shuffle generator drawn on to the epoch it trains
        next, so that epoch's order is the one the stopped run had; returns the batches of it
        already trained (0 for a new run, or after a whole epoch)."""
        for _ in range(self.first_epoch - 1):
            shuffled_order(train_size, self.shuffle_gen)
        part = self.part_steps
        if part is None:  # no step counts in the history: go by the share it recorded
            part = round((self.epochs_done - (self.first_epoch - 1)) * steps_per_epoch)
        # At least one batch is left to train, even if the digits changed size since the stop.
        return max(0, min(part, steps_per_epoch - 1))

    def _train_epoch(self, epoch: int, images, labels, test, steps_per_epoch: int, skip: int = 0):
        """One pass over the training images (cut short by the budget), less the first `skip`
        batches a stop already trained; returns its stats."""
        c = self.config
        self.model.train()
        stats = EpochStats(torch.zeros((), device=self.device),
                           torch.zeros((), device=self.device, dtype=torch.long),
                           skipped=min(skip * c.batch_size, len(images)))
        self._open_epoch = (epoch, stats, len(images), test)
        batches = iterate_batches(images, labels, c.batch_size, self.shuffle_gen, skip=skip)
        for batch_idx, (xb, yb) in enumerate(batches, start=skip):
            if self._asked_scale is not None:
                yield from self._paused(self._lr_change_event(epoch, stats.share(len(images))))
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
                yield from self._paused(self._health_event(epoch, stats.share(len(images))))
            # Every tenth of the budget gets its test check, even when one slow step (a busy
            # machine) crosses two of them, or the last one: then they share that step.
            while self._probe_due():
                yield from self._paused(self._probe_event(epoch, stats.share(len(images)), test))
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

    def stop(self) -> dict | None:
        """Close the epoch under way when the caller stops the run part-way: it is evaluated and
        reported as a fraction (0.47), so a stop keeps what the run has learned. None when
        nothing was trained since the last epoch event."""
        if self._open_epoch is None or self._open_epoch[1].seen == 0:
            return None
        self.clock.stop()
        return self._epoch_event(*self._open_epoch, partial=True)


def check_lr_scale(scale: float) -> float:
    """The live knob's factor, refused outside 1e-4..1000 (the slider offers 0.01..10)."""
    if not (math.isfinite(scale) and 1e-4 <= scale <= 1e3):
        raise ConfigError("lr", f"the learning-rate factor must be between 1e-4 and 1000, got {scale:g}")
    return float(scale)


def train(config: TrainConfig, data: Dataset | None = None, data_dir=None) -> Iterator[dict]:
    """Shortcut: the events of a fresh Trainer."""
    return Trainer(config, data, data_dir).events()
