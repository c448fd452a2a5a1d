"""The model in use: the bundled model or one of the saved runs, chosen once and shared by
Evaluate and Draw. The bundled model is loaded once per server; a user's runs are loaded into
their own session, one at a time.
"""
from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from pathlib import Path

import streamlit as st

from mnist_core.runs.checkpoints import BUNDLED_DIR, load_model
from mnist_core.runs.folders import Run, RunError, list_runs, load_run, runs_root

from . import state
from .text import plain

BUNDLED = "bundled"


@st.cache_resource(show_spinner=False, max_entries=1)
def _bundled_model(stamp: float):
    # Keyed by the checkpoint's time, so a re-bundled model replaces the old one.
    return load_model(BUNDLED_DIR)


def run_title(run: Run) -> str:
    s = run.summary
    acc = s.get("final_test_acc")
    acc_text = f"{acc:.2%}" if isinstance(acc, (int, float)) else "no epoch yet"
    tta = s.get("final_test_acc_tta")
    if isinstance(tta, (int, float)) and isinstance(acc, (int, float)):
        acc_text += f" ({tta:.2%} with TTA)"
    name = s.get("label") or run.run_id
    return f"{name} - {s.get('model')} on {s.get('dataset')}, {acc_text}"


def distinct(titles: dict[str, str]) -> dict[str, str]:
    """Titles keyed by run folder, each one shared by several runs followed by the folder's
    name. A selectbox told apart two runs of one title ("my run - cnn on mnist, 97.10%", as two
    students may both call theirs) by the text alone: picking the second gave the first."""
    shared = Counter(titles.values())
    return {key: f"{title} ({Path(key).name})" if shared[title] > 1 else title for key, title in titles.items()}


def model_options() -> dict[str, str]:
    """Choice key -> label: the bundled model, then every run with a completed epoch."""
    runs = {str(run.path): run_title(run) for run in list_runs(runs_root(), curves=False)
            if not run.damaged and run.summary.get("epochs_done") and (run.path / "checkpoint.pt").is_file()}
    return {BUNDLED: "Bundled model (small CNN trained on MNIST)", **distinct(runs)}


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
    return state.cached(state.USER_MODELS, (key, choice_stamp(key)), lambda: load_model(key))


# Each visitor's model in use, by their browser's id, so that a reload (a new session) keeps it.
# Bounded: a class's server sees a few hundred visitors, each an id and a path.
REMEMBERED_VISITORS = 2000
_remembered: OrderedDict[str, str] = OrderedDict()
_remembered_lock = threading.Lock()


def _visitor_id() -> str | None:
    from . import identity

    try:
        return identity.current().id
    except Exception:  # noqa: BLE001 - outside a browser session (a bare script): nothing to keep
        return None


def current_model_key() -> str:
    if state.MODEL_IN_USE not in st.session_state:  # a new session: a reload, or a second tab
        with _remembered_lock:
            remembered = _remembered.get(_visitor_id() or "")
        if remembered:
            st.session_state[state.MODEL_IN_USE] = remembered
    key = st.session_state.get(state.MODEL_IN_USE)
    if key and not (Path(key) / "checkpoint.pt").is_file():
        st.session_state.pop(state.MODEL_IN_USE, None)  # the run was deleted
        key = None
    return key or BUNDLED


def use_model(key: str | None) -> None:
    key = None if key in (None, BUNDLED) else str(key)
    if key is None:
        st.session_state.pop(state.MODEL_IN_USE, None)  # the visitor's remembered choice says bundled
    else:
        st.session_state[state.MODEL_IN_USE] = key
    visitor = _visitor_id()
    if visitor:
        with _remembered_lock:
            _remembered[visitor] = key
            _remembered.move_to_end(visitor)
            while len(_remembered) > REMEMBERED_VISITORS:
                _remembered.popitem(last=False)


def model_picker(widget_key: str) -> str:
    """A selectbox bound to the session's model in use; returns the chosen key."""
    options = model_options()
    current = current_model_key()
    if current not in options:
        if current != BUNDLED:  # its checkpoint tore, or its files went wrong, since it was picked
            st.info(f"The run you were using ({Path(current).name}) can no longer be read, so the "
                    "bundled model is in use; Runs says what is wrong with it.", icon=":material/info:")
            use_model(None)
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
        run = load_run(key, curves=False)
    except RunError:
        return f"a run that can no longer be read ({Path(key).name})"
    from mnist_core.runs.ownership import made_by

    from . import identity

    # Another student's run, in use after its maker published it, is theirs, not "your run".
    mine = run.summary.get("owner") in (None, identity.current().owner()["owner"])
    whose = "your run" if mine else f"{made_by(run.summary)}'s run"
    return plain(f"{whose} {run_title(run)}")  # a label is its maker's text: shown as typed
