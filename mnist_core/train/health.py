"""A network's health while it trains: per layer, histograms of weights and gradients, the size
of each update against the weights (the update ratio), the share of ReLU units that never fired,
and, when a signal is off, the facts per layer and one piece of advice that explains them all.

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
# Thresholds of the findings. Update ratios: Karpathy's rule of thumb is about 1e-3 per step for
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
        ending moves the weights little on purpose, which is no cause for a finding)."""
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
        found = findings(layers, units, lr_share)
        return {"layers": layers, "units": units, "findings": [f["text"] for f in found], "advice": advice(found)}


# The signs of a rate too high. A layer's sign can be another layer's doing (a dead unit passes
# no gradient back, so the layers below it go quiet), so advice is given per cause, not per
# layer: one diagnosis, one action.
TOO_HIGH = {"not finite", "dead", "big steps"}


def findings(layers: list[dict], units: list[dict], lr_share: float = 1.0) -> list[dict]:
    """The facts of a reading, one per layer that is off: {"layer", "sign", "text"}; the texts
    say what is seen, never what to do (advice() does, once)."""
    out = []
    for layer in layers:
        name, ratio = layer["name"], layer["update_ratio"]
        if not math.isfinite(layer["grad_norm"]):
            out.append(_finding(name, "not finite", f"The gradients of {name} are not finite."))
        elif layer["grad_norm"] < VANISHED * max(layer["weight_norm"], 1e-12):
            out.append(_finding(name, "vanished", f"The gradients of {name} vanished: it has stopped learning."))
        elif ratio > RATIO_HIGH:
            out.append(_finding(name, "big steps", f"Each step changes {name} by {ratio:.0%} of its size "
                                                   "(healthy is about 0.1-3%)."))
        elif ratio < RATIO_LOW and lr_share > 0.5:  # a schedule that is ending moves little on purpose
            out.append(_finding(name, "small steps", f"{name} barely moves ({ratio:.0e} of its size per step; "
                                                     "healthy is about 1e-3)."))
    for u in units:
        share = u["dead"] / max(u["units"], 1)
        if share >= DEAD_ALERT:
            out.append(_finding(u["name"], "dead", f"{share:.0%} of the units after {u['name']} are dead "
                                                   "(none of this batch's images made them fire)."))
    return out


def _finding(layer: str, sign: str, text: str) -> dict:
    return {"layer": layer, "sign": sign, "text": text}


def advice(found: list[dict]) -> str | None:
    """One diagnosis of a reading's findings with one action, the deepest cause first; None when
    all looks healthy. A rate too high wins over everything: it kills units, and dead units
    explain vanished gradients and still layers, so "raise the rate" must not be said beside it."""
    signs = {f["sign"] for f in found}
    if signs & TOO_HIGH:
        return _too_high(found)
    if "vanished" in signs:  # no unit died and no step is too big, yet no signal gets through
        return (f"The gradients of {_names(found, 'vanished')} vanished, though no unit died and no step is "
                "too big: the learning signal fades before it gets there. Turn on batch norm (a model "
                "setting) if it is off: it keeps the signal flowing through every layer.")
    if "small steps" in signs:
        still = [f for f in found if f["sign"] == "small steps"]
        return (f"The learning rate is too low: {_names(found, 'small steps')} barely "
                f"{'moves' if len(still) == 1 else 'move'} with each step (healthy is about 1e-3 of a "
                "layer's size). Raise the learning rate.")
    return None


def _too_high(found: list[dict]) -> str:
    signs = {f["sign"] for f in found}
    why = []
    if "not finite" in signs:
        why.append(f"the gradients of {_names(found, 'not finite')} are not finite, so the run is blowing up")
    if "big steps" in signs:
        why.append(f"each step changes {_names(found, 'big steps')} by more than a tenth of its size")
    if "dead" in signs:
        dead = f"most units after {_names(found, 'dead')} are dead (no image of the batch makes them fire)"
        if "vanished" in signs:  # explained by the dead units, so said as their consequence, not as a cause
            dead += (", and a dead unit passes no gradient back, which is why the gradients of "
                     f"{_names(found, 'vanished')} vanished")
        why.append(dead)
    return f"The learning rate is too high: {'; '.join(why)}. Lower the learning rate."


def _names(found: list[dict], sign: str) -> str:
    """"conv 1", "conv 1 and conv 2", "conv 1, conv 2 and linear 1": the layers showing a sign."""
    names = [f["layer"] for f in found if f["sign"] == sign]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
