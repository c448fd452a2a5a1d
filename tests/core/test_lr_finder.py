"""The learning-rate finder: its suggestion on a problem whose best rate is known, on real digits,
and its refusals."""
import pytest
import torch

from mnist_core.cli.main import main
from mnist_core.train.config import ConfigError, preset_config
from mnist_core.train.lr_finder import find_lr, rates, suggest, sweep


def regression_step(curvature: float, seed: int):
    """One SGD step of least squares on fresh batches whose inputs have variance `curvature`:
    the loss's Hessian is curvature * I, so 1/curvature is the best rate and 2/curvature the
    edge of divergence."""
    g = torch.Generator().manual_seed(seed)
    d = 20
    w_true = torch.randn(d, generator=g)
    w = torch.zeros(d, requires_grad=True)

    def loss_at(lr: float) -> float:
        x = torch.randn(64, d, generator=g) * curvature ** 0.5
        y = x @ w_true + 0.1 * torch.randn(64, generator=g)
        loss = 0.5 * ((x @ w - y) ** 2).mean()
        w.grad = None
        loss.backward()
        with torch.no_grad():
            w.sub_(lr * w.grad)
        return loss.item()

    return loss_at


@pytest.mark.parametrize("curvature", [10.0, 100.0, 10_000.0])
def test_the_suggestion_sits_in_the_decade_below_the_best_rate(curvature):
    best = 1 / curvature
    for seed in range(3):
        result = sweep(regression_step(curvature, seed), rates())
        assert best / 20 <= result["suggestion"] <= best, (curvature, seed, result["suggestion"])
        # It stopped once the loss blew up, past the edge of divergence and not far beyond it.
        assert 2 * best <= result["lrs"][-1] <= 50 * best
        assert len(result["lrs"]) == len(result["losses"]) == len(result["smoothed"])


def test_a_loss_that_never_falls_gets_no_suggestion():
    assert sweep(lambda lr: 1.0 + lr, rates(1e-3, 1.0))["suggestion"] is None
    assert suggest([1e-3, 1e-2], [2.0, 1.0]) is None  # too few points to tell


def test_a_sweep_on_real_digits_suggests_a_rate_adam_trains_with(real_mnist):
    result = find_lr(preset_config("mlp"), real_mnist)
    assert 3e-4 <= result["suggestion"] <= 2e-2, result["suggestion"]
    assert len(result["lrs"]) < 100  # the loss blew up before the end, at lr 1
    assert min(result["smoothed"]) < 0.6 * result["smoothed"][0]


def test_a_bad_range_is_refused():
    for start, end, steps in [(1.0, 0.1, 100), (0.0, 1.0, 100), (1e-6, 1.0, 3)]:
        with pytest.raises(ConfigError, match="sweep needs"):
            rates(start, end, steps)


def test_the_cli_prints_the_curve_and_the_suggestion(real_mnist, capsys, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", real_mnist.source)
    assert main(["lrfind", "--preset", "logistic"]) == 0
    out = capsys.readouterr().out
    assert "smoothed loss" in out and "suggested learning rate:" in out
    assert main(["lrfind", "--start", "1", "--end", "0.1"]) == 2
    assert "sweep needs" in capsys.readouterr().err
