"""Head to head: an MLP and a CNN on the same data, with the same seed, for the same seconds.

"Is the CNN really better?" is only answered fairly when neither side gets more data, a luckier
initialisation or more time. Each contender keeps its own tuned recipe (its preset), and shares
everything else: dataset, training images and their order, seed, batch size and a time budget.
They train one after the other so neither slows the other down.
"""
from __future__ import annotations

from collections.abc import Iterator

from mnist_core.data.tensors import Dataset, load_dataset
from mnist_core.runs.recorder import record
from mnist_core.train.config import TrainConfig, preset_config
from mnist_core.train.trainer import Trainer

CONTENDERS = {"MLP": "mlp", "CNN": "default"}  # shown name -> preset
DEFAULT_BUDGET = 15.0
BUDGET_RANGE = (2.0, 600.0)
MAX_EPOCHS = 500  # the budget ends the run long before this


def contender_configs(budget: float = DEFAULT_BUDGET, seed: int = 0, train_subset: int = 0,
                      dataset: str = "mnist", device: str = "auto") -> dict[str, TrainConfig]:
    """One config per contender: its preset, with the shared settings laid over it."""
    shared = dict(time_budget=float(budget), seed=int(seed), train_subset=int(train_subset),
                  dataset=dataset, device=device, epochs=MAX_EPOCHS, batch_size=128,
                  augment=False, handwriting=False)
    return {name: preset_config(preset, **shared) for name, preset in CONTENDERS.items()}


def recipe(config: TrainConfig) -> str:
    """The contender's own settings in a line, e.g. "hidden [256, 128], dropout 0.2; adam, lr 0.002"."""
    arch = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in config.model_kwargs.items())
    extras = f", label smoothing {config.label_smoothing:g}" if config.label_smoothing else ""
    return f"{arch or 'no options'}; {config.optimizer}, lr {config.lr:g} {config.schedule}{extras}"


def head_to_head(configs: dict[str, TrainConfig], data: Dataset | None = None, runs_dir=None,
                 label: str = "head to head", data_dir=None) -> Iterator[dict]:
    """Train each contender in turn; the training events, each tagged with its "contender".

    With `runs_dir`, each contender is saved as a run labelled "<label>: <name>".
    """
    first = next(iter(configs.values()))
    data = data if data is not None else load_dataset(first.dataset, data_dir)
    for name, config in configs.items():
        trainer = Trainer(config, data)
        events = (record(trainer, runs_dir, f"{label}: {name}") if runs_dir is not None
                  else trainer.events())
        try:
            for event in events:
                yield {**event, "contender": name}
        finally:
            events.close()


def score(name: str, config: dict, params: int | None, epochs: list[dict]) -> dict:
    """One contender's line of the scoreboard, from its config (as a dict) and epoch events."""
    row = {"contender": name, "model": config["model"], "params": params, "epochs": 0.0, "steps": 0,
           "train_seconds": None, "images_per_s": None, "test_acc": None, "errors": None}
    if epochs:
        last = epochs[-1]
        seconds, steps = last["train_seconds"], last["step"]
        row.update(epochs=last["epoch"], steps=steps, train_seconds=seconds, test_acc=last["test_acc"],
                   images_per_s=round(steps * config["batch_size"] / seconds) if seconds and steps else None,
                   errors=round((1 - last["test_acc"]) * 10000))
    return row


def verdict(rows: list[dict]) -> str:
    """A sentence a learner can take away; empty until both sides have a test accuracy."""
    if len(rows) != 2 or any(r["test_acc"] is None for r in rows):
        return ""
    a, b = sorted(rows, key=lambda r: -r["test_acc"])
    if a["test_acc"] == b["test_acc"]:
        return f"A draw: both reached {a['test_acc']:.2%}."
    text = (f"{a['contender']} wins: {a['test_acc']:.2%} against {b['test_acc']:.2%} in the same time "
            f"budget, {_fewer(a['errors'], b['errors'])} test errors")
    if a["params"] and b["params"]:
        ratio = b["params"] / a["params"]
        size = (f"{ratio:.1f}x fewer" if ratio > 1 else f"{1 / ratio:.1f}x more")
        text += f", with {size} parameters ({a['params']:,} vs {b['params']:,})"
    if a["steps"] and b["steps"]:
        text += f"; it took {a['steps']:,} optimisation steps to the {b['contender']}'s {b['steps']:,}"
    return text + "."


def _fewer(win: int, lose: int) -> str:
    if not lose:
        return f"{win} vs {lose}"
    return f"{1 - win / lose:.0%} fewer ({win} vs {lose} of 10,000)"
