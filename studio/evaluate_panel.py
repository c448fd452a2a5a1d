"""Evaluate's panels beyond the scores: calibration, robustness and the model's internals."""
from __future__ import annotations

import streamlit as st
import torch

from mnist_core.analysis import evaluation
from mnist_core.analysis.calibration import calibrate_model
from mnist_core.data.tensors import Dataset

from . import charts, state
from .images import enlarge

# Each entry is one split's probabilities and predictions: 2.8 MB for the 60,000 training
# digits, 0.5 MB for the test set.
SHARED_EVALUATIONS = 8


def tta_toggle(choice: str, config, split: str) -> bool:
    """Whether to read the split with test-time augmentation: on by default for a run trained
    to be read so (the `best` preset), the test split only (the training split would take five
    passes over 60,000 digits)."""
    on = st.toggle("Test-time augmentation", value=bool(config.tta), key=f"eval_tta-{choice}",
                   disabled=split != "test",
                   help="Reads each digit as given and moved one pixel left, right, up and down, and "
                        "averages the five predictions: five times the work, often a few fewer "
                        "mistakes. Test split only.")
    if on and split == "test":
        st.caption("Test-time augmentation is on: the accuracy, matrix, scores and mistakes below are "
                   "of the averaged predictions; Calibration's temperature is still fitted to the "
                   "model's plain outputs.")
        return True
    return False


@st.cache_resource(max_entries=SHARED_EVALUATIONS, show_spinner=False)
def shared_evaluation(choice: str, stamp: float, split: str, source: str, tta: bool, _model, _data) -> dict:
    """A model's evaluation on a split, once per server: the same for every session, so thirty
    students opening Evaluate on the bundled model cost one evaluation, not thirty, each with
    its memory and seconds of CPU (benchmarks.load opens Evaluate in every session). Keyed by
    the model choice, its checkpoint's time, the split and the dataset's folder; treat the
    result as read-only (the calibration added to it is the same for everyone too)."""
    return evaluation.evaluate_split(_model, *_data.split(split), _data.spec, tta=tta)


def warm_bundled() -> None:
    """The bundled model's test evaluation and calibration, computed once per server in the
    background (studio.warm, while the first visitor reads Home), so that Evaluate's first
    render reads them instead of computing them for that visitor. Draws nothing."""
    from mnist_core.data.tensors import dataset_status

    from .picker import BUNDLED, choice_stamp, load_choice
    from .shared_data import cached_dataset

    model, config = load_choice(BUNDLED)
    status = dataset_status(config.dataset)
    if not status["found"]:
        return
    data = cached_dataset(config.dataset, status["folder"])
    res = shared_evaluation(BUNDLED, choice_stamp(BUNDLED), "test", data.source, bool(config.tta), model, data)
    if "calibration" not in res:
        res["calibration"] = calibrate_model(model, data, data.split("test")[0], res["labels"])


def calibration_words(config) -> str:
    """What calibration error means, and why this model's reads as it does."""
    words = ("A model is **calibrated** when its confidence matches how often it is right: of the digits "
             "it reads with 90% confidence, 90% should be right. The **calibration error** (ECE) is the "
             "average gap between the two; 0% is perfect.")
    if getattr(config, "label_smoothing", 0):
        words += (f" This model was trained with label smoothing ({config.label_smoothing:g}), which keeps "
                  "its confidence below 100% on purpose: that raises its error here, and dividing its "
                  "outputs by a temperature below 1 takes most of it away.")
    return words


