"""How the tests find MNIST on any fresh clone (tests/support.prepare_mnist and the session hook)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import REPO, MnistMissing, make_synthetic, prepare_mnist, write_dataset


def test_the_variable_then_the_shared_copy_then_data(tmp_path):
    files = write_dataset(tmp_path / "files", make_synthetic(20, 10))
    empty = tmp_path / "empty"
    assert prepare_mnist(str(files), shared=empty, fetch_into=empty, offline=True) == files
    assert prepare_mnist(None, shared=files, fetch_into=empty, offline=True) == files
    fetched = write_dataset(tmp_path / "data" / "MNIST" / "raw", make_synthetic(20, 10))
    assert prepare_mnist(None, shared=empty, fetch_into=tmp_path / "data", offline=True) == fetched


@pytest.mark.parametrize("env", [None, "missing"])
def test_offline_without_files_says_how_to_provide_them(tmp_path, env):
    folder = str(tmp_path / env) if env else None
    with pytest.raises(MnistMissing, match="MNIST_DATA_DIR") as info:
        prepare_mnist(folder, shared=tmp_path / "none", fetch_into=tmp_path / "data", offline=True)
    assert "train-images-idx3-ubyte" in str(info.value)


def test_a_run_without_mnist_stops_at_once_with_one_message(tmp_path):
    env = {**os.environ, "MNIST_DATA_DIR": str(tmp_path / "nothing-here"), "MNIST_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/core/test_evaluation.py"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode == 4, text
    assert text.count("The tests need the MNIST files") == 1, text
    assert "Traceback" not in text and "passed" not in text and text.count("ERROR") == 1, text
