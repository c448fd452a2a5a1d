import pytest
import torch
import torch.nn.functional as F

from mnist_core.models.registry import MODELS, ModelError, build_model, count_parameters, model_arguments


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


def test_cnn_without_padding_trims_each_convolution():
    # 28 -> 24 -> pool 12 -> 8 -> pool 4: the classifier sees 4x4 maps, not 7x7.
    assert build_model("cnn", channels=[4, 8], hidden=0, padding=False)[-1].in_features == 8 * 4 * 4
    assert build_model("cnn", channels=[4, 8], kernel_size=3, convs=2, hidden=0,
                       padding=False)[-1].in_features == 8 * 4 * 4  # 28-4=24, 12, 12-4=8, 4
    with pytest.raises(ModelError, match="shrink a 28x28 image to nothing"):
        build_model("cnn", channels=[4, 8, 16], padding=False)


def test_ensemble_predicts_the_mean_probability_of_its_members():
    torch.manual_seed(0)
    model = build_model("ensemble", members=3, channels=[4, 8], hidden=16).eval()
    x = torch.randn(5, 1, 28, 28)
    mean = torch.stack([F.softmax(m(x), 1) for m in model.members]).mean(0)
    assert torch.allclose(F.softmax(model(x), 1), mean, atol=1e-6)
    assert torch.allclose(model(x).exp().sum(1), torch.ones(5), atol=1e-5)
    # Finite even where every member is sure a class is wrong (a plain log of the mean is -inf).
    sure = torch.tensor([[[200.0, 0.0]], [[150.0, 0.0]]])
    assert torch.isfinite(model.combine(sure)).all()
    assert torch.allclose(model.combine(sure)[0, 1], torch.tensor(-150.0 - 0.6931), atol=1e-3)  # log(e^-200 + e^-150) - log 2
    # Each member starts from its own weights, or the ensemble would be one network three times.
    w = [m[0].weight for m in model.members]
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[1], w[2])


def test_each_ensemble_member_learns_as_if_alone():
    import copy

    from mnist_core.data.tensors import DATASETS
    from mnist_core.train.config import TrainConfig
    from mnist_core.train.step import forward_batch

    torch.manual_seed(0)
    model = build_model("ensemble", members=2, channels=[4, 8], hidden=16, dropout=0.0)
    alone = copy.deepcopy(model.members[1])
    xb, yb = torch.randint(0, 256, (16, 28, 28), dtype=torch.uint8), torch.arange(16) % 10
    c = TrainConfig.from_dict({"model": "ensemble", "label_smoothing": 0.1})
    gen = torch.Generator().manual_seed(0)
    logits, loss = forward_batch(model, xb, yb, c, DATASETS["mnist"], gen)
    loss.backward()
    c_alone = TrainConfig.from_dict({"model": "cnn", "label_smoothing": 0.1})
    _, loss_alone = forward_batch(alone, xb, yb, c_alone, DATASETS["mnist"], gen)
    loss_alone.backward()
    for (name, p), q in zip(model.members[1].named_parameters(), alone.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), name
    # The curves show the ensemble's own prediction's loss, not the members' summed loss.
    from mnist_core.train.step import reported_loss
    for smoothing in (0.0, 0.1):
        shown = reported_loss(logits, yb, loss, c.replace(label_smoothing=smoothing))
        assert torch.allclose(shown, F.cross_entropy(logits.detach(), yb))


def test_ensemble_members_each_get_their_own_augmented_copy():
    from mnist_core.data.tensors import DATASETS
    from mnist_core.train.config import TrainConfig
    from mnist_core.train.step import forward_batch

    torch.manual_seed(0)
    model = build_model("ensemble", members=3, channels=[4, 8], hidden=16)
    seen = []
    for m in model.members:
        m.register_forward_pre_hook(lambda _m, args: seen.append(args[0].clone()))
    xb, yb = torch.randint(0, 256, (8, 28, 28), dtype=torch.uint8), torch.arange(8) % 10
    for augment in (True, False):
        seen.clear()
        c = TrainConfig.from_dict({"model": "ensemble", "augment": augment})
        forward_batch(model, xb, yb, c, DATASETS["mnist"], torch.Generator().manual_seed(0))
        assert len(seen) == 3
        same = [torch.equal(seen[0], v) for v in seen[1:]]
        # Augmenting, each member its own random copy; otherwise the one batch as stored.
        assert same == ([False, False] if augment else [True, True]), augment


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
    ("ensemble", {"members": 1}, "2 to 5 members"),
    ("ensemble", {"members": 9}, "2 to 5 members"),
    ("mlp", {"dropout": 1.0}, "dropout"),
    ("mlp", {"hidden": "abc"}, "hidden"),
])
def test_bad_model_arguments(name, kwargs, words):
    with pytest.raises(ModelError, match=words):
        build_model(name, **kwargs)


def test_model_arguments_lists_defaults():
    assert model_arguments("mlp") == {"hidden": (256, 128), "dropout": 0.2}


def test_arguments_are_coerced_by_their_declared_kinds():
    from mnist_core.models.registry import coerce_arguments
    from mnist_core.train.config import ConfigError, TrainConfig

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


def test_a_layer_too_large_to_exist_is_a_model_error():
    # Found by the fuzzer: a hidden layer of 2941126287262365 units made torch raise a
    # RuntimeError ("Storage size calculation overflowed") out of the config's validation.
    from mnist_core.train.config import ConfigError, TrainConfig

    with pytest.raises(ConfigError, match="cannot be built that large"):
        TrainConfig(model="cnn", model_kwargs={"hidden": 2941126287262365})
