"""The Why? panel (studio.explain_panel) in AppTest, on Draw's reading and on Evaluate's mistakes."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from mnist_core.data.tensors import DATASETS
from tests.support import APP, PAGE_FILES, canvas_from_digit

SPEC = DATASETS["mnist"]


def why_app(canvas):
    from mnist_core.data.tensors import DATASETS
    from studio import draw_panel, explain_panel, picker

    model, config = picker.load_choice(picker.BUNDLED)
    spec = DATASETS[config.dataset]
    reading = draw_panel.read(model, canvas, spec)
    top = draw_panel.show_prediction(reading, spec)
    explain_panel.show_why(model, reading.prep.tensor, spec, key="why",
                           model_id="bundled", top=top, subsets=(1000,))


def test_why_panel_shows_a_heatmap_and_neighbours_for_a_real_digit(real_mnist, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", real_mnist.source)
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    digit, label = real_mnist.test_images[0].numpy(), int(real_mnist.test_labels[0])
    at = AppTest.from_function(why_app, args=(canvas_from_digit(digit),), default_timeout=120).run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key=f"why-class-{label}").value == label
    assert len(at.get("plotly_chart")) == 2  # probabilities, then the saliency overlay
    assert len(at.get("image")) == 4 + 16  # preprocessing steps, then 8 + 8 neighbours
    for method in ("Occlusion", "Grad-CAM (CNN only)"):
        at.radio(key="why-method").set_value(method).run()
        assert not at.exception and not at.error and not at.warning
        assert len(at.get("plotly_chart")) == 2


def test_evaluate_explains_a_chosen_mistake(real_mnist, tmp_path, monkeypatch):
    from studio import explain_panel

    monkeypatch.setenv("MNIST_DATA_DIR", real_mnist.source)
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    monkeypatch.setattr(explain_panel, "EMBED_SUBSETS", (1000,))  # the page's first look, made quick
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(PAGE_FILES["evaluate"]).run()
    charts_before = len(at.get("plotly_chart"))
    at.toggle(key="eval_why").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    mistake = [s for s in at.selectbox if s.label == "Mistake"][0]
    assert " read as " in mistake.options[0]
    assert len(at.get("plotly_chart")) == charts_before + 1
