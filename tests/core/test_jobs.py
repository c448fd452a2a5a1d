import os
import signal
import time

import pytest

from mnist_core.jobs.runner import JobLimitError, JobRunner
from mnist_core.runs.folders import load_run
from mnist_core.train.config import TrainConfig
from mnist_core.train.trainer import train
from tests.support import wait_for


@pytest.fixture(autouse=True, params=["process", "thread"])
def job_mode(request, monkeypatch):
    """Every test here runs with jobs in worker processes (the default) and in threads."""
    monkeypatch.setenv("MNIST_JOB_MODE", request.param)
    return request.param


def cfg(**kw):
    base = dict(model="mlp", model_kwargs={"hidden": [32], "dropout": 0.2}, epochs=2, batch_size=32,
                log_every=2, device="cpu")
    return TrainConfig.from_dict({**base, **kw})


def test_job_runs_to_completion_and_writes_its_run(tiny_data, runs_dir):
    job = JobRunner(max_running=1).submit(cfg(), tiny_data, runs_dir, label="bg")
    assert job.wait(60)
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]
    assert len(snap["epochs"]) == 2 and snap["batches"] and snap["progress"] == 1.0
    run = load_run(snap["run_path"])
    assert run.summary["status"] == "completed" and run.summary["label"] == "bg"
    assert [m["test_acc"] for m in run.metrics] == [e["test_acc"] for e in snap["epochs"]]


def test_job_matches_the_plain_loop(tiny_data, runs_dir):
    plain = [e for e in train(cfg(), tiny_data) if e["kind"] == "epoch"]
    job = JobRunner().submit(cfg(), tiny_data, runs_dir)
    job.wait(60)
    assert [e["train_loss"] for e in job.snapshot()["epochs"]] == [e["train_loss"] for e in plain]


def test_stop_mid_run(tiny_data, runs_dir):
    job = JobRunner().submit(cfg(epochs=50), tiny_data, runs_dir)
    assert wait_for(lambda: len(job.snapshot()["epochs"]) >= 1)
    job.stop()
    assert job.wait(30)
    snap = job.snapshot()
    assert snap["status"] == "stopped"
    run = load_run(snap["run_path"])
    assert run.summary["status"] == "stopped"
    # Whole epochs, then the part of the next one the stop cut short.
    assert run.summary["epochs_done"] == run.metrics[-1]["epoch"] == snap["epochs"][-1]["epoch"] >= 1
    assert [e["epoch"] for e in run.metrics][:-1] == list(range(1, len(run.metrics)))


def test_pause_and_resume(tiny_data, runs_dir):
    job = JobRunner().submit(cfg(epochs=50), tiny_data, runs_dir)
    assert wait_for(lambda: job.snapshot()["batches"])
    job.pause()
    assert job.snapshot()["status"] == "paused"
    time.sleep(0.3)
    n = len(job.snapshot()["batches"])
    time.sleep(0.5)
    assert len(job.snapshot()["batches"]) <= n + 1  # at most the batch in flight lands
    assert load_run(job.snapshot()["run_path"]).summary["status"] == "running"
    job.resume()
    assert wait_for(lambda: len(job.snapshot()["batches"]) > n + 3)
    job.stop()
    assert job.wait(30)


def test_queue_and_limit(tiny_data, runs_dir):
    runner = JobRunner(max_running=1, max_jobs=2)
    first = runner.submit(cfg(epochs=50), tiny_data, runs_dir)
    second = runner.submit(cfg(epochs=1), tiny_data, runs_dir)
    assert wait_for(lambda: first.snapshot()["status"] == "running")
    assert second.snapshot()["status"] == "queued"
    with pytest.raises(JobLimitError, match="limit 2"):
        runner.submit(cfg(), tiny_data, runs_dir)
    first.stop()
    assert second.wait(60) and second.snapshot()["status"] == "completed"


