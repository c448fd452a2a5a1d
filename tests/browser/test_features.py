"""Beyond the basics, in Chromium: "Why?" and activation maps on Draw, calibration and the
abstention threshold that Draw obeys, robustness and model internals on Evaluate, and on Runs
the settings diff and the model zip."""
from __future__ import annotations

import io
import json
import re
import shutil
import zipfile

import pytest
from playwright.sync_api import expect

from tests.support import mnist_dir

from .helpers import (
    STROKES,
    assert_clean,
    draw,
    goto,
    images_loaded,
    metric,
    navigate,
    open_section,
    screenshot,
    wait_idle,
    widget,
)

pytestmark = pytest.mark.browser

TALL = {"width": 1280, "height": 1600}
# "7 (3.4)": a neighbour's label and its distance.
NEIGHBOUR = re.compile(r"^(\d) \((\d+\.\d)\)$")
PERCENT = re.compile(r"^\d{1,3}\.\d\d%$")


def chart(page, key: str):
    return widget(page, key).locator(".js-plotly-plot")


def chart_title(plot) -> str:
    """The title as drawn (Streamlit's theme wraps the figure's title in <b> tags)."""
    return plot.locator(".gtitle").first.text_content()


def trace_types(plot) -> list[str]:
    return plot.evaluate("gd => gd.data.map(t => t.type || 'scatter')")


def trace_y(plot, i: int = 0) -> list:
    """A trace's y values as Plotly drew them (numpy arrays reach it base64-encoded)."""
    return plot.evaluate("(gd, i) => Array.from(gd._fullData[i].y)", i)


def expect_drawn(plot, what: str) -> None:
    """Plotly has drawn the figure (its SVG main layer is there), not just been handed it."""
    expect(plot, f"{what} is not shown").to_be_visible(timeout=60_000)
    expect(plot.locator(".main-svg").first, f"{what} was never drawn").to_be_attached()


def exact_metric(page, label: str, scope=None) -> str:
    """metric(), but "ECE" must not also match "ECE after temperature scaling"."""
    root = scope or page
    box = root.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]').get_by_text(label, exact=True)
    )
    expect(box, f"no metric labelled {label!r}").to_have_count(1)
    return box.locator('[data-testid="stMetricValue"]').inner_text()


def toggle_on(page, key: str) -> None:
    switch = widget(page, key).get_by_role("switch")
    expect(switch).not_to_be_checked()
    widget(page, key).locator("label").click()
    expect(switch).to_be_checked()
    wait_idle(page)


def pick(page, key: str, option: str) -> None:
    """helpers.choose() for a box low on a long page. When the click itself has to scroll the box
    into view, the list opens and closes again with the scroll (a user scrolls first), so scroll
    first, and if the list is still shut, open it with ArrowDown as a keyboard user would."""
    box = widget(page, key).get_by_role("combobox")
    box.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box.click()
    page.wait_for_timeout(300)
    if box.get_attribute("aria-expanded") != "true":
        box.press("ArrowDown")
    page.get_by_role("option", name=option, exact=True).click()
    expect(box).to_have_value(option)
    wait_idle(page)


def scroll_to_top(locator) -> None:
    """Scroll the page so that this element is at the top of the window (for a screenshot)."""
    locator.evaluate("e => e.scrollIntoView({block: 'start'})")


def captions(page) -> list[str]:
    return page.locator('[data-testid="stImageCaption"]').all_inner_texts()


def draw_seven(page):
    panel = page.get_by_role("tabpanel", name="Draw")
    draw(page, STROKES["7"])
    expect(panel.locator('[data-testid="stMetricValue"]'), "no prediction for a drawn 7").to_be_visible(
        timeout=30_000
    )
    wait_idle(page)
    assert_clean(page)
    return panel


# ---------------------------------------------------------------- Draw: "Why?" and activation maps


