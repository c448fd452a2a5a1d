"""A network's health while it trains: per layer, histograms of weights and gradients, the size
of each update against the weights (the update ratio), the share of ReLU units that never fired,
and plain-language hints when a signal is off.

A reading covers one training step: `arm()` before it (a copy of the weights and a hook on each
ReLU), `read()` after it. The trainer takes one every READ_EVERY steps, so the cost is a copy of
the weights and a few reductions per fifty steps (docs/benchmarks.md measures it).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from mnist_core.models.registry import spec_of

READ_EVERY = 50  # training steps between readings
BINS = 20
# Thresholds of the hints. Update ratios: Karpathy's rule of thumb is about 1e-3 per step for
# SGD; Adam's steps are larger by design (the default preset peaks near 3e-2 and reaches 99%),
# so only well past that is "too large".
RATIO_HIGH = 0.1
RATIO_LOW = 1e-5
# Share of a layer's units that never fired on the step's batch. The default preset itself
# reaches 99% with over a quarter of its hidden layer silent on a batch; at 15x its rate (lr
# 0.3) about two thirds of conv 2's and the hidden layer's units were, and accuracy fell, so
# the alert sits between (docs/benchmarks.md, "Live internals and the learning-rate finder").
DEAD_ALERT = 0.5
VANISHED = 1e-8  # gradient norm over weight norm


def layer_names(model: nn.Module) -> tuple[list[tuple[str, nn.Module]], list[tuple[str, nn.Module]]]:
    """(weighted layers, unit layers): "conv 1", "linear 2"...; each ReLU is named after the
    weighted layer before it, and a block its registry entry names (a residual block, whose ReLU
    is inside it) by its number."""
    weighted, units, counts, last = [], [], {"conv": 0, "linear": 0, "block": 0}, None
    spec = spec_of(model)
    blocks = tuple(kind for kind, _ in spec.unit_blocks) if spec else ()
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            kind = "conv" if isinstance(m, nn.Conv2d) else "linear"
            counts[kind] += 1
            last = f"{kind} {counts[kind]}"
            weighted.append((last, m))
        elif blocks and isinstance(m, blocks):
            counts["block"] += 1
            units.append((f"block {counts['block']}", m))
        elif isinstance(m, nn.ReLU) and last is not None:
            units.append((last, m))
    return weighted, units


def histogram(t: torch.Tensor, bins: int = BINS) -> dict:
    t = t.detach().float().flatten()
    finite = t[torch.isfinite(t)]
    if finite.numel() == 0:
        return {"lo": 0.0, "hi": 0.0, "counts": [0] * bins}
    lo, hi = finite.min().item(), finite.max().item()
    if hi <= lo:
        lo, hi = lo - 1e-6, hi + 1e-6
    return {"lo": lo, "hi": hi, "counts": torch.histc(finite, bins, lo, hi).int().tolist()}


class HealthWatch:
    """Readings of one model; `arm()` before a step, `read()` after it."""

    def __init__(self, model: nn.Module):
        self.weighted, self.units = layer_names(model)
        self._before: list[torch.Tensor] = []
        self._fired: dict[str, torch.Tensor] = {}
        self._handles: list = []

    @property
    def armed(self) -> bool:
        return bool(self._handles) or bool(self._before)

    def arm(self) -> None:
        self._before = [m.weight.detach().clone() for _, m in self.weighted]
        self._fired = {}
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in self.units]

    def _hook(self, name: str):
        def hook(_module, _inputs, out):
            if isinstance(out, torch.Tensor) and out.dim() >= 2:
                dims = tuple(d for d in range(out.dim()) if d != 1)  # every axis but the units'
                self._fired[name] = (out.detach() > 0).amax(dim=dims)
        return hook

    def disarm(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles, self._before = [], []

    def read(self, lr_share: float = 1.0) -> dict:
        """The step's reading; lr_share is the rate now over the run's peak (a schedule that is
        ending moves the weights little on purpose, which is no cause for a hint)."""
        layers = []
        for (name, m), before in zip(self.weighted, self._before):
            w, g = m.weight.detach(), m.weight.grad
            w_norm = before.norm().item()
            layers.append({
                "name": name, "weight_norm": w_norm,
                "grad_norm": g.norm().item() if g is not None else 0.0,
                "update_ratio": (w - before).norm().item() / max(w_norm, 1e-12),
                "weights": histogram(w), "grads": histogram(g) if g is not None else histogram(torch.zeros(1)),
            })
        units = [{"name": name, "units": int(f.numel()), "dead": int((~f).sum())} for name, f in self._fired.items()]
        self.disarm()
        return {"layers": layers, "units": units, "hints": hints(layers, units, lr_share)}


def hints(layers: list[dict], units: list[dict], lr_share: float = 1.0) -> list[str]:
    """What a teacher would say about a reading, worst first; [] when all looks healthy."""
    out = []
    for layer in layers:
        name, ratio = layer["name"], layer["update_ratio"]
        if not math.isfinite(layer["grad_norm"]):
            out.append(f"The gradients of {name} are not finite: the run is blowing up. Lower the learning rate.")
        elif layer["grad_norm"] < VANISHED * max(layer["weight_norm"], 1e-12):
            out.append(f"The gradients of {name} vanished: it has stopped learning. Batch norm, ReLU "
                       "units or a higher learning rate help.")
        elif ratio > RATIO_HIGH:
            out.append(f"Each step changes {name} by {ratio:.0%} of its size (healthy is about 0.1-3%): "
                       "lower the learning rate.")
        elif ratio < RATIO_LOW and lr_share > 0.5:
            out.append(f"{name} barely moves ({ratio:.0e} of its size per step; healthy is about 1e-3): "
                       "raise the learning rate.")
    for u in units:
        share = u["dead"] / max(u["units"], 1)
        if share >= DEAD_ALERT:
            out.append(f"{share:.0%} of the units after {u['name']} are dead (none of this batch's images "
                       "made them fire): lower the learning rate.")
    return out
