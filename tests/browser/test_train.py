"""Training in Chromium: live curves, a run that outlives a page change, Stop, and a result.

The live view redraws about once a second (slower when the machine is busy), and on an idle
machine the quick preset trains in about two seconds: too few redraws to watch it grow. So
the curves are watched on a long run that the test then stops, and the quick preset is run
to the end for its result.
"""
from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from .helpers import (
    RUN_TIMEOUT,
    assert_clean,
    goto,
    metric,
    navigate,
    progress,
    run_heading,
    screenshot,
    set_number,
    start_long_run,
    start_run,
    stop_run,
    wait_idle,
    widget,
)

pytestmark = pytest.mark.browser

def progress_text(page) -> str:
    # A fragment rerun can leave the previous copy above the new one for a moment.
    texts = progress(page).all_inner_texts()
    return texts[-1] if texts else ""


def percent(text: str) -> int:
    return int(text.split("%", 1)[0]) if "%" in text else 0


def status(page) -> str:
    return progress_text(page).rsplit("· ", 1)[-1]


def loss_points(page) -> int:
    """Logged batches in the live loss chart (0 before the first), read from Plotly's data."""
    return max(
        widget(page, "live_loss").locator(".js-plotly-plot").evaluate_all(
            "els => els.map(gd => (gd.data && gd.data[0].x.length) || 0)"
        ),
        default=0,
    )


def watch_growth(page, counts: list[int], times: int) -> None:
    """Poll the chart until its point count has grown `times` more times, all while running."""
    target = len(counts) + times
    deadline = time.monotonic() + RUN_TIMEOUT
    while len(counts) < target and time.monotonic() < deadline:
        n, state = loss_points(page), status(page)
        assert state in ("starting", "running", ""), f"the run left 'running' early: {progress_text(page)!r}"
        if n and (not counts or n > counts[-1]):
            counts.append(n)
        page.wait_for_timeout(150)
    assert len(counts) >= target, f"the live chart stopped growing: {counts}, {progress_text(page)!r}"


def test_live_curves_survive_a_page_change_and_stop_ends_the_run(app_server, page):
    goto(page, app_server.url, "train")
    assert_clean(page)
    expect(widget(page, "train_preset").get_by_role("combobox")).to_have_value("quick")
    set_number(page, "cfg_log_every", 1)
    name = start_long_run(page)
    run_id = name.removeprefix("Run: ")
    try:
        watch_and_stop(app_server, page, name, run_id)
    finally:
        stop_run(page)


def watch_and_stop(app_server, page, name: str, run_id: str) -> None:
    counts: list[int] = []
    watch_growth(page, counts, 3)  # a first curve, then two more redraws with more points
    before = percent(progress_text(page))

    # Away and back through the sidebar: the same session, so the same job, still training.
    navigate(page, "data")
    wait_idle(page)
    assert_clean(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("Training in the background: running")).to_be_visible()
    navigate(page, "train")
    expect(run_heading(page)).to_have_text(name)
    assert_clean(page)
    expect(progress(page).last).to_contain_text("running")
    assert percent(progress_text(page)) >= before, "the run started over"
    watch_growth(page, counts, 1)
    assert counts == sorted(counts), f"the curve restarted: {counts}"

    widget(page, "job_stop").first.get_by_role("button").click()
    expect(progress(page).last).to_contain_text("stopped", timeout=60_000)
    expect(page.locator('[data-testid="stAlertContentWarning"]')).to_contain_text("stopped")
    expect(widget(page, "job_stop")).to_have_count(0)
    wait_idle(page)
    assert_clean(page)
    summary = json.loads((app_server.runs_dir / run_id / "summary.json").read_text())
    assert summary["status"] == "stopped", summary


def test_quick_run_finishes_with_its_accuracy_and_is_saved(app_server, page):
    goto(page, app_server.url, "train")
    expect(widget(page, "train_preset").get_by_role("combobox")).to_have_value("quick")
    runs_before = {p.name for p in app_server.runs_dir.glob("*")}
    name = start_run(page)
    expect(progress(page).last).to_contain_text("completed", timeout=RUN_TIMEOUT * 1000)
    expect(page.get_by_text("Final test accuracy")).to_be_visible(timeout=30_000)
    wait_idle(page)
    assert_clean(page)
    expect(run_heading(page)).to_have_text(name)
    final = float(metric(page, "Final test accuracy").rstrip("%")) / 100
    assert final > 0.9, final  # the preset reaches about 97%
    expect(page.locator('[data-testid="stAlertContentSuccess"]')).to_contain_text("completed")
    for key in ("live_loss", "live_acc"):
        gd = widget(page, key).last.locator(".js-plotly-plot")
        batches, train_epoch, test_epoch, *lr = gd.evaluate("gd => gd.data.map(t => t.x.length)")
        assert batches > 1 and train_epoch == test_epoch == 1, (key, batches, train_epoch, test_epoch)
        # The loss chart also draws the learning rate at every logged batch.
        assert lr == ([batches] if key == "live_loss" else []), (key, lr)
    widget(page, "live_loss").last.scroll_into_view_if_needed()
    screenshot(page, "train")

    new_runs = {p.name for p in app_server.runs_dir.glob("*")} - runs_before
    assert new_runs == {name.removeprefix("Run: ")}, (name, new_runs)
    navigate(page, "runs")
    wait_idle(page)
    assert_clean(page)
    expect(widget(page, "overlay_acc").locator(".js-plotly-plot")).to_be_visible()
    screenshot(page, "runs")
