"""Who you are, in Chromium: a chosen name and one's live run survive a reload and a second tab
(the same cookie), and another visitor cannot delete the run."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .helpers import (
    RUN_TIMEOUT,
    VIEWPORT,
    assert_clean,
    goto,
    navigate,
    progress,
    run_heading,
    start_long_run,
    stop_run,
    wait_idle,
    widget,
)

pytestmark = pytest.mark.browser


def your_name(page):
    return widget(page, "visitor_name").locator("input")


def test_a_reload_and_a_second_tab_bring_back_the_name_and_the_live_run(app_server, page, browser):
    goto(page, app_server.url, "train")
    your_name(page).fill("Ada")
    your_name(page).press("Enter")
    wait_idle(page)
    name = start_long_run(page)
    try:
        expect(progress(page).last).to_contain_text("running", timeout=RUN_TIMEOUT * 1000)
        page.reload()
        wait_idle(page)
        expect(run_heading(page)).to_have_text(name)  # the live view is back
        expect(progress(page).last).to_contain_text("running")
        expect(your_name(page)).to_have_value("Ada")
        assert_clean(page)

        second = page.context.new_page()  # another tab: the same cookie, the same visitor
        goto(second, app_server.url, "train")
        expect(run_heading(second)).to_have_text(name)
        second.close()

        stranger = browser.new_context(viewport=VIEWPORT).new_page()  # another visitor
        goto(stranger, app_server.url, "train")
        wait_idle(stranger)
        expect(your_name(stranger)).to_have_value("", timeout=30_000)
        expect(run_heading(stranger)).to_have_count(0)
        navigate(stranger, "runs")
        wait_idle(stranger)
        expect(stranger.get_by_text("Made by Ada")).to_be_visible()
        expect(widget(stranger, "runs_delete").get_by_role("button")).to_be_disabled()
        stranger.context.close()
    finally:
        stop_run(page)


def test_the_name_box_keeps_the_name_on_every_page(app_server, page):
    # After a page change Streamlit drew the box empty on every other page (the name itself
    # was kept): a student thought they had been signed out.
    goto(page, app_server.url, "home")
    box = widget(page, "visitor_name").locator("input")
    box.fill("Alice")
    box.press("Enter")
    wait_idle(page)
    for name in ("data", "head_to_head", "runs", "class_board", "home"):
        navigate(page, name)
        wait_idle(page)
        expect(widget(page, "visitor_name").locator("input")).to_have_value("Alice")
