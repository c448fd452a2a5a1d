"""A run killed mid-training, as the Runs page lists it."""
from __future__ import annotations

import json
import subprocess
import sys
import time

from mnist_core.runs.folders import write_json
from tests.support import fake_run, open_page


def test_sigkilled_run_is_listed_as_interrupted_by_the_app(tmp_path, monkeypatch):
    run = fake_run(tmp_path / "runs", "good")
    summary = json.loads((run / "summary.json").read_text())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    summary.update(status="running", pid=dead.pid, heartbeat=time.time())  # left by a dead server
    write_json(run / "summary.json", summary)
    (run / ".checkpoint.pt.abc.tmp").write_bytes(b"half a checkpoint")  # a write the kill cut short
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    at = open_page("runs")
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert list(table["status"]) == ["interrupted"]
    assert not at.button(key="runs_delete").disabled  # an interrupted run can be cleaned up
