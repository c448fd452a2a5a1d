"""Continuing a finished or stopped run: more epochs in the same folder, appended to its curves."""

import pytest
import torch

from mnist_core.cli.main import main
from mnist_core.jobs.runner import JobRunner
from mnist_core.runs.checkpoints import BUNDLED_DIR
from mnist_core.runs.folders import RunError, load_run
from mnist_core.runs.recorder import RunRecorder, record
from mnist_core.train.config import ConfigError, TrainConfig
from mnist_core.train.trainer import Trainer, train
from tests.support import stopped_part_way


def cfg(**kw):
    base = dict(model="mlp", model_kwargs={"hidden": [32], "dropout": 0.0}, epochs=2, batch_size=32,
                log_every=2, device="cpu", lr=3e-3)
    return TrainConfig.from_dict({**base, **kw})


def finished_run(data, root, **kw) -> str:
    events = list(record(Trainer(cfg(**kw), data), root, label="first"))
    return str(root / events[-1]["run_id"])


def test_a_continued_run_appends_epochs_and_picks_up_its_weights_and_clock(tiny_data, tmp_path):
    path = finished_run(tiny_data, tmp_path)
    before = load_run(path)
    trainer = Trainer.continued(path, 2, tiny_data)
    events = list(record(trainer, recorder=RunRecorder(trainer, continuing=path)))
    after = load_run(path)
    assert [m["epoch"] for m in after.metrics] == [1, 2, 3, 4]
    assert after.metrics[:2] == before.metrics  # the old lines are untouched
    assert after.summary["status"] == "completed" and after.summary["epochs_done"] == 4
    assert after.summary["label"] == "first" and after.config["epochs"] == 4
    assert after.summary["continued"][0]["from_epoch"] == 2 and after.summary["continued"][0]["epochs"] == 2
    new = [e for e in events if e["kind"] == "epoch"]
    assert new[0]["step"] > before.metrics[-1]["step"] and new[0]["elapsed"] > before.metrics[-1]["elapsed"]
    assert new[0]["epoch_time"] > 0
    start = next(e for e in events if e["kind"] == "start")
    assert [h["epoch"] for h in start["history"]] == [1, 2]
    # It went on from the trained weights: its first new epoch starts where the old run ended,
    # not from chance, unlike a fresh run's first epoch.
    fresh_first = next(e for e in train(cfg(), tiny_data) if e["kind"] == "batch")
    first_batch = next(e for e in events if e["kind"] == "batch")
    assert first_batch["loss"] < fresh_first["loss"]


def test_what_cannot_be_continued_says_why(tiny_data, tmp_path):
    with pytest.raises(RunError, match="no optimizer state"):
        Trainer.continued(BUNDLED_DIR, 1, tiny_data)
    budgeted = finished_run(tiny_data, tmp_path, time_budget=1.0, epochs=50)
    with pytest.raises(ConfigError, match="time budget"):
        Trainer.continued(budgeted, 1, tiny_data)
    plain = finished_run(tiny_data, tmp_path)
    with pytest.raises(ConfigError, match="1 to 1000"):
        Trainer.continued(plain, 0, tiny_data)
    with pytest.raises(RunError, match="missing"):
        Trainer.continued(tmp_path / "nope", 1, tiny_data)


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_a_continue_job_trains_in_the_same_folder(tiny_data, tmp_path, monkeypatch, mode):
    monkeypatch.setenv("MNIST_JOB_MODE", mode)
    path = finished_run(tiny_data, tmp_path)
    job = JobRunner().submit_continue(path, 1, tiny_data, tmp_path)
    assert job.wait(90)
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    assert snap["run_path"] == path and [e["epoch"] for e in snap["epochs"]] == [1, 2, 3]
    assert [m["epoch"] for m in load_run(path).metrics] == [1, 2, 3]


