"""The Train page's shareable link in Chromium: the form writes its settings into the address,
the address fills the form of a new session, and a bad link is refused with a message."""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from .helpers import (
    PAGE_PATHS,
    VIEWPORT,
    assert_clean,
    choose,
    expect_title,
    goto,
    open_settings,
    screenshot,
    set_number,
    wait_idle,
    widget,
)

pytestmark = pytest.mark.browser

ERROR = '[data-testid="stAlertContentError"]'


def query(page) -> dict[str, str]:
    parsed = parse_qs(urlsplit(page.url).query, keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}


def wait_for_address(page, check, what: str, timeout: float = 30_000) -> None:
    """Until the address satisfies `check` (it follows the form a moment after a rerun)."""
    try:
        page.wait_for_url(check, timeout=timeout)
        return
    except PlaywrightTimeoutError:
        pass
    pytest.fail(f"the address never {what}: it is still {page.url}")


def number(page, key: str):
    return widget(page, key).locator("input")


def start_button(page):
    return widget(page, "train_start").first.get_by_role("button")


def open_url(page, url: str) -> None:
    """goto() for an address with a query string: a new session, rendered and idle."""
    page.goto(url)
    page.locator("h1").or_(page.locator('[data-testid="stException"]')).first.wait_for(timeout=90_000)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    expect_title(page, "train")
    wait_idle(page)


def test_settings_travel_in_the_link_to_a_new_session(app_server, browser, page):
    goto(page, app_server.url, "train")
    assert_clean(page)
    choose(page, "cfg_model", "MLP")
    open_settings(page)
    hidden = widget(page, "cfg_mlp_hidden").locator("input")
    hidden.fill("64, 32")
    hidden.press("Enter")
    wait_idle(page)
    lr = number(page, "cfg_lr")
    lr.fill("0.003")
    lr.press("Enter")
    expect(lr).to_have_value("0.003")  # as typed
    wait_idle(page)
    set_number(page, "cfg_epochs", 3)
    set_number(page, "cfg_seed", 42)
    augment = widget(page, "cfg_augment")
    augment.locator("label").click()
    expect(augment.get_by_role("checkbox")).to_be_checked()
    wait_idle(page)
    assert_clean(page)

    wait_for_address(page, lambda url: "augment=true" in url, "showed the form's settings")
    q = query(page)
    assert urlsplit(page.url).path == PAGE_PATHS["train"], page.url
    assert {k: q.get(k) for k in ("model", "lr", "epochs", "seed", "augment")} == {
        "model": "mlp", "lr": "0.003", "epochs": "3", "seed": "42", "augment": "true",
    }, page.url
    assert json.loads(q["model_kwargs"])["hidden"] == [64, 32], page.url
    link = page.url
    # "Share these settings" shows the same address, ready to copy.
    page.set_viewport_size({"width": 1280, "height": 1400})  # the whole form in the screenshot
    page.get_by_role("button", name="Share these settings").click()
    shown = page.locator('[data-testid="stPopoverBody"] code')
    expect(shown).to_have_text(link)
    screenshot(page, "train-share")
    page.keyboard.press("Escape")

    # A new browser context is a new Streamlit session: only the address carries the form.
    context = browser.new_context(viewport=VIEWPORT)
    try:
        other = context.new_page()
        other.set_default_timeout(60_000)
        open_url(other, link)
        assert_clean(other)
        open_settings(other)
        expect(widget(other, "cfg_model").get_by_role("combobox")).to_have_value("MLP")
        expect(widget(other, "cfg_mlp_hidden").locator("input")).to_have_value("64, 32")
        expect(number(other, "cfg_lr")).to_have_value("0.003")
        expect(number(other, "cfg_epochs")).to_have_value("3")
        expect(number(other, "cfg_seed")).to_have_value("42")
        expect(widget(other, "cfg_augment").get_by_role("checkbox")).to_be_checked()
        # Untouched settings keep the form's values: the quick preset's subset.
        expect(number(other, "cfg_train_subset")).to_have_value("10000")
        expect(start_button(other)).to_be_enabled()
        # Reading the link must not rewrite it.
        assert query(other) == q, (other.url, link)
        screenshot(other, "train-link", docs=False)
    finally:
        context.close()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("lr=abc", re.compile(r"\blr: must be a number, got 'abc'")),
        # Refused by TrainConfig itself, whatever its wording...
        ("epochs=100000", re.compile(r"\bepochs: .*\b(100000|100,000)\b")),
        # ...and by the form's own ranges, narrower than TrainConfig's (at least 1).
        ("step_size=1000", re.compile(r"\bstep_size: the form takes 1 to 500, got 1,000\b")),
    ],
    ids=["lr-not-a-number", "epochs-over-config-limit", "step_size-over-form-range"],
)
def test_a_bad_link_is_refused_with_a_message(app_server, page, bad, message):
    open_url(page, f"{app_server.url}{PAGE_PATHS['train']}?model=mlp&{bad}")
    error = page.locator(ERROR)
    expect(error.first, "no message about the refused link").to_be_visible()
    assert error.count() == 1, f"more than the link's message: {error.all_inner_texts()}"
    expect(error).to_contain_text("The settings in this page's address were not used")
    expect(error).to_contain_text(message)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    # Nothing of the refused link reached the form, and no run can start from it.
    expect(widget(page, "cfg_model").get_by_role("combobox")).to_have_value("CNN")
    expect(start_button(page), "Start is enabled on a refused link").to_be_disabled()
    assert bad in page.url, "the refused address was replaced"

    # Changing any setting goes on with the form: the message goes, Start comes back.
    set_number(page, "cfg_seed", 7)
    expect(error, "the link's message outlived a change to the form").to_have_count(0)
    assert_clean(page)
    expect(start_button(page)).to_be_enabled()
    wait_for_address(page, lambda url: "seed=7" in url and bad not in url, "followed the form again")
