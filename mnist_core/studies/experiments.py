"""Guided experiments: short runs that each answer one question a learner asks.

Each experiment holds the Train settings that set it up (they travel as an ordinary shareable
link), what to watch while it trains, one question with its choices, and a function that
explains the answer from the finished run's own numbers. A run belongs to an experiment when its
settings are the experiment's (`matches`), so any run made from the link counts, whoever made it.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mnist_core.train.config import TrainConfig

DEFAULT_ACCURACY = 0.99  # the default preset's test accuracy (docs/benchmarks.md), the yardstick


@dataclass(frozen=True)
class Experiment:
    slug: str
    title: str
    settings: dict  # TrainConfig fields; everything else stays at its default
    watch: str
    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices
    explain: Callable[[dict], str]  # the finished run's numbers (see `numbers`) -> why
    verdict: Callable[[dict], int]  # which choice a finished run's numbers bear out

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.settings)

    def matches(self, config: dict) -> bool:
        """A run made from this experiment's settings (seed, label, device and logging aside)."""
        try:
            theirs = TrainConfig.from_dict({**config, "seed": 0, "device": "auto", "log_every": 10})
        except Exception:  # noqa: BLE001 - an unreadable config is no match
            return False
        return theirs == self.config.replace(seed=0, device="auto", log_every=10)


def numbers(run) -> dict:
    """What the explanations read from a run (mnist_core.runs.folders.Run): its epochs, status, message
    and the most dead units any health reading saw."""
    epochs = run.metrics
    health = _health(Path(run.path))
    dead = max((u["dead"] / max(u["units"], 1) for h in health for u in h.get("units", [])), default=None)
    last = epochs[-1] if epochs else {}
    return {"status": run.summary.get("status"), "message": run.summary.get("message", ""),
            "epochs": epochs, "test_acc": last.get("test_acc"), "train_acc": last.get("train_acc"),
            "first_test_acc": epochs[0]["test_acc"] if epochs else None,
            "steps": last.get("step"), "seconds": last.get("train_seconds"), "most_dead": dead}


