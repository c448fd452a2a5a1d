"""Suspicious labels: the training and test images whose given label a model finds least likely.

Method: confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating
Uncertainty in Dataset Labels", JAIR 2021) as cleanlab implements it (`find_label_issues`,
pruned by noise rate, ranked by self-confidence), on probabilities no model saw the label of:
- training images: K-fold cross-validation; each fold's model trains on the other folds and
  predicts the held-out one ("out-of-fold");
- test images: the mean of the K fold models' predictions (none of them trained on the test set).
Images cleanlab flags come first, least self-confident first; then the rest, by the same order.

`audit()` is a generator of events like training's ("fold" per model trained, the training
events themselves, then "done" with the result); `python -m mnist_core labels` writes the result
the Data page reads (BUNDLED), so the page never trains or imports cleanlab.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from mnist_core import settings
from mnist_core.analysis.evaluation import predict_proba
from mnist_core.data.tensors import Dataset
from mnist_core.errors import AuditError  # noqa: F401  (defined there, torch-free)
from mnist_core.train.config import TrainConfig

BUNDLED = Path(__file__).parents[1] / "bundled" / "label_audit.json"
KEEP = 300  # suspects kept per split: the page shows at most this many
METHOD = ("confident learning (Northcutt et al., JAIR 2021; cleanlab's find_label_issues) on "
          "out-of-fold probabilities, ranked by self-confidence: the probability the model gives "
          "the image's own label")
# The fold models: the default preset's CNN over 5 epochs. They put more of the 15 confirmed
# test errors in the audit's top 100 than 3 epochs, 5 epochs with augment or 5 folds of 3
# epochs, in a minute or two on 2 cores (`python -m mnist_core labels` prints its wall time;
# docs/benchmarks.md, "Suspicious labels").
FOLD_CONFIG = dict(model="cnn", epochs=5, batch_size=128, lr=2e-2, schedule="onecycle",
                   label_smoothing=0.0)

# The MNIST test-set label errors confirmed by people: Northcutt, Athalye & Mueller, "Pervasive
# Label Errors in Test Sets Destabilize Machine Learning Benchmarks" (NeurIPS 2021 Datasets and
# Benchmarks), https://labelerrors.com; data: github.com/cleanlab/label-errors,
# mturk/mnist_mturk.json. Five Mechanical Turk workers saw each of 100 candidates; as in the
# paper, one is an error when fewer than 3 of 5 chose the given label (the paper's count: 15).
# index -> (given label, the label the paper proposed).
VALIDATED_TEST_ERRORS = {
    947: (8, 9), 1621: (0, 6), 1901: (9, 4), 2130: (4, 9), 2462: (2, 0), 2597: (5, 3),
    2654: (6, 1), 3520: (6, 4), 3558: (5, 0), 5937: (5, 3), 6651: (0, 6), 6783: (1, 6),
    8527: (4, 9), 9679: (6, 3), 9729: (5, 6),
}
VALIDATED_SOURCE = ("Northcutt, Athalye & Mueller (2021), Pervasive Label Errors in Test Sets "
                    "Destabilize Machine Learning Benchmarks; labelerrors.com")


def fingerprint(labels: torch.Tensor) -> str:
    """Which labels an audit was made for: a different copy of the data must not reuse it."""
    return hashlib.sha256(labels.to(torch.uint8).numpy().tobytes()).hexdigest()[:16]


def fold_of(n: int, folds: int, seed: int = 0) -> np.ndarray:
    """Each image's fold, 0..folds-1, shuffled so that every fold holds every class."""
    order = np.random.default_rng(seed).permutation(n)
    fold = np.empty(n, dtype=np.int64)
    fold[order] = np.arange(n) % folds
    return fold


def audit(data: Dataset, folds: int = 4, config: TrainConfig | None = None,
          seed: int = 0) -> Iterator[dict]:
    """Train `folds` models; yield their events, then {"kind": "done", "result": ...}."""
    from mnist_core.train.trainer import Trainer

    if not 2 <= folds <= 10:
        raise ValueError(f"folds must be between 2 and 10, got {folds}")
    config = config or TrainConfig(dataset=data.spec.name, seed=seed, **FOLD_CONFIG)
    n = len(data.train_labels)
    fold = fold_of(n, folds, seed)
    train_probs = np.zeros((n, len(data.classes)), dtype=np.float32)
    test_probs = np.zeros((len(data.test_labels), len(data.classes)), dtype=np.float32)
    held_out_accuracy = []
    for k in range(folds):
        inside, outside = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        # The held-out fold stands in as the "test" set, so each epoch event reports the
        # accuracy on images this model never trained on.
        part = dataclasses.replace(data, train_images=data.train_images[inside],
                                   train_labels=data.train_labels[inside],
                                   test_images=data.train_images[outside],
                                   test_labels=data.train_labels[outside])
        yield {"kind": "fold", "fold": k + 1, "folds": folds, "train": len(inside), "held_out": len(outside)}
        trainer = Trainer(config.replace(seed=config.seed + k), data=part)
        last = None
        for event in trainer.events():
            last = event
            yield {**event, "fold": k + 1}
        if last is None or last.get("status") != "completed":
            from mnist_core.runs.folders import RunError

            raise RunError(f"fold {k + 1} of the label audit did not complete ({last and last.get('message')}): "
                           "the fold models' settings do not suit this data")
        model = trainer.model.cpu()
        train_probs[outside] = predict_proba(model, part.test_images, data.spec).numpy()
        test_probs += predict_proba(model, data.test_images, data.spec).numpy() / folds
        held_out_accuracy.append(float((train_probs[outside].argmax(1) == part.test_labels.numpy()).mean()))
    result = {
        "format": 1,
        "dataset": data.spec.name,
        "method": METHOD,
        "folds": folds,
        "config": config.to_dict(),
        "held_out_accuracy": held_out_accuracy,
        "test_accuracy": float((test_probs.argmax(1) == data.test_labels.numpy()).mean()),
        "splits": {
            "train": summarise(data.train_labels, train_probs),
            "test": summarise(data.test_labels, test_probs),
        },
    }
    if data.spec.name == "mnist":
        result["validated"] = validated_found(result["splits"]["test"]["suspects"])
    yield {"kind": "done", "result": result}


