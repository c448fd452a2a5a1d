"""Predictions, loss and accuracy, confusion matrices, per-class metrics and error lists."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mnist_core.data.tensors import DatasetSpec, normalise

# Small chunks bound the activations' memory: larger ones push a class's server past Community
# Cloud's 1 GB (benchmarks.load measures it; docs/reliability.md).
BATCH = 250
# Test-time augmentation: each digit as given and moved one pixel each way; the prediction is
# the mean of the five probability vectors. It lifts the `best` preset's test accuracy
# (`python -m benchmarks --best` reads it with and without).
TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def shifted(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """A normalised batch (N,1,H,W) moved dx pixels right and dy down; the edge that comes in
    repeats the border, never wraps round. The border is background for all but 107 of MNIST's
    10,000 test digits, whose ink touches it; filling with background instead barely moves
    their probabilities and leaves the accuracy with TTA the same."""
    if not (dx or dy):
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)), mode="replicate")
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top:top + h, left:left + w]


@torch.inference_mode()
def predict_logits(model: nn.Module, images: torch.Tensor, spec: DatasetSpec,
                   batch_size: int = BATCH, shift: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Raw logits (N, 10) as float32 on the CPU; temperature scaling needs them unsoftmaxed.
    `shift` moves every image by (dx, dy) pixels first (test-time augmentation)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start:start + batch_size].to(device)
            x = normalise(chunk, spec) if chunk.dtype == torch.uint8 else chunk
            out.append(model(shifted(x, *shift)).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 10)


def predict_proba(model: nn.Module, images: torch.Tensor, spec: DatasetSpec,
                  batch_size: int = BATCH, tta: bool = False) -> torch.Tensor:
    """Class probabilities (N, 10) for uint8 images (N,28,28) or already-normalised floats
    (N,1,28,28); with `tta`, the mean over TTA_SHIFTS (five times the work)."""
    if not tta:
        return F.softmax(predict_logits(model, images, spec, batch_size), dim=1)
    return torch.stack([F.softmax(predict_logits(model, images, spec, batch_size, s), dim=1)
                        for s in TTA_SHIFTS]).mean(0)


@torch.inference_mode()
def evaluate_tensors(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                     spec: DatasetSpec, batch_size: int = BATCH) -> dict:
    """Mean cross-entropy loss and accuracy; images are uint8 (N,28,28)."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), device=images.device, dtype=torch.long)
    try:
        for start in range(0, len(images), batch_size):
            x = normalise(images[start:start + batch_size], spec)
            y = labels[start:start + batch_size]
            logits = model(x)
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
    finally:
        model.train(was_training)
    n = max(len(images), 1)
    return {"loss": loss_sum.item() / n, "accuracy": correct.item() / n}


def confusion_matrix(labels: torch.Tensor, preds: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Rows are true classes, columns predicted classes."""
    idx = labels.long() * num_classes + preds.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_metrics(cm: torch.Tensor, class_names=None) -> dict:
    """Precision, recall, F1 and support per class, with macro and support-weighted averages.

    A class never predicted has precision 0 (and no division error), as in scikit-learn's
    zero_division=0.
    """
    cm = cm.double()
    tp = cm.diag()
    support = cm.sum(1)
    predicted = cm.sum(0)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-12), torch.zeros_like(tp))
    names = class_names or [str(i) for i in range(len(cm))]
    rows = [{"class": names[i], "precision": precision[i].item(), "recall": recall[i].item(),
             "f1": f1[i].item(), "support": int(support[i].item())} for i in range(len(cm))]
    total = support.sum().clamp(min=1)
    weights = support / total

    def average(kind):
        return {"precision": (precision.mean() if kind == "macro" else (precision * weights).sum()).item(),
                "recall": (recall.mean() if kind == "macro" else (recall * weights).sum()).item(),
                "f1": (f1.mean() if kind == "macro" else (f1 * weights).sum()).item(),
                "support": int(support.sum().item())}

    return {"per_class": rows, "macro": average("macro"), "weighted": average("weighted"),
            "accuracy": (tp.sum() / total).item()}


def misclassified(labels: torch.Tensor, probs: torch.Tensor, true_class: int | None = None,
                  pred_class: int | None = None) -> torch.Tensor:
    """Indices of wrong predictions, most confident first; optionally one confusion cell."""
    conf, preds = probs.max(1)
    mask = preds != labels
    if true_class is not None:
        mask &= labels == true_class
    if pred_class is not None:
        mask &= preds == pred_class
    idx = mask.nonzero().flatten()
    return idx[conf[idx].argsort(descending=True)]


def cell_indices(labels: torch.Tensor, probs: torch.Tensor, true_class: int, pred_class: int) -> torch.Tensor:
    """Indices in one confusion-matrix cell (right or wrong), most confident first."""
    conf, preds = probs.max(1)
    idx = ((labels == true_class) & (preds == pred_class)).nonzero().flatten()
    return idx[conf[idx].argsort(descending=True)]


def evaluate_split(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                   spec: DatasetSpec, tta: bool = False) -> dict:
    """Everything Evaluate shows: probabilities, predictions, loss, accuracy, matrix, metrics
    (with `tta`, of the test-time augmented predictions)."""
    probs = predict_proba(model, images, spec, tta=tta)
    preds = probs.argmax(1)
    labels = labels.cpu()
    nll = F.nll_loss(probs.clamp(min=1e-12).log(), labels).item() if len(labels) else float("nan")
    cm = confusion_matrix(labels, preds, len(spec.classes))
    return {"probs": probs, "preds": preds, "labels": labels, "loss": nll,
            "accuracy": (preds == labels).double().mean().item() if len(labels) else float("nan"),
            "confusion": cm, "metrics": per_class_metrics(cm, list(spec.classes)),
            "errors": misclassified(labels, probs)}
