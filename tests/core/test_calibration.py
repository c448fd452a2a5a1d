"""Calibration maths on small hand-made and synthetic cases."""
import math

import pytest
import torch
import torch.nn.functional as F

from mnist_core.analysis.calibration import (
    calibration_report,
    coverage_curve,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)


def two_class(confidences, predicted):
    return torch.tensor([[c, 1 - c] if p == 0 else [1 - c, c] for c, p in zip(confidences, predicted)])


def test_ece_by_hand_four_samples_two_bins():
    # Bin (0, .5]: none (two-class top probabilities are >= .5; .5 itself lands there).
    # Samples: conf .5 right -> bin 1; conf .6 wrong, .9 right, 1.0 right -> bin 2.
    probs = two_class([0.5, 0.6, 0.9, 1.0], [0, 0, 1, 1])
    labels = torch.tensor([0, 1, 1, 1])
    b = reliability_bins(probs, labels, n_bins=2)
    assert b["count"].tolist() == [1, 3]
    assert b["confidence"].tolist() == pytest.approx([0.5, (0.6 + 0.9 + 1.0) / 3])
    assert b["accuracy"].tolist() == pytest.approx([1.0, 2 / 3])
    # |1 - .5| * 1/4 + |2/3 - 2.5/3| * 3/4 = .125 + .125
    assert expected_calibration_error(probs, labels, n_bins=2) == pytest.approx(0.25)


def test_perfectly_calibrated_synthetic_ece_is_near_zero():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40_000, 10, generator=g) * 2
    probs = F.softmax(logits, 1)
    labels = torch.multinomial(probs, 1, generator=g).squeeze(1)
    assert expected_calibration_error(probs, labels) < 0.02
    # The same predictions made sharper are overconfident.
    assert expected_calibration_error(F.softmax(logits * 3, 1), labels) > 0.1


@pytest.mark.parametrize("t_true", [0.5, 2.5])
def test_fit_temperature_recovers_known_temperature(t_true):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(20_000, 10, generator=g) * 3
    labels = torch.multinomial(F.softmax(logits / t_true, 1), 1, generator=g).squeeze(1)
    t = fit_temperature(logits, labels)
    assert t > 0 and abs(t - t_true) / t_true < 0.1


def test_coverage_curve_is_monotone_and_ends_right():
    g = torch.Generator().manual_seed(2)
    probs = F.softmax(torch.randn(500, 10, generator=g) * 2, 1)
    labels = torch.randint(0, 10, (500,), generator=g)
    c = coverage_curve(probs, labels)
    cov = c["coverage"]
    assert cov[0] == 1.0 and bool((cov[1:] <= cov[:-1]).all())
    assert c["accuracy"][0] == pytest.approx((probs.argmax(1) == labels).double().mean().item())
    c = coverage_curve(probs, labels, thresholds=[2.0])
    assert c["coverage"].item() == 0 and math.isnan(c["accuracy"].item())


def test_report_scaling_helps_an_overconfident_model():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(8_000, 10, generator=g) * 2
    labels = torch.multinomial(F.softmax(logits, 1), 1, generator=g).squeeze(1)
    r = calibration_report(logits[4000:] * 3, labels[4000:], logits[:4000] * 3, labels[:4000])
    assert r["temperature"] == pytest.approx(3, rel=0.15)
    assert r["ece_scaled"] < r["ece"] / 3