def rank(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All indices, most suspicious first, and the boolean mask of the ones cleanlab flags."""
    from cleanlab.filter import find_label_issues  # only the audit needs it (and scikit-learn)

    labels = np.asarray(labels, dtype=np.int64)
    flagged = find_label_issues(labels, probs, filter_by="prune_by_noise_rate", n_jobs=1)
    self_confidence = probs[np.arange(len(labels)), labels]
    # lexsort's last key sorts first: flagged before unflagged, then least self-confident.
    order = np.lexsort((np.arange(len(labels)), self_confidence, ~flagged))
    return order, flagged


def summarise(labels: torch.Tensor, probs: np.ndarray, keep: int = KEEP) -> dict:
    labels = labels.numpy().astype(np.int64)
    order, flagged = rank(labels, probs)
    suspects = []
    for i in order[:keep]:
        p = probs[i]
        suspects.append({"index": int(i), "given": int(labels[i]), "suggested": int(p.argmax()),
                         "p_given": round(float(p[labels[i]]), 5),
                         "p_suggested": round(float(p.max()), 5), "flagged": bool(flagged[i])})
    return {"count": len(labels), "flagged": int(flagged.sum()), "fingerprint": fingerprint(torch.from_numpy(labels)),
            "suspects": suspects}


def validated_found(test_suspects: list[dict], top: int = 100) -> dict:
    """How many of the published, human-confirmed MNIST test label errors are in the top `top`."""
    shown = [s["index"] for s in test_suspects[:top]]
    found = sorted(set(shown) & set(VALIDATED_TEST_ERRORS))
    return {"top": top, "found": len(found), "of": len(VALIDATED_TEST_ERRORS), "indices": found,
            "source": VALIDATED_SOURCE}


# ------------------------------------------------------------------ the file the page reads

def audit_path(dataset: str = "mnist") -> Path:
    """Where a dataset's audit is read and written: MNIST_LABEL_AUDIT_DIR/label_audit_<dataset>.json when
    set; else MNIST's ships with the app (BUNDLED) and another dataset's goes in ./data."""
    folder = settings.current().label_audit_dir
    if folder:
        return Path(folder) / f"label_audit_{dataset}.json"
    return BUNDLED if dataset == "mnist" else Path("data") / f"label_audit_{dataset}.json"


def save(result: dict, path: str | os.PathLike | None = None) -> Path:
    from mnist_core.runs.folders import write_json

    path = Path(path) if path else audit_path(result["dataset"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, result)
    return path


def load(data: Dataset, path: str | os.PathLike | None = None) -> dict:
    """The saved audit, checked against the labels it is shown beside."""
    from mnist_core.runs.folders import RunError, read_json

    path = Path(path) if path else audit_path(data.spec.name)
    hint = f"run `python -m mnist_core labels --dataset {data.spec.name}` to make one"
    try:
        result = read_json(path)
    except RunError as exc:
        raise AuditError(f"the label audit: {exc}; {hint}") from None
    try:
        if result.get("dataset") != data.spec.name:
            raise AuditError(f"the label audit at {path} is for {result.get('dataset')!r}, "
                             f"not {data.spec.name!r}: {hint}")
        for split in ("train", "test"):
            part = result["splits"][split]
            labels = data.split(split)[1]
            if part["fingerprint"] != fingerprint(labels):
                raise AuditError(f"the label audit at {path} was made for other {split} labels "
                                 f"than the ones in {data.source}: {hint}")
            for s in part["suspects"]:
                if not (0 <= s["index"] < len(labels) and int(labels[s["index"]]) == s["given"]):
                    raise AuditError(f"the label audit at {path} does not match this data: {hint}")
    except (KeyError, TypeError, AttributeError) as exc:
        raise AuditError(f"the label audit at {path} is malformed ({exc!r}): {hint}") from None
    return result