def test_draw_why_saliency_neighbours_and_activation_maps(app_server, page):
    goto(page, app_server.url, "draw")
    panel = draw_seven(page)
    assert metric(page, "Prediction", panel) == "7"

    toggle_on(page, "draw-why")
    assert_clean(page)
    saliency = chart(page, "draw-saliency")
    expect_drawn(saliency, "the saliency chart")
    assert trace_types(saliency) == ["heatmap", "heatmap"], "the digit under an attribution heatmap"
    shape = saliency.evaluate("gd => [gd.calcdata[1][0].z.length, gd.calcdata[1][0].z[0].length]")
    assert shape == [28, 28], f"attribution is {shape}, not one value per pixel"
    assert chart_title(saliency) == "Integrated gradients: 7"

    # "Why not 1?": the map is redrawn for another class.
    box = widget(page, "draw-class-7").get_by_role("combobox")
    expect(box).to_have_value("7")
    pick(page, "draw-class-7", "why not 1?")
    expect(saliency).to_be_visible()
    assert chart_title(saliency) == "Integrated gradients: 1"

    for method in ("Occlusion", "Grad-CAM (CNN only)"):
        widget(page, "draw-method").get_by_text(method, exact=True).click()
        wait_idle(page)
        assert_clean(page)
        expect_drawn(saliency, f"the {method} chart")
        assert chart_title(saliency) == f"{method}: 1", f"after choosing {method}"
        assert trace_types(saliency) == ["heatmap", "heatmap"], method

    # Closest training digits: 8 in pixel space, then 8 in the model's embedding.
    expect(page.get_by_text("Closest training digits", exact=True)).to_be_visible()
    neighbours = [c for c in captions(page) if NEIGHBOUR.match(c)]
    assert len(neighbours) == 16, f"expected 8 + 8 neighbours, got {neighbours}"
    for part in (neighbours[:8], neighbours[8:]):
        distances = [float(NEIGHBOUR.match(c)[2]) for c in part]
        assert distances == sorted(distances), f"neighbours not nearest first: {part}"
    embedded = [NEIGHBOUR.match(c)[1] for c in neighbours[8:]]
    assert embedded.count("7") >= 6, f"a drawn 7's closest digits in the embedding: {embedded}"
    images = page.locator('[data-testid="stImage"]').filter(has_text=NEIGHBOUR).locator("img")
    expect(images).to_have_count(16)
    assert images_loaded(images)

    page.set_viewport_size(TALL)
    # The canvas at the top, the explanation and both rows of neighbours below it.
    scroll_to_top(page.get_by_role("tablist"))
    page.mouse.move(0, 0)  # hides the canvas toolbar and any hover label
    wait_idle(page)
    screenshot(page, "draw-why")

    # Activation maps: each conv layer's feature maps for the same drawing.
    toggle_on(page, "draw-activations")
    assert_clean(page)
    blocks = page.get_by_text(re.compile(r"^Layer \d+: \d+ maps of \d+x\d+$"))
    expect(blocks.first, "no Layer 1 after turning Activation maps on").to_have_text(re.compile(r"^Layer 1: "))
    texts = blocks.all_inner_texts()
    assert len(texts) >= 2, f"the bundled CNN has two conv blocks: {texts}"
    expected = sum(min(32, int(re.search(r": (\d+) maps", t)[1])) for t in texts)
    maps = page.locator('[data-testid="stImage"]').filter(has_text=re.compile(r"^\d+$")).locator("img")
    expect(maps).to_have_count(expected)
    assert images_loaded(maps)


# ---------------------------------------------------------------- Evaluate: calibration, used by Draw


