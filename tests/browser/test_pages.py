"""Every page in Chromium, with the real data and with none."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .helpers import (
    PAGE_PATHS,
    TITLES,
    assert_clean,
    goto,
    navigate,
    screenshot,
    wait_idle,
    widget,
)

pytestmark = pytest.mark.browser


# Something each page shows once it has done its work on the real data.
CONTENT = {
    "home": re.compile(r"^MNIST: found in"),
    "data": "60,000",  # the training split's size
    "train": "Start training",
    "head_to_head": "Start head to head",
    "evaluate": "Confusion matrix",
    "draw": "Draw a digit in the box",
    "runs": re.compile(r"No saved runs|Compare curves"),  # other tests may have saved runs
    "class_board": re.compile(r"No run is on the board yet|challenge accuracy"),
    "experiments": "Eight short experiments",
    "sweep": "Start the sweep",
}


def test_every_page_loads_cleanly(app_server, page):
    for name in PAGE_PATHS:
        goto(page, app_server.url, name)
        assert_clean(page)
        # A page not listed above shows at least its title.
        expect(page.get_by_text(CONTENT.get(name, TITLES[name])).first).to_be_visible()
        if name == "home":
            screenshot(page, "home")
            # The URLs above are the ones the app's own links use.
            links = page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]')
            hrefs = [h.rstrip("/").rsplit("/", 1)[-1] for h in links.evaluate_all("els => els.map(e => e.href)")]
            assert ["/" + h for h in hrefs[1:]] == list(PAGE_PATHS.values())[1:], hrefs
    # The sidebar's links switch pages within one session (test_train relies on it mid-run).
    for name in ("data", "home"):
        navigate(page, name)
        wait_idle(page)
        assert_clean(page)
        expect(page.get_by_text(CONTENT[name]).first).to_be_visible()


# What each page must say when no dataset can be found: guidance, never an error.
NO_DATA_GUIDANCE = {
    "home": "MNIST files not found",
    "data": "MNIST files not found",
    "train": "MNIST files not found",
    "head_to_head": "MNIST files not found",
    "evaluate": "MNIST files not found",
    "draw": "Draw a digit in the box",  # the bundled model needs no data
    "runs": "No saved runs",
    "class_board": "No run is on the board yet",  # the board reads run folders, not the data
    "experiments": "Eight short experiments",  # the questions need no data until a run is started
    "sweep": "MNIST files not found",
}


def test_without_data_every_page_gives_guidance(nodata_server, page):
    for name, guidance in NO_DATA_GUIDANCE.items():
        goto(page, nodata_server.url, name)
        assert_clean(page)
        expect(page.get_by_text(guidance).first).to_be_visible()
        if name in ("data", "train", "evaluate"):
            expect(page.get_by_text("MNIST_DATA_DIR=/that/folder").first).to_be_visible()
            expect(widget(page, "train_start")).to_have_count(0)
        if name == "home":
            expect(page.get_by_text(re.compile(r"^MNIST: found in"))).to_have_count(0)
        screenshot(page, f"nodata-{name}", docs=False)
