"""Two app servers on one PostgreSQL database, each with its own empty folders, in Chromium: a
run trained on one is listed and usable on the other, and a server whose folders vanished
gets it back after a restart."""
from __future__ import annotations

import shutil
import time
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from tests.support import mnist_dir

from .conftest import running_server
from .helpers import REPO, RUN_TIMEOUT, VIEWPORT, assert_clean, goto, progress, screenshot, start_run, wait_idle

pytestmark = pytest.mark.browser


@contextmanager
def class_server(folder, url: str, name: str):
    env = {"MNIST_DATA_DIR": str(mnist_dir()), "MNIST_RUNS_DIR": str(folder / "runs"),
           "MNIST_HANDWRITING_DIR": str(folder / "data" / "handwriting"),
           "MNIST_LABEL_MARKS": str(folder / "data" / "label_marks.json"),
           "MNIST_OFFLINE": "1", "MNIST_STORAGE_URL": url}
    with running_server(REPO, env, name) as server:
        yield server


def listed(page, server_url: str, folder, run_id: str, timeout_s: float = 60.0) -> None:
    """Open Runs until it lists the run (the other server syncs every few seconds)."""
    deadline = time.monotonic() + timeout_s
    while True:
        goto(page, server_url, "runs")
        wait_idle(page)
        if (folder / "runs" / run_id / "checkpoint.pt").exists() and not page.get_by_text("No saved runs").count():
            return
        assert time.monotonic() < deadline, f"run {run_id} never reached {folder}"
        time.sleep(2)


def test_a_run_trained_on_one_server_is_on_the_other_and_survives_a_restart(browser, database_url, tmp_path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(2)]
    try:
        teacher, student = (c.new_page() for c in contexts)
        with class_server(a_dir, database_url, "storage-a") as a:
            with class_server(b_dir, database_url, "storage-b") as b:
                goto(teacher, a.url, "train")
                run_id = start_run(teacher).removeprefix("Run: ")
                expect(progress(teacher).last).to_contain_text("completed", timeout=RUN_TIMEOUT * 1000)
                listed(student, b.url, b_dir, run_id)
                assert_clean(student)
                goto(student, b.url, "draw")  # the other server's run is one to pick and read with
                wait_idle(student)
                assert_clean(student)
            shutil.rmtree(a_dir)  # the host loses its files (a Cloud restart)
        with class_server(a_dir, database_url, "storage-a-again") as a:
            listed(teacher, a.url, a_dir, run_id)
            assert_clean(teacher)
            screenshot(teacher, "runs-from-database", docs=False)
    finally:
        for c in contexts:
            c.close()