def test_calibration_threshold_makes_draw_abstain(app_server, page):
    goto(page, app_server.url, "evaluate")
    open_section(page, "eval_section_calibration")
    ece = exact_metric(page, "Calibration error")
    ece_scaled = exact_metric(page, "After temperature scaling")
    temperature = exact_metric(page, "Temperature T")
    assert PERCENT.match(ece) and PERCENT.match(ece_scaled), (ece, ece_scaled)
    assert re.fullmatch(r"\d+\.\d{3}", temperature) and 0.05 < float(temperature) < 20, temperature
    for key, title in (
        ("eval_reliability", "Reliability: as trained"),
        ("eval_reliability_scaled", f"Reliability: after scaling by T = {float(temperature):.2f}"),
    ):
        plot = chart(page, key)
        expect_drawn(plot, key)
        assert chart_title(plot) == title
        assert trace_types(plot) == ["bar", "scatter"], key
        accuracy = trace_y(plot)
        assert len(accuracy) == 15 and all(0 <= a <= 1 for a in accuracy), accuracy
    coverage_chart = chart(page, "eval_coverage")
    expect_drawn(coverage_chart, "the coverage chart")
    assert coverage_chart.evaluate("gd => gd.data[1].name") == "t = 0.00"
    assert exact_metric(page, "Coverage at t") == "100.00%"

    # 0.99 with the keyboard, as a user would: End is 1.00, one step back is 0.99.
    thumb = widget(page, "eval_abstain").get_by_role("slider")
    thumb.focus()
    thumb.press("End")
    thumb.press("ArrowLeft")
    expect(thumb).to_have_value("0.99")
    wait_idle(page)
    assert_clean(page)
    expect(coverage_chart).to_be_visible()
    covered = exact_metric(page, "Coverage at t")
    assert PERCENT.match(covered) and float(covered[:-1]) < 100, f"coverage at t = 0.99: {covered}"
    answered = exact_metric(page, "Accuracy on answered")
    assert PERCENT.match(answered) and float(answered[:-1]) > 99, f"accuracy above 0.99: {answered}"
    assert coverage_chart.evaluate("gd => gd.data[1].name") == "t = 0.99"

    page.set_viewport_size(TALL)
    scroll_to_top(page.locator(".st-key-eval_section_calibration"))
    page.mouse.move(0, 0)
    wait_idle(page)
    screenshot(page, "evaluate-calibration")

    # Draw, in the same session, now names two guesses for a digit it is not 99% sure of.
    page.set_viewport_size({"width": 1280, "height": 900})
    navigate(page, "draw")
    wait_idle(page)
    panel = draw_seven(page)
    caption = panel.get_by_text(re.compile(r"^Not sure — maybe"))
    shown = metric(page, "Prediction", panel)
    said = panel.get_by_text(re.compile(r"confidence$")).all_inner_texts()
    assert shown == "Not sure", f"with t = 0.99 set on Evaluate, Draw still answers {shown!r} {said}"
    expect(caption).to_have_text(re.compile(r"maybe 7 or \w \(\d+% is below the 99% threshold set on Evaluate\)"))


# ---------------------------------------------------------------- Evaluate: robustness and internals


