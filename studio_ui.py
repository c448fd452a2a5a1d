"""Streamlit glue shared by the pages: cached data and models, the model in use, errors.

Only the dataset tensors and the bundled model live in st.cache_resource (shared by all
sessions, read-only). Anything a user owns - jobs, their models, evaluation results -
lives in st.session_state.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import streamlit as st
import torch

import studio_charts as charts
from mnist_core.config import ConfigError
from mnist_core.data import (
    DATASETS,
    Dataset,
    DatasetError,
    dataset_status,
    load_dataset,
    normalise,
)
from mnist_core.evaluation import predict_proba
from mnist_core.explain import (
    embed,
    grad_cam,
    integrated_gradients,
    nearest_embedding,
    nearest_pixels,
    occlusion,
)
from mnist_core.jobs import JobLimitError
from mnist_core.models import ModelError
from mnist_core.preprocessing import ImageInputError, classify
from mnist_core.runs import (
    BUNDLED_DIR,
    Run,
    RunError,
    list_runs,
    load_model,
    load_run,
    runs_root,
)

EXPECTED_ERRORS = (DatasetError, ConfigError, RunError, ImageInputError, JobLimitError, ModelError)
BUNDLED = "bundled"
MODEL_KEY = "model_in_use"  # session key: a run folder, or absent for the bundled model
# Set by Evaluate's calibration slider; below it, Draw names two guesses instead of one answer.
ABSTAIN_KEY = "abstain_threshold"
BLANK_CANVAS = "Draw a digit in the box: the prediction appears as soon as you lift the pen."


@contextmanager
def shown_errors():
    """Show an expected failure as a message instead of a traceback, and skip the rest."""
    try:
        yield
    except EXPECTED_ERRORS as exc:
        st.error(str(exc))


# Pages are found by Streamlit's pages/ folder; this list gives them titles and icons in the
# sidebar (the default labels would be file names, and the home page would read "app"), and
# the home page lists them with their descriptions.
NAV = [
    ("app.py", "Home", ":material/home:", "start here"),
    ("pages/1_Data.py", "Data", ":material/grid_on:", "browse samples, class balance, pixels"),
    ("pages/2_Train.py", "Train", ":material/model_training:", "configure and watch a training run"),
    ("pages/6_Head_to_head.py", "Head to head", ":material/compare_arrows:", "MLP vs CNN, same data, seed and seconds"),
    ("pages/3_Evaluate.py", "Evaluate", ":material/fact_check:", "confusion matrix, scores, errors"),
    ("pages/4_Draw.py", "Draw", ":material/draw:", "draw or upload a digit and classify it"),
    ("pages/5_Runs.py", "Runs", ":material/folder_open:", "compare, download and delete saved runs"),
]


@contextmanager
def page(title: str, icon: str):
    """Every page's frame: config, sidebar navigation, and a message instead of a traceback."""
    from mnist_core.device import configure_threads

    st.set_page_config(page_title=f"{title} - MNIST Studio", page_icon=icon, layout="wide")
    configure_threads()
    with st.sidebar:
        st.markdown("### MNIST Studio")
        for path, label, nav_icon, _ in NAV:
            st.page_link(path, label=label, icon=nav_icon)
        st.divider()
        st.caption(f"Model in use: {model_in_use_text()}")
        job = st.session_state.get("train_job")
        if job is not None and not job.finished:
            # Drawn on full reruns only (a fragment cannot write to the sidebar), so the numbers
            # are those of the last page change; the Train page shows them live.
            st.caption(f"Training in the background: {job.status}, {job.progress:.0%} when this page opened")
            st.page_link("pages/2_Train.py", label="Watch it live", icon=":material/monitoring:")
        race = st.session_state.get("h2h_jobs") or {}
        if any(not j.finished for j in race.values()):
            st.caption("A head to head is running in the background.")
            st.page_link("pages/6_Head_to_head.py", label="Watch the race", icon=":material/monitoring:")
    try:
        yield
    except EXPECTED_ERRORS as exc:
        st.error(str(exc))
    except Exception as exc:  # the last line of defence: a message, never a traceback
        st.error(f"Something went wrong on this page: {type(exc).__name__}: {exc}")


