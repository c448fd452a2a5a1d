"""The events a Trainer yields, each built from the trainer's state at that moment: what the
curves, the run folder and the job runner read (their kinds are listed in
mnist_core.train.trainer)."""
from __future__ import annotations

import time

from mnist_core.models.registry import count_parameters
from mnist_core.train.outcome import chance_verdict
from mnist_core.train.step import EpochStats


class TrainerEvents:
    """The Trainer's event builders, kept apart from its loop."""

    def _start_event(self, train_size: int, test_size: int, steps_per_epoch: int) -> dict:
        # A continued run starts with the clock and the step count it had: a reader's progress
        # and time left count from these, over the added work only.
        event = {"kind": "start", "device": str(self.device), "params": count_parameters(self.model),
                 "train_size": train_size, "test_size": test_size, "steps_per_epoch": steps_per_epoch,
                 "total_steps": self.end_step, "start_step": self.start_step, "elapsed": self.clock.seconds()}
        if self.handwriting_set is not None:
            event["handwriting_set"] = dict(self.handwriting_set)
        if self.first_epoch > 1:  # a continued run: the epochs it already had, for its curves
            event["history"] = list(self.history)
        return event

    def _batch_event(self, epoch: int, stats: EpochStats, steps_per_epoch: int) -> dict:
        now = time.perf_counter()
        total = self.end_step
        progress = (self.step_count - self.start_step) / max(total - self.start_step, 1)
        if self.config.time_budget:
            progress = min(1.0, max(progress, self.used))
        elapsed = self.clock.seconds()
        loss, acc = stats.window_means()
        return {"kind": "batch", "epoch": epoch, "step": self.step_count, "total_steps": total,
                "steps_per_epoch": steps_per_epoch,
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

    def _epoch_event(self, epoch: int, stats: EpochStats, train_size: int, test, partial: bool) -> dict:
        self._open_epoch = None
        result = self._evaluate(test)
        elapsed = self.clock.seconds()
        # A budget or a stop can end an epoch part-way: it is reported as a fraction (2.37), so
        # curves and histories put it where it belongs.
        self.epochs_done = round(epoch - 1 + stats.share(train_size), 2) if partial else epoch
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
