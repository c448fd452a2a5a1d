"""What the browser tests share: finding a settled Streamlit page and failing on any error in it.

Kept out of conftest.py, which test modules should not import.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from studio.nav import PAGES

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "screenshots"
DOCS = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}


# "home", "data", "train", ... -> the address Streamlit gives each page (after its file's name).
PAGE_PATHS = {p.title.lower().replace(" ", "_"): p.url_path for p in PAGES}
# The heading each page opens with: its title, and the app's name on the home page.
TITLES = {name: "MNIST Studio" if path == "/" else p.title
          for (name, path), p in zip(PAGE_PATHS.items(), PAGES)}
# What studio.frame.page() and the Train page's live view show instead of an exception, and the
# first word of any traceback that still gets through.
ERROR_TEXTS = ("Something went wrong on this page", "Could not show the run", "Traceback")


def wait_idle(page: Page, timeout: float = 90_000) -> None:
    """Until the script has finished and nothing on the page is left over from before the rerun.

    A click reaches the server a moment after Playwright returns, so an app that is idle
    right away has to stay idle briefly before we believe it.
    """
    idle = '[data-testid="stApp"][data-test-script-state="notRunning"][data-test-connection-state="CONNECTED"]'
    for _ in range(2):
        page.wait_for_timeout(150)
        page.wait_for_selector(idle, timeout=timeout)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout)
        page.wait_for_selector('[data-stale="true"]', state="detached", timeout=timeout)


def assert_clean(page: Page) -> None:
    """No exception box, no error message and no traceback anywhere on the page."""
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"exception box: {exceptions.first.inner_text()}"
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, f"error message: {errors.all_inner_texts()}"
    body = page.locator("body").inner_text()
    for text in ERROR_TEXTS:
        assert text not in body, f"{text!r} on the page:\n{body[:2000]}"


def goto(page: Page, base_url: str, name: str) -> None:
    """Open a page by URL (a new Streamlit session) and wait until it has rendered."""
    page.goto(base_url + PAGE_PATHS[name])
    # An exception outside studio.frame.page() replaces the whole page: fail on it at once.
    page.locator("h1").or_(page.locator('[data-testid="stException"]')).first.wait_for(timeout=90_000)
    assert_clean(page)
    expect_title(page, name)
    wait_idle(page)


def navigate(page: Page, name: str) -> None:
    """Switch pages through the sidebar, which keeps the Streamlit session (and its jobs)."""
    page.locator('[data-testid="stSidebar"] [data-testid="stPageLink-NavLink"]').filter(
        has_text=TITLES[name] if name != "home" else "Home"
    ).first.click()
    expect_title(page, name)


def expect_title(page: Page, name: str, timeout: float = 90_000) -> None:
    expect(page.locator("h1").first).to_have_text(TITLES[name], timeout=timeout)


def widget(page: Page, key: str):
    """The container Streamlit gives an element with key=..., as a CSS class.

    While a fragment reruns, the previous copy can stay next to the new one for a moment,
    so callers on the Train page's live view pick .first or .last.
    """
    return page.locator(f".st-key-{key}")


def choose(page: Page, key: str, option: str) -> None:
    """Pick an option of a selectbox by its exact label."""
    box = widget(page, key).get_by_role("combobox")
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(box).to_have_value(option)
    wait_idle(page)


def open_section(page: Page, key: str) -> None:
    """Open the closed expanders whose key starts with `key` (a page's deeper sections)."""
    closed = page.locator(f'[class*="st-key-{key}"] details:not([open]) > summary')
    while closed.count():
        closed.first.click()
        page.wait_for_timeout(100)
    wait_idle(page)


def open_settings(page: Page) -> None:
    """Open the Train form's closed groups, so that the settings inside can be read and typed."""
    open_section(page, "train_group_")


def set_number(page: Page, key: str, value: float) -> None:
    open_settings(page)
    box = widget(page, key).locator("input")
    box.fill(str(value))
    box.press("Enter")
    expect(box).to_have_value(str(value))
    wait_idle(page)


def metric(page: Page, label: str, scope=None) -> str:
    root = scope or page
    box = root.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]', has_text=label)
    )
    return box.locator('[data-testid="stMetricValue"]').first.inner_text()


