"""What a model has learned: first-layer weights, conv activations, 2-D embedding projections."""
from __future__ import annotations

import torch
from torch import nn

from mnist_core.analysis.evaluation import predict_logits
from mnist_core.analysis.explain import embed
from mnist_core.data.tensors import DatasetSpec
from mnist_core.models.registry import model_parts

MAX_FILTERS = 32


def first_layer_filters(model: nn.Module, limit: int = MAX_FILTERS) -> torch.Tensor:
    """(K, h, w) weights of the first Conv2d (input channel 0), or of the first Linear's units
    reshaped to 28x28 when the model has no conv layer; K <= limit."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.weight.detach()[:limit, 0].float().cpu().clone()
        if isinstance(m, nn.Linear):
            if m.in_features != 28 * 28:
                break
            return m.weight.detach()[:limit].float().cpu().reshape(-1, 28, 28).clone()
    raise ValueError("the model has neither a Conv2d nor a Linear layer on the 28x28 pixels")


@torch.inference_mode()
def activation_maps(model: nn.Module, x_norm: torch.Tensor) -> list[torch.Tensor]:
    """(C, H, W) output of each conv layer's ReLU (a residual network's: each block's) for one
    normalised image; [] for mlp/logreg."""
    targets = model_parts(model).blocks
    if not targets:
        return []
    x = x_norm.reshape(1, 1, 28, 28).float()
    device = next(model.parameters()).device
    maps: list[torch.Tensor] = []
    hooks = [t.register_forward_hook(lambda _m, _i, out: maps.append(out[0].detach().cpu().clone()))
             for t in targets]
    was_training = model.training
    model.eval()
    try:
        model(x.to(device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return maps


def project_embeddings(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                       spec: DatasetSpec, n: int = 2000, method: str = "pca") -> dict:
    """2-D PCA coordinates of the first n images' penultimate-layer embeddings.

    Returns {"coords": (n,2), "labels": (n,), "preds": (n,), "index": (n,)}.
    """
    if method != "pca":
        raise ValueError(f"unknown projection method {method!r}; only 'pca' is supported")
    images, labels = images[:n], labels[:n]
    feats = embed(model, images, spec)
    preds = predict_logits(model, images, spec).argmax(1)
    centred = feats - feats.mean(0, keepdim=True)
    # Seeded: pca_lowrank uses random projections, and the scatter should not jump between reruns.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        _u, _s, v = torch.pca_lowrank(centred, q=min(6, *centred.shape), center=False)
    coords = centred @ v[:, :2]
    return {"coords": coords, "labels": labels.clone(), "preds": preds,
            "index": torch.arange(len(images))}
