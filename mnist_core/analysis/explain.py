"""Why a model reads a digit as it does: saliency maps and nearest training digits.

Every function puts the model in eval mode for its work and restores its training flag after,
and takes gradients only with respect to inputs or activations (never filling parameters'
.grad), so it is safe on a model another page or a training job also holds.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from mnist_core.data.tensors import DATASETS, DatasetSpec, normalise
from mnist_core.models.registry import model_parts, penultimate

BATCH = 1000  # images per forward pass: bounded activation memory on a 1 GB host
CHUNK = 4096  # training images compared per step in the neighbour search


@contextmanager
def _eval(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _as_batch(x: torch.Tensor) -> torch.Tensor:
    """(28,28), (1,28,28) or (N,1,28,28) -> float (N,1,28,28), detached from any graph."""
    x = x.detach()
    if x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(f"expected a normalised image (1,28,28) or (N,1,28,28), got {tuple(x.shape)}")
    return x.float()


def _targets(target, n: int) -> list[int]:
    if isinstance(target, int):
        return [target] * n
    out = [int(t) for t in torch.as_tensor(target).flatten().tolist()]
    if len(out) != n:
        raise ValueError(f"{n} image(s) but {len(out)} target(s)")
    return out


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def background(spec: DatasetSpec = DATASETS["mnist"]) -> float:
    """A black pixel after normalisation: the 'no ink' reference of every method here."""
    return (0.0 - spec.mean) / spec.std


def _squeeze(maps: torch.Tensor, single: bool) -> torch.Tensor:
    return maps[0] if single else maps


# ---------------------------------------------------------------- saliency


def integrated_gradients(model: nn.Module, x: torch.Tensor, target, baseline: torch.Tensor | None = None,
                         steps: int = 32, spec: DatasetSpec = DATASETS["mnist"]) -> torch.Tensor:
    """Integrated gradients of the target logit, (28,28) for one image or (N,28,28).

    The path integral uses the midpoint rule, so the attributions' sum approaches
    logit(x) - logit(baseline) (completeness) as steps grows.
    Logits rather than probabilities: softmax saturates, which makes the path's gradients
    vanish and the sum uninformative for confident predictions.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    single = x.dim() <= 3
    xb = _as_batch(x)
    device = _device(model)
    base = (torch.full_like(xb[:1], background(spec)) if baseline is None
            else _as_batch(baseline)).to(device)
    alphas = ((torch.arange(steps, dtype=torch.float32) + 0.5) / steps).view(-1, 1, 1, 1).to(device)
    out = []
    # inference_mode(False) lets a page call this from inside an inference_mode block.
    with _eval(model), torch.inference_mode(False), torch.enable_grad():
        for img, t in zip(xb.clone(), _targets(target, len(xb))):
            img = img.unsqueeze(0).to(device)
            b = base if len(base) == 1 else base[len(out):len(out) + 1]
            grads = torch.zeros_like(img)
            for start in range(0, steps, BATCH // 4):
                a = alphas[start:start + BATCH // 4]
                path = (b + a * (img - b)).requires_grad_(True)
                score = model(path)[:, t].sum()
                grads += torch.autograd.grad(score, path)[0].sum(0, keepdim=True)
            out.append(((img - b) * grads / steps)[0, 0].detach().cpu())
    return _squeeze(torch.stack(out), single)


def occlusion_drops(model: nn.Module, x: torch.Tensor, target: int, patch: int = 4, stride: int = 2,
                    spec: DatasetSpec = DATASETS["mnist"]) -> torch.Tensor:
    """For one image, p(target | x) minus p(target | x with a patch set to background),
    one value per patch position: (rows, cols) over tops and lefts 0, stride, ... 28-patch."""
    if not 1 <= patch <= 28 or stride < 1:
        raise ValueError(f"need 1 <= patch <= 28 and stride >= 1, got patch={patch}, stride={stride}")
    xb = _as_batch(x)[:1]
    spots = range(0, 28 - patch + 1, stride)
    variants = [xb[0]]
    for top in spots:
        for left in spots:
            v = xb[0].clone()
            v[:, top:top + patch, left:left + patch] = background(spec)
            variants.append(v)
    device = _device(model)
    probs = []
    with _eval(model), torch.inference_mode():
        batch = torch.stack(variants)
        for start in range(0, len(batch), BATCH):
            probs.append(F.softmax(model(batch[start:start + BATCH].to(device)).float(), 1)[:, target].cpu())
    p = torch.cat(probs)
    return (p[0] - p[1:]).view(len(spots), len(spots))


def occlusion(model: nn.Module, x: torch.Tensor, target: int, patch: int = 4, stride: int = 2,
              spec: DatasetSpec = DATASETS["mnist"]) -> torch.Tensor:
    """Occlusion map (28,28): each pixel gets the mean probability drop of the patches covering it.

    Positive where hiding the pixel lowers the target's probability (evidence for it).
    """
    drops = occlusion_drops(model, x, target, patch, stride, spec)
    total = torch.zeros(28, 28)
    count = torch.zeros(28, 28)
    spots = range(0, 28 - patch + 1, stride)
    for i, top in enumerate(spots):
        for j, left in enumerate(spots):
            total[top:top + patch, left:left + patch] += drops[i, j]
            count[top:top + patch, left:left + patch] += 1
    return torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))