def test_bad_config_in_a_job_fails_cleanly(tiny_data, runs_dir):
    job = JobRunner().submit(cfg(device="cuda"), tiny_data, runs_dir)
    assert job.wait(30)
    import torch

    if not torch.cuda.is_available():
        assert job.snapshot()["status"] == "failed" and "CUDA" in job.snapshot()["message"]


def test_concurrent_jobs_match_running_alone(tiny_data, runs_dir):
    configs = [cfg(seed=1), cfg(seed=2, model="cnn", model_kwargs={"channels": [4], "hidden": 8}),
               cfg(seed=3, augment=True)]
    alone = [[e["train_loss"] for e in train(c, tiny_data) if e["kind"] == "epoch"] for c in configs]
    runner = JobRunner(max_running=3)
    jobs = [runner.submit(c, tiny_data, runs_dir) for c in configs]
    for j in jobs:
        assert j.wait(120)
    together = [[e["train_loss"] for e in j.snapshot()["epochs"]] for j in jobs]
    assert together == alone
    assert len({j.snapshot()["run_id"] for j in jobs}) == 3


def test_a_killed_worker_fails_its_job_and_nothing_else(tiny_data, runs_dir, job_mode):
    if job_mode == "thread":
        pytest.skip("a thread cannot be killed on its own")
    runner = JobRunner(max_running=2)
    doomed = runner.submit(cfg(epochs=500), tiny_data, runs_dir, label="doomed")
    other = runner.submit(cfg(epochs=3), tiny_data, runs_dir, label="other")
    assert wait_for(lambda: doomed.snapshot()["epochs"] and doomed.pid)
    os.kill(doomed.pid, signal.SIGKILL)
    assert doomed.wait(30)
    snap = doomed.snapshot()
    assert snap["status"] == "failed"
    assert "ended unexpectedly" in snap["message"] and "SIGKILL" in snap["message"], snap["message"]
    run = load_run(snap["run_path"])
    assert run.summary["status"] == "failed" and "SIGKILL" in run.summary["message"]
    assert run.metrics  # the epochs it had saved are kept
    assert other.wait(60) and other.snapshot()["status"] == "completed"
    # ...and the runner goes on taking work.
    again = runner.submit(cfg(epochs=1), tiny_data, runs_dir)
    assert again.wait(60) and again.snapshot()["status"] == "completed"


def test_the_queue_tells_each_waiting_job_its_place_and_start(tiny_data, runs_dir):
    runner = JobRunner(max_running=1, max_jobs=3)
    first = runner.submit(cfg(epochs=50), tiny_data, runs_dir)
    second = runner.submit(cfg(epochs=1), tiny_data, runs_dir)
    third = runner.submit(cfg(epochs=1), tiny_data, runs_dir)
    try:
        assert wait_for(lambda: first.snapshot()["status"] == "running" and first.eta() is not None)
        assert runner.queue_place(first) is None
        place, wait = runner.queue_place(second)
        assert place == 1 and wait is not None and 0 < wait <= first.eta() + 1
        assert runner.queue_place(third) == (2, None)  # behind a run that has not started
    finally:
        first.stop()
    assert second.wait(60) and third.wait(60)
    assert runner.queue_place(second) is None


def test_without_room_in_shared_memory_the_worker_reads_the_files_itself(real_mnist, runs_dir,
                                                                          job_mode, monkeypatch):
    if job_mode == "thread":
        pytest.skip("a thread shares the server's memory")
    from multiprocessing.reduction import ForkingPickler

    import torch

    refused = []

    def no_room(tensor):
        refused.append(tensor.shape)
        raise RuntimeError("unable to write to file </torch_1_2>: No space left on device (28)")

    monkeypatch.setitem(ForkingPickler._extra_reducers, torch.Tensor, no_room)
    job = JobRunner().submit(TrainConfig(model="logreg", epochs=1, train_subset=2000, device="cpu"),
                             real_mnist, runs_dir)
    assert job.wait(120)
    assert refused  # the tensors were offered first...
    snap = job.snapshot()
    assert snap["status"] == "completed", snap["message"]  # ...then the files were read instead
    assert snap["epochs"][-1]["test_acc"] > 0.8


