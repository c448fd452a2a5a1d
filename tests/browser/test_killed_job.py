"""A class on one server, in Chromium: one visitor's training process is killed (as the kernel's
out-of-memory killer would), and that run ends as "failed" on their page while another visitor's
Draw goes on reading digits from the same server."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest
from playwright.sync_api import expect

from .helpers import (
    RUN_TIMEOUT,
    STROKES,
    VIEWPORT,
    assert_clean,
    draw,
    goto,
    metric,
    progress,
    start_long_run,
    wait_idle,
)

pytestmark = pytest.mark.browser


def worker_pid(runs_dir, run_name: str) -> int:
    """The training process of the run the page shows: its summary records the writer's pid."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for summary in runs_dir.glob("*/summary.json"):
            try:
                data = json.loads(summary.read_text())
            except (OSError, ValueError):
                continue  # being replaced right now
            if data.get("status") == "running" and run_name.endswith(data.get("run_id", "-")):
                return int(data["pid"])
        time.sleep(0.5)
    raise AssertionError(f"no running summary for {run_name} in {runs_dir}")


def test_a_killed_training_fails_alone_and_another_visitor_still_draws(app_server, page, browser):
    goto(page, app_server.url, "train")
    name = start_long_run(page).removeprefix("Run: ")
    expect(progress(page).last).to_contain_text("running", timeout=RUN_TIMEOUT * 1000)
    pid = worker_pid(app_server.runs_dir, name)
    assert pid != app_server.proc.pid
    os.kill(pid, signal.SIGKILL)

    # The trainer's own page says what happened, in words, not a traceback.
    expect(progress(page).last).to_contain_text("failed", timeout=60_000)
    expect(page.get_by_text("ended unexpectedly")).to_be_visible()
    expect(page.get_by_text("SIGKILL")).to_be_visible()
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)

    # Another visitor, on the same server, draws and is answered.
    other = browser.new_context(viewport=VIEWPORT).new_page()
    try:
        goto(other, app_server.url, "draw")
        panel = other.get_by_role("tabpanel", name="Draw")
        draw(other, STROKES["7"])
        expect(panel.locator('[data-testid="stMetricValue"]')).to_be_visible(timeout=30_000)
        wait_idle(other)
        assert metric(other, "Prediction", panel) == "7"
        assert_clean(other)
    finally:
        other.context.close()
    assert app_server.proc.poll() is None  # the server itself never went down
