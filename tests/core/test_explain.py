"""Saliency maps and nearest training digits, checked against exact values on real digits."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_core.analysis import explain
from mnist_core.data.tensors import DATASETS, normalise
from mnist_core.models.registry import build_model
from mnist_core.runs.checkpoints import load_model

SPEC = DATASETS["mnist"]


@pytest.fixture(scope="module")
def bundled():
    return load_model()[0]


@pytest.fixture(scope="module")
def digit(real_mnist):
    return normalise(real_mnist.test_images[:1], SPEC)[0], int(real_mnist.test_labels[0])


def test_integrated_gradients_completeness_on_the_bundled_model(bundled, digit):
    x, label = digit
    bundled.train()  # the flag must come back as it was
    attr = explain.integrated_gradients(bundled, x, label, steps=64)
    assert bundled.training
    bundled.eval()
    with torch.no_grad():
        fx = bundled(x.unsqueeze(0))[0, label]
        fb = bundled(torch.full((1, 1, 28, 28), explain.background(SPEC)))[0, label]
    gap = (fx - fb).item()
    assert attr.shape == (28, 28)
    assert abs(attr.sum().item() - gap) / abs(gap) < 0.05
    coarse = explain.integrated_gradients(bundled, x, label, steps=4)
    assert abs(attr.sum().item() - gap) <= abs(coarse.sum().item() - gap) + 1e-4
    assert all(p.grad is None for p in bundled.parameters())


def test_occlusion_on_a_linear_model_matches_the_closed_form(digit):
    torch.manual_seed(0)
    model = build_model("logreg").eval()
    x, label = digit
    w, b = model[1].weight.detach(), model[1].bias.detach()

    def p(img):
        return torch.softmax(w @ img.flatten() + b, 0)[label].item()

    # Non-overlapping 4x4 patches cover every pixel once, so the map is each patch's drop.
    heat = explain.occlusion(model, x, label, patch=4, stride=4)
    for top, left in ((8, 8), (12, 16), (0, 0)):
        hidden = x.clone()
        hidden[:, top:top + 4, left:left + 4] = explain.background(SPEC)
        assert heat[top + 1, left + 2].item() == pytest.approx(p(x) - p(hidden), abs=1e-6)
    # The corner of an MNIST digit is background already: hiding it changes nothing.
    assert heat[0:4, 0:4].abs().max().item() < 1e-7
    assert explain.occlusion(model, x, label).shape == (28, 28)


def test_grad_cam_on_cnns_and_a_clear_error_otherwise(bundled, digit):
    x, label = digit
    cam = explain.grad_cam(bundled, x, label)
    assert cam.shape == (28, 28) and cam.min().item() >= 0 and cam.max().item() > 0
    assert explain.grad_cam(build_model("tutorial_cnn"), x, 3).shape == (28, 28)
    for name in ("mlp", "logreg"):
        with pytest.raises(ValueError, match="convolutional"):
            explain.grad_cam(build_model(name), x, label)


def brute_force(bank: np.ndarray, q: np.ndarray, k: int):
    d = np.sqrt(((bank.reshape(len(bank), -1).astype(np.float64) - q.reshape(1, -1)) ** 2).sum(1))
    idx = np.argsort(d, kind="stable")[:k]
    return idx, d[idx]


def test_nearest_pixels_is_exact_and_finds_a_duplicate(real_mnist):
    bank = real_mnist.train_images[:3000]
    query = bank[1234].float() / 255
    idx, dist = explain.nearest_pixels(bank, query, 5)
    ref_idx, ref_dist = brute_force(bank.numpy() / 255.0, query.numpy(), 5)
    assert idx[0].item() == 1234 and dist[0].item() == 0.0
    assert idx.tolist() == ref_idx.tolist()
    np.testing.assert_allclose(dist.numpy(), ref_dist, rtol=1e-5, atol=1e-6)
    other = real_mnist.test_images[7].float() / 255
    idx, dist = explain.nearest_pixels(bank, other, 5)
    ref_idx, ref_dist = brute_force(bank.numpy() / 255.0, other.numpy(), 5)
    assert idx.tolist() == ref_idx.tolist()
    np.testing.assert_allclose(dist.numpy(), ref_dist, rtol=1e-5)


def test_nearest_embedding_is_exact(bundled, real_mnist):
    images = real_mnist.train_images[:500]
    bank = explain.embed(bundled, images, SPEC)
    assert bank.shape == (500, 128)
    x = normalise(real_mnist.test_images[3:4], SPEC)[0]
    idx, dist = explain.nearest_embedding(bundled, bank, x, 5)
    q = explain.embed(bundled, x.unsqueeze(0)).numpy()
    ref_idx, ref_dist = brute_force(bank.numpy(), q, 5)
    assert idx.tolist() == ref_idx.tolist()
    np.testing.assert_allclose(dist.numpy(), ref_dist, rtol=1e-4)
    # A training digit is its own nearest neighbour, at distance 0.
    idx, dist = explain.nearest_embedding(bundled, bank, normalise(images[42:43], SPEC)[0], 1)
    assert idx.tolist() == [42] and dist[0].item() == pytest.approx(0.0, abs=1e-4)








def test_a_targeted_attack_flips_real_digits_within_its_budget(bundled, real_mnist):
    from mnist_core.analysis.attack import fool

    flipped = 0
    for i in range(20):
        x = real_mnist.test_images[i].float() / 255
        label = int(real_mnist.test_labels[i])
        target = (label + 1) % 10
        attack = fool(bundled, x, target, real_mnist.spec, strength=0.3)
        assert int(attack.before.argmax()) == label  # the model read it right to begin with
        assert attack.largest_change <= 0.3 + 1e-6  # within the budget...
        assert attack.fooled.min() >= 0 and attack.fooled.max() <= 1  # ...and still an image
        assert torch.equal(attack.original, x)
        if attack.success:
            flipped += 1
            assert int(attack.after.argmax()) == target
            assert 1 <= attack.steps <= 20
    assert flipped >= 16, flipped  # nearly all flip at 0.3; a broken sign flips none
    weak = fool(bundled, real_mnist.test_images[0].float() / 255, 3, real_mnist.spec, strength=0.01)
    assert not weak.success and weak.largest_change <= 0.01 + 1e-6
