"""The memory a training run will need, estimated from its config before anything is allocated.

The model is built and run once on the meta device (shapes only, no storage), which counts its
parameters and every layer's output for one batch. Training keeps float32 weights, their
gradients and Adam's two moments (4 copies of the parameters), and each layer's output for the
backward pass plus its gradient there (2 copies of the activations). On a shared server one
oversized run would take the app down for everyone, so a config over the budget is refused.
"""
from __future__ import annotations

import functools
import json

import torch
from torch import nn

from mnist_core import settings
from mnist_core.models.registry import build_model, count_parameters

# MNIST_MODEL_BUDGET_MB raises it on a bigger machine (mnist_core.settings).
DEFAULT_BUDGET_MB = settings.DEFAULT_MODEL_BUDGET_MB


def budget_mb() -> float:
    return settings.current().model_budget_mb


def training_memory(model: str, kwargs: dict, batch_size: int) -> dict:
    """{"params", "activations", "mb"} for training `model` at `batch_size` (an estimate)."""
    return dict(_memory(model, json.dumps(kwargs, sort_keys=True), batch_size))


@functools.lru_cache(maxsize=256)
def _memory(model: str, kwargs_json: str, batch_size: int) -> tuple:
    # Cached: the Train page validates its form field by field on every rerun, and each call
    # builds the model and runs it on the meta device.
    kwargs = json.loads(kwargs_json)
    outputs = []

    def count(_module, _inputs, out):
        if isinstance(out, torch.Tensor):
            outputs.append(out.numel())

    with torch.device("meta"):
        net = build_model(model, **kwargs)
        leaves = [m for m in net.modules() if not list(m.children())]
        hooks = [m.register_forward_hook(count) for m in leaves if not isinstance(m, nn.Flatten)]
        try:
            net(torch.empty(batch_size, 1, 28, 28))
        finally:
            for h in hooks:
                h.remove()
    params, activations = count_parameters(net), sum(outputs)
    return (("params", params), ("activations", activations),
            ("mb", (params * 4 * 4 + activations * 4 * 2) / 2**20))


def over_budget(model: str, kwargs: dict, batch_size: int) -> str | None:
    """Why the run would not fit this server's budget, or None."""
    need, limit = training_memory(model, kwargs, batch_size), budget_mb()
    if need["mb"] <= limit:
        return None
    return (f"this model needs about {need['mb']:,.0f} MB to train at batch {batch_size} "
            f"({need['params']:,} parameters); the limit on this server is {limit:,.0f} MB "
            "(MNIST_MODEL_BUDGET_MB). Use fewer or narrower layers, or a smaller batch")
