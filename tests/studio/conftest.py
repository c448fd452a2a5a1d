"""Fixtures for the AppTest sessions: generated data, a temporary runs folder, a fresh job runner."""
from __future__ import annotations

from pathlib import Path

import pytest

from mnist_core.jobs import runner as jobs
from tests.support import N_TEST, N_TRAIN, make_synthetic, write_dataset


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("synthetic"), make_synthetic(N_TRAIN, N_TEST), gz=False)


@pytest.fixture
def app_env(tmp_path, monkeypatch, synthetic_dir) -> Path:
    monkeypatch.setenv("MNIST_DATA_DIR", str(synthetic_dir))
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    # One torch thread: on a shared 2-core machine two threads spin-wait on each other and
    # these tiny jobs run up to ten times slower.
    monkeypatch.setenv("MNIST_THREADS", "1")
    return tmp_path / "runs"


@pytest.fixture
def runner(monkeypatch):
    """A fresh server-wide job runner, so no other test's jobs hold its slots."""
    r = jobs.JobRunner(max_running=3, max_jobs=8)
    monkeypatch.setattr(jobs, "_default_runner", r)
    yield r
    for job in r.active():
        job.stop()
        job.wait(30)
