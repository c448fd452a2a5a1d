"""Head to head (MLP vs CNN) and the time budget it rests on."""
from __future__ import annotations

import math

import pytest
import torch

from mnist_core.jobs.runner import JobLimitError, JobRunner
from mnist_core.runs.checkpoints import load_checkpoint
from mnist_core.runs.folders import list_runs
from mnist_core.studies.headtohead import CONTENDERS, contender_configs, head_to_head, recipe, score, verdict
from mnist_core.train.config import PRESETS, ConfigError, TrainConfig, preset_config
from mnist_core.train.optim import clock_onecycle_lr
from mnist_core.train.trainer import train
from tests.support import wait_for


def budgeted(budget: float, **kw) -> TrainConfig:
    base = dict(model="logreg", epochs=500, batch_size=32, log_every=1, device="cpu", lr=0.05,
                time_budget=budget)
    return TrainConfig.from_dict({**base, **kw})


# ---------------------------------------------------------------- the time budget

def test_clock_onecycle_matches_torchs_onecycle_shape():
    max_lr = 0.01
    assert clock_onecycle_lr(max_lr, 0.0) == pytest.approx(max_lr / 25)
    assert clock_onecycle_lr(max_lr, 0.25) == pytest.approx(max_lr)
    assert clock_onecycle_lr(max_lr, 1.0) == pytest.approx(max_lr / 25 / 1e4)
    assert clock_onecycle_lr(max_lr, 7.0) == clock_onecycle_lr(max_lr, 1.0)  # past the budget
    # Against torch's own schedule laid over 4000 steps, at the same share of the run.
    n = 4000
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=n, pct_start=0.25,
                                                cycle_momentum=False)
    for step in range(n):
        if step % 500 == 0:
            assert opt.param_groups[0]["lr"] == pytest.approx(clock_onecycle_lr(max_lr, step / n), rel=1e-2, abs=1e-9)
        opt.step()
        sched.step()


def test_a_budget_ends_the_run_on_time_and_reports_a_partial_epoch(tiny_data):
    events = list(train(budgeted(1.0), tiny_data))
    end = events[-1]
    assert end["kind"] == "end" and end["status"] == "completed", end
    assert "1 s time budget" in end["message"]
    # Stopped by the clock, not the 500 epochs; one tiny step late at most.
    assert 1.0 <= end["train_seconds"] < 1.5, end
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert epochs[-1]["epoch"] < 500 and epochs[-1]["epoch"] == end["epochs_done"]
    whole = [e["epoch"] for e in epochs[:-1]]
    assert whole == list(range(1, len(whole) + 1))
    # Evaluation time is reported but not charged to the budget.
    assert all(e["train_seconds"] <= e["elapsed"] for e in epochs)
    # Nine test evaluations at each tenth of the budget, then the last at its end.
    probes = [e for e in events if e["kind"] == "probe"]
    assert len(probes) == 9 and all(p["test_size"] == len(tiny_data.test_labels) for p in probes)
    for k, p in enumerate(probes, 1):
        assert k * 0.1 <= p["train_seconds"] < (k + 1) * 0.1, (k, p)
    batches = [e for e in events if e["kind"] == "batch"]
    assert batches[-1]["progress"] == 1.0
    # The rate followed the clock: up to the peak, then down to one-cycle's floor at the end.
    lrs = [b["lr"] for b in batches]
    assert max(lrs) == pytest.approx(0.05, rel=0.1)
    assert lrs[-1] == pytest.approx(0.05 / 25 / 1e4)
    assert lrs.index(max(lrs)) < len(lrs) // 2


def test_a_budget_longer_than_the_epochs_changes_nothing(tiny_data):
    c = budgeted(600.0, epochs=2, schedule="constant")
    plain = [e["train_loss"] for e in train(c.replace(time_budget=0.0), tiny_data) if e["kind"] == "epoch"]
    timed = [e for e in train(c, tiny_data) if e["kind"] in ("epoch", "end")]
    assert [e["train_loss"] for e in timed[:-1]] == plain
    assert timed[-1]["message"].startswith("completed 2 epoch(s)")


@pytest.mark.parametrize("changes, field", [
    ({"time_budget": -1}, "time_budget"),
    ({"time_budget": 1e9}, "time_budget"),
    ({"time_budget": "soon"}, "time_budget"),
    ({"time_budget": 10, "schedule": "cosine"}, "schedule"),
    ({"time_budget": 10, "schedule": "step"}, "schedule"),
])
def test_bad_budgets_name_their_field(changes, field):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(changes)
    assert err.value.field == field


def test_the_budget_travels_in_a_link():
    c = TrainConfig(time_budget=30.0)
    assert c.to_query() == {"time_budget": "30.0"}
    assert TrainConfig.from_dict(c.to_query()) == c


# ---------------------------------------------------------------- the contest

def test_contenders_share_everything_but_their_recipe():
    configs = contender_configs(budget=12, seed=7, train_subset=5000)
    assert list(configs) == list(CONTENDERS) == ["MLP", "CNN"]
    assert [c.model for c in configs.values()] == ["mlp", "cnn"]
    shared = ("dataset", "seed", "train_subset", "time_budget", "batch_size", "augment", "handwriting")
    a, b = configs.values()
    assert all(getattr(a, f) == getattr(b, f) for f in shared)
    assert (a.seed, a.train_subset, a.time_budget, a.augment) == (7, 5000, 12.0, False)
    for name, config in configs.items():
        own = preset_config(CONTENDERS[name])
        assert (config.model_kwargs, config.lr, config.optimizer) == (own.model_kwargs, own.lr, own.optimizer)
    assert "hidden [256, 128]" in recipe(a) and "adam, lr 0.002 onecycle" in recipe(a)
    assert all(p in PRESETS for p in CONTENDERS.values())


