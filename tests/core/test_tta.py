"""Test-time augmentation: the mean prediction over each digit and four one-pixel shifts."""
import numpy as np
import torch
from torch import nn

from mnist_core.analysis.evaluation import TTA_SHIFTS, evaluate_split, predict_proba, shifted
from mnist_core.data.tensors import DATASETS
from mnist_core.runs.checkpoints import load_model
from mnist_core.runs.folders import load_run
from mnist_core.runs.recorder import RunRecorder, record
from mnist_core.train.config import TrainConfig
from mnist_core.train.trainer import Trainer

SPEC = DATASETS["mnist"]


def test_a_shift_moves_pixels_and_brings_in_the_border_not_the_far_edge():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1.0
    x[0, 0, :, 4] = 7.0  # the right-hand column: a wrap-round would bring it in on the left
    right = shifted(x, 1, 0)[0, 0]
    assert right[2, 3] == 1.0 and right[2, 2] == 0.0
    assert (right[:, 0] == 0).all()  # replicated left border, not the far column
    down = shifted(x, 0, -1)[0, 0]  # dy = -1: up one row
    assert down[1, 2] == 1.0 and (down[4, :] == x[0, 0, 4, :]).all()
    assert shifted(x, 0, 0) is x


class PixelReader(nn.Module):
    """Logits that depend on where the ink is, so every shift gives another reading."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(28 * 28, 10)
        torch.manual_seed(0)
        nn.init.normal_(self.linear.weight, std=0.5)

    def forward(self, x):
        return self.linear(x.flatten(1))


def test_tta_is_the_mean_of_the_five_readings_of_shifted_digits():
    rng = np.random.default_rng(0)
    images = torch.zeros(6, 28, 28, dtype=torch.uint8)
    images[:, 4:24, 4:24] = torch.from_numpy(rng.integers(0, 256, (6, 20, 20), dtype=np.uint8))
    model = PixelReader()
    expected = []
    for dx, dy in TTA_SHIFTS:  # shifted by hand, in uint8, inside the blank margin
        moved = torch.zeros_like(images)
        moved[:, 4 + dy:24 + dy, 4 + dx:24 + dx] = images[:, 4:24, 4:24]
        expected.append(predict_proba(model, moved, SPEC))
    got = predict_proba(model, images, SPEC, tta=True)
    assert torch.allclose(got, torch.stack(expected).mean(0), atol=1e-6)
    assert not torch.allclose(got, predict_proba(model, images, SPEC), atol=1e-3)
    assert len({tuple(p.argmax(1).tolist()) for p in expected}) > 1  # the shifts did matter
    assert torch.allclose(got.sum(1), torch.ones(6))


def test_a_run_that_asks_for_tta_reports_it_and_a_continued_epoch_clears_it(tiny_data, tmp_path):
    config = TrainConfig(model="mlp", model_kwargs={"hidden": [32], "dropout": 0.0}, epochs=1,
                         batch_size=32, device="cpu", lr=3e-3, tta=True)
    events = list(record(Trainer(config, tiny_data), tmp_path))
    end = events[-1]
    path = tmp_path / end["run_id"]
    model, _ = load_model(path)
    reread = evaluate_split(model, tiny_data.test_images, tiny_data.test_labels, SPEC, tta=True)
    assert end["test_acc_tta"] == reread["accuracy"]
    assert "with test-time augmentation" in end["message"]
    summary = load_run(path).summary
    assert summary["final_test_acc_tta"] == reread["accuracy"]
    assert summary["final_test_acc"] == events[-2]["test_acc"]  # the curve's own reading stays plain
    trainer = Trainer.continued(path, 1, tiny_data)
    recorder = RunRecorder(trainer, continuing=path)
    for event in record(trainer, recorder=recorder):
        if event["kind"] == "epoch":
            assert load_run(path).summary["final_test_acc_tta"] is None  # stale until the end
    assert load_run(path).summary["final_test_acc_tta"] is not None
    plain = list(Trainer(config.replace(tta=False), tiny_data).events())[-1]
    assert "test_acc_tta" not in plain and "test-time" not in plain["message"]