def screenshot(page: Page, name: str, docs: bool = True) -> Path:
    """Every run keeps one per page in artifacts/; MNIST_DOCS_SCREENSHOTS=1 refreshes the
    README's copies in docs/ too (those with docs=True)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    if docs and os.environ.get("MNIST_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / f"{name}.png"))
    return path


# ---------------------------------------------------------------- the Draw page's canvas


def line(a, b, n: int = 12) -> list[tuple[float, float]]:
    return [(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n) for i in range(n + 1)]


# One pen stroke each, in the 280x280 canvas's pixels, drawn large and centred as the page asks.
STROKES = {
    "0": [(140 + 60 * math.sin(2 * math.pi * i / 36), 140 - 90 * math.cos(2 * math.pi * i / 36)) for i in range(37)],
    "1": line((140, 40), (140, 240)),
    "7": line((75, 55), (205, 55)) + line((205, 55), (115, 240))[1:],
}


def canvas(page: Page):
    """The drawing surface (its key is "canvas-draw")."""
    # The canvas is a components-v2 element in a shadow root, not an iframe; CSS locators
    # reach into open shadow roots, and the mouse works in page coordinates either way.
    return page.locator('[class*="st-key-canvas-"] canvas.upper-canvas')


def clear_canvas(page: Page) -> None:
    """The bin above the canvas, which shows while the pointer is over it."""
    canvas(page).hover()
    page.locator('[class*="st-key-canvas-"] button[title^="Reset canvas"]').click()


def draw(page: Page, points) -> None:
    """One pen stroke through `points` (canvas pixels) with the mouse."""
    box = canvas(page).bounding_box()
    assert box and box["width"] >= 200, f"canvas not laid out: {box}"
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=3)
    page.mouse.up()


# ---------------------------------------------------------------- Train's live view

RUN_HEADING = re.compile(r"^Run: \d{8}-\d{6}-")
RUN_TIMEOUT = 240  # seconds; other people's jobs share these 2 cores


def run_heading(page):
    return page.locator("h3").filter(has_text=RUN_HEADING)


def progress(page):
    return page.locator('[data-testid="stProgress"]')


def start_run(page) -> str:
    widget(page, "train_start").first.get_by_role("button").click()
    heading = run_heading(page)
    expect(heading).to_be_visible(timeout=RUN_TIMEOUT * 1000)
    return heading.inner_text()


LONG_RUN = {"cfg_epochs": 10, "cfg_train_subset": 0}  # ten epochs of all 60,000 digits


def start_long_run(page) -> str:
    """Starts a run far longer than any test lets it go, so that it is still running at every
    check: on a fast machine a shorter run can end inside the test that reloads and opens two
    more tabs, whose Stop click then waits for a button that is gone."""
    for key, value in LONG_RUN.items():
        set_number(page, key, value)
    return start_run(page)


def stop_run(page) -> None:
    """Stops the page's run if it is still going, so that a failed check leaves no epochs
    training under the next tests. The run may end on its own between the look and the click."""
    stop = widget(page, "job_stop")
    if not stop.count():
        return
    try:
        stop.first.get_by_role("button").click(timeout=30_000)
    except PlaywrightTimeout:
        if widget(page, "job_stop").count():
            raise  # still there, and not clickable: a real fault
        return  # the run ended by itself meanwhile
    expect(progress(page).last).to_contain_text(re.compile("stopped|completed"), timeout=60_000)


def images_loaded(images, timeout_s: float = 15.0) -> bool:
    """Whether every image of the locator has loaded: the count is right the moment the <img>
    elements exist, while their pixels may still be on the way (a busy machine)."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        if images.evaluate_all("els => els.every(i => i.complete && i.naturalWidth > 0)"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
