"""Calibration: reliability bins, expected calibration error, temperature scaling, coverage.

All functions take CPU tensors: probabilities (N, C) or logits (N, C) and integer labels (N,).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _confidence(probs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    conf, preds = probs.double().max(1)
    return conf, (preds == labels.long()).double()


def reliability_bins(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> dict:
    """Equal-width bins on the top probability: mean confidence, accuracy and count per bin.

    Bins are (lo, hi], the first also holding 0; an empty bin has confidence and accuracy NaN.
    """
    conf, correct = _confidence(probs, labels)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    # bucketize with right=False puts conf == hi into the bin ending at hi, i.e. (lo, hi].
    idx = (torch.bucketize(conf, edges) - 1).clamp(0, n_bins - 1)
    count = torch.bincount(idx, minlength=n_bins).double()
    conf_sum = torch.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = torch.bincount(idx, weights=correct, minlength=n_bins)
    nan = torch.full_like(count, float("nan"))
    return {"edges": edges, "count": count.long(),
            "confidence": torch.where(count > 0, conf_sum / count.clamp(min=1), nan),
            "accuracy": torch.where(count > 0, acc_sum / count.clamp(min=1), nan)}


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> float:
    """Sum over bins of |accuracy - confidence| * n_bin / N."""
    if len(labels) == 0:
        return float("nan")
    b = reliability_bins(probs, labels, n_bins)
    n = b["count"].double()
    gaps = (b["accuracy"] - b["confidence"]).abs().nan_to_num(0.0)
    return float((gaps * n).sum() / n.sum())


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 minimising the NLL of softmax(logits / T) on (held-out) data.

    A golden-section search on log T in [1/20, 20]: the NLL is smooth and unimodal in T
    in practice, and a 1-D search needs no optimizer state or learning rate.
    """
    logits = logits.double()
    labels = labels.long()

    def nll(log_t: float) -> float:
        return F.cross_entropy(logits / math.exp(log_t), labels).item()

    lo, hi = math.log(1 / 20), math.log(20)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return math.exp((lo + hi) / 2)


def coverage_curve(probs: torch.Tensor, labels: torch.Tensor, thresholds=None) -> dict:
    """For each threshold t: the fraction kept (top probability >= t) and the accuracy on it.

    Accuracy is NaN where nothing is kept.
    """
    conf, correct = _confidence(probs, labels)
    t = torch.linspace(0, 1, 101, dtype=torch.float64) if thresholds is None else \
        torch.as_tensor(thresholds, dtype=torch.float64)
    kept = conf.unsqueeze(0) >= t.unsqueeze(1)  # (T, N)
    n_kept = kept.sum(1).double()
    right = (kept.double() * correct.unsqueeze(0)).sum(1)
    n = max(len(conf), 1)
    return {"threshold": t, "coverage": n_kept / n,
            "accuracy": torch.where(n_kept > 0, right / n_kept.clamp(min=1),
                                    torch.full_like(n_kept, float("nan")))}


def calibration_report(test_logits: torch.Tensor, test_labels: torch.Tensor,
                       fit_logits: torch.Tensor, fit_labels: torch.Tensor, n_bins: int = 15) -> dict:
    """Everything Evaluate's calibration section shows, before and after temperature scaling."""
    temperature = fit_temperature(fit_logits, fit_labels)
    probs = F.softmax(test_logits.double(), 1)
    scaled = F.softmax(test_logits.double() / temperature, 1)
    return {"temperature": temperature,
            "ece": expected_calibration_error(probs, test_labels, n_bins),
            "ece_scaled": expected_calibration_error(scaled, test_labels, n_bins),
            "bins": reliability_bins(probs, test_labels, n_bins),
            "bins_scaled": reliability_bins(scaled, test_labels, n_bins),
            "coverage": coverage_curve(probs, test_labels)}


HELD_OUT = 5000


def calibrate_model(model, data, images: torch.Tensor, labels: torch.Tensor, n_bins: int = 15) -> dict:
    """calibration_report for a model on (images, labels), T fitted on the last 5,000 training images.

    Nothing in a run is truly held out: a model trained on the full set has seen these images, and
    a train_subset run a random share of them, so the fitted T is an approximation. Overfitting
    makes a model more confident on images it trained on, so T tends to come out too close to 1.
    """
    from mnist_core.analysis.evaluation import predict_logits

    fit_images, fit_labels = data.train_images[-HELD_OUT:], data.train_labels[-HELD_OUT:]
    report = calibration_report(predict_logits(model, images, data.spec), labels.cpu(),
                                predict_logits(model, fit_images, data.spec), fit_labels.cpu(), n_bins)
    report["held_out"] = len(fit_labels)
    return report
