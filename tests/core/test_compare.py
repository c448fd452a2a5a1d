"""Run comparison, robustness sweeps and model internals (issue 7, items 6 and 7)."""
from __future__ import annotations

import pytest
import torch

from mnist_core.analysis.evaluation import evaluate_tensors
from mnist_core.analysis.internals import (
    activation_maps,
    first_layer_filters,
    project_embeddings,
)
from mnist_core.analysis.robustness import distort, robustness_sweep
from mnist_core.models.registry import build_model
from mnist_core.runs.checkpoints import load_model
from mnist_core.runs.compare import config_diff


def test_config_diff_flattens_model_kwargs_and_lists_only_differences():
    a = {"model": "cnn", "lr": 0.01, "epochs": 1, "model_kwargs": {"channels": [8, 16], "hidden": 128}}
    b = {"model": "cnn", "lr": 0.001, "epochs": 1, "model_kwargs": {"channels": [16, 32], "hidden": 128},
         "augment": True}
    assert config_diff(a, b) == [("augment", None, True), ("lr", 0.01, 0.001),
                                 ("model_kwargs.channels", [8, 16], [16, 32])]
    assert config_diff(a, dict(a)) == []


@pytest.fixture(scope="module")
def bundled():
    return load_model()[0]


def test_robustness_identity_matches_plain_accuracy_and_rotation_hurts(bundled, real_mnist):
    images, labels = real_mnist.test_images[:500], real_mnist.test_labels[:500]
    plain = evaluate_tensors(bundled, images, labels, real_mnist.spec)["accuracy"]
    assert torch.equal(distort(images), images)
    sweep = robustness_sweep(bundled, images, labels, real_mnist.spec, n=500)
    assert sweep["shift"][0] == sweep["rotation"][0] == sweep["thickness"]["original"] == plain
    assert sweep["rotation"][30] < sweep["rotation"][0]
    assert set(sweep["thickness"]) == {"thinner", "original", "thicker"}


@pytest.mark.parametrize("name, kwargs, shape", [
    ("cnn", {"channels": [6, 12], "kernel_size": 3}, (6, 3, 3)),
    ("mlp", {"hidden": [40]}, (32, 28, 28)),
    ("logreg", {}, (10, 28, 28)),
])
def test_first_layer_filters_shapes(name, kwargs, shape):
    assert tuple(first_layer_filters(build_model(name, **kwargs)).shape) == shape


def test_activation_maps_one_per_conv_block_halving():
    model = build_model("cnn", channels=[4, 8, 8])
    maps = activation_maps(model, torch.randn(1, 28, 28))
    assert [tuple(m.shape) for m in maps] == [(4, 14, 14), (8, 7, 7), (8, 3, 3)]
    assert all((m >= 0).all() for m in maps)  # after ReLU
    assert activation_maps(build_model("mlp"), torch.randn(1, 28, 28)) == []


def test_pca_projection_shape_and_variance_order(bundled, real_mnist):
    p = project_embeddings(bundled, real_mnist.test_images, real_mnist.test_labels, real_mnist.spec, n=300)
    assert p["coords"].shape == (300, 2) and p["preds"].shape == (300,)
    var = p["coords"].var(0)
    assert var[0] >= var[1]