def calibration_section(model, data: Dataset, images, res: dict) -> None:
    """ECE before and after temperature scaling, reliability diagrams, and the abstain threshold
    that Draw uses."""
    if "calibration" not in res:
        with st.spinner("Fitting a temperature on 5,000 training images..."):
            res["calibration"] = calibrate_model(model, data, images, res["labels"])
    cal = res["calibration"]
    k = st.columns(3)
    k[0].metric("Calibration error", f"{cal['ece']:.2%}", help="Expected calibration error (ECE): the gap "
                "between confidence and accuracy, averaged over 15 confidence bins weighted by their images.")
    k[1].metric("After temperature scaling", f"{cal['ece_scaled']:.2%}")
    k[2].metric("Temperature T", f"{cal['temperature']:.3f}",
                help="Logits are divided by T: above 1 the model was overconfident, below 1 underconfident.")
    st.caption(
        f"T minimises the loss on the last {cal['held_out']:,} training images. Those are held out "
        "only in part for runs trained on a subset and not at all otherwise, so T is an approximation."
    )
    c = st.columns(2)
    for col, (bins, title, chart_key) in zip(c, [
        (cal["bins"], "Reliability: as trained", "eval_reliability"),
        (cal["bins_scaled"], f"Reliability: after scaling by T = {cal['temperature']:.2f}",
         "eval_reliability_scaled"),
    ]):
        col.plotly_chart(
            charts.reliability(bins["confidence"].numpy(), bins["accuracy"].numpy(), bins["count"].numpy(),
                               bins["edges"].numpy(), title),
            key=chart_key,
        )
    st.session_state["eval_abstain"] = float(st.session_state.get(state.ABSTAIN, 0.0))
    c = st.columns([1, 2])
    t = c[0].slider(
        "Abstain below confidence t",
        0.0,
        1.0,
        step=0.01,
        key="eval_abstain",
        on_change=lambda: st.session_state.update(
            {state.ABSTAIN: st.session_state["eval_abstain"]}
        ),
        help="Draw answers 'Not sure' when its top probability is below t. 0 never abstains.",
    )
    # Read off the curve beside it, whose thresholds are the slider's steps: both come from the
    # model's own outputs, as Draw reads them. res["probs"] are test-time augmented when TTA is
    # on, which would put the figures off the curve.
    curve = cal["coverage"]
    i = int(torch.argmin((curve["threshold"] - t).abs()))
    t_cov, t_acc = curve["coverage"][i].item(), curve["accuracy"][i].item()
    c[0].metric("Coverage at t", f"{t_cov:.2%}")
    c[0].metric("Accuracy on answered", "-" if t_cov == 0 else f"{t_acc:.2%}")
    c[0].caption("On the model's own probabilities, as Draw shows them (not the scaled ones, nor "
                 "test-time augmented).")
    c[1].plotly_chart(
        charts.coverage_accuracy(
            curve["threshold"].numpy(), curve["coverage"].numpy(), curve["accuracy"].numpy(), t, t_cov, t_acc
        ),
        key="eval_coverage",
    )


def robustness_section(model, data: Dataset, model_id, n: int = 2000) -> None:
    """Accuracy under shift, rotation and stroke thickness, computed on request."""
    from mnist_core.analysis.robustness import robustness_sweep

    key = (model_id, data.source)
    if st.button(f"Run the robustness sweep on {n:,} test digits", key="eval_robustness_run",
                 icon=":material/play_arrow:"):
        with st.spinner("Distorting and classifying the test digits..."):
            state.store(state.ROBUSTNESS, key,
                        robustness_sweep(model, data.test_images, data.test_labels, data.spec, n=n))
    sweep = state.cached(state.ROBUSTNESS, key)
    if sweep is None:
        st.caption("Shifts of 0-4 pixels, rotations of 0-30 degrees and thinner or thicker strokes "
                   "(a 3x3 min- or max-filter), one at a time. Takes a few seconds.")
        return
    figs = charts.robustness_lines(sweep)
    cols = st.columns(len(figs))
    for col, fig, name in zip(cols, figs, sweep):
        col.plotly_chart(fig, key=f"eval_robustness_{name}")


def _select_embedding_point() -> None:
    # A callback runs before the page, outside frame.page()'s guard: an unexpected selection
    # shape must be ignored here, not raise.
    points = st.session_state["eval_embedding"]["selection"].get("points") or []
    data = points[0].get("customdata") if points else None
    if isinstance(data, dict):  # typed arrays come back keyed "0", "1"
        data = [data.get("0")]
    try:
        st.session_state[state.EMBEDDING_PICK] = int(data[0])
    except (TypeError, ValueError, IndexError):
        pass


