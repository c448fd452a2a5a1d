"""The Train form's layout: a first screen of four settings a learner needs (the preset, the
model, the learning rate and the epochs), and every other setting in four named groups that stay
closed until opened. A closed group's title lists the settings changed inside it, so what trains
is still what the page shows; a group holding a setting to fix opens by itself."""
from __future__ import annotations

import streamlit as st
import torch

from mnist_core.data import handwriting
from mnist_core.data.tensors import DATASETS
from mnist_core.models.registry import MODELS
from mnist_core.train.config import OPTIMIZERS, SCHEDULES

from . import identity
from .nav import BY_TITLE
from .train_form import (
    _mark,
    _number,
    _text_number,
    devices,
    field_label,
    preset_caption,
    preset_picker,
    preset_value,
    seed_model_options,
)
from .train_link import RANGES
from .train_words import HELP

# The form's groups and the settings in each (model options are the model shape's own).
GROUPS = {
    "Model shape": (),
    "Optimiser and schedule": ("optimizer", "batch_size", "momentum", "weight_decay", "label_smoothing",
                               "schedule", "step_size", "gamma", "warmup_epochs", "restart_epochs"),
    "Data and augmentation": ("dataset", "train_subset", "augment", "distort", "handwriting", "leave_out"),
    "Run options": ("seed", "device", "time_budget", "tta", "log_every"),
}
ICONS = {"Model shape": ":material/account_tree:", "Optimiser and schedule": ":material/speed:",
         "Data and augmentation": ":material/photo_library:", "Run options": ":material/tune:"}
SHOWN_CHANGES = 3  # settings named on a title before "and N more"


def first_screen(errors: dict) -> None:
    """The four settings a first run needs, in one row."""
    row = st.columns([1.1, 1.3, 1, 1])
    with row[0]:
        preset_picker()
    model = row[1].selectbox("Model", list(MODELS), key="cfg_model", format_func=lambda m: MODELS[m].title,
                             help=HELP["model"])
    seed_model_options(model)
    with row[2]:
        _text_number(errors, "lr")
    _number(errors, row[3], "epochs", 1)
    st.caption(f"{preset_caption()} **{MODELS[model].title}:** {MODELS[model].description}")


def fields_of(group: str) -> list[str]:
    """The widget keys a group holds, for the current model."""
    if group == "Model shape":
        model = st.session_state.get("cfg_model")
        return [f"cfg_{model}_{arg}" for arg in MODELS[model].args] if model in MODELS else []
    return [f"cfg_{name}" for name in GROUPS[group]]


def changes(group: str) -> list[str]:
    """"Label value" for each setting of the group that differs from the preset the form came from."""
    out = []
    for key in fields_of(group):
        value, base = st.session_state.get(key), preset_value(key)
        if key == "cfg_leave_out":
            value, base = len(value or ()), len(base or ())
            if value != base:
                out.append(f"{field_label('leave_out')} {value:,}")
            continue
        if value != base:
            name = key.removeprefix("cfg_").removeprefix(f"{st.session_state.get('cfg_model')}_")
            shown = ("on" if value else "off") if isinstance(value, bool) else value
            out.append(f"{field_label(name)} {shown}")
    return out


def title(group: str, errors: dict) -> str:
    """The group's name, then what needs fixing in it or what was changed in it."""
    names = {key.removeprefix("cfg_").removeprefix(f"{st.session_state.get('cfg_model')}_")
             for key in fields_of(group)}
    bad = [field_label(n) for n in names if n in errors]
    if bad:
        return f"{group} · to fix: {', '.join(sorted(bad))}"
    changed = changes(group)
    if not changed:
        return group
    more = f" and {len(changed) - SHOWN_CHANGES} more" if len(changed) > SHOWN_CHANGES else ""
    return f"{group} · changed: {', '.join(changed[:SHOWN_CHANGES])}{more}"


def groups(errors: dict):
    """The four closed groups; returns (run label, handwriting set is empty, schedule chart slot)."""
    slot = None
    for group in GROUPS:
        names = {key.removeprefix("cfg_").removeprefix(f"{st.session_state.get('cfg_model')}_")
                 for key in fields_of(group)}
        # A key keeps the group open while its title changes with each edit (without one, a
        # new title is a new expander, and it closed under the learner's hands).
        key = "train_group_" + group.split()[0].lower()
        with st.expander(title(group, errors), expanded=bool(names & set(errors)), icon=ICONS[group], key=key):
            if group == "Model shape":
                model_shape(errors)
            elif group == "Optimiser and schedule":
                slot = optimisation(errors)
            elif group == "Data and augmentation":
                hw_empty = data_and_augmentation(errors)
            else:
                label = run_options(errors)
    return label, hw_empty, slot


def model_shape(errors: dict) -> None:
    """One control per argument the model's registry entry declares."""
    model = st.session_state["cfg_model"]
    spec = MODELS[model]
    if not spec.args:
        st.caption("This model has no options.")
    cols = st.columns(2)
    for i, (arg, a) in enumerate(spec.args.items()):
        key, where = f"cfg_{model}_{arg}", cols[i % 2]
        if a.kind == "ints":
            where.text_input(a.label, key=key, help=a.help)
        elif a.kind == "bool":
            where.checkbox(a.label, key=key, help=a.help)
        elif a.kind == "choice":
            where.selectbox(a.label, list(a.choices), key=key, help=a.help)
        elif a.kind == "float":
            where.slider(a.label, a.low, a.high, step=a.step, key=key, help=a.help)
        else:
            where.number_input(a.label, step=int(a.step or 1), key=key,
                               help=f"{a.help.rstrip('.')}. From {a.low:g} to {a.high:g}.")
        _mark(errors, arg, where)


