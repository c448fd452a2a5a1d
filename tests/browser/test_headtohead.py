"""Head to head in Chromium: set a short budget, race the MLP against the CNN, read the verdict."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .helpers import assert_clean, goto, screenshot, set_number, wait_idle, widget

pytestmark = pytest.mark.browser

RACE_TIMEOUT = 240_000  # ms; two short runs plus evaluation on a shared 2-core machine


def test_head_to_head_race_ends_with_both_curves_and_a_winner(app_server, page):
    goto(page, app_server.url, "head_to_head")
    table = page.locator('[data-testid="stDataFrame"]').first
    expect(table).to_be_visible()
    # The slider moves with the keyboard as a user's would: Home is its minimum (2 s).
    thumb = widget(page, "h2h_budget").get_by_role("slider")
    thumb.focus()
    thumb.press("Home")
    for _ in range(2):
        thumb.press("ArrowRight")
    expect(thumb).to_have_value("4")
    wait_idle(page)
    set_number(page, "h2h_subset", 20000)
    widget(page, "h2h_start").get_by_role("button").click()
    # While the contest runs the form is locked and Stop is offered.
    expect(widget(page, "h2h_stop").first).to_be_visible(timeout=60_000)
    expect(widget(page, "h2h_start").get_by_role("button")).to_be_disabled()
    verdict = page.get_by_text(re.compile(r"^(MLP|CNN) wins: \d+\.\d\d% against \d+\.\d\d%"))
    expect(verdict).to_be_visible(timeout=RACE_TIMEOUT)
    wait_idle(page)
    assert_clean(page)
    expect(widget(page, "h2h_stop")).to_have_count(0)
    expect(widget(page, "h2h_start").get_by_role("button")).to_be_enabled()
    # Both contenders are on both charts (Plotly writes legend entries as SVG text).
    for chart in ("h2h_acc", "h2h_loss"):
        legend = widget(page, chart).locator(".legendtext").evaluate_all("els => els.map(e => e.textContent)")
        assert any(t.startswith("MLP") for t in legend) and any(t.startswith("CNN") for t in legend), legend
    board = page.locator('[data-testid="stDataFrame"]').nth(1)
    expect(board).to_be_visible()
    page.mouse.move(0, 0)
    page.set_viewport_size({"width": 1280, "height": 1500})  # the verdict under the charts too
    wait_idle(page)
    screenshot(page, "head-to-head")
