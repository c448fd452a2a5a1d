"""Break it: a copy of a model with a share of one layer's units silenced, or noise on its
weights, to see how much of what it learned a layer can lose. The saved model is never touched.

Units are those of mnist_core.train.health: the channels of a conv block, the neurons of a hidden
layer, named after the layer before their ReLU ("conv 1", "linear 1"), or a residual block.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from mnist_core.analysis.evaluation import evaluate_tensors
from mnist_core.data.tensors import DatasetSpec
from mnist_core.models.registry import spec_of
from mnist_core.train.health import layer_names

SHARES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9)


def unit_layers(model: nn.Module) -> list[str]:
    """Names of the layers whose units can be silenced."""
    return [name for name, _ in layer_names(model)[1]]


def noisy_layers(model: nn.Module) -> list[str]:
    return [name for name, _ in layer_names(model)[0]]


def broken(model: nn.Module, layer: str, zero_share: float = 0.0, noise: float = 0.0,
           seed: int = 0) -> nn.Module:
    """A copy of `model` with `zero_share` of `layer`'s units always zero (chosen at random) and
    Gaussian noise of `noise` times the weights' own standard deviation added to the weighted
    layer of that name (where there is one)."""
    if not 0.0 <= zero_share <= 1.0:
        raise ValueError(f"the share of units to silence must be in [0, 1], got {zero_share}")
    if not 0.0 <= noise <= 10.0:
        raise ValueError(f"noise must be between 0 and 10 times the weights' spread, got {noise}")
    out = copy.deepcopy(model).eval()
    weighted, units = (dict(named) for named in layer_names(out))
    if layer not in units and layer not in weighted:
        raise ValueError(f"no layer {layer!r}; this model has {sorted(set(units) | set(weighted))}")
    g = torch.Generator().manual_seed(seed)
    if noise and layer in weighted:
        w = weighted[layer].weight
        with torch.no_grad():
            w.add_(torch.randn(w.shape, generator=g).to(w.device) * w.std() * noise)
    if zero_share and layer in units:
        module = units[layer]
        count = _unit_count(out, module, weighted.get(layer))
        keep = torch.ones(count)
        keep[torch.randperm(count, generator=g)[:round(zero_share * count)]] = 0.0

        def silence(_m, _inputs, output):
            shape = [1, -1] + [1] * (output.dim() - 2)
            return output * keep.to(output.device, output.dtype).view(shape)

        module.register_forward_hook(silence)
    return out


def _unit_count(model: nn.Module, module: nn.Module, before: nn.Module | None) -> int:
    """Units of a unit layer: the channels or neurons of the weighted layer its ReLU follows,
    or as many as the model's registry entry says such a block holds."""
    spec = spec_of(model)
    for kind, count in spec.unit_blocks if spec else ():
        if isinstance(module, kind):
            return count(module)
    if isinstance(before, nn.Conv2d):
        return before.out_channels
    return before.out_features


def ablation_curves(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, spec: DatasetSpec,
                    shares=SHARES, seed: int = 0) -> dict[str, list[float]]:
    """Test accuracy against the share of units silenced, for each unit layer in turn."""
    return {layer: [evaluate_tensors(broken(model, layer, share, seed=seed), images, labels, spec)["accuracy"]
                    for share in shares]
            for layer in unit_layers(model)}