def grad_cam(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """Grad-CAM (28,28), non-negative, from the last conv block's output after its BN and ReLU.

    Raises ValueError for models without convolutions (logreg, mlp).
    """
    parts = model_parts(model)
    if parts.features is None:
        raise ValueError("Grad-CAM needs a convolutional model; this one has no convolution blocks")
    features, head = parts.features, parts.head
    xb = _as_batch(x)[:1].to(_device(model))
    with _eval(model), torch.inference_mode(False), torch.enable_grad():
        with torch.no_grad():
            # clone: the block ends in an in-place ReLU, and the head must not see a view of it.
            acts = features(xb.clone()).clone()
        acts.requires_grad_(True)
        score = head(acts)[0, target]
        grads = torch.autograd.grad(score, acts)[0]
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * acts.detach()).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=(28, 28), mode="bilinear", align_corners=False)
    return cam[0, 0].clamp(min=0).cpu()


# ---------------------------------------------------------------- nearest neighbours


def _nearest(bank: torch.Tensor, query: torch.Tensor, k: int, divisor: float = 1.0
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact L2 neighbours of one query among the bank's rows.

    Differences rather than the |a|^2 - 2ab + |b|^2 identity: the identity's cancellation
    leaves an exact duplicate about 1e-2 away in float32, and duplicates should read 0.
    """
    q = query.reshape(1, -1).float()
    dists = []
    for start in range(0, len(bank), CHUNK):
        rows = bank[start:start + CHUNK].reshape(-1, q.shape[1]).float() / divisor
        dists.append((rows - q).pow(2).sum(1))
    d = torch.cat(dists) if dists else torch.empty(0)
    k = min(k, len(d))
    # A stable sort keeps the lower index first among ties, so results are reproducible.
    idx = torch.argsort(d, stable=True)[:k]
    return idx, d[idx].sqrt()


def nearest_pixels(train_images_uint8: torch.Tensor, x01_28x28, k: int = 8
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices, distances) of the k training images closest in pixel space, pixels in [0, 1]."""
    x = torch.as_tensor(x01_28x28, dtype=torch.float32).reshape(28, 28)
    # Divided, not multiplied by 1/255: the way callers scale a digit, so its copy lies at 0.
    return _nearest(train_images_uint8, x, k, divisor=255.0)


@torch.inference_mode()
def embed(model: nn.Module, images_uint8: torch.Tensor, spec: DatasetSpec = DATASETS["mnist"],
          batch_size: int = BATCH) -> torch.Tensor:
    """Penultimate-layer features (N, D) for uint8 images (N,28,28) or normalised floats."""
    body = penultimate(model)
    device = _device(model)
    out = []
    with _eval(model):
        for start in range(0, len(images_uint8), batch_size):
            chunk = images_uint8[start:start + batch_size].to(device)
            x = normalise(chunk, spec) if chunk.dtype == torch.uint8 else _as_batch(chunk)
            out.append(body(x).float().flatten(1).cpu())
    return torch.cat(out) if out else torch.empty(0)


def nearest_embedding(model: nn.Module, train_embeddings: torch.Tensor, x_norm: torch.Tensor, k: int = 8
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices, distances) of the k training embeddings closest to a normalised image's."""
    q = embed(model, _as_batch(x_norm))[0]
    return _nearest(train_embeddings, q, k)
