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

from mnist_core.models.registry import MODELS
from mnist_core.train.config import (
    PRESETS,
    ConfigError,
    TrainConfig,
    preset_config,
)

from . import state
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
                  if isinstance(k, str) and (k.startswith("cfg_") or k in ("train_preset", "train_base_preset"))})


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
        # Brackets in the reason ("[3, 17]") would end Streamlit's :red[...] early and garble it.
        text = errors[name].replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
        where.markdown(f":red[:material/error: {text}]")


def describe_error(exc: ConfigError) -> str:
    """A ConfigError as the form's words: the field's label, not its name in the code."""
    reason = str(exc).split(": ", 1)[-1]
    return f"{field_label(exc.field)}: {reason}" if getattr(exc, "field", None) else reason


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
    if st.session_state["train_preset"] in PRESETS:
        st.session_state["train_base_preset"] = st.session_state["train_preset"]
    st.selectbox("Preset", list(PRESETS) + [CUSTOM], key="train_preset", on_change=apply_preset,
                 format_func=lambda n: "custom (edited)" if n == CUSTOM else n,
                 help="A preset fills the whole form with a tested recipe.")


def preset_caption() -> str:
    chosen = st.session_state["train_preset"]
    if chosen == CUSTOM:
        return f"Your own settings, from the {base_preset()} preset: choose a preset to start again from it."
    return PRESETS[chosen][0]


def base_preset() -> str:
    """The preset the form was last filled from: what "changed" on a group's title is measured against."""
    name = st.session_state.get("train_base_preset")
    return name if name in PRESETS else "quick"


def preset_value(key: str):
    """A widget's value in the base preset (a model option of another model: its default)."""
    values = dict(_preset_values(base_preset()))
    if key in values:
        return values[key]
    model = st.session_state.get("cfg_model")
    for arg, a in MODELS[model].args.items() if model in MODELS else ():
        if key == f"cfg_{model}_{arg}":
            default = MODELS[model].defaults[arg]
            return ", ".join(map(str, default)) if a.kind == "ints" else default
    return None


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


def schedule_chart(slot, config: TrainConfig, train_size: int) -> None:
    """The learning rate the run will use, redrawn as the settings change."""
    from mnist_core.train.optim import lr_curve

    from . import train_charts

    n = min(config.train_subset or train_size, train_size)
    points, x_title = lr_curve(config, math.ceil(n / config.batch_size))
    slot.plotly_chart(train_charts.lr_schedule(points, x_title), key="train_lr_schedule",
                      config={"displayModeBar": False})
