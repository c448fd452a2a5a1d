"""The Train form's widgets. What the form shows is what trains: a number is taken as typed,
and a value that is not valid stays on screen, marked with its reason, while Start is disabled.

Number inputs have no min or max of their own, because Streamlit keeps the last in-range value
while showing the out-of-range one in red: the run would train on a number that is not on screen.
The ranges are checked here instead (train_link.RANGES), for the form and links alike.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import streamlit as st
import torch

from mnist_core.data import handwriting
from mnist_core.data.tensors import DATASETS
from mnist_core.models.registry import MODELS
from mnist_core.train.config import (
    OPTIMIZERS,
    PRESETS,
    SCHEDULES,
    ConfigError,
    TrainConfig,
    preset_config,
)

from . import state
from .nav import BY_TITLE
from .train_link import RANGES, checked_config, widget_values
from .train_words import HELP, LABELS

CUSTOM = "custom"  # the preset box once the form differs from every preset



def devices() -> list[str]:
    """Only the devices this server has."""
    return ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def parse_int_list(name: str, text: str) -> list[int]:
    """'256, 128' -> [256, 128]; a ConfigError naming the field otherwise."""
    parts = str(text).replace(",", " ").split()
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ConfigError(name, f"must be whole numbers separated by commas, got {text!r}") from None


# ---------------------------------------------------------------- the form's state

def restore(default_preset: str = "quick") -> dict:
    """Put the session's saved form back into the widgets (they are dropped on page change)."""
    saved = st.session_state.setdefault(state.TRAIN_FORM, {})
    if not saved:
        saved.update(widget_values(preset_config(default_preset)), train_preset=default_preset)
    for key, value in saved.items():
        st.session_state.setdefault(key, value)
    return saved


def remember(saved: dict) -> None:
    saved.update({k: v for k, v in st.session_state.items()
                  if isinstance(k, str) and (k.startswith("cfg_") or k == "train_preset")})


def seed_model_options(model: str) -> None:
    """The model's options at their defaults where the session has none yet: the first rerun
    after a user picks another model checks the form before its options are drawn, and read
    every option as missing ("members must be a whole number, got None")."""
    spec = MODELS[model]
    for arg, a in spec.args.items():
        default = spec.defaults[arg]
        st.session_state.setdefault(f"cfg_{model}_{arg}",
                                    ", ".join(map(str, default)) if a.kind == "ints" else default)


def form_values() -> dict:
    """TrainConfig's fields as the widgets hold them (model options as typed)."""
    model = st.session_state["cfg_model"]
    seed_model_options(model)
    values = {f.name: st.session_state.get(f"cfg_{f.name}") for f in dataclasses.fields(TrainConfig)
              if f.name != "model_kwargs"}
    values["model_kwargs"] = {arg: st.session_state.get(f"cfg_{model}_{arg}") for arg in MODELS[model].args}
    return values


def form_config() -> TrainConfig:
    """The config on screen, exactly; ConfigError naming the first field that is not valid."""
    values = form_values()
    values["model_kwargs"] = {k: parse_int_list(k, v) if isinstance(v, str) else v
                              for k, v in values["model_kwargs"].items()}
    return checked_config(values)


def field_label(name: str) -> str:
    """The label a field or model option has on the form."""
    if name in LABELS:
        return LABELS[name]
    spec = MODELS.get(st.session_state.get("cfg_model"))
    return spec.args[name].label if spec is not None and name in spec.args else name


def field_errors() -> dict[str, str]:
    """Each field's own problem (field or model option -> reason), to show beside it."""
    try:
        form_config()
        return {}  # the usual case: one check of the whole form, not one per field
    except ConfigError:
        pass
    errors = {}
    values = form_values()
    for name, value in values.items():
        if name == "model_kwargs":
            continue
        try:
            checked_config({name: value.strip() if isinstance(value, str) else value})
        except ConfigError as exc:
            errors[name] = str(exc).split(": ", 1)[-1]
    for arg, value in values["model_kwargs"].items():
        try:
            kwargs = {arg: parse_int_list(arg, value) if isinstance(value, str) else value}
            checked_config({"model": values["model"], "model_kwargs": kwargs})
        except ConfigError as exc:
            errors[arg] = str(exc).split(": ", 1)[-1]
    return errors


