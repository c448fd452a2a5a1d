import json

import pytest
import torch

from mnist_core.runs.checkpoints import load_model
from mnist_core.runs.folders import load_run
from mnist_core.runs.recorder import record
from mnist_core.train.config import PRESETS, ConfigError, TrainConfig, preset_config
from mnist_core.train.outcome import chance_verdict
from mnist_core.train.trainer import Trainer, train


def small(**kw):
    base = dict(model="cnn", model_kwargs={"channels": [8, 16], "hidden": 32}, epochs=1,
                batch_size=64, lr=3e-3, log_every=5, device="cpu")
    return TrainConfig.from_dict({**base, **kw})


def test_real_subset_run_ends_well_above_chance(real_mnist):
    events = list(train(small(train_subset=2000, epochs=2), real_mnist))
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 2
    batches = [e for e in events if e["kind"] == "batch"]
    assert len(batches) >= 10
    assert all(0 < b["progress"] <= 1 and b["images_per_s"] > 0 and b["lr"] > 0 for b in batches)
    assert batches[-1]["progress"] == pytest.approx(1.0)
    epoch = [e for e in events if e["kind"] == "epoch"][-1]
    assert epoch["test_acc"] > 0.85, epoch  # chance is 0.10
    assert epoch["train_loss"] < 1.0 and epoch["elapsed"] > 0
    assert events[-1]["status"] == "completed"


def test_same_seed_same_first_epoch_loss(tiny_data):
    def first_epoch(seed):
        for e in train(small(seed=seed, model_kwargs={"channels": [4], "hidden": 16, "dropout": 0.3},
                             augment=True), tiny_data):
            if e["kind"] == "epoch":
                return e["train_loss"], e["test_loss"]

    a, b, c = first_epoch(1), first_epoch(1), first_epoch(2)
    assert a == b
    assert a != c


def test_subset_is_seeded(tiny_data):
    a = Trainer(small(train_subset=100, seed=5), tiny_data)._training_set()[1]
    b = Trainer(small(train_subset=100, seed=5), tiny_data)._training_set()[1]
    assert len(a) == 100 and torch.equal(a, b)


@pytest.mark.parametrize("field, value, words", [
    ("batch_size", 0, "batch_size"),
    ("epochs", -1, "epochs"),
    ("model", "resnet999", "unknown model"),
    ("optimizer", "adagrad2", "unknown optimizer"),
    ("schedule", "linear", "unknown schedule"),
    ("lr", 0, "lr"),
    ("lr", float("nan"), "lr"),
    ("label_smoothing", 1.5, "label_smoothing"),
    ("train_subset", 70000, "train_subset"),
    ("device", "tpu", "device"),
    ("batch_size", "abc", "whole number"),
    ("augment", "maybe", "true or false"),
    ("model_kwargs", "{not json", "JSON"),
    ("model_kwargs", {"bogus": 1}, "bogus"),
    ("colour", "red", "unknown setting"),
])
def test_invalid_configs_raise_clear_errors(field, value, words):
    with pytest.raises(ConfigError, match=words) as info:
        TrainConfig.from_dict({field: value})
    assert info.value.field == field


def test_strings_from_cli_or_url_are_coerced():
    c = TrainConfig.from_dict({"batch_size": "256", "lr": "0.01", "augment": "true",
                               "model_kwargs": '{"channels": [8]}'})
    assert (c.batch_size, c.lr, c.augment) == (256, 0.01, True)
    assert c.model_kwargs == {"channels": [8], "kernel_size": 5, "dropout": 0.0, "batch_norm": True,
                              "hidden": 128, "convs": 1, "padding": True}  # defaults recorded, so the run rebuilds exactly


def test_every_preset_is_valid():
    for name in PRESETS:
        assert isinstance(preset_config(name), TrainConfig)