def live_panel(render, running: bool, what: str) -> None:
    """Draw `render()` (which returns whether its jobs have finished) in a fragment that redraws
    every second while `running`. When a redraw finds them finished, one full rerun turns the
    polling off and refreshes the sidebar."""
    def body() -> None:
        try:
            finished = render()
        except Exception as exc:  # a fragment rerun is outside page()'s guard
            st.error(f"Could not show {what}: {type(exc).__name__}: {exc}")
            return
        if running and finished:
            st.rerun(scope="app")

    st.fragment(run_every=1.0 if running else None)(body)()


def runs_dir() -> Path:
    return runs_root()


# ---------------------------------------------------------------- data


@st.cache_resource(show_spinner="Loading the dataset...", max_entries=4)
def cached_dataset(name: str, folder: str) -> Dataset:
    return load_dataset(name, folder, allow_download=False)


def dataset_or_help(name: str) -> Dataset | None:
    """The dataset, or None after telling the user where it was looked for and how to add it.

    Keyed by the folder it was found in, so pointing the env var elsewhere takes effect.
    """
    status = dataset_status(name)
    if not status["found"]:
        st.info(status["message"], icon=":material/folder_off:")
        if os.environ.get("MNIST_OFFLINE") != "1" and st.button(
            f"Download {DATASETS[name].title} now", key=f"download-{name}"
        ):
            try:
                with st.spinner("Downloading..."):
                    load_dataset(name)
            except DatasetError as exc:
                st.error(str(exc))
                return None
            st.rerun()
        return None
    try:
        return cached_dataset(name, status["folder"])
    except DatasetError as exc:
        st.error(str(exc))
        return None


# ---------------------------------------------------------------- models


@st.cache_resource(show_spinner=False, max_entries=1)
def _bundled_model(stamp: float):
    # Keyed by the checkpoint's time, so a re-bundled model replaces the old one.
    return load_model(BUNDLED_DIR)


def run_title(run: Run) -> str:
    s = run.summary
    acc = s.get("final_test_acc")
    acc_text = f"{acc:.2%}" if isinstance(acc, (int, float)) else "no epoch yet"
    name = s.get("label") or run.run_id
    return f"{name} - {s.get('model')} on {s.get('dataset')}, {acc_text}"


def model_options() -> dict[str, str]:
    """Choice key -> label: the bundled model, then every run with a completed epoch."""
    options = {BUNDLED: "Bundled model (small CNN trained on MNIST)"}
    for run in list_runs(runs_dir(), curves=False):
        if run.summary.get("epochs_done") and (run.path / "checkpoint.pt").is_file():
            options[str(run.path)] = run_title(run)
    return options


def choice_stamp(key: str) -> float:
    """Changes when a choice's weights change (a run still training writes new ones)."""
    checkpoint = (BUNDLED_DIR if key == BUNDLED else Path(key)) / "checkpoint.pt"
    try:
        return checkpoint.stat().st_mtime
    except OSError:
        return 0.0


def load_choice(key: str):
    """(model, TrainConfig) for a choice key; users' models are cached in their session."""
    if key == BUNDLED:
        return _bundled_model(choice_stamp(BUNDLED))
    stamp = (key, choice_stamp(key))
    cache = st.session_state.setdefault("_user_models", {})
    if stamp not in cache:
        cache.clear()
        cache[stamp] = load_model(key)
    return cache[stamp]


def current_model_key() -> str:
    key = st.session_state.get(MODEL_KEY)
    if key and not (Path(key) / "checkpoint.pt").is_file():
        st.session_state.pop(MODEL_KEY, None)  # the run was deleted
        key = None
    return key or BUNDLED


def use_model(key: str | None) -> None:
    if key in (None, BUNDLED):
        st.session_state.pop(MODEL_KEY, None)
    else:
        st.session_state[MODEL_KEY] = str(key)


def model_picker(widget_key: str) -> str:
    """A selectbox bound to the session's model in use; returns the chosen key."""
    options = model_options()
    current = current_model_key()
    if current not in options:
        current = BUNDLED
    keys = list(options)
    st.session_state[widget_key] = current
    st.selectbox(
        "Model",
        keys,
        format_func=options.get,
        key=widget_key,
        help="The model in use; Evaluate and Draw share the choice.",
        on_change=lambda: use_model(st.session_state[widget_key]),
    )
    return current