def _mark(errors: dict, name: str, where=st) -> None:
    if name in errors:
        where.markdown(f":red[:material/error: {errors[name]}]")


# ---------------------------------------------------------------- presets

def apply_preset() -> None:
    name = st.session_state["train_preset"]
    if name in PRESETS:
        st.session_state.update(_preset_values(name))


@functools.cache
def _preset_values(name: str) -> tuple:
    # Presets never change while the server runs; building and validating nine configs on
    # every rerun of the form would be wasted.
    return tuple(widget_values(preset_config(name)).items())


def preset_picker() -> None:
    """The preset box; it reads "custom" once the form differs from the chosen preset, so that
    choosing any preset, the same one included, fills the form again."""
    def matches(preset: str) -> bool:
        return all(st.session_state.get(k) == v for k, v in _preset_values(preset))

    name = st.session_state.get("train_preset")
    if not (name in PRESETS and matches(name)):
        # A link, or a change that brings the form back to a preset, shows that preset.
        st.session_state["train_preset"] = next((p for p in PRESETS if matches(p)), CUSTOM)
    p = st.columns([1, 3])
    p[0].selectbox("Preset", list(PRESETS) + [CUSTOM], key="train_preset", on_change=apply_preset,
                   format_func=lambda n: "custom (edited)" if n == CUSTOM else n,
                   help="A preset fills the whole form with a tested recipe.")
    chosen = st.session_state["train_preset"]
    p[1].caption("Your own settings: choose a preset to start again from it." if chosen == CUSTOM
                 else PRESETS[chosen][0] + " Choosing a preset fills the form.")


# ---------------------------------------------------------------- the widgets

def _number(errors: dict, col, name: str, step, float_format: bool = False, disabled: bool = False) -> None:
    """A number input taken as typed (no min or max: the ranges are checked, and shown, here)."""
    lo, hi = RANGES[name]
    col.number_input(LABELS[name], step=step, format="%g" if float_format else None, key=f"cfg_{name}",
                     help=f"{HELP[name]} From {lo:g} to {hi:g}.", disabled=disabled)
    _mark(errors, name, col)


def _text_number(errors: dict, name: str) -> None:
    """A small float typed as text (3e-4 reads as typed; a number box would show 0.00030 or
    round it away), checked like every other field."""
    lo, hi = RANGES[name]
    st.text_input(LABELS[name], key=f"cfg_{name}", help=f"{HELP[name]} From {lo:g} to {hi:g}; 3e-4 works too.")
    _mark(errors, name)


def model_controls(errors: dict) -> None:
    """Dataset, model and one control per argument the registry declares."""
    st.markdown("**Data and model**")
    st.radio("Dataset", list(DATASETS), key="cfg_dataset", horizontal=True,
             format_func=lambda n: DATASETS[n].title, help=HELP["dataset"])
    model = st.selectbox("Model", list(MODELS), key="cfg_model", format_func=lambda m: MODELS[m].title,
                         help=HELP["model"])
    spec = MODELS[model]
    st.caption(spec.description)
    if not spec.args:
        st.caption("This model has no options.")
    seed_model_options(model)
    for arg, a in spec.args.items():
        key = f"cfg_{model}_{arg}"
        if a.kind == "ints":
            st.text_input(a.label, key=key, help=a.help)
        elif a.kind == "bool":
            st.checkbox(a.label, key=key, help=a.help)
        elif a.kind == "choice":
            st.selectbox(a.label, list(a.choices), key=key, help=a.help)
        elif a.kind == "float":
            st.slider(a.label, a.low, a.high, step=a.step, key=key, help=a.help)
        else:
            st.number_input(a.label, step=int(a.step or 1), key=key, help=f"{a.help.rstrip('.')}. From {a.low:g} to {a.high:g}.")
        _mark(errors, arg)