def test_robustness_sweep_and_model_internals(app_server, page):
    goto(page, app_server.url, "evaluate")
    open_section(page, "eval_section_robustness")
    widget(page, "eval_robustness_run").get_by_role("button").click()
    families = {"shift": 5, "rotation": 7, "thickness": 3}
    for family in families:
        expect_drawn(chart(page, f"eval_robustness_{family}"), f"the {family} chart")
    wait_idle(page)
    assert_clean(page)
    curves = {f: trace_y(chart(page, f"eval_robustness_{f}")) for f in families}
    for family, n in families.items():
        plot = chart(page, f"eval_robustness_{family}")
        assert chart_title(plot) == f"Accuracy vs {family}"
        assert len(curves[family]) == n and all(0 <= a <= 1 for a in curves[family]), curves
    base = curves["shift"][0]
    assert base > 0.9 and curves["rotation"][0] == base and curves["thickness"][1] == base, curves
    assert curves["shift"][-1] < base and curves["rotation"][-1] < base, f"distortion cost nothing: {curves}"

    open_section(page, "eval_section_internals")
    toggle_on(page, "eval_internals")
    assert_clean(page)
    filters = chart(page, "eval_filters")
    expect_drawn(filters, "the first-layer weights")
    assert trace_types(filters) == ["heatmap"]
    assert re.fullmatch(r"First-layer weights \(\d+ shown\)", chart_title(filters))
    embedding = chart(page, "eval_embedding")
    expect_drawn(embedding, "the embedding scatter")
    points = embedding.evaluate("gd => gd._fullData.map(t => [t.type, t.name, t.x.length])")
    assert [p[1] for p in points] == [str(d) for d in range(10)], points
    assert {p[0] for p in points} == {"scattergl"} and sum(p[2] for p in points) == 2000, points
    expect(page.get_by_text("Click a point to see its digit.")).to_be_visible()

    page.set_viewport_size(TALL)
    scroll_to_top(page.locator(".st-key-eval_section_internals"))
    page.mouse.move(0, 0)
    wait_idle(page)
    screenshot(page, "evaluate-internals")


def embedding_point(plot) -> tuple[float, float, int]:
    """Page coordinates and test index of the point furthest right (about the most isolated
    one there is), placed through Plotly's own axis mapping."""
    return plot.evaluate(
        """gd => {
            let best = null;
            gd._fullData.forEach(t => Array.from(t.x).forEach((v, i) => {
                if (best === null || v > best.x) best = {x: v, y: t.y[i], index: t.customdata[i][0]};
            }));
            const box = gd.getBoundingClientRect(), l = gd._fullLayout;
            return [box.left + l.xaxis._offset + l.xaxis.l2p(best.x),
                    box.top + l.yaxis._offset + l.yaxis.l2p(best.y), Number(best.index)];
        }"""
    )


def test_clicking_an_embedding_point_shows_its_digit(app_server, page):
    goto(page, app_server.url, "evaluate")
    open_section(page, "eval_section_internals")
    toggle_on(page, "eval_internals")
    embedding = chart(page, "eval_embedding")
    expect_drawn(embedding, "the embedding scatter")
    embedding.scroll_into_view_if_needed()
    wait_idle(page)
    x, y, index = embedding_point(embedding)
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    picked = page.get_by_text(re.compile(r"^test #\d+: label \w, predicted \w$"))
    # The digit, or the traceback that replaces the page when the click's callback fails.
    picked.or_(page.locator('[data-testid="stException"]')).first.wait_for(timeout=30_000)
    assert_clean(page)
    expect(picked, f"clicking test #{index} in the scatter shows no digit").to_be_visible()
    wait_idle(page)
    assert_clean(page)
    from mnist_core.data.tensors import load_dataset

    labels = load_dataset("mnist", mnist_dir(), allow_download=False).test_labels
    m = re.match(r"^test #(\d+): label (\w)", picked.inner_text())
    assert int(m[1]) == index, f"clicked test #{index}, shown {picked.inner_text()}"
    assert m[2] == str(int(labels[index])), f"wrong label for test #{index}: {picked.inner_text()}"
    expect(page.locator('[data-testid="stImage"]').filter(has_text="test #").locator("img")).to_have_count(1)


# ---------------------------------------------------------------- Runs: settings diff and the model zip


@pytest.fixture
def two_runs(app_server, monkeypatch):
    """A logistic regression and an MLP, one epoch on 2,000 real images each, in the server's
    runs folder; removed afterwards so other tests' pages see no more runs than before."""
    from mnist_core.data.tensors import load_dataset
    from mnist_core.runs.folders import load_run
    from mnist_core.runs.recorder import record
    from mnist_core.train.config import TrainConfig
    from mnist_core.train.trainer import Trainer

    monkeypatch.setenv("MNIST_THREADS", "1")  # the server and Chromium share the 2 cores
    data = load_dataset("mnist", mnist_dir(), allow_download=False)
    runs = {}
    for model in ("logreg", "mlp"):
        config = TrainConfig(model=model, epochs=1, train_subset=2000, device="cpu")
        events = list(record(Trainer(config, data), root=app_server.runs_dir, label=f"features-{model}"))
        assert events[-1]["kind"] == "end" and events[-1]["status"] == "completed", events[-1]
        runs[model] = load_run(app_server.runs_dir / events[-1]["run_id"])
    yield runs
    for run in runs.values():
        shutil.rmtree(run.path, ignore_errors=True)