def model_in_use_text() -> str:
    key = current_model_key()
    if key == BUNDLED:
        return (
            "the bundled model"
            if (BUNDLED_DIR / "checkpoint.pt").is_file()
            else "none (the bundled model is missing)"
        )
    try:
        return f"your run {run_title(load_run(key, curves=False))}"
    except RunError:
        return f"your run in {key}"


# ---------------------------------------------------------------- images


def enlarge(image: np.ndarray, target: int = 112) -> np.ndarray:
    """Nearest-neighbour upscaling, so small images stay crisp instead of browser-blurred."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    factor = max(1, target // max(image.shape[:2]))
    return image.repeat(factor, 0).repeat(factor, 1)


def pad_square(image: np.ndarray) -> np.ndarray:
    """Centre on a black square, so thin crops keep their shape when shown at a fixed width."""
    h, w = image.shape[:2]
    side = max(h, w)
    out = np.zeros((side, side), dtype=image.dtype)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = image
    return out


def image_grid(images, captions: list[str], per_row: int = 8, size: int = 84) -> None:
    for start in range(0, len(images), per_row):
        cols = st.columns(per_row)
        for col, img, cap in zip(cols, images[start : start + per_row], captions[start : start + per_row]):
            col.image(enlarge(np.asarray(img), size), caption=cap, width="stretch")


def unsure_text(probs: np.ndarray, classes: list[str], threshold: float) -> str | None:
    """The abstention message when the top probability is below the threshold, else None."""
    order = np.argsort(probs)[::-1]
    if probs[order[0]] >= threshold:
        return None
    return (f"Not sure — maybe {classes[order[0]]} or {classes[order[1]]} "
            f"({probs[order[0]]:.0%} is below the {threshold:.0%} threshold set on Evaluate)")


def show_prediction(image, model, spec, blank_message: str = BLANK_CANVAS, key: str = "draw") -> int | None:
    """Classify a canvas array (or any image) and show the result; None when blank.

    `image` may be None, which is what the canvas returns before the first stroke.
    """
    if image is None:
        st.info(blank_message, icon=":material/draw:")
        return None
    prep, probs = classify(model, image, spec)
    if probs is None:
        st.info(blank_message, icon=":material/draw:")
        return None
    p = probs.numpy()
    top = int(p.argmax())
    left, right = st.columns([1, 2])
    unsure = unsure_text(p, list(spec.classes), float(st.session_state.get(ABSTAIN_KEY, 0.0)))
    if unsure:
        left.metric("Prediction", "Not sure")
        left.caption(unsure)
    else:
        left.metric("Prediction", spec.classes[top])
        left.caption(f"{p[top]:.1%} confidence")
    right.plotly_chart(charts.probability_bars(p, list(spec.classes)), key=f"{key}-probabilities")
    st.markdown("**Preprocessing steps** (what the model sees is the last one)")
    cols = st.columns(len(prep.steps))
    for col, (name, step) in zip(cols, prep.steps.items()):
        col.image(
            # Fills its column: a fixed 140 px overflowed the four narrow columns beside the canvas.
            enlarge(pad_square(step), 140),
            width="stretch",
            caption=f"{name} ({step.shape[1]}x{step.shape[0]})",
        )
    return top


EXPLAIN_METHODS = ("Integrated gradients", "Occlusion", "Grad-CAM (CNN only)")
EMBED_SUBSETS = (10_000, 20_000, 60_000)  # embedding 10,000 digits takes about 4 s on 2 cores
EMBED_KEY = "_train_embeddings"  # session key: {(model id, dataset source, n): (N, D) tensor}


def train_embeddings(model, data: Dataset, model_id, n: int):
    """The first n training digits' embeddings, kept in this session for one model at a time.

    Session state rather than cache_resource: users' models are theirs, and a model still
    training changes its weights (model_id carries the checkpoint's time).
    """
    cache = st.session_state.setdefault(EMBED_KEY, {})
    key = (model_id, data.source, n)
    if key not in cache:
        cache.clear()  # 128 floats a digit: one model's worth is enough to keep
        with st.spinner(f"Embedding {n:,} training digits with this model..."):
            cache[key] = embed(model, data.train_images[:n], data.spec)
    return cache[key]


def explain_panel(model, x_norm, spec, key: str, model_id, top: int | None = None,
                  subsets: tuple[int, ...] | None = None) -> None:
    """'Why?': a saliency map for a chosen class, and the closest training digits.

    x_norm is the normalised (1,28,28) image the model reads, or a uint8 (28,28) dataset image;
    model_id changes when its weights do.
    """
    if x_norm.dtype == torch.uint8:
        x_norm = normalise(x_norm.unsqueeze(0), spec)[0]
    classes = list(spec.classes)
    if top is None:
        top = int(predict_proba(model, x_norm.unsqueeze(0), spec)[0].argmax())
    left, right = st.columns([1, 2])
    # The key holds the top class, so a new drawing starts again from its own prediction.
    target = left.selectbox("Explain class", range(len(classes)), index=top, key=f"{key}-class-{top}",
                            format_func=lambda i: classes[i] if i == top else f"why not {classes[i]}?")
    method = left.radio("Method", EXPLAIN_METHODS, key=f"{key}-method")
    if method == EXPLAIN_METHODS[0]:
        attr = integrated_gradients(model, x_norm, target, spec=spec)
        left.caption("Per-pixel contributions to the class's score, against a black image; they sum to the "
                     "difference in score. Red supports the class, blue argues against it.")
    elif method == EXPLAIN_METHODS[1]:
        attr = occlusion(model, x_norm, target, spec=spec)
        left.caption("How much the class's probability falls when a 4x4 patch around each pixel is blacked out.")
    else:
        try:
            attr = grad_cam(model, x_norm, target)
        except ValueError as exc:
            left.warning(str(exc))
            attr = None
        left.caption("Where the last convolutional layer's features support the class (a coarse grid, upsampled to 28x28).")
    x01 = (x_norm[0] * spec.std + spec.mean).clamp(0, 1).cpu().numpy()
    if attr is not None:
        right.plotly_chart(charts.saliency_overlay(x01, attr.numpy(), f"{method}: {classes[target]}"),
                           key=f"{key}-saliency")
    st.markdown("**Closest training digits**")
    status = dataset_status(spec.name)
    if not status["found"]:
        st.caption("Needs the training images: " + status["message"])
        return
    data = cached_dataset(spec.name, status["folder"])
    def neighbours(idx, dist) -> None:
        image_grid([data.train_images[i].numpy() for i in idx],
                   [f"{classes[int(data.train_labels[i])]} ({d:.1f})" for i, d in zip(idx, dist)])

    st.caption(f"In pixel space (straight-line distance between the images), among all "
               f"{len(data.train_images):,} training digits:")
    neighbours(*nearest_pixels(data.train_images, x01, 8))
    n = st.selectbox("Embedding search among the first", subsets or EMBED_SUBSETS, key=f"{key}-subset",
                     format_func=lambda v: f"{v:,} training digits")
    bank = train_embeddings(model, data, model_id, n)
    st.caption("In the model's embedding (its last hidden layer), where digits it reads alike sit close; "
               "fewer digits are searched because embedding them all takes a while on a small CPU:")
    neighbours(*nearest_embedding(model, bank, x_norm, 8))


# ---------------------------------------------------------------- forms


def parse_int_list(name: str, text: str) -> list[int]:
    """'256, 128' -> [256, 128]; a ConfigError naming the field otherwise."""
    parts = str(text).replace(",", " ").split()
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ConfigError(name, f"must be whole numbers separated by commas, got {text!r}") from None


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


# ---------------------------------------------------------------- comparison and internals

ROBUSTNESS_KEY = "_robustness"  # session key: {(model id, dataset source): sweep result}
INTERNALS_KEY = "_internals_projection"  # session key: {(model id, dataset source): projection}


def robustness_section(model, data: Dataset, model_id, n: int = 2000) -> None:
    """Accuracy under shift, rotation and stroke thickness, computed on request."""
    from mnist_core.robustness import robustness_sweep

    cache = st.session_state.setdefault(ROBUSTNESS_KEY, {})
    key = (model_id, data.source)
    if st.button(f"Run the robustness sweep on {n:,} test digits", key="eval_robustness_run",
                 icon=":material/play_arrow:"):
        with st.spinner("Distorting and classifying the test digits..."):
            cache.clear()  # one model's curves are enough to keep per session
            cache[key] = robustness_sweep(model, data.test_images, data.test_labels, data.spec, n=n)
    if key not in cache:
        st.caption("Shifts of 0-4 pixels, rotations of 0-30 degrees and thinner or thicker strokes "
                   "(a 3x3 min- or max-filter), one at a time. Takes a few seconds.")
        return
    figs = charts.robustness_lines(cache[key])
    cols = st.columns(len(figs))
    for col, fig, name in zip(cols, figs, cache[key]):
        col.plotly_chart(fig, key=f"eval_robustness_{name}")


def _select_embedding_point() -> None:
    # A callback runs before the page, outside studio_ui.page()'s guard: an unexpected selection
    # shape must be ignored here, not raise.
    points = st.session_state["eval_embedding"]["selection"].get("points") or []
    data = points[0].get("customdata") if points else None
    if isinstance(data, dict):  # typed arrays come back keyed "0", "1"
        data = [data.get("0")]
    try:
        st.session_state["eval_embedding_pick"] = int(data[0])
    except (TypeError, ValueError, IndexError):
        pass


def internals_section(model, data: Dataset, model_id, n: int = 2000) -> None:
    """First-layer filters and a 2-D map of test embeddings; only computed once toggled on."""
    from mnist_core.internals import first_layer_filters, project_embeddings

    classes = list(data.classes)
    try:
        filters = first_layer_filters(model).numpy()
    except ValueError as exc:
        st.info(str(exc))
    else:
        st.plotly_chart(charts.weight_grid(filters, title=f"First-layer weights ({len(filters)} shown)"),
                        key="eval_filters")
        st.caption("Red weights respond to ink, blue to its absence; each is scaled to its own range.")
    cache = st.session_state.setdefault(INTERNALS_KEY, {})
    key = (model_id, data.source)
    if key not in cache:
        cache.clear()
        st.session_state.pop("eval_embedding_pick", None)
        with st.spinner(f"Embedding {n:,} test digits..."):
            cache[key] = project_embeddings(model, data.test_images, data.test_labels, data.spec, n=n)
    p = cache[key]
    left, right = st.columns([3, 1])
    left.plotly_chart(
        charts.embedding_scatter(p["coords"].numpy(), p["labels"].numpy(), p["preds"].numpy(),
                                 classes, p["index"].numpy()),
        key="eval_embedding", on_select=_select_embedding_point, selection_mode="points")
    pick = st.session_state.get("eval_embedding_pick")
    with right:
        if pick is None:
            st.caption("Click a point to see its digit.")
        else:
            st.image(enlarge(data.test_images[pick].numpy(), 140), width=140,
                     caption=f"test #{pick}: label {classes[int(p['labels'][pick])]}, "
                             f"predicted {classes[int(p['preds'][pick])]}")


def activation_maps_panel(model, image, spec, key: str) -> None:
    """Behind a toggle: each conv block's feature maps for the current drawing."""
    from mnist_core.internals import activation_maps
    from mnist_core.preprocessing import preprocess

    if image is None or not st.toggle("Activation maps", key=f"{key}-activations"):
        return
    prep = preprocess(image, spec)
    if prep.tensor is None:
        return
    maps = activation_maps(model, prep.tensor)
    if not maps:
        st.info("This model has no conv layers, so there are no activation maps to show.")
        return
    for i, m in enumerate(maps, 1):
        a = m.numpy()
        st.markdown(f"**Conv block {i}**: {a.shape[0]} maps of {a.shape[1]}x{a.shape[2]}")
        peak = float(a.max()) or 1.0  # one scale per block, so weak maps look weak
        image_grid([a_i / peak for a_i in a[:32]], [str(j) for j in range(min(32, len(a)))],
                   per_row=8, size=56)