def internals_section(model, data: Dataset, model_id, n: int = 2000) -> None:
    """First-layer filters and a 2-D map of test embeddings; only computed once toggled on."""
    from mnist_core.analysis.internals import first_layer_filters, project_embeddings

    classes = list(data.classes)
    try:
        filters = first_layer_filters(model).numpy()
    except ValueError as exc:
        st.info(str(exc))
    else:
        st.plotly_chart(charts.weight_grid(filters, title=f"First-layer weights ({len(filters)} shown)"),
                        key="eval_filters")
        st.caption("Red weights respond to ink, blue to its absence; each is scaled to its own range.")
    def compute():
        st.session_state.pop(state.EMBEDDING_PICK, None)  # a pick on another model's map
        with st.spinner(f"Embedding {n:,} test digits..."):
            return project_embeddings(model, data.test_images, data.test_labels, data.spec, n=n)

    p = state.cached(state.PROJECTION, (model_id, data.source), compute)
    left, right = st.columns([3, 1])
    left.plotly_chart(
        charts.embedding_scatter(p["coords"].numpy(), p["labels"].numpy(), p["preds"].numpy(),
                                 classes, p["index"].numpy()),
        key="eval_embedding", on_select=_select_embedding_point, selection_mode="points")
    pick = st.session_state.get(state.EMBEDDING_PICK)
    with right:
        if pick is None:
            st.caption("Click a point to see its digit.")
        else:
            st.image(enlarge(data.test_images[pick].numpy(), 140), width=140,
                     caption=f"test #{pick}: label {classes[int(p['labels'][pick])]}, "
                             f"predicted {classes[int(p['preds'][pick])]}")


def break_section(model, data: Dataset, model_id, n: int = 2000) -> None:
    """Silence a share of one layer's units or add noise to its weights, on a copy of the model,
    and see accuracy and the confusion matrix change; then accuracy against units silenced."""
    from mnist_core.analysis.ablation import SHARES, ablation_curves, broken, noisy_layers, unit_layers
    from mnist_core.analysis.evaluation import evaluate_split

    images, labels = data.test_images[:n], data.test_labels[:n]
    layers = list(dict.fromkeys(unit_layers(model) + noisy_layers(model)))
    with st.form("eval_break"):
        c = st.columns(3)
        layer = c[0].selectbox("Layer", layers, key="eval_break_layer")
        share = c[1].slider("Units silenced", 0.0, 1.0, 0.5, 0.05, key="eval_break_share",
                            help="A random share of the layer's units (channels or neurons) always output zero.")
        noise = c[2].slider("Noise on its weights (x their spread)", 0.0, 3.0, 0.0, 0.1, key="eval_break_noise",
                            help="Gaussian noise, as a multiple of the weights' own standard deviation.")
        go_ = st.form_submit_button(f"Break a copy and test it on {n:,} test digits", icon=":material/bolt:")
    key = (model_id, data.source, layer, share, noise)
    if go_:
        with st.spinner("Breaking a copy of the model and classifying the test digits..."):
            intact = state.cached(state.BREAK, (model_id, data.source), lambda: evaluate_split(
                model, images, labels, data.spec))
            state.store(state.BREAK, key, (intact, evaluate_split(broken(model, layer, share, noise), images,
                                                                  labels, data.spec)))
    result = state.cached(state.BREAK, key)
    if result is not None:
        intact, hurt = result
        m = st.columns([1, 3])
        m[0].metric("Accuracy, broken copy", f"{hurt['accuracy']:.2%}",
                    delta=f"{(hurt['accuracy'] - intact['accuracy']) * 100:+.2f} points", delta_color="normal")
        m[0].caption(f"Intact: {intact['accuracy']:.2%}. The saved model is unchanged.")
        m[1].plotly_chart(charts.confusion(hurt["confusion"].numpy(), list(data.classes), False),
                          key="eval_break_cm", config={"displayModeBar": False})
    if st.button("Accuracy against units silenced, layer by layer", key="eval_break_curve",
                 icon=":material/show_chart:"):
        with st.spinner(f"Silencing {len(SHARES)} shares of each layer's units in turn..."):
            state.store(state.ABLATION, (model_id, data.source), ablation_curves(model, images, labels, data.spec))
    curves = state.cached(state.ABLATION, (model_id, data.source))
    if curves is not None:
        st.plotly_chart(charts.ablation_lines(curves, SHARES), key="eval_break_lines")
        st.caption("A layer whose curve stays high holds spare units; one that falls at once carries "
                   "everything through few of them.")
