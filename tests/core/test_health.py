"""The network's health readings, against layers whose numbers are known by construction."""
import math

import pytest
import torch
from torch import nn

from mnist_core.models.registry import build_model
from mnist_core.runs.recorder import record
from mnist_core.train.config import TrainConfig
from mnist_core.train.health import DEAD_ALERT, READ_EVERY, HealthWatch, advice, findings, histogram, layer_names
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
    assert "linear 2" in reading["advice"] and "Lower the learning rate" in reading["advice"]
    assert not any("linear 1" in f for f in reading["findings"])


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
    assert any(f.startswith("67% of the units after linear 1 are dead") for f in reading["findings"])
    assert not watch.armed and not model[1]._forward_hooks  # the hooks are gone after a reading


def hints(layers: list[dict], units: list[dict], lr_share: float = 1.0) -> tuple[list[str], str | None]:
    found = findings(layers, units, lr_share)
    return [f["text"] for f in found], advice(found)


def test_vanished_and_exploding_gradients_get_their_finding_and_advice():
    layer = {"name": "conv 1", "weight_norm": 3.0, "update_ratio": 1e-3, "grad_norm": 0.0}
    facts, said = hints([layer], [])
    assert "vanished" in facts[0] and "batch norm" in said
    facts, said = hints([{**layer, "grad_norm": float("inf")}], [])
    assert "not finite" in facts[0] and said.endswith("Lower the learning rate.")
    facts, said = hints([{**layer, "grad_norm": 1.0, "update_ratio": 1e-7}], [])
    assert "barely moves" in facts[0] and said.endswith("Raise the learning rate.")
    assert hints([{**layer, "grad_norm": 1.0, "update_ratio": 1e-7}], [], lr_share=0.01) == ([], None)  # annealing
    assert hints([{**layer, "grad_norm": 1.0}], [{"name": "conv 1", "units": 8, "dead": 1}]) == ([], None)


# A reading of the default preset at learning rate 0.5, 50 steps in: every layer's gradient is
# zero, and conv 2's and linear 1's units are all dead.
AT_RATE_HALF = ([{"name": n, "weight_norm": w, "update_ratio": 3.5e-4, "grad_norm": 0.0}
                 for n, w in (("conv 1", 23.0), ("conv 2", 89.0), ("linear 1", 390.0), ("linear 2", 49.0))],
                [{"name": "conv 1", "units": 8, "dead": 1}, {"name": "conv 2", "units": 16, "dead": 16},
                 {"name": "linear 1", "units": 128, "dead": 128}])


def test_dead_units_and_the_gradients_they_stop_get_one_diagnosis_a_rate_too_high():
    facts, said = hints(*AT_RATE_HALF)
    assert len(facts) == 6  # the per-layer facts are all still there, without advice of their own
    assert not any("learning rate" in f for f in facts)
    assert said.startswith("The learning rate is too high")
    assert said.endswith("Lower the learning rate.") and said.count("learning rate") == 2
    assert "higher" not in said and "raise" not in said.lower() and "batch norm" not in said
    assert "conv 1, conv 2, linear 1 and linear 2 vanished" in said  # explained by the dead units
    # the same on a real network whose hidden units can never fire
    model = two_layers()
    with torch.no_grad():
        model[0].bias[:] = -1e3
    watch = HealthWatch(model)
    watch.arm()
    model(torch.randn(32, 4)).sum().backward()
    reading = watch.read()
    assert any("vanished" in f for f in reading["findings"]) and any("dead" in f for f in reading["findings"])
    assert reading["advice"].endswith("Lower the learning rate.") and "raise" not in reading["advice"].lower()


def test_a_rate_too_high_outranks_a_layer_that_barely_moves():
    layers = [{"name": "linear 1", "weight_norm": 1.0, "update_ratio": 1e-7, "grad_norm": 1.0},
              {"name": "linear 2", "weight_norm": 1.0, "update_ratio": 0.5, "grad_norm": 1.0}]
    facts, said = hints(layers, [])
    assert len(facts) == 2 and "linear 1 barely moves" in facts[0]
    assert said.endswith("Lower the learning rate.") and "raise" not in said.lower()


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
