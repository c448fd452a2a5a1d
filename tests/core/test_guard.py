"""The one-digit guard (mnist_core.analysis.guard), on real digits and on what is not one digit."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.guard import dots, measure, pairs, scribbles, tiny
from mnist_core.analysis import guard
from mnist_core.data.preprocessing import to_grayscale
from tests.support import canvas_from_digit


def test_rates_on_real_digits_and_on_what_is_not_one_digit(real_mnist):
    results = measure(n=1500, seed=1)
    rate = {name: c["refused"] / c["n"] for name, c in results.items()}
    assert rate["MNIST test digits, redrawn"] < 0.01, rate  # the ceiling for false refusals
    assert rate["single dots"] >= 0.95 and rate["two digits side by side"] >= 0.95, rate
    assert rate["a small digit in a corner"] >= 0.95, rate
    assert rate["scribbles"] >= 0.1, rate  # many scribbles look like some digit; the unsure ones go


def test_each_reason_reads_as_a_sentence(real_mnist):
    rng = np.random.default_rng(0)
    digits = real_mnist.test_images.numpy()
    dot = to_grayscale(next(dots(rng, 1)))
    assert "too little ink" in guard.ink_problem(dot)
    pair = to_grayscale(next(pairs(rng, digits, 1)))
    assert guard.ink_problem(pair) == "the ink falls in 2 separate shapes: draw one digit at a time"
    assert "too little ink" in guard.ink_problem(to_grayscale(next(tiny(rng, digits, 1))))
    one = to_grayscale(canvas_from_digit(digits[0]))
    assert guard.one_digit_problem(one, np.eye(10)[7]) is None
    assert guard.one_digit_problem(one, np.full(10, 0.1)) == "the model is unsure (10% at most)"
    assert guard.ink_problem(np.zeros((28, 28), np.float32)) == "there is no ink"


@pytest.mark.parametrize("shape", [(28, 28), (280, 280), (300, 17), (120, 90)])
def test_any_image_shape(shape):
    gray = np.zeros(shape, np.float32)
    gray[shape[0] // 4: 3 * shape[0] // 4, shape[1] // 2] = 1.0  # a "1"
    assert guard.ink_problem(gray) is None
    assert next(scribbles(np.random.default_rng(0), 1)).shape == (280, 280, 4)