def run_option(run) -> str:
    """The text Runs' selectboxes show for a run."""
    from studio.picker import run_title

    return f"{run_title(run)} ({run.run_id})"


def grid_rows(table) -> list[list[str]]:
    """A st.dataframe's cells as text, from the accessible table Glide keeps next to its canvas."""
    return table.evaluate(
        """el => [...el.querySelectorAll('tr')].map(
            tr => [...tr.querySelectorAll('td, th')].map(c => c.textContent.trim()))"""
    )


def test_runs_settings_diff_and_model_zip(app_server, page, two_runs, tmp_path):
    logreg, mlp = two_runs["logreg"], two_runs["mlp"]
    goto(page, app_server.url, "runs")
    pick(page, "runs_diff_a", run_option(logreg))
    pick(page, "runs_diff_b", run_option(mlp))
    assert_clean(page)
    diff = page.locator('[data-testid="stDataFrame"]').filter(has_text="setting")
    expect(diff).to_have_count(1)
    rows = grid_rows(diff)
    by_setting = {r[-3]: r[-2:] for r in rows if len(r) >= 3}
    assert by_setting.get("model") == ["logreg", "mlp"], f"no model row in the diff: {rows}"
    # The MLP's hidden layers, named without "model_kwargs."; logistic regression has none: "-".
    assert by_setting.get("hidden") == ["-", "[256, 128]"], rows
    assert "train_subset" not in by_setting and "epochs" not in by_setting, f"equal settings listed: {rows}"

    pick(page, "runs_selected", run_option(mlp))
    button = widget(page, "runs_download_zip").get_by_role("button")
    expect(button).to_be_enabled()
    with page.expect_download(timeout=120_000) as info:
        button.click()
    download = info.value
    assert download.suggested_filename == f"{mlp.run_id}-model.zip"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        expected = {"model_state.pt", "manifest.json", "model.onnx"}
        assert names == expected, f"the zip holds {sorted(names)}, not {sorted(expected)}"
        manifest = json.loads(z.read("manifest.json"))
        state = z.read("model_state.pt")
        onnx_blob = z.read("model.onnx")
    assert manifest["run_id"] == mlp.run_id and manifest["label"] == "features-mlp"
    assert manifest["config"]["model"] == "mlp" and manifest["config"]["train_subset"] == 2000
    assert manifest["final_metrics"]["final_test_acc"] == pytest.approx(mlp.summary["final_test_acc"])
    assert {"torch"} <= set(manifest["versions"]), manifest["versions"]
    prep = manifest["preprocessing"]
    assert prep["image_size"] == [28, 28] and prep["input_shape"] == ["N", 1, 28, 28], prep
    assert manifest["onnx"].startswith("model.onnx"), manifest["onnx"]

    import torch

    weights = torch.load(io.BytesIO(state), weights_only=True)
    assert any(k.endswith("weight") for k in weights), list(weights)
    import onnx

    model = onnx.load_from_string(onnx_blob)
    assert [i.name for i in model.graph.input] == ["image"] and [o.name for o in model.graph.output] == ["logits"]

    wait_idle(page)
    assert_clean(page)
    page.set_viewport_size(TALL)
    scroll_to_top(page.get_by_role("heading", name="Compare settings"))
    page.mouse.move(0, 0)
    wait_idle(page)
    screenshot(page, "runs-compare")

