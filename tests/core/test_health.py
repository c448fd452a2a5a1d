"""The network's health readings, against layers whose numbers are known by construction."""
import math

import pytest
import torch
from torch import nn

from mnist_core.models.registry import build_model
from mnist_core.runs.recorder import record
from mnist_core.train.config import TrainConfig
from mnist_core.train.health import DEAD_ALERT, READ_EVERY, HealthWatch, hints, histogram, layer_names
from mnist_core.train.trainer import Trainer


def two_layers() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


def test_histogram_counts_known_values():
    h = histogram(torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0, 4.0]), bins=4)
    assert (h["lo"], h["hi"]) == (0.0, 4.0)
    assert h["counts"] == [2, 1, 1, 2] and sum(h["counts"]) == 6
    flat = histogram(torch.full((5,), 2.0), bins=3)  # one value: still a valid histogram
    assert sum(flat["counts"]) == 5 and flat["lo"] < 2.0 < flat["hi"]
    assert sum(histogram(torch.tensor([1.0, float("nan"), float("inf")]))["counts"]) == 1


def test_the_update_ratio_is_the_step_size_over_the_weight_size():
    model = two_layers()
    watch = HealthWatch(model)
    watch.arm()
    x = torch.randn(8, 4)
    model(x).sum().backward()
    with torch.no_grad():
        model[0].weight.mul_(0.99)  # a step of 1% of layer 1's size
        model[2].weight.add_(0.5 * model[2].weight.norm() / math.sqrt(model[2].weight.numel()))
    reading = watch.read()
    first, second = reading["layers"]
    assert first["name"] == "linear 1" and second["name"] == "linear 2"
    assert first["update_ratio"] == pytest.approx(0.01, rel=1e-4)
    assert second["update_ratio"] == pytest.approx(0.5, rel=1e-4)  # sqrt(n) * 0.5 |W| / sqrt(n) / |W|
    assert first["grad_norm"] == pytest.approx(model[0].weight.grad.norm().item())
    assert sum(first["weights"]["counts"]) == 24 and sum(first["grads"]["counts"]) == 24
    assert any("linear 2" in h and "lower the learning rate" in h for h in reading["hints"])
    assert not any("linear 1" in h for h in reading["hints"])


def test_units_forced_dead_are_counted_and_named():
    model = two_layers()
    with torch.no_grad():
        model[0].bias[:4] = -1e3  # four of six units can never fire
    watch = HealthWatch(model)
    watch.arm()
    model(torch.randn(32, 4))
    reading = watch.read()
    assert reading["units"] == [{"name": "linear 1", "units": 6, "dead": 4}]
    assert 4 / 6 >= DEAD_ALERT
    assert any(h.startswith("67% of the units after linear 1 are dead") for h in reading["hints"])
    assert not watch.armed and not model[1]._forward_hooks  # the hooks are gone after a reading


def test_vanished_and_exploding_gradients_get_their_hint():
    layer = {"name": "conv 1", "weight_norm": 3.0, "update_ratio": 1e-3, "grad_norm": 0.0}
    assert "vanished" in hints([layer], [])[0]
    assert "not finite" in hints([{**layer, "grad_norm": float("inf")}], [])[0]
    assert "barely moves" in hints([{**layer, "grad_norm": 1.0, "update_ratio": 1e-7}], [])[0]
    assert hints([{**layer, "grad_norm": 1.0, "update_ratio": 1e-7}], [], lr_share=0.01) == []  # annealing
    assert hints([{**layer, "grad_norm": 1.0}], [{"name": "conv 1", "units": 8, "dead": 1}]) == []


def test_every_registered_model_is_read_by_layer_name():
    from mnist_core.models.registry import MODELS

    for name in MODELS:
        model = build_model(name)
        weighted, units = layer_names(model)
        assert weighted and all(n.split()[0] in ("conv", "linear") for n, _ in weighted), name
        if name != "logreg":
            assert units, f"{name} has no unit layer to watch"
        watch = HealthWatch(model)
        watch.arm()
        model(torch.randn(4, 1, 28, 28)).sum().backward()
        reading = watch.read()
        assert len(reading["layers"]) == len(weighted)
        assert {u["name"] for u in reading["units"]} == {n for n, _ in units}, name


def test_training_reports_health_every_fifty_steps_and_keeps_it_in_the_run(tiny_data, tmp_path):
    config = TrainConfig.from_dict(dict(model="cnn", model_kwargs={"channels": [4], "hidden": 16}, epochs=3,
                                        batch_size=16, lr=3e-3, device="cpu"))
    events = list(record(Trainer(config, tiny_data), tmp_path))
    health = [e for e in events if e["kind"] == "health"]
    steps = events[-1]["steps"]
    assert steps >= 2 * READ_EVERY
    assert [e["step"] for e in health] == list(range(READ_EVERY, steps + 1, READ_EVERY))
    assert all(0 < e["layers"][0]["update_ratio"] < 1 for e in health)
    run = tmp_path / events[-1]["run_id"]
    lines = (run / "health.jsonl").read_text().splitlines()
    assert len(lines) == len(health)
