"""Break it: silenced units and noisy weights on a copy, never on the model itself."""
import pytest
import torch
from torch import nn

from mnist_core.analysis.ablation import SHARES, ablation_curves, broken, noisy_layers, unit_layers
from mnist_core.analysis.evaluation import evaluate_tensors
from mnist_core.runs.checkpoints import load_model


def test_silencing_a_share_of_units_zeroes_exactly_those_on_a_copy():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        model[0].bias.fill_(10.0)  # every unit fires, so a zero can only be the silencing
    before = [p.clone() for p in model.parameters()]
    copy = broken(model, "linear 1", zero_share=0.25)
    hidden = {}
    copy[1].register_forward_hook(lambda _m, _i, o: hidden.setdefault("out", o))
    copy(torch.randn(5, 4))
    assert (hidden["out"] == 0).all(0).sum() == 2  # 25% of 8 units, for every image
    assert (hidden["out"] != 0).all(0).sum() == 6
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the original is untouched
    assert not model[1]._forward_hooks


def test_noise_is_scaled_to_the_weights_spread():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(100, 100))
    noisy = broken(model, "linear 1", noise=0.5)
    change = noisy[0].weight - model[0].weight
    assert change.std().item() == pytest.approx(0.5 * model[0].weight.std().item(), rel=0.05)
    assert torch.equal(noisy[0].bias, model[0].bias)


def test_bad_requests_are_refused():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    with pytest.raises(ValueError, match="no layer 'conv 9'"):
        broken(model, "conv 9", 0.5)
    with pytest.raises(ValueError, match="share"):
        broken(model, "linear 1", 1.5)


def test_the_bundled_model_loses_accuracy_as_its_units_go(real_mnist):
    model = load_model()[0]
    images, labels = real_mnist.test_images[:500], real_mnist.test_labels[:500]
    curves = ablation_curves(model, images, labels, real_mnist.spec)
    assert list(curves) == unit_layers(model) == ["conv 1", "conv 2", "linear 1"]
    assert noisy_layers(model) == ["conv 1", "conv 2", "linear 1", "linear 2"]
    intact = evaluate_tensors(model, images, labels, real_mnist.spec)["accuracy"]
    for layer, accs in curves.items():
        assert len(accs) == len(SHARES) and accs[0] == pytest.approx(intact)
        assert accs[-1] < intact - 0.05, (layer, accs)  # 90% of a layer gone costs real accuracy
    assert min(curves["conv 1"][-1], curves["conv 2"][-1]) < 0.8
