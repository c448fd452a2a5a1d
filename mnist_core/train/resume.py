"""Going on from a saved run: its weights, optimizer state, history, step count and clock, with
a fresh schedule over the added steps; a run stopped part-way first finishes its epoch."""
from __future__ import annotations

import math

from mnist_core.errors import ConfigError
from mnist_core.train.config import TrainConfig


def continue_run(cls, run_dir, extra_epochs: int | None = None, data=None, data_dir=None,
                 until: int | None = None):
    """A trainer that goes on from a saved run's checkpoint for `extra_epochs` more epochs
    (or up to epoch `until`): its weights, optimizer state, history, step count and clock, a
    fresh schedule over the added steps. The run's config then counts every epoch.

    A run stopped part-way through an epoch (1.37) first finishes that epoch on the images
    it had not reached, so "epoch 2" means two passes over the digits, as in a run that was
    never stopped: 1 more epoch from 1.37 ends at epoch 2."""
    from mnist_core.runs.checkpoints import load_checkpoint
    from mnist_core.runs.folders import RunError

    state = load_checkpoint(run_dir)
    if "optimizer_state" not in state or not state.get("history"):
        raise RunError(f"{run_dir} cannot be continued: its checkpoint keeps no optimizer state "
                       "(the bundled model's is dropped); train a new run from its settings instead")
    old = TrainConfig.from_dict(state["config"])
    if old.time_budget:
        raise ConfigError("time_budget", "a run with a time budget cannot be continued: train a new run")
    done = math.floor(state["history"][-1]["epoch"])  # the last whole epoch
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
    trainer.part_steps = steps_into_epoch(trainer.history, done)
    trainer.step_count = int(last.get("step", 0))
    trainer.clock.spent = float(last.get("elapsed", 0.0))
    trainer.eval_seconds = trainer.clock.spent - float(last.get("train_seconds", trainer.clock.spent))
    return trainer


def steps_into_epoch(history: list[dict], done: int) -> int | None:
    """Steps a run's last, stopped part-epoch trained: from the end of its last whole epoch
    (`done`) to the stop. 0 when it ended on a whole epoch; None when the history has no steps."""
    last = history[-1]
    if last["epoch"] == done:
        return 0
    ends = [h.get("step") for h in history if h["epoch"] == done] if done else [0]
    if not ends or ends[-1] is None or last.get("step") is None:
        return None
    return int(last["step"]) - int(ends[-1])
