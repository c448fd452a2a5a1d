"""Shared fixtures: the real MNIST files where realism matters, tiny generated data for speed.

Helpers live in tests/support.py; this file holds fixtures only.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mnist_core.data.tensors import DATASETS, Dataset
from tests.support import MnistMissing, make_synthetic, mnist_dir, prepare_mnist


def pytest_configure(config):
    """Find MNIST once, before any test: downloaded into ./data on a fresh clone with internet;
    offline with no files, one message saying how to provide them instead of dozens of errors."""
    try:
        folder = prepare_mnist(os.environ.get("MNIST_DATA_DIR"), offline=os.environ.get("MNIST_OFFLINE") == "1")
    except MnistMissing as exc:
        raise pytest.UsageError(f"The tests need the MNIST files. {exc}") from None
    os.environ["MNIST_DATA_DIR"] = str(folder)  # the app servers the browser tests start read it too
    # A developer's own database is never the tests' (the storage tests start their own server).
    for variable in ("MNIST_STORAGE_URL", "MNIST_TEMPORARY_DISK"):
        os.environ.pop(variable, None)


def _require_mnist(folder: Path) -> None:
    if not any((folder / f"train-images-idx3-ubyte{s}").exists() for s in (".gz", "")):
        pytest.fail(f"real MNIST files are required in {folder} (set MNIST_DATA_DIR)")


@pytest.fixture(scope="session")
def real_mnist():
    from mnist_core.data.tensors import load_dataset

    folder = mnist_dir()
    _require_mnist(folder)
    return load_dataset("mnist", folder, allow_download=False)


@pytest.fixture(scope="session")
def tiny_data() -> Dataset:
    return Dataset(spec=DATASETS["mnist"], source="synthetic", **make_synthetic())


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "runs"
    monkeypatch.setenv("MNIST_RUNS_DIR", str(path))
    return path


@pytest.fixture
def real_env(tmp_path, monkeypatch):
    """The app's environment for AppTest: the real MNIST files, offline, runs in a temp folder."""
    folder = mnist_dir()
    _require_mnist(folder)
    monkeypatch.setenv("MNIST_DATA_DIR", str(folder))
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    return tmp_path / "runs"


@pytest.fixture
def offline_env(tmp_path, monkeypatch):
    """The app with no data anywhere and no network."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(tmp_path)  # no ./data from the repo either
    for var in ("MNIST_DATA_DIR", "FASHION_MNIST_DATA_DIR"):
        monkeypatch.setenv(var, str(empty))
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    return empty


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (tests/postgres.py); skips where none is installed."""
    from tests import postgres as pg

    server = pg.start()
    yield server
    server.close()


@pytest.fixture
def database_url(postgres) -> str:
    """A fresh database on that server, as `postgresql://...`."""
    return postgres.new_database()
