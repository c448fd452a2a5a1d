"""Optimisers (mnist_core.train.optim): one fused kernel per step, the same updates as the loop."""
from __future__ import annotations

import pytest
import torch

from mnist_core.models.registry import build_model
from mnist_core.train.config import TrainConfig
from mnist_core.train.optim import make_optimizer


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_a_cpu_model_is_updated_by_the_fused_kernel_as_by_the_loop(name):
    config = TrainConfig(model="cnn", model_kwargs={"channels": [4, 8], "hidden": 16}, optimizer=name,
                         lr=1e-2, weight_decay=1e-3, device="cpu")
    torch.manual_seed(0)
    fused_model = build_model("cnn", channels=[4, 8], hidden=16)
    loop_model = build_model("cnn", channels=[4, 8], hidden=16)
    loop_model.load_state_dict(fused_model.state_dict())
    fused = make_optimizer(fused_model, config)
    assert fused.param_groups[0]["fused"] is True
    loop = make_optimizer(loop_model, config)
    for group in loop.param_groups:
        group["fused"] = None  # torch's per-parameter loop, as before
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    for _ in range(5):
        for model, opt in ((fused_model, fused), (loop_model, loop)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for a, b in zip(fused_model.parameters(), loop_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_rmsprop_keeps_the_loop():
    config = TrainConfig(model="logreg", optimizer="rmsprop", device="cpu")
    assert not make_optimizer(build_model("logreg"), config).param_groups[0].get("fused")


def test_drawing_a_schedule_warns_nothing_and_touches_no_global_filter():
    # The schedule chart is drawn in many sessions' threads at once: catch_warnings() there
    # swapped the process's filters under the others, and torch's warning leaked into the log.
    import warnings

    from mnist_core.train.config import TrainConfig
    from mnist_core.train.optim import lr_curve

    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for schedule in ("onecycle", "step", "cosine", "constant"):
            lr_curve(TrainConfig(schedule=schedule), 50)
    assert not [w for w in caught if issubclass(w.category, UserWarning)], [str(w.message) for w in caught]
    assert warnings.filters == before
