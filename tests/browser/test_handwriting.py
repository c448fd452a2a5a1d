"""My handwriting in Chromium: drawn digits saved with their true labels, on the page and on
disk, then scored on Evaluate in the same session."""
from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from .helpers import (
    STROKES,
    assert_clean,
    choose,
    clear_canvas,
    draw,
    goto,
    metric,
    navigate,
    open_section,
    screenshot,
    wait_idle,
    widget,
)

pytestmark = pytest.mark.browser

PNG_NAME = re.compile(r"^[0-9a-f]{32}\.png$")


def per_class(counts: dict[int, int]) -> str:
    return "Per class: " + ", ".join(f"{d}: {counts.get(d, 0)}" for d in range(10)) + "."


def set_caption(page):
    return page.locator('[data-testid="stCaptionContainer"]').filter(has_text=re.compile(r"\d+ saved digits? in"))


def draw_and_save(page, digit: str, label: str) -> None:
    """Draw `digit`, check the model reads it, and save it as `label`."""
    panel = page.get_by_role("tabpanel", name="Draw")
    draw(page, STROKES[digit])
    expect(panel.locator('[data-testid="stMetricValue"]'), f"no prediction for a drawn {digit}").to_be_visible(
        timeout=30_000
    )
    wait_idle(page)
    assert_clean(page)
    assert metric(page, "Prediction", panel) == digit, f"drew {digit}"
    # The select's key carries the prediction, and its default is the prediction.
    select = widget(page, f"draw-hw-label-{digit}").get_by_role("combobox")
    expect(select).to_have_value(digit)
    if label != digit:
        choose(page, f"draw-hw-label-{digit}", label)
    widget(page, "draw-hw-save").get_by_role("button").click()
    expect(page.locator('[data-testid="stAlertContentSuccess"]')).to_have_text(
        f"Saved as a {label}.", timeout=30_000
    )
    wait_idle(page)
    assert_clean(page)


OTHER_FOLDER = "(set MNIST_HANDWRITING_DIR to use another folder)"


def test_drawn_digits_are_saved_with_their_labels_and_scored(app_server, handwriting_dir, page):
    goto(page, app_server.url, "draw")
    # The server's own temporary folder, empty: never the user's ./data/handwriting.
    expect(set_caption(page)).to_contain_text(f"0 saved digits in {handwriting_dir.resolve()} {OTHER_FOLDER}. {per_class({})}")

    # Saved under the label the model read, then under one it did not.
    draw_and_save(page, "7", "7")
    expect(set_caption(page)).to_contain_text(f"1 saved digit in {handwriting_dir.resolve()} {OTHER_FOLDER}. {per_class({7: 1})}")
    clear_canvas(page)
    wait_idle(page)
    draw_and_save(page, "1", "4")
    expect(set_caption(page)).to_contain_text(f"2 saved digits in {handwriting_dir.resolve()} {OTHER_FOLDER}. {per_class({4: 1, 7: 1})}")
    expect(widget(page, "draw-hw-download").get_by_role("button")).to_be_visible()
    page.mouse.move(0, 0)  # hides the canvas toolbar, which shows on hover
    set_caption(page).scroll_into_view_if_needed()
    screenshot(page, "handwriting")

    # On disk: labels.csv in saving order, one 28x28 PNG per row, nothing else.
    with open(handwriting_dir / "labels.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["file", "label"], rows
    assert [label for _, label in rows[1:]] == ["7", "4"], rows
    names = [name for name, _ in rows[1:]]
    assert all(PNG_NAME.match(n) for n in names), names
    assert sorted(p.name for p in handwriting_dir.iterdir()) == sorted([*names, "labels.csv"])
    seven, one = (np.asarray(Image.open(handwriting_dir / n)) for n in names)
    for image in (seven, one):
        assert image.shape == (28, 28) and image.dtype == np.uint8, image.shape
        assert image.max() > 200 and (image > 0).mean() < 0.5, "not a centred digit on black"
    # The 1 is the vertical stroke that was drawn: much taller than wide.
    rows_inked, cols_inked = (one > 64).any(axis=1).sum(), (one > 64).any(axis=0).sum()
    assert rows_inked >= 2 * cols_inked, (rows_inked, cols_inked)

    # Evaluate, in the same session, scores the model on both: the 7 right, the "4" wrong.
    navigate(page, "evaluate")
    wait_idle(page)
    open_section(page, "eval_section_handwriting")
    label = "Accuracy on your 2 digits"
    expect(page.locator('[data-testid="stMetricLabel"]').filter(has_text=label)).to_be_visible(timeout=120_000)
    wait_idle(page)
    assert_clean(page)
    assert metric(page, label) == "50.0%", metric(page, label)