def test_cuda_without_gpu_is_a_clear_error(tiny_data):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        Trainer(small(device="cuda"), tiny_data)
    assert Trainer(small(device="auto"), tiny_data).device.type == "cpu"


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
@pytest.mark.parametrize("schedule", ["constant", "step", "onecycle", "cosine"])
def test_optimizers_and_schedules_run(tiny_data, optimizer, schedule):
    c = small(model="logreg", model_kwargs={}, optimizer=optimizer, schedule=schedule, epochs=2,
              lr=0.01, warmup_epochs=0.5, restart_epochs=0.5)
    events = list(train(c, tiny_data))
    lrs = [e["lr"] for e in events if e["kind"] == "batch"]
    assert events[-1]["status"] == "completed"
    if schedule == "constant":
        assert set(lrs) == {0.01}
    else:
        assert len(set(lrs)) > 1


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_huge_learning_rate_diverges(tiny_data, runs_dir, model):
    c = small(model=model, model_kwargs={}, optimizer="adam", lr=100.0, schedule="constant", epochs=3)
    events = list(record(Trainer(c, tiny_data), runs_dir))
    end = events[-1]
    assert end["status"] == "diverged" and "learning rate" in end["message"]
    assert load_run(runs_dir / end["run_id"]).summary["status"] == "diverged"


def test_nan_after_a_good_epoch_keeps_that_epoch_loadable(tiny_data, runs_dir):
    trainer = Trainer(small(model="mlp", model_kwargs={"hidden": [32]}, epochs=3), tiny_data)
    events = []
    for e in record(trainer, runs_dir):
        events.append(e)
        if e["kind"] == "epoch" and e["epoch"] == 1:
            with torch.no_grad():  # poison the weights: the next batch's loss is NaN
                trainer.model[1].weight.fill_(float("nan"))
    end = events[-1]
    assert end["status"] == "diverged" and "nan" in end["message"].lower()
    assert end["epochs_done"] == 1
    run = load_run(runs_dir / end["run_id"])
    assert run.summary["status"] == "diverged" and len(run.metrics) == 1
    model, _ = load_model(run.path)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_stopping_mid_run_leaves_consistent_folder(tiny_data, runs_dir):
    trainer = Trainer(small(epochs=3, batch_size=32, log_every=2), tiny_data)
    events = record(trainer, runs_dir, label="stop me")
    run_id = None
    for e in events:
        run_id = e["run_id"]
        if e["kind"] == "batch" and e["epoch"] == 2:
            break
    events.close()
    run = load_run(runs_dir / run_id)
    assert run.summary["status"] == "stopped"
    # The stop came two steps into epoch 2: that part-epoch is evaluated and kept as 1.11.
    done = run.summary["epochs_done"]
    assert 1 < done < 2 and len(run.metrics) == 2 and run.metrics[-1]["epoch"] == done
    assert run.summary["message"].startswith(f"stopped by the user at epoch {done:g}: test accuracy")
    assert run.summary["label"] == "stop me"
    state = torch.load(run.path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == done and len(state["history"]) == 2
    assert json.loads((run.path / "config.json").read_text())["epochs"] == 3
    assert not list(run.path.glob("*.tmp")) and not list(run.path.glob(".*.tmp"))


def test_active_time_excludes_time_the_caller_spends(tiny_data):
    import time

    start = time.perf_counter()
    for e in train(small(model="logreg", model_kwargs={}, epochs=1), tiny_data):
        if e["kind"] == "start":
            time.sleep(1.0)  # a paused consumer
        last = e
    wall = time.perf_counter() - start
    # Whatever the machine's load, the second spent paused is not training time.
    assert wall - last["elapsed"] >= 0.95


def test_a_handwriting_run_records_which_set_it_saw(tiny_data, tmp_path, monkeypatch):
    from mnist_core.data import handwriting
    from mnist_core.runs.checkpoints import load_checkpoint
    from mnist_core.runs.folders import load_run
    from mnist_core.runs.recorder import record

    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path / "hw"))
    digits = tiny_data.test_images[:3].numpy()
    for i, image in enumerate(digits):
        handwriting.save_sample(image, i)
    cfg = TrainConfig(model="logreg", epochs=1, batch_size=64, device="cpu", handwriting=True)
    trainer = Trainer(cfg, tiny_data)
    events = list(record(trainer, tmp_path / "runs"))
    seen = events[0]["handwriting_set"]
    assert seen["samples"] == 3 and seen["per_class"] == [1, 1, 1] + [0] * 7 and len(seen["sha256"]) == 64
    run = load_run(tmp_path / "runs" / events[0]["run_id"])
    assert run.summary["handwriting_set"] == seen and load_checkpoint(run.path)["handwriting_set"] == seen
    # Another set (one label changed) gets another fingerprint; no handwriting, no record.
    handwriting.save_sample(digits[0], 5)
    again = next(Trainer(cfg, tiny_data).events())["handwriting_set"]
    assert again["samples"] == 4 and again["sha256"] != seen["sha256"]
    assert "handwriting_set" not in next(Trainer(cfg.replace(handwriting=False), tiny_data).events())


