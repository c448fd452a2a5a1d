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

import studio_charts as charts
from mnist_core.config import ConfigError
from mnist_core.data import (
    DATASETS,
    Dataset,
    DatasetError,
    dataset_status,
    load_dataset,
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
BLANK_CANVAS = "Draw a digit in the box: the prediction appears as soon as you lift the pen."


@contextmanager
def shown_errors():
    """Show an expected failure as a message instead of a traceback, and skip the rest."""
    try:
        yield
    except EXPECTED_ERRORS as exc:
        st.error(str(exc))


# Pages are found by Streamlit's pages/ folder; this list gives them titles and icons in the
# sidebar (the default labels would be file names, and the home page would read "app").
NAV = [
    ("app.py", "Home", ":material/home:"),
    ("pages/1_Data.py", "Data", ":material/grid_on:"),
    ("pages/2_Train.py", "Train", ":material/model_training:"),
    ("pages/3_Evaluate.py", "Evaluate", ":material/fact_check:"),
    ("pages/4_Draw.py", "Draw", ":material/draw:"),
    ("pages/5_Runs.py", "Runs", ":material/folder_open:"),
]


@contextmanager
def page(title: str, icon: str):
    """Every page's frame: config, sidebar navigation, and a message instead of a traceback."""
    from mnist_core.device import configure_threads

    st.set_page_config(page_title=f"{title} - MNIST Studio", page_icon=icon, layout="wide")
    configure_threads()
    with st.sidebar:
        st.markdown("### MNIST Studio")
        for path, label, nav_icon in NAV:
            st.page_link(path, label=label, icon=nav_icon)
        st.divider()
        st.caption(f"Model in use: {model_in_use_text()}")
        job = st.session_state.get("train_job")
        if job is not None and not job.finished:
            # Drawn on full reruns only (a fragment cannot write to the sidebar), so the numbers
            # are those of the last page change; the Train page shows them live.
            st.caption(f"Training in the background: {job.status}, {job.progress:.0%} when this page opened")
            st.page_link("pages/2_Train.py", label="Watch it live", icon=":material/monitoring:")
    try:
        yield
    except EXPECTED_ERRORS as exc:
        st.error(str(exc))
    except Exception as exc:  # the last line of defence: a message, never a traceback
        st.error(f"Something went wrong on this page: {type(exc).__name__}: {exc}")


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
    for run in list_runs(runs_dir()):
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
        return f"your run {run_title(load_run(key))}"
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
