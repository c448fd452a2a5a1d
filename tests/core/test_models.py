import pytest
import torch
import torch.nn.functional as F

from mnist_core.models import MODELS, ModelError, build_model, count_parameters, model_arguments


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_shape_and_every_parameter_gets_a_gradient(name):
    torch.manual_seed(0)
    model = build_model(name)
    x = torch.randn(8, 1, 28, 28)
    out = model(x)
    assert out.shape == (8, 10)
    F.cross_entropy(out, torch.arange(8)).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}.{pname} got no gradient"
    assert count_parameters(model) == sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("kwargs", [
    {"channels": [8], "kernel_size": 5, "batch_norm": False, "hidden": 0},
    {"channels": [8, 16, 32, 64], "dropout": 0.0},
    {"channels": [4, 8], "kernel_size": 3, "convs": 3},
])
def test_cnn_variants(kwargs):
    assert build_model("cnn", **kwargs)(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_cnn_convs_add_full_size_layers_to_each_block():
    def convs(model):
        return [(m.in_channels, m.out_channels) for m in model if isinstance(m, torch.nn.Conv2d)]
    assert convs(build_model("cnn", channels=[4, 8])) == [(1, 4), (4, 8)]
    assert convs(build_model("cnn", channels=[4, 8], convs=2)) == [(1, 4), (4, 4), (4, 8), (8, 8)]
    # The extra layers keep the size: the classifier still sees 7x7 maps after two blocks.
    assert build_model("cnn", channels=[4, 8], convs=2, hidden=0)[-1].in_features == 8 * 7 * 7


def test_logreg_is_linear_softmax_regression():
    m = build_model("logreg")
    assert count_parameters(m) == 784 * 10 + 10


def test_mlp_hidden_sizes():
    m = build_model("mlp", hidden=[64, 64, 64], dropout=0.0)
    assert count_parameters(m) == (784 * 64 + 64) + 2 * (64 * 64 + 64) + (64 * 10 + 10)


@pytest.mark.parametrize("name, kwargs, words", [
    ("nope", {}, "unknown model"),
    ("cnn", {"chanels": [8]}, "chanels"),
    ("cnn", {"channels": [0]}, "positive"),
    ("cnn", {"channels": [8] * 5}, "at most 4"),
    ("cnn", {"kernel_size": 4}, "kernel_size"),
    ("cnn", {"convs": 4}, "convs"),
    ("mlp", {"dropout": 1.0}, "dropout"),
    ("mlp", {"hidden": "abc"}, "hidden"),
])
def test_bad_model_arguments(name, kwargs, words):
    with pytest.raises(ModelError, match=words):
        build_model(name, **kwargs)


def test_model_arguments_lists_defaults():
    assert model_arguments("mlp") == {"hidden": (256, 128), "dropout": 0.2}


def test_arguments_are_coerced_by_their_declared_kinds():
    from mnist_core.config import ConfigError, TrainConfig
    from mnist_core.models import coerce_arguments

    assert coerce_arguments("cnn", {"batch_norm": "no", "kernel_size": "5", "channels": "4, 8",
                                    "dropout": "0.1", "hidden": 64.0}) == {
        "batch_norm": False, "kernel_size": 5, "channels": [4, 8], "dropout": 0.1, "hidden": 64}
    for text in ("false", "0", "off", "No"):
        assert TrainConfig.from_dict({"model_kwargs": {"batch_norm": text}}).model_kwargs["batch_norm"] is False
    assert TrainConfig.from_dict({"model_kwargs": '{"kernel_size": "5"}'}).model_kwargs["kernel_size"] == 5
    for bad, words in (({"batch_norm": "maybe"}, "true or false"), ({"kernel_size": "five"}, "whole number"),
                       ({"hidden": 1.5}, "whole number"), ({"dropout": "lots"}, "a number")):
        with pytest.raises(ConfigError, match=words):
            TrainConfig.from_dict({"model_kwargs": bad})