def optimisation_controls(errors: dict):
    """The optimiser and schedule settings; returns a slot for the schedule's chart."""
    st.markdown("**Optimisation**")
    optimizer = st.selectbox("Optimizer", OPTIMIZERS, key="cfg_optimizer", help=HELP["optimizer"])
    _text_number(errors, "lr")
    st.slider("Momentum", *RANGES["momentum"], step=0.01, key="cfg_momentum",
              disabled=optimizer not in ("sgd", "rmsprop"), help=HELP["momentum"])
    _text_number(errors, "weight_decay")
    st.slider("Label smoothing", *RANGES["label_smoothing"], step=0.05, key="cfg_label_smoothing",
              help=HELP["label_smoothing"])
    schedule = st.selectbox("Learning-rate schedule", SCHEDULES, key="cfg_schedule", help=HELP["schedule"])
    _mark(errors, "schedule")
    s = st.columns(2)
    _number(errors, s[0], "step_size", 1, disabled=schedule != "step")
    _number(errors, s[1], "gamma", 0.05, float_format=True, disabled=schedule != "step")
    _number(errors, s[0], "warmup_epochs", 0.5, float_format=True, disabled=schedule != "cosine")
    _number(errors, s[1], "restart_epochs", 0.5, float_format=True, disabled=schedule != "cosine")
    return st.empty()


def schedule_chart(slot, config: TrainConfig, train_size: int) -> None:
    """The learning rate the run will use, redrawn as the settings change."""
    from mnist_core.train.optim import lr_curve

    from . import train_charts

    n = min(config.train_subset or train_size, train_size)
    points, x_title = lr_curve(config, math.ceil(n / config.batch_size))
    slot.plotly_chart(train_charts.lr_schedule(points, x_title), key="train_lr_schedule",
                      config={"displayModeBar": False})


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


def run_controls(errors: dict) -> tuple[str, bool]:
    """Epochs, batch, data and budget settings; returns (run label, handwriting set is empty)."""
    st.markdown("**Run**")
    r = st.columns(2)
    _number(errors, r[0], "epochs", 1)
    _number(errors, r[1], "batch_size", 32)
    _number(errors, r[0], "train_subset", 1000)
    _number(errors, r[1], "seed", 1)
    asked = st.session_state.get("cfg_device", "auto")
    missing = asked not in devices()
    if missing:  # a link or a saved form from a machine with a GPU
        st.session_state["cfg_device"] = "auto"
    r[0].selectbox("Device", devices(), key="cfg_device", help=HELP["device"])
    if missing:
        r[0].warning(f"This server has no {asked!r} device, so the run trains on what it has (auto: "
                     f"{'the GPU' if torch.cuda.is_available() else 'the CPU'}).", icon=":material/memory:")
    _number(errors, r[1], "log_every", 1)
    _number(errors, r[0], "time_budget", 5.0, float_format=True)
    st.checkbox("Augment: rotate, shift, scale", key="cfg_augment", help=HELP["augment"])
    st.checkbox("Distort like other hands", key="cfg_distort",
                help=HELP["distort"])
    st.checkbox("Test-time augmentation at the end", key="cfg_tta", help=HELP["tta"])
    hw_empty = False
    if st.checkbox("Add my handwriting", key="cfg_handwriting", help=HELP["handwriting"]):
        _mark(errors, "handwriting")
        if not sum(handwriting.count_set()[0]):
            hw_empty = True
            st.warning("Your handwriting set is empty: save some digits on the Draw page first.")
            st.page_link(BY_TITLE["Draw"].file, label="Open Draw", icon=":material/draw:")
    _leave_out_control()
    label = st.text_input("Run label (optional)", key="train_label", max_chars=80,
                          help="A name for the run on the Runs page; the run's id stays its folder's name.")
    return label, hw_empty