def test_a_run_that_ends_near_chance_says_it_did_not_learn(tiny_data):
    # Seed 1 with a rate this small stays at 10.0% on the tiny set (runs are bit-reproducible).
    end = list(train(small(lr=1e-6, epochs=1, batch_size=128, log_every=10, model_kwargs={"hidden": 32},
                           optimizer="sgd", momentum=0.0, seed=1), tiny_data))[-1]
    assert end["status"] == "completed" and end["learned"] is False
    assert end["message"].startswith("did not learn: accuracy 10.0% is chance for 10 classes; "
                                     "the learning rate 1e-06 is probably too low")
    good = list(train(small(epochs=1), tiny_data))[-1]
    assert good["learned"] is True and good["message"].startswith("completed 1 epoch(s)")


@pytest.mark.parametrize("accuracy, changes, words", [
    (0.151, {}, None),
    (0.15, {"lr": 1e-5}, "is probably too low"),
    (0.09, {"lr": 0.5}, "the learning rate 0.5 is probably too high"),
    (0.09, {"lr": 0.5, "optimizer": "sgd"}, "try a learning rate between"),
    (0.12, {"lr": 3e-3}, "or more epochs"),
])
def test_chance_verdict_names_a_likely_cause(accuracy, changes, words):
    verdict = chance_verdict(accuracy, 10, TrainConfig(**changes))
    assert verdict is None if words is None else words in verdict


@pytest.mark.parametrize("images", [50, 100, 150, 200, 250])  # 1 to 5 steps in all
def test_a_very_short_one_cycle_run_trains(tiny_data, images):
    end = list(train(small(train_subset=images, batch_size=50, schedule="onecycle"), tiny_data))[-1]
    assert end["status"] == "completed", end


@pytest.mark.parametrize("schedule", ["onecycle", "step", "cosine"])
def test_the_lr_knob_multiplies_any_schedule_and_undoing_it_restores_the_schedule(tiny_data, schedule):
    """The knob at x4 for a stretch, then back at x1: every rate is the plain run's times the
    factor in force, whether the schedule computes its rate afresh (one-cycle, cosine) or
    multiplies the one it finds (step)."""
    c = small(epochs=3, schedule=schedule, step_size=1, gamma=0.5, warmup_epochs=0.5, log_every=1)
    plain = [e["lr"] for e in train(c, tiny_data) if e["kind"] == "batch"]
    trainer = Trainer(c, tiny_data)
    lrs, factors, factor = [], [], 1.0
    for e in trainer.events():
        if e["kind"] == "batch":
            lrs.append(e["lr"])
            factors.append(factor)
            if e["step"] == 5:
                trainer.change_lr(4.0)
            if e["step"] == 15:
                trainer.change_lr(1.0)
        elif e["kind"] == "lr_change":
            factor = e["lr_scale"]
    assert len(lrs) == len(plain) > 20
    assert factors.count(4.0) == 10
    assert lrs == pytest.approx([p * f for p, f in zip(plain, factors)], rel=1e-6)
    with pytest.raises(ConfigError):
        trainer.change_lr(float("nan"))


def test_batch_events_report_the_batches_since_the_last_one(tiny_data):
    # The live curves' loss and accuracy must describe the same batches: weighted by their
    # images, the batch events of an epoch add up to the epoch's own training figures.
    c = small(log_every=3)
    events = list(train(c, tiny_data))
    n = events[0]["train_size"]
    batches = [e for e in events if e["kind"] == "batch"]
    steps = [0] + [b["step"] for b in batches]
    sizes = [min(s * c.batch_size, n) - p * c.batch_size for p, s in zip(steps, steps[1:])]
    epoch = next(e for e in events if e["kind"] == "epoch")
    assert len(batches) >= 3 and sum(sizes) == n
    assert sum(b["acc"] * k for b, k in zip(batches, sizes)) / n == pytest.approx(epoch["train_acc"])
    assert sum(b["loss"] * k for b, k in zip(batches, sizes)) / n == pytest.approx(epoch["train_loss"], rel=1e-5)
    assert len({round(b["acc"], 6) for b in batches}) > 1  # not one running figure repeated
