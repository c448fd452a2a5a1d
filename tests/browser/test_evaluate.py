"""The Evaluate page's confusion matrix in Chromium: clicking a cell shows its images."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .helpers import assert_clean, choose, goto, screenshot, wait_idle, widget

pytestmark = pytest.mark.browser

CELL_IMAGES = '[data-testid="stImage"]'


def cell_counts(chart) -> list[list[int]]:
    return chart.evaluate("gd => gd.data[0].text.map(row => row.map(Number))")


def cell_centre(chart, true_class: int, predicted: int) -> tuple[float, float]:
    """A cell's centre on the page, placed through Plotly's own axis mapping."""
    return chart.evaluate(
        """(gd, [t, p]) => {
            const box = gd.getBoundingClientRect(), l = gd._fullLayout;
            return [box.left + l.xaxis._offset + l.xaxis.l2p(p), box.top + l.yaxis._offset + l.yaxis.l2p(t)];
        }""",
        [true_class, predicted],
    )


def click_cell(page, chart, true_class: int, predicted: int) -> None:
    page.mouse.click(*cell_centre(chart, true_class, predicted))


def cell_summary(page):
    return page.locator('[data-testid="stMarkdownContainer"] p').filter(has_text="image(s) (")


def test_confusion_matrix_cells_show_their_images(app_server, page):
    goto(page, app_server.url, "evaluate")
    assert_clean(page)
    chart = page.locator(".st-key-eval_cm .js-plotly-plot")
    expect(chart).to_be_visible()
    assert chart.evaluate("gd => gd.data[0].type") == "heatmap"
    counts = cell_counts(chart)
    assert len(counts) == 10 and all(len(r) == 10 for r in counts)
    assert sum(map(sum, counts)) == 10_000
    # Drawn, not just handed to Plotly: the heatmap image and a cell's count are in the SVG.
    expect(chart.locator(".hm image")).to_have_count(1)
    expect(chart.get_by_text(str(counts[1][1]), exact=True)).to_be_visible()

    # The second-largest mistake: the page pre-selects the largest, so this is a real change.
    errors = sorted(
        ((counts[t][p], t, p) for t in range(10) for p in range(10) if t != p), reverse=True
    )
    n, t, p = errors[1]
    assert n > 0
    chart.scroll_into_view_if_needed()
    click_cell(page, chart, t, p)
    expect(widget(page, "eval_true").get_by_role("combobox")).to_have_value(str(t), timeout=30_000)
    expect(widget(page, "eval_pred").get_by_role("combobox")).to_have_value(str(p))
    wait_idle(page)
    assert_clean(page)
    expect(cell_summary(page)).to_have_text(f"{n:,} image(s) (errors), most confident first")
    right = page.locator('[data-testid="stColumn"]').filter(has=widget(page, "eval_true")).first
    shown = right.locator(CELL_IMAGES)
    expect(shown).to_have_count(min(n, 40))
    assert shown.locator("img").first.evaluate("img => img.complete && img.naturalWidth > 0")
    page.mouse.move(0, 0)  # no hover label over the matrix in the screenshot
    screenshot(page, "evaluate")

    # The selectboxes reach the same grid: a diagonal cell holds the correct readings.
    choose(page, "eval_true", "7")
    choose(page, "eval_pred", "7")
    assert_clean(page)
    expect(cell_summary(page)).to_have_text(f"{counts[7][7]:,} image(s) (correct), most confident first")
    expect(shown).to_have_count(40)


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def test_on_a_phone_the_menu_closes_and_a_tapped_cell_opens(app_server, phone):
    """Plotly reads a tap as the previous point, and st.page_link leaves the sidebar over the
    page; studio/frame.py's touch fixes mend both."""
    goto(phone, app_server.url, "home")
    sidebar = phone.locator('[data-testid="stSidebar"]')
    phone.locator('[data-testid="stExpandSidebarButton"]').tap()
    expect(sidebar).to_be_in_viewport()
    sidebar.locator('[data-testid="stPageLink-NavLink"]').filter(has_text="Evaluate").tap()
    expect(phone.get_by_role("heading", name="Evaluate").first).to_be_visible(timeout=120_000)
    expect(sidebar).not_to_be_in_viewport()
    wait_idle(phone, 180_000)
    chart = phone.locator(".st-key-eval_cm .js-plotly-plot")
    chart.scroll_into_view_if_needed()
    for t, p in ((7, 2), (3, 5)):  # each tap opens its own cell, the first one included
        phone.touchscreen.tap(*cell_centre(chart, t, p))
        expect(widget(phone, "eval_true").get_by_role("combobox")).to_have_value(str(t), timeout=30_000)
        expect(widget(phone, "eval_pred").get_by_role("combobox")).to_have_value(str(p))
        wait_idle(phone)
    assert_clean(phone)


def test_on_a_phone_home_names_the_name_box_enter_closes_the_menu_and_the_canvas_tools_show(app_server, phone):
    goto(phone, app_server.url, "home")
    expect(phone.get_by_text("Put your name in").first).to_be_visible()
    sidebar = phone.locator('[data-testid="stSidebar"]')
    phone.locator('[data-testid="stExpandSidebarButton"]').tap()
    expect(sidebar).to_be_in_viewport()
    box = widget(phone, "visitor_name").locator("input")
    box.fill("Chloe")
    box.press("Enter")
    expect(sidebar).not_to_be_in_viewport()  # it covered the page until closed by hand
    wait_idle(phone)
    goto(phone, app_server.url, "draw")
    canvas = phone.locator('[class*="st-key-canvas-"] canvas.upper-canvas')
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    phone.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tools = phone.locator('[class*="st-key-canvas-"] .dc-toolbar')
    expect(tools).to_have_css("opacity", "1")  # bin, undo and redo, without a hover
    assert_clean(phone)