def _health(folder: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in (folder / "health.jsonl").read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


# Train accuracy minus test accuracy past which a run has memorised its digits (measured: see
# docs/benchmarks.md, "Guided experiments").
GAP = 0.05


def _gap(n: dict) -> float:
    return (n["train_acc"] or 0) - (n["test_acc"] or 0)


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def _too_high(n: dict) -> str:
    if n["status"] == "diverged":
        return (f"The loss blew up: {n['message']} At this rate each step overshoots the minimum it "
                "aims at, further every time.")
    dead = f" At worst {n['most_dead']:.0%} of a layer's units never fired on a batch." if n["most_dead"] else ""
    return (f"It ended at {_pct(n['test_acc'])} test accuracy against the default's {DEFAULT_ACCURACY:.0%} "
            f"at a rate 25 times smaller.{dead} Steps this large throw the weights about: units die "
            "(their ReLU never fires again) and the loss stays high or jumps.")


def _too_low(n: dict) -> str:
    return (f"After a whole epoch it reads {_pct(n['test_acc'])} of the test digits; the default reaches "
            f"{DEFAULT_ACCURACY:.0%} in less. With steps this small the weights barely move from where they "
            "started: it would take hundreds of epochs to get there.")


def _overfit(n: dict) -> str:
    gap = (n["train_acc"] or 0) - (n["test_acc"] or 0)
    return (f"It got {_pct(n['train_acc'])} of its 1,000 training digits right in the last epoch, but only "
            f"{_pct(n['test_acc'])} of the 10,000 test digits: a gap of {gap * 100:.1f} points. With few "
            "examples and many weights, the network memorises these digits instead of learning digits.")


def _augmented(n: dict) -> str:
    gap = (n["train_acc"] or 0) - (n["test_acc"] or 0)
    return (f"Training {_pct(n['train_acc'])}, test {_pct(n['test_acc'])}: a gap of {gap * 100:.1f} points. "
            "Augmentation shows every digit slightly rotated, shifted and scaled each epoch, so the same "
            "1,000 digits are never quite the same twice and memorising them stops paying. Compare the "
            "gap with the overfitting experiment's.")


def _dead(n: dict) -> str:
    if n["most_dead"] is None:
        return "This run kept no health readings (it was shorter than 50 steps)."
    return (f"At worst {n['most_dead']:.0%} of a layer's units never fired on a batch, and it ended at "
            f"{_pct(n['test_acc'])}. A large step pushes a unit's bias so far down that no image makes it "
            "fire again; a dead ReLU passes no gradient, so it never comes back. The default preset runs "
            "with about 28% silent in its hidden layer and reaches 99%.")


def _big_batch(n: dict) -> str:
    return (f"With 1,024 digits a batch, the default's 40,000 digits are only {n['steps'] or 40} steps, and it "
            f"ended at {_pct(n['test_acc'])}; the default takes 313 steps of 128 and reaches {DEFAULT_ACCURACY:.0%}. "
            "Each step sees more digits, but learning comes from the number of steps: a bigger batch needs "
            "a higher rate or more epochs to catch up.")


def _linear(n: dict) -> str:
    return (f"{_pct(n['test_acc'])}: a single linear layer can only draw straight boundaries between the "
            "classes in pixel space, and handwritten digits are not separable that way. Every model that "
            "does better adds layers with a non-linearity between them.")


def _one_epoch_cnn(n: dict) -> str:
    first = n["first_test_acc"]
    return (f"After one pass over 10,000 digits it reads {_pct(first)} of the test set, in "
            f"{(n['seconds'] or 0):.1f} s of training. Convolutions look at small patches and share their "
            "weights across the image, so a stroke learned in one place is recognised everywhere.")


EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment("too-high-lr", "Too high a learning rate",
               dict(model="cnn", epochs=1, train_subset=20000, lr=0.5, schedule="constant"),
               "the loss curve, and *Inside the network*'s dead units",
               "The default CNN at 25x its peak rate (0.5). What happens?",
               ("it learns faster and ends higher", "it learns much worse, or blows up", "no difference"), 1,
               _too_high,
               lambda n: 1 if n["status"] == "diverged" or (n["test_acc"] or 0) < 0.97 else 0),
    Experiment("too-low-lr", "Too low a learning rate",
               dict(model="cnn", epochs=1, train_subset=20000, lr=1e-5, schedule="constant"),
               "how slowly the loss falls",
               "The same network at 1e-5, for one epoch. Where does it end?",
               ("about 99%, just slower", "far below 99%", "it diverges"), 1, _too_low,
               lambda n: 2 if n["status"] == "diverged" else (1 if (n["test_acc"] or 0) < 0.97 else 0)),
    Experiment("overfitting", "Overfitting 1,000 digits",
               dict(model="mlp", model_kwargs={"hidden": [512, 256], "dropout": 0.0}, epochs=40,
                    train_subset=1000, lr=1e-3, label_smoothing=0.0),
               "the train and test markers drifting apart",
               "A 535,000-weight MLP trained 40 times over only 1,000 digits. Train and test accuracy?",
               ("both near 100%", "train near 100%, test much lower", "both low"), 1, _overfit,
               lambda n: (1 if _gap(n) > GAP else 0) if (n["train_acc"] or 0) > 0.97 else 2),
    Experiment("augmentation", "Does augmentation stop it?",
               dict(model="mlp", model_kwargs={"hidden": [512, 256], "dropout": 0.0}, epochs=40,
                    train_subset=1000, lr=1e-3, label_smoothing=0.0, augment=True),
               "the gap between train and test, against the overfitting run",
               "The same 1,000 digits, now augmented. What happens to the gap?",
               ("it grows", "it shrinks", "it stays the same"), 1, _augmented,
               lambda n: 1 if _gap(n) < GAP else 0),
    Experiment("dead-relus", "Dead ReLUs",
               dict(model="cnn", epochs=1, train_subset=15000, lr=0.3),
               "*Inside the network*: the share of units that never fire",
               "A one-cycle run peaking at 0.3. How many units of a layer die?",
               ("almost none", "a few percent", "half or more"), 2, _dead,
               lambda n: 2 if (n["most_dead"] or 0) >= 0.5 else (1 if (n["most_dead"] or 0) >= 0.02 else 0)),
    Experiment("big-batch", "Does batch size matter?",
               dict(model="cnn", epochs=1, train_subset=40000, batch_size=1024, lr=0.02),
               "the number of steps in the progress line",
               "The default recipe with batches of 1,024 instead of 128. Accuracy?",
               ("the same 99%", "lower", "higher"), 1, _big_batch,
               lambda n: 1 if (n["test_acc"] or 0) < 0.985 else 0),
    Experiment("linear-ceiling", "What a linear model can do",
               dict(model="logreg", epochs=5, lr=5e-3, label_smoothing=0.0),
               "where the accuracy curve flattens",
               "Softmax regression on the raw pixels, 5 epochs. Where does it stop?",
               ("about 92%", "about 99%", "about 50%"), 0, _linear,
               lambda n: 0 if 0.85 <= (n["test_acc"] or 0) <= 0.95 else (1 if (n["test_acc"] or 0) > 0.95 else 2)),
    Experiment("one-epoch-cnn", "How far one pass goes",
               dict(model="cnn", epochs=1, train_subset=10000, lr=0.01),
               "the accuracy climbing within the epoch",
               "A small CNN sees 10,000 digits once. How many test digits does it then read?",
               ("about 70%", "about 97%", "about 99.5%"), 1, _one_epoch_cnn,
               lambda n: 1 if 0.9 <= (n["first_test_acc"] or 0) <= 0.99 else (2 if (n["first_test_acc"] or 0) > 0.99 else 0)),
)
BY_SLUG = {e.slug: e for e in EXPERIMENTS}


def runs_of(experiment: Experiment, runs) -> list:
    """The finished runs made from this experiment's settings, newest first."""
    done = [r for r in runs if (r.summary.get("status") == "diverged"
                                or r.summary.get("status") in ("completed", "stopped") and r.metrics)
            and experiment.matches(r.config)]
    return sorted(done, key=lambda r: r.summary.get("started", ""), reverse=True)
