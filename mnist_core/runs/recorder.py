"""Writing a run folder from a Trainer's events: config.json and summary.json at the start,
then per epoch the checkpoint before its metrics line, and the final status at the end."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from mnist_core.fsfault import describe as describe_fs_error
from mnist_core.models.registry import count_parameters
from mnist_core.runs.folders import (
    HOST,
    RunError,
    clean_label,
    mark_active,
    new_run_id,
    now,
    read_json,
    runs_root,
    save_checkpoint,
    write_json,
)
from mnist_core.train.trainer import Trainer
from mnist_core.versions import versions

HEARTBEAT_SECONDS = 5.0


class RunRecorder:
    """Writes one run folder from a Trainer's events."""

    def __init__(self, trainer: Trainer, root=None, label: str = "", owner: dict | None = None,
                 continuing=None):
        """A new run folder under root; or, with `continuing` (a run folder), that run's folder
        again, for a Trainer.continued() run that appends its epochs."""
        self.trainer = trainer
        self._last_beat = 0.0
        c = trainer.config
        if continuing is not None:
            self.path = Path(continuing)
            self.root, self.run_id = self.path.parent, self.path.name
            self.summary = read_json(self.path / "summary.json")
            self.label = self.summary.get("label", "")
            self.summary.update(
                status="running", message="", epochs=c.epochs, pid=os.getpid(), host=HOST, heartbeat=time.time(),
                continued=self.summary.get("continued", []) + [  # 1.37 to 2 adds 0.63 of an epoch
                    {"from_epoch": trainer.epochs_done, "epochs": round(c.epochs - trainer.epochs_done, 2),
                     "at": now()}])
        else:
            self.root = runs_root(root)
            self.run_id = new_run_id(c.model)
            self.path = self.root / self.run_id
            self.path.mkdir(parents=True, exist_ok=False)
            self.label = clean_label(label)
            self.summary = {
                "run_id": self.run_id, "label": self.label, "status": "running", "message": "",
                "model": c.model, "dataset": c.dataset, "params": count_parameters(trainer.model),
                "epochs": c.epochs, "epochs_done": 0, "best_test_acc": None, "final_test_acc": None,
                "final_test_loss": None, "duration_s": 0.0, "device": str(trainer.device),
                "started": now(), "updated": now(), "versions": versions(),
                "pid": os.getpid(), "host": HOST, "heartbeat": time.time(),
                **(owner or {}),  # owner and owner_name (mnist_core.runs.ownership); none from the CLI
            }
        write_json(self.path / "config.json", c.to_dict())
        write_json(self.path / "summary.json", self.summary)
        mark_active(self.run_id, True)

    def _update(self, **fields) -> None:
        self.summary.update(fields, updated=now(), heartbeat=time.time(),
                            duration_s=round(self.trainer.active_seconds, 3))
        write_json(self.path / "summary.json", self.summary)
        self._last_beat = time.time()

    def heartbeat(self) -> None:
        if time.time() - self._last_beat >= HEARTBEAT_SECONDS:
            self._update()

    def on_event(self, event: dict) -> None:
        kind = event["kind"]
        if kind == "start" and "handwriting_set" in event:
            self._update(handwriting_set=event["handwriting_set"])
        elif kind == "batch":
            self.heartbeat()
        elif kind == "epoch":
            # Checkpoint first: metrics never name an epoch whose weights are not on disk.
            save_checkpoint(self.path / "checkpoint.pt", self.trainer.checkpoint())
            with open(self.path / "metrics.jsonl", "a") as fh:
                fh.write(json.dumps(event) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            best = max(e["test_acc"] for e in self.trainer.history)
            # A test-time-augmented figure belongs to the weights it was read from: a continued
            # run's new epoch makes the old one stale until its own end reads it again.
            self._update(epochs_done=event["epoch"], best_test_acc=best,
                         final_test_acc=event["test_acc"], final_test_loss=event["test_loss"],
                         final_test_acc_tta=None)
        elif kind == "probe":
            # Mid-run test checks of a budgeted run: informative only, so no fsync, and kept out
            # of metrics.jsonl, whose rows are epochs with weights on disk.
            with open(self.path / "probes.jsonl", "a") as fh:
                fh.write(json.dumps(event) + "\n")
        elif kind == "health":  # every 50 steps: a few kB a line, informative only (no fsync)
            with open(self.path / "health.jsonl", "a") as fh:
                fh.write(json.dumps({k: v for k, v in event.items() if k != "run_id"}) + "\n")
        elif kind == "lr_change":  # a handful per run at most: kept in the summary
            changes = self.summary.get("lr_changes", []) + [
                {k: event[k] for k in ("epoch", "step", "lr_scale", "lr")}]
            self._update(lr_changes=changes)
        elif kind == "end":
            if event.get("test_acc_tta") is not None:
                self._update(final_test_acc_tta=event["test_acc_tta"])
            self.finish(event["status"], event.get("message", ""))

    def finish(self, status: str, message: str = "") -> None:
        if self.summary["status"] == "running":
            self._update(status=status, message=message)
        mark_active(self.run_id, False)


def record(trainer: Trainer, root=None, label: str = "",
           recorder: RunRecorder | None = None, owner: dict | None = None) -> Iterator[dict]:
    """The trainer's events, each also written to its run folder (events gain a run_id).

    Closing this generator early marks the run "stopped", keeping its completed epochs and,
    when it stops mid-epoch, that part-epoch too (evaluated, with its checkpoint).
    """
    rec = recorder or RunRecorder(trainer, root, label, owner)
    try:
        for event in trainer.events():
            rec.on_event(event)
            yield {**event, "run_id": rec.run_id}
    except GeneratorExit:
        rec.finish("stopped", _keep_part_epoch(trainer, rec))
        raise
    except OSError as exc:
        rec.finish("failed", f"could not write the run folder: {exc}")
        raise RunError(f"could not write run {rec.run_id}: {describe_fs_error(exc)} ({exc.strerror})") from exc
    except Exception as exc:
        rec.finish("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        rec.finish("stopped", f"stopped after {trainer.epochs_done} epoch(s)")


def _keep_part_epoch(trainer: Trainer, rec: RunRecorder) -> str:
    """Save the epoch a stop cut short; the stop's message."""
    try:
        event = trainer.stop()
        if event is None:
            return f"stopped by the user after {trainer.epochs_done:g} epoch(s)"
        rec.on_event(event)
    except OSError as exc:  # a full disk must not turn a stop into a crash
        return f"stopped by the user after {rec.summary['epochs_done']:g} epoch(s); the part-epoch was not saved: {exc}"
    return f"stopped by the user at epoch {event['epoch']:g}: test accuracy {event['test_acc']:.2%}"