def optimisation(errors: dict):
    """The optimiser, the batch and the schedule; returns a slot for the schedule's chart."""
    left, right = st.columns(2)
    with left:
        optimizer = st.selectbox("Optimizer", OPTIMIZERS, key="cfg_optimizer", help=HELP["optimizer"])
        _number(errors, st, "batch_size", 32)
        st.slider("Momentum", *RANGES["momentum"], step=0.01, key="cfg_momentum",
                  disabled=optimizer not in ("sgd", "rmsprop"), help=HELP["momentum"])
        _text_number(errors, "weight_decay")
        st.slider("Label smoothing", *RANGES["label_smoothing"], step=0.05, key="cfg_label_smoothing",
                  help=HELP["label_smoothing"])
    with right:
        schedule = st.selectbox("Learning-rate schedule", SCHEDULES, key="cfg_schedule", help=HELP["schedule"])
        _mark(errors, "schedule")
        s = st.columns(2)
        _number(errors, s[0], "step_size", 1, disabled=schedule != "step")
        _number(errors, s[1], "gamma", 0.05, float_format=True, disabled=schedule != "step")
        _number(errors, s[0], "warmup_epochs", 0.5, float_format=True, disabled=schedule != "cosine")
        _number(errors, s[1], "restart_epochs", 0.5, float_format=True, disabled=schedule != "cosine")
        return st.empty()


def data_and_augmentation(errors: dict) -> bool:
    """The images a run learns from; returns whether "Add my handwriting" asks for an empty set."""
    left, right = st.columns(2)
    left.radio("Dataset", list(DATASETS), key="cfg_dataset", horizontal=True,
               format_func=lambda n: DATASETS[n].title, help=HELP["dataset"])
    _number(errors, left, "train_subset", 1000)
    right.checkbox("Augment: rotate, shift, scale", key="cfg_augment", help=HELP["augment"])
    right.checkbox("Distort like other hands", key="cfg_distort", help=HELP["distort"])
    hw_empty = False
    if right.checkbox("Add my handwriting", key="cfg_handwriting", help=HELP["handwriting"]):
        _mark(errors, "handwriting", right)
        if not sum(handwriting.count_set(identity.handwriting_folder())[0]):
            hw_empty = True
            right.warning("Your handwriting set is empty: save some digits on the Draw page first.")
            right.page_link(BY_TITLE["Draw"].file, label="Open Draw", icon=":material/draw:")
    with left:
        _leave_out_control()
    return hw_empty


def run_options(errors: dict) -> str:
    """Seed, device, budget and logging; returns the run's label."""
    r = st.columns(2)
    _number(errors, r[0], "seed", 1)
    asked = st.session_state.get("cfg_device", "auto")
    missing = asked not in devices()
    if missing:  # a link or a saved form from a machine with a GPU
        st.session_state["cfg_device"] = "auto"
    r[1].selectbox("Device", devices(), key="cfg_device", help=HELP["device"])
    if missing:
        r[1].warning(f"This server has no {asked!r} device, so the run trains on what it has (auto: "
                     f"{'the GPU' if torch.cuda.is_available() else 'the CPU'}).", icon=":material/memory:")
    _number(errors, r[0], "time_budget", 5.0, float_format=True)
    _number(errors, r[1], "log_every", 1)
    st.checkbox("Test-time augmentation at the end", key="cfg_tta", help=HELP["tta"])
    return st.text_input("Run label (optional)", key="train_label", max_chars=80,
                         help="A name for the run on the Runs page; the run's id stays its folder's name.")


def _use_marks(marked: list[int]) -> None:
    st.session_state["cfg_leave_out"] = tuple(marked) if st.session_state.get("train_leave_marked") else ()


def _leave_out_control() -> None:
    """Leave the training images marked "label is wrong" on Data out of the run (config.leave_out)."""
    from mnist_core.data import label_marks
    from mnist_core.errors import MarkError

    try:
        marked = label_marks.wrong_indices(st.session_state.get("cfg_dataset") or "mnist")
    except MarkError as exc:
        st.warning(str(exc))
        marked = []
    current = list(st.session_state.get("cfg_leave_out") or ())
    if not marked and not current:
        return
    st.session_state["train_leave_marked"] = bool(marked) and current == marked
    st.checkbox(f"Leave out {len(marked):,} image(s) marked wrong on Data",
                key="train_leave_marked", on_change=_use_marks, args=(marked,), disabled=not marked,
                help="Leaves out the training images marked 'label is wrong' on Data's Suspicious labels tab. "
                     "The run sees the same images as without this box, less the marked ones: run both "
                     "and compare. The run keeps the list, so it can be repeated exactly.")
    if current and current != marked:
        st.caption(f"This run leaves out {len(current):,} training image(s), set by a link or by earlier marks.")
        st.button("Train on every image", key="train_leave_none",
                  on_click=lambda: st.session_state.update(cfg_leave_out=()))
