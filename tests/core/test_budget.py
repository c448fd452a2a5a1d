"""The model budget (mnist_core.models.budget): estimated from the config, refused before allocation."""
from __future__ import annotations

import pytest
import torch

from mnist_core.models.budget import budget_mb, training_memory
from mnist_core.models.registry import MODELS, build_model, count_parameters
from mnist_core.runs.checkpoints import load_model
from mnist_core.runs.folders import RunError, save_checkpoint
from mnist_core.train.config import PRESETS, ConfigError, TrainConfig, preset_config


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_estimate_counts_the_real_parameters(name):
    assert training_memory(name, {}, 32)["params"] == count_parameters(build_model(name))


def test_every_preset_fits_the_default_budget():
    for name in PRESETS:
        c = preset_config(name)
        assert training_memory(c.model, c.model_kwargs, c.batch_size)["mb"] < budget_mb() / 3, name


def test_activations_grow_with_the_batch():
    small, big = training_memory("cnn", {}, 64), training_memory("cnn", {}, 128)
    assert big["activations"] == 2 * small["activations"] and big["params"] == small["params"]


@pytest.mark.parametrize("values", [
    {"model": "mlp", "model_kwargs": {"hidden": [4096] * 64}},  # the link that took a server down
    {"model": "cnn", "model_kwargs": {"channels": [4096], "hidden": 100000}},
    {"model": "cnn", "batch_size": 8192},
])
def test_an_oversized_config_is_refused_with_its_estimate_and_the_limit(values, monkeypatch):
    allocated = []
    real_empty = torch.empty

    def watch(*args, **kwargs):  # anything real (not meta) of a million floats or more
        t = real_empty(*args, **kwargs)
        if t.device.type != "meta" and t.numel() >= 1_000_000:
            allocated.append(t.numel())
        return t

    monkeypatch.setattr(torch, "empty", watch)
    with pytest.raises(ConfigError, match=r"needs about [\d,]+ MB to train .* the limit on this server is 300 MB"):
        TrainConfig.from_dict(values)
    assert not allocated


def test_the_budget_follows_its_setting(monkeypatch):
    monkeypatch.setenv("MNIST_MODEL_BUDGET_MB", "5000")
    assert TrainConfig(batch_size=8192).batch_size == 8192
    monkeypatch.setenv("MNIST_MODEL_BUDGET_MB", "1")
    with pytest.raises(ConfigError, match="limit on this server is 1 MB"):
        TrainConfig()


def test_a_checkpoint_asking_for_a_huge_model_is_refused_before_it_is_built(tmp_path, monkeypatch):
    config = TrainConfig(model="mlp").to_dict()
    config["model_kwargs"] = {"hidden": [4096] * 64, "dropout": 0.0}
    save_checkpoint(tmp_path / "checkpoint.pt", {"model_state": {}, "config": config})
    built = []
    monkeypatch.setattr("mnist_core.models.registry.build_model", lambda *a, **k: built.append(a) or build_model("logreg"))
    with pytest.raises(RunError, match="config is invalid: .*needs about"):
        load_model(tmp_path)
    assert not built
