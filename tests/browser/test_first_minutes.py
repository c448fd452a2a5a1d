"""A learner's first five minutes in Chromium, step by step as Home suggests them: draw a digit,
train the quick preset, "Evaluate it" on that very run, then continue it for one more epoch."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .helpers import (
    RUN_TIMEOUT,
    STROKES,
    assert_clean,
    draw,
    expect_title,
    goto,
    metric,
    navigate,
    progress,
    run_heading,
    start_run,
    wait_idle,
    widget,
)

pytestmark = pytest.mark.browser

FIRST_SCREEN_INPUTS = 6  # at most: a first run needs the preset, the model, the rate and the epochs


def visible_inputs(page) -> int:
    """Inputs a learner sees on the page itself (the sidebar's name box aside)."""
    main = page.locator('[data-testid="stMain"]')
    return main.locator("input:visible, textarea:visible, [role=slider]:visible").count()


def test_the_first_five_minutes(app_server, page):
    # Home: three first steps, each a link.
    goto(page, app_server.url, "home")
    assert_clean(page)
    expect(page.get_by_text("Try it in three steps")).to_be_visible()

    # 1. Draw: the bundled model reads a drawn 7.
    page.get_by_role("link", name="Open Draw").click()
    expect_title(page, "draw")
    wait_idle(page)
    panel = page.get_by_role("tabpanel", name="Draw")
    draw(page, STROKES["7"])
    expect(panel.locator('[data-testid="stMetricValue"]')).to_be_visible(timeout=30_000)
    wait_idle(page)
    assert metric(page, "Prediction", panel) == "7"

    # 2. Train: a first screen of a few settings, and Start shows the run where the eye is.
    navigate(page, "train")
    expect_title(page, "train")
    wait_idle(page)
    assert_clean(page)
    expect(widget(page, "train_preset").get_by_role("combobox")).to_have_value("quick")
    shown = visible_inputs(page)
    assert 0 < shown <= FIRST_SCREEN_INPUTS, f"{shown} inputs on Train's first screen"
    name = start_run(page)
    run_id = name.removeprefix("Run: ")
    expect(run_heading(page)).to_be_in_viewport()
    expect(progress(page).last).to_contain_text("completed", timeout=RUN_TIMEOUT * 1000)
    expect(page.get_by_text("Final test accuracy")).to_be_visible(timeout=30_000)
    wait_idle(page)
    assert_clean(page)
    final = metric(page, "Final test accuracy")

    # 3. "Evaluate it" opens Evaluate on this run, not on the bundled model.
    widget(page, "job_evaluate").get_by_role("button").click()
    expect_title(page, "evaluate")
    expect(page.locator('[data-testid="stMetric"]').first).to_be_visible(timeout=120_000)
    wait_idle(page)
    assert_clean(page)
    expect(widget(page, "eval_model").get_by_role("combobox")).to_have_value(re.compile(re.escape(run_id)))
    assert metric(page, "Accuracy") == final, (metric(page, "Accuracy"), final)

    # 4. Back on Train, the run goes on for one more epoch: two epochs recorded, the first kept.
    navigate(page, "train")
    wait_idle(page)
    widget(page, "job_continue").get_by_role("button").click()
    expect(progress(page).last).to_contain_text("epoch 2 of 2", timeout=RUN_TIMEOUT * 1000)
    expect(progress(page).last).to_contain_text("completed", timeout=RUN_TIMEOUT * 1000)
    expect(page.get_by_text("Final test accuracy")).to_be_visible(timeout=30_000)
    wait_idle(page)
    assert_clean(page)
    gd = widget(page, "live_acc").last.locator(".js-plotly-plot")
    test_epochs = gd.evaluate("gd => Array.from(gd.data.find(t => t.name === 'test (epoch)').x)")
    assert [float(e) for e in test_epochs] == [1.0, 2.0], f"the test curve after continuing: {test_epochs}"
