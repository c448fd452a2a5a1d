"""Run comparison, robustness sweeps and model internals (issue 7, items 6 and 7)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import make_synthetic, write_dataset
from streamlit.testing.v1 import AppTest
from test_runs import tiny_run

from mnist_core.compare import config_diff
from mnist_core.evaluation import evaluate_tensors
from mnist_core.internals import (
    activation_maps,
    first_layer_filters,
    project_embeddings,
)
from mnist_core.models import build_model
from mnist_core.robustness import distort, robustness_sweep
from mnist_core.runs import load_model

APP = str(Path(__file__).resolve().parents[1] / "app.py")


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


def test_runs_page_diff_table_and_evaluate_internals_render(tiny_data, runs_dir, tmp_path, monkeypatch):
    tiny_run(tiny_data, runs_dir, label="a", epochs=1)
    tiny_run(tiny_data, runs_dir, label="b", epochs=1, lr=0.001)
    # Tiny generated files keep Evaluate (whole-split scoring, calibration, embeddings) fast.
    data = write_dataset(tmp_path / "mnist", make_synthetic(n_train=300, n_test=100))
    monkeypatch.setenv("MNIST_DATA_DIR", str(data))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/5_Runs.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert "Compare settings" in [s.value for s in at.subheader]
    tables = [df.value for df in at.dataframe]
    diff = next(t for t in tables if "setting" in t.columns)
    # Both runs may start in the same second, so which one is A is not fixed.
    assert sorted(diff.set_index("setting").loc["lr"].tolist()) == ["0.001", "0.01"]
    assert "label" not in set(diff["setting"])  # labels live in the summary, not the config
    at.switch_page("pages/3_Evaluate.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    charts_before = len(at.get("plotly_chart"))
    at.button(key="eval_robustness_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("plotly_chart")) == charts_before + 3  # shift, rotation, thickness
    at.toggle(key="eval_internals").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("plotly_chart")) == charts_before + 5  # filters grid and embedding map


def _draw_activations_app():
    import numpy as np

    import studio_ui
    from mnist_core.data import DATASETS
    from mnist_core.runs import load_model

    stroke = np.zeros((280, 280, 4), np.uint8)
    stroke[60:220, 130:150] = 255  # a "1"
    studio_ui.activation_maps_panel(load_model()[0], stroke, DATASETS["mnist"], key="draw")


def test_activation_maps_panel_shows_each_conv_block_when_toggled():
    at = AppTest.from_function(_draw_activations_app, default_timeout=60).run()
    assert not at.exception and not at.markdown  # nothing computed until asked
    at.toggle(key="draw-activations").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    assert [m.value for m in at.markdown] == ["**Conv block 1**: 16 maps of 14x14",
                                              "**Conv block 2**: 32 maps of 7x7"]