def test_the_live_learning_rate_knob_scales_the_schedule_from_the_next_step(tiny_data, runs_dir):
    job = JobRunner().submit(cfg(epochs=50, schedule="constant", lr=1e-3), tiny_data, runs_dir)
    try:
        assert wait_for(lambda: len(job.snapshot()["batches"]) >= 2)
        job.set_lr_scale(0.1)
        assert wait_for(lambda: job.snapshot()["lr_changes"])
        change = job.snapshot()["lr_changes"][0]
        assert change["lr_scale"] == 0.1 and change["lr"] == pytest.approx(1e-4)
        assert wait_for(lambda: job.snapshot()["batches"][-1]["step"] > change["step"] + 2)
    finally:
        job.stop()
    assert job.wait(30)
    batches = job.snapshot()["batches"]
    before = [b["lr"] for b in batches if b["step"] <= change["step"]]
    after = [b["lr"] for b in batches if b["step"] > change["step"]]
    assert before and after
    assert all(lr == pytest.approx(1e-3) for lr in before)
    assert all(lr == pytest.approx(1e-4) for lr in after)
    # The run folder keeps the change, so a finished run's curves can show it.
    assert load_run(job.snapshot()["run_path"]).summary["lr_changes"] == [
        {k: change[k] for k in ("epoch", "step", "lr_scale", "lr")}]
    with pytest.raises(ValueError, match="between"):
        job.set_lr_scale(0.0)


def test_queued_jobs_start_first_come_first_served(monkeypatch):
    """Five jobs queued in a known order behind one running slot start in that order (a
    polled semaphore let whichever thread woke first take a freed slot)."""
    import threading

    from mnist_core.jobs import worker

    started, first_may_end = [], threading.Event()

    def start(task, emit, stop, resume, knob=None):
        started.append(task.label)
        if task.label == "first":
            first_may_end.wait(30)
        time.sleep(0.05)
        return "completed", "done"

    monkeypatch.setattr(worker, "start", start)
    runner = JobRunner(max_running=1, max_jobs=10, mode="thread")
    config = TrainConfig(model="logreg", epochs=1)
    jobs = [runner.submit(config, label="first")]
    assert wait_for(lambda: started == ["first"], 10)
    for i in range(5):
        jobs.append(runner.submit(config, label=f"queued {i}"))
        time.sleep(0.05)  # each is in line, and polling, before the next is queued
    assert [runner.queue_place(j)[0] for j in jobs[1:]] == [1, 2, 3, 4, 5]
    first_may_end.set()
    assert all(j.wait(30) for j in jobs)
    assert started == ["first"] + [f"queued {i}" for i in range(5)]


def test_a_visitor_past_their_share_of_saved_runs_is_told_before_a_run_starts(tmp_path, monkeypatch, tiny_data):
    from mnist_core.errors import RunError
    from mnist_core.runs.ownership import owner_fields, owner_id

    monkeypatch.setenv("MNIST_MAX_RUNS_PER_VISITOR", "1")
    runner = JobRunner(max_running=1, max_jobs=4, mode="thread")
    alice, bob = owner_fields("a" * 32, "Alice"), owner_fields("b" * 32, "Bob")
    config = TrainConfig(model="logreg", epochs=1, batch_size=256, device="cpu")
    first = runner.submit(config, tiny_data, tmp_path, owner=alice)
    assert first.wait(60) and first.status == "completed"
    with pytest.raises(RunError, match=r"you have 1 saved runs, the most one person keeps on this server \(1\)"):
        runner.submit(config, tiny_data, tmp_path, owner=alice)
    assert runner.submit(config, tiny_data, tmp_path, owner=bob).wait(60)  # Bob has his own share
    monkeypatch.setenv("MNIST_MAX_RUNS", "2")
    with pytest.raises(RunError, match="this server keeps 2 runs, its limit"):
        runner.submit(config, tiny_data, tmp_path, owner=owner_fields("c" * 32, "Cy"))
    assert owner_id("a" * 32) == alice["owner"]
