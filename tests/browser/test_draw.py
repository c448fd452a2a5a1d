"""The Draw page in Chromium: scripted pen strokes on the canvas, Clear, and an uploaded PNG."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.support import mnist_dir

from .helpers import (
    STROKES,
    assert_clean,
    canvas,
    clear_canvas,
    draw,
    goto,
    metric,
    screenshot,
    wait_idle,
    widget,
)

pytestmark = pytest.mark.browser

BLANK = "Draw a digit in the box"


def draw_panel(page):
    return page.get_by_role("tabpanel", name="Draw")


def test_drawn_digits_are_read_and_clear_resets(app_server, page):
    goto(page, app_server.url, "draw")
    assert_clean(page)
    panel = draw_panel(page)
    expect(panel.get_by_text(BLANK)).to_be_visible()
    # All of the canvas must be reachable: its column hides whatever sticks out.
    box = canvas(page).bounding_box()
    column = panel.locator('[data-testid="stColumn"]').first.bounding_box()
    assert box["x"] + box["width"] <= column["x"] + column["width"] + 1, f"canvas clipped: {box} in {column}"
    for digit, points in STROKES.items():
        draw(page, points)
        expect(
            panel.locator('[data-testid="stMetricValue"]'), f"no prediction for a drawn {digit}"
        ).to_be_visible(timeout=30_000)
        wait_idle(page)
        assert_clean(page)
        assert metric(page, "Prediction", panel) == digit, f"drew {digit}"
        expect(panel.get_by_text(BLANK)).to_have_count(0)
        if digit == "7":
            page.mouse.move(0, 0)  # hides the canvas toolbar, which shows on hover
            screenshot(page, "draw")
        clear_canvas(page)
        expect(panel.get_by_text(BLANK)).to_be_visible()
        expect(panel.locator('[data-testid="stMetricValue"]')).to_have_count(0)
        wait_idle(page)


def mnist_png(index: int) -> tuple[bytes, str]:
    """A real MNIST test digit as a 112x112 PNG, as a user's scan might arrive."""
    from mnist_core.data.tensors import load_dataset

    data = load_dataset("mnist", mnist_dir(), allow_download=False)
    images, labels = data.split("test")
    image = Image.fromarray(np.asarray(images[index], dtype=np.uint8)).resize((112, 112), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), str(int(labels[index]))


def test_uploaded_png_is_classified(app_server, page, tmp_path):
    png, label = mnist_png(1)  # a "2": not one of the drawn digits
    path = tmp_path / "digit.png"
    path.write_bytes(png)
    goto(page, app_server.url, "draw")
    page.get_by_role("tab", name="Upload an image").click()
    panel = page.get_by_role("tabpanel", name="Upload an image")
    widget(page, "draw_upload").locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(path)
    expect(panel.locator('[data-testid="stMetricValue"]')).to_be_visible(timeout=60_000)
    wait_idle(page)
    assert_clean(page)
    assert metric(page, "Prediction", panel) == label
    expect(panel.locator('[data-testid="stImageCaption"]').first).to_have_text("digit.png")


@pytest.mark.parametrize("after", ["clear", "stroke width"])
def test_a_stroke_drawn_straight_after_clear_or_a_width_change_is_read(app_server, page, after):
    """Eight times each, a stroke drawn at once after the bin or after the width slider is read.

    Clearing with a server-side button (a new canvas after a round trip) loses such strokes;
    the canvas's own bin clears it in the browser. (Eight, not more, keeps the suite short; a
    loss of one stroke in three or more is still caught with 96% certainty.)"""
    goto(page, app_server.url, "draw")
    panel = draw_panel(page)
    slider = widget(page, "draw_stroke").get_by_role("slider")
    for i in range(8):
        digit = "17"[i % 2]  # a different digit each time, so a stroke left over would show
        clear_canvas(page)
        if after == "stroke width":
            wait_idle(page)
            slider.focus()
            slider.press("ArrowRight" if i % 2 else "ArrowLeft")
            # The canvas redraws with its new pen width after a round trip; a stroke begun
            # during that redraw can lose its start (the rest of the stroke kept and shown).
            # A known limit of the canvas component, so this waits for it.
            wait_idle(page)
        draw(page, STROKES[digit])  # straight away after the bin, without waiting for the page
        expect(panel.locator('[data-testid="stMetricValue"]'), f"stroke {i} after {after} was lost").to_be_visible(
            timeout=30_000)
        wait_idle(page)
        assert metric(page, "Prediction", panel) == digit, f"stroke {i} after {after}"
    assert_clean(page)