def test_the_cli_continues_a_run_by_id(tiny_data, tmp_path, capsys, monkeypatch, real_mnist):
    monkeypatch.setenv("MNIST_DATA_DIR", real_mnist.source)
    events = list(record(Trainer(cfg(train_subset=2000, epochs=1), real_mnist), tmp_path))
    run_id = events[-1]["run_id"]
    assert main(["--runs-dir", str(tmp_path), "continue", "--run", run_id, "--epochs", "1"]) == 0
    assert "status: completed" in capsys.readouterr().out
    assert [m["epoch"] for m in load_run(tmp_path / run_id).metrics] == [1, 2]
    assert main(["continue", "--run", str(BUNDLED_DIR)]) == 2
    assert "bundled model cannot be continued" in capsys.readouterr().err


def test_a_run_stopped_part_way_finishes_that_epoch_and_says_so(tiny_data, tmp_path):
    path, _ = stopped_part_way(tiny_data, tmp_path, after_steps=7)
    spe = 19  # 600 digits in batches of 32
    part = load_run(path).metrics[-1]["epoch"]
    assert 1 < part < 2
    trainer = Trainer.continued(path, 1, tiny_data)
    events = list(record(trainer, recorder=RunRecorder(trainer, continuing=path)))
    after = load_run(path)
    # 1 more epoch from 1.37 finishes epoch 2: the steps of two whole epochs, no more.
    assert [m["epoch"] for m in after.metrics] == [1, part, 2]
    assert after.metrics[-1]["step"] == 2 * spe and after.summary["epochs_done"] == 2
    assert after.summary["continued"][-1]["epochs"] == round(2 - part, 2)
    batches = [e for e in events if e["kind"] == "batch"]
    assert batches[0]["epoch"] == 2 and batches[-1]["step"] == batches[-1]["total_steps"] == 2 * spe
    assert all(b["step"] / b["steps_per_epoch"] <= 2 for b in batches)  # the curve ends at its last epoch
    # Progress is over the added steps only: it starts near 0, not at the 72% already trained.
    assert batches[0]["progress"] < 0.5 and batches[-1]["progress"] == 1.0
    start = next(e for e in events if e["kind"] == "start")
    assert start["start_step"] == after.metrics[1]["step"] and start["elapsed"] > 0


def test_a_finished_part_epoch_trains_each_digit_once(tiny_data, tmp_path, monkeypatch):
    from mnist_core.train import trainer as trainer_module

    trained = []
    real = trainer_module.iterate_batches

    def spy(*args, **kwargs):
        for xb, yb in real(*args, **kwargs):
            trained.append(xb.reshape(len(xb), -1).clone())
            yield xb, yb

    monkeypatch.setattr(trainer_module, "iterate_batches", spy)
    path, _ = stopped_part_way(tiny_data, tmp_path, after_steps=7)
    first_epoch = 19
    trainer = Trainer.continued(path, 1, tiny_data)
    list(record(trainer, recorder=RunRecorder(trainer, continuing=path)))
    # Epoch 2 is the stopped part plus the rest: every training digit once, none twice.
    epoch_two = torch.cat(trained[first_epoch:])
    assert len(epoch_two) == len(tiny_data.train_images)
    assert len(torch.unique(epoch_two, dim=0)) == len(tiny_data.train_images)


def test_a_continue_job_keeps_the_earlier_curves_and_counts_progress_from_its_start(tiny_data, tmp_path):
    from mnist_core.jobs.job import Job

    path, sent = stopped_part_way(tiny_data, tmp_path, after_steps=7)
    earlier_batches = [e for e in sent if e["kind"] == "batch"]
    earlier = Job(config=cfg(), run_path=path, batches=list(earlier_batches), status="stopped")
    job = JobRunner(mode="thread").submit_continue(path, 1, tiny_data, tmp_path, earlier=earlier)
    assert job.wait(90)
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    # The live chart goes on from the curve drawn before the stop, in step order, to epoch 2.
    assert snap["batches"][:len(earlier_batches)] == earlier_batches
    steps = [b["step"] for b in snap["batches"]]
    assert steps == sorted(steps) and len(steps) > len(earlier_batches)
    assert steps[-1] == 2 * 19 and snap["progress"] == 1.0
    assert [e["epoch"] for e in snap["epochs"]][-1] == 2
    assert job.elapsed_before == pytest.approx(load_run(path).metrics[1]["elapsed"], abs=1e-6)
