"""The Data page's sample grid in Chromium."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .helpers import assert_clean, choose, goto, screenshot

pytestmark = pytest.mark.browser

# The Samples tab's grid (the Augmentation tab, rendered in the page too, has digits of its own).
GRID_IMAGES = '[data-testid="stTabs"] [role="tabpanel"]:has([data-testid="stSelectbox"]) [data-testid="stImage"]'


def grid(page) -> tuple[list[str], list[str]]:
    """(image sources, captions) of the sample grid, in page order."""
    images = page.locator(GRID_IMAGES)
    sources = images.locator("img").evaluate_all("els => els.map(e => e.src)")
    captions = images.locator('[data-testid="stImageCaption"]').all_inner_texts()
    return sources, captions


def test_label_filter_changes_the_sample_grid(app_server, page):
    goto(page, app_server.url, "data")
    assert_clean(page)
    images = page.locator(GRID_IMAGES + " img")
    expect(images).to_have_count(48)
    expect(images.first).to_have_js_property("complete", True)
    assert images.first.evaluate("img => img.naturalWidth") > 0, "the first sample did not load"
    before_src, before_captions = grid(page)
    assert len({c.rsplit(": ", 1)[1] for c in before_captions}) > 1, before_captions  # file order mixes classes
    screenshot(page, "data")

    choose(page, "data_label", "3")
    assert_clean(page)
    expect(images).to_have_count(48)
    after_src, after_captions = grid(page)
    assert all(c.endswith(": 3") for c in after_captions), after_captions
    assert after_captions != before_captions
    assert after_src != before_src
    assert images.first.evaluate("img => img.naturalWidth") > 0