def test_head_to_head_trains_each_in_turn_from_the_shared_start(tiny_data, tmp_path):
    configs = {k: c.replace(log_every=1) for k, c in contender_configs(budget=2, seed=3, device="cpu").items()}
    events = list(head_to_head(configs, tiny_data, runs_dir=tmp_path))
    order = [e["contender"] for e in events if e["kind"] == "start"]
    assert order == ["MLP", "CNN"]
    first_cnn = next(i for i, e in enumerate(events) if e["contender"] == "CNN")
    assert all(e["contender"] == "MLP" for e in events[:first_cnn])  # one after the other
    ends = {e["contender"]: e for e in events if e["kind"] == "end"}
    assert all(e["status"] == "completed" and "time budget" in e["message"] for e in ends.values()), ends
    runs = {r.summary["label"]: r for r in list_runs(tmp_path)}
    assert set(runs) == {"head to head: MLP", "head to head: CNN"}
    for name, run in runs.items():
        contender = name.split(": ")[1]
        assert run.config["time_budget"] == 2.0 and run.config["seed"] == 3
        assert load_checkpoint(run.path)["epoch"] == ends[contender]["epochs_done"]
    # The first step's loss is taken before any update, so it depends only on the seed's
    # initial weights and the first batch: each contender's equals a solo run of its config.
    for name, config in configs.items():
        solo = next(e for e in train(config.replace(time_budget=0, epochs=1), tiny_data) if e["kind"] == "batch")
        mine = next(e for e in events if e["kind"] == "batch" and e["contender"] == name)
        assert (mine["step"], mine["loss"], mine["acc"]) == (1, solo["loss"], solo["acc"]), name


def test_score_and_verdict_on_hand_made_numbers():
    epoch = {"epoch": 1.5, "step": 700, "train_seconds": 10.0, "elapsed": 11.0}
    mlp = score("MLP", {"model": "mlp", "batch_size": 128}, 235146, [{**epoch, "test_acc": 0.98}])
    cnn = score("CNN", {"model": "cnn", "batch_size": 128}, 105218,
                [{**epoch, "step": 200, "epoch": 0.43, "test_acc": 0.99}])
    assert mlp["errors"] == 200 and cnn["errors"] == 100
    assert mlp["images_per_s"] == 8960  # 700 steps of 128 in 10 s
    text = verdict([mlp, cnn])
    assert text.startswith("CNN wins: 99.00% against 98.00%")
    assert "50% fewer (100 vs 200 of 10,000) test errors" in text
    assert "2.2x fewer parameters (105,218 vs 235,146)" in text
    assert "200 optimisation steps to the MLP's 700" in text
    assert verdict([mlp, score("CNN", {"model": "cnn", "batch_size": 128}, 1, [])]) == ""  # not over yet
    assert score("CNN", {"model": "cnn", "batch_size": 128}, 1, [])["test_acc"] is None


# ---------------------------------------------------------------- jobs in turn

def test_jobs_in_turn_wait_for_the_one_before(tiny_data, runs_dir):
    runner = JobRunner(max_running=2)
    c = budgeted(0, epochs=50, schedule="constant")
    first, second = runner.submit_in_turn([(c, "first"), (c.replace(epochs=1), "second")], tiny_data, runs_dir)
    assert wait_for(lambda: first.snapshot()["batches"])
    first.pause()
    # A free slot is not enough: the second waits for the first to finish.
    assert not wait_for(lambda: second.status != "queued", timeout=1.5)
    first.stop()
    assert first.wait(30) and second.wait(60)
    assert (first.status, second.status) == ("stopped", "completed")
    assert second.snapshot()["epochs"]


def test_stopping_a_waiting_job_never_starts_it(tiny_data, runs_dir):
    runner = JobRunner()
    c = budgeted(0, epochs=50, schedule="constant")
    first, second = runner.submit_in_turn([(c, "a"), (c, "b")], tiny_data, runs_dir)
    second.stop()
    assert second.wait(5) and second.status == "stopped" and second.run_id is None
    first.stop()
    assert first.wait(30)


def test_jobs_in_turn_are_all_accepted_or_none(tiny_data, runs_dir):
    runner = JobRunner(max_jobs=1)
    c = budgeted(0, epochs=1)
    with pytest.raises(JobLimitError):
        runner.submit_in_turn([(c, "a"), (c, "b")], tiny_data, runs_dir)
    assert runner.active() == []


def test_the_estimate_stops_at_the_budget(tiny_data):
    from mnist_core.train.estimate import estimate_seconds

    free = estimate_seconds(budgeted(0, epochs=500), tiny_data)
    budget = free["train_seconds"] / 4  # binds whatever this machine's speed
    timed = estimate_seconds(budgeted(budget), tiny_data)
    assert timed["train_seconds"] == budget and timed["seconds"] >= budget
    # Each epoch begun and the nine checks within the budget end with a test evaluation.
    assert timed["evaluations"] == math.ceil(timed["steps"] / 19) + 9 and free["evaluations"] == 500
    assert timed["steps"] == int(budget / timed["step_seconds"]) < free["steps"]
