"""The class board: runs their makers chose to publish, side by side on the same two tests.

Besides the usual test accuracy, each published run is scored once, when published, on a
"challenge" set nobody trains on: the last 5,000 test digits, the ones MNIST took from NIST's
original test set (students' writing). MNIST's documentation calls them the harder half, but
models trained here read them better than the first 5,000 (the bundled model does), so the
board never calls them harder, only another writer group.
The score is written into the run's summary, so the board shows it to everyone without
evaluating anything again.
"""
from __future__ import annotations

from pathlib import Path

from mnist_core.errors import RunError
from mnist_core.runs.compare import config_diff
from mnist_core.runs.folders import change_summary, list_runs, load_run, now
from mnist_core.runs.ownership import made_by, require_change

CHALLENGE = slice(5000, 10000)
CHALLENGE_TEXT = "the last 5,000 test digits, written by the students of NIST's original test set"
SHOWN_SETTINGS = 6  # settings per row, beyond which the board says "and N more"


def challenge_accuracy(model, data) -> float:
    """Accuracy on the challenge half of the test set."""
    from mnist_core.analysis.evaluation import evaluate_tensors

    images, labels = data.test_images[CHALLENGE], data.test_labels[CHALLENGE]
    if len(labels) == 0:
        raise RunError("this test set has no challenge half (it holds 5,000 digits or fewer)")
    return evaluate_tensors(model, images, labels, data.spec)["accuracy"]


def publish(path, data, visitor: str | None, admin: bool = False, shared: bool = True) -> str:
    """Put a finished run on the board, scored on the challenge set; returns what was done."""
    from mnist_core.runs.checkpoints import load_model

    run = load_run(path, curves=False)
    require_change(run.summary, visitor, admin, "publish", shared)
    if run.summary.get("status") == "running" or not run.summary.get("epochs_done"):
        raise RunError("only a run with a finished epoch can be published; wait for it to end")
    if run.summary.get("dataset") != data.spec.name:
        raise RunError(f"this run was trained on {run.summary.get('dataset')}, not {data.spec.title}")
    model, _config = load_model(run.path)
    score = challenge_accuracy(model, data)
    _set_published(run.path, {"published": now(), "challenge_acc": score})
    return f"published {run.run_id}: {score:.2%} on the challenge set"


def _set_published(path: Path, fields: dict | None) -> None:
    """Write the board's fields into the summary as it is stored (not the checked copy that
    load_run cleaned), or remove `published` with None."""
    change_summary(path, lambda summary: summary.pop("published", None) if fields is None else summary.update(fields))


def unpublish(path, visitor: str | None, admin: bool = False, shared: bool = True) -> str:
    run = load_run(path, curves=False)
    require_change(run.summary, visitor, admin, "take off the board", shared)
    _set_published(run.path, None)
    return f"took {run.run_id} off the board"


def clear(root, admin: bool) -> int:
    """The server owner takes every run off the board; returns how many."""
    if not admin:
        raise RunError("only the server's owner, with the password, can clear the board")
    cleared = 0
    for run in published(root):
        _set_published(run.path, None)
        cleared += 1
    return cleared


def published(root=None) -> list:
    # A run made outside the app (the CLI's, with no owner) is on the board once published, as
    # "outside the app": publish() already decided who may put it there, and said it did.
    return [r for r in list_runs(root, curves=False) if not r.damaged and r.summary.get("published")]


def settings_text(config: dict, defaults: dict) -> str:
    """The settings in which a run differs from the default TrainConfig, shortest first. A
    setting the run does not have (a CNN option on an MLP) is left out, and model options are
    named without their "model_kwargs." prefix."""
    diffs = [f"{key.removeprefix('model_kwargs.')} {b}" for key, _a, b in config_diff(defaults, config)
             if key != "seed" and b is not None]
    diffs.sort(key=len)
    shown = ", ".join(diffs[:SHOWN_SETTINGS]) or "the defaults"
    more = len(diffs) - SHOWN_SETTINGS
    return shown + (f", and {more} more" if more > 0 else "")


TRAIN_IMAGES = 60_000  # in MNIST's training split, and in Fashion-MNIST's


def rows(root=None, max_seconds: float | None = None, best_per_maker: bool = False) -> list[dict]:
    """One row per published run, ranked by test accuracy (ties share a rank, then read by the
    challenge accuracy); only runs that trained for at most `max_seconds` when it is given (a
    class competing within a time budget); with `best_per_maker`, each maker's best run only."""
    from mnist_core.train.config import TrainConfig

    defaults = TrainConfig().to_dict()
    out = []
    for run in published(root):
        s = run.summary
        seconds = s.get("duration_s")
        if max_seconds is not None and (seconds is None or seconds > max_seconds):
            continue
        # The scores before the long settings text, which would push them off a laptop's screen.
        out.append({"rank": None, "test accuracy": s.get("final_test_acc"),
                    "challenge accuracy": s.get("challenge_acc"), "who": made_by(s),
                    "label": s.get("label") or "", "model": s.get("model"),
                    "images seen": images_seen(run.config, s), "training s": seconds,
                    "parameters": s.get("params"), "run": run.run_id,
                    "settings": settings_text(run.config, defaults), "_maker": s.get("owner") or made_by(s)})
    out.sort(key=lambda r: (r["test accuracy"] is None, -(r["test accuracy"] or 0),
                            -(r["challenge accuracy"] or 0), r["training s"] or 0, r["run"]))
    if best_per_maker:
        seen = set()
        out = [r for r in out if not (r["_maker"] in seen or seen.add(r["_maker"]))]
    for i, row in enumerate(out):
        same = i and row["test accuracy"] == out[i - 1]["test accuracy"]
        row["rank"] = out[i - 1]["rank"] if same else i + 1
        del row["_maker"]
    return out


def images_seen(config: dict, summary: dict) -> int | None:
    """Training images a run went through: the same for the same work however busy the server
    was, where its seconds of training are not (the same quick run logged 15 to 88 s)."""
    epochs = summary.get("epochs_done")
    if not isinstance(epochs, (int, float)):
        return None
    size = min(config.get("train_subset") or TRAIN_IMAGES, TRAIN_IMAGES)
    return int(round(epochs * max(0, size - len(config.get("leave_out") or ()))))
