"""The Train form: its widgets, their ranges, and the shareable link.

The page's address holds every setting that differs from TrainConfig's defaults
(?model=mlp&lr=0.01&model_kwargs={...}), so a link reproduces a form. A link is checked with
TrainConfig.from_dict and against the widgets' ranges before anything in the form changes.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

import streamlit as st

from mnist_core import handwriting
from mnist_core.config import (DEVICES, HANDWRITING_REPEAT, OPTIMIZERS, PRESETS, SCHEDULES, ConfigError,
                               TrainConfig, preset_config)
from mnist_core.data import DATASETS
from mnist_core.models import MODELS

from . import state
from .nav import BY_TITLE

NUMBER_KINDS = {"int": int, "float": float}  # model options shown as numbers and sliders, with ranges

# The form's ranges, used by the widgets and to check a link: a value outside a widget's range
# would make Streamlit raise instead of drawing the form.
RANGES = {
    "lr": (1e-6, 100.0),
    "momentum": (0.0, 0.99),
    "weight_decay": (0.0, 1.0),
    "label_smoothing": (0.0, 0.5),
    "step_size": (1, 500),
    "gamma": (0.01, 1.0),
    "warmup_epochs": (0.0, 100.0),
    "restart_epochs": (0.1, 1000.0),
    "epochs": (1, 500),
    "time_budget": (0.0, 3600.0),
    "batch_size": (1, 8192),
    "train_subset": (0, 60000),
    "seed": (0, 2**31 - 1),
    "log_every": (1, 10000),
}


def widget_values(config: TrainConfig) -> dict:
    """Widget key -> value for a whole config, model options included."""
    values = {f"cfg_{k}": v for k, v in config.to_dict().items() if k != "model_kwargs"}
    spec = MODELS[config.model]
    for arg, v in {**spec.defaults, **config.model_kwargs}.items():
        kind = spec.args[arg].kind
        if kind == "ints":
            v = ", ".join(map(str, v))
        elif kind in NUMBER_KINDS:
            v = NUMBER_KINDS[kind](v)  # JSON's 0 for a float option would upset its slider
        values[f"cfg_{config.model}_{arg}"] = v
    return values


def link_config(query: dict) -> TrainConfig:
    """The config a shared link describes; ConfigError naming the field the form cannot take."""
    config = TrainConfig.from_dict(query)
    values = config.to_dict()
    for name, (lo, hi) in RANGES.items():
        if not lo <= values[name] <= hi:
            raise ConfigError(name, f"the form takes {_num(lo)} to {_num(hi)}, got {_num(values[name])}")
    for arg, a in MODELS[config.model].args.items():
        value = config.model_kwargs[arg]
        if a.kind in NUMBER_KINDS:
            lo, hi = NUMBER_KINDS[a.kind](a.low), NUMBER_KINDS[a.kind](a.high)
            if not lo <= value <= hi:
                raise ConfigError("model_kwargs", f"{arg} must be {_num(lo)} to {_num(hi)} in the form, got {value}")
    return config


def _num(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _form_state() -> dict:
    return {k: v for k, v in st.session_state.items() if isinstance(k, str) and k.startswith("cfg_")}


def read_link(saved: dict):
    """Fill the form from the URL when it holds new settings; returns a refused link's error.

    A refused link stays refused (and Start disabled) until the user changes the form, so a run
    never starts from settings the user believes came from the link.
    """
    link = st.session_state.setdefault(state.TRAIN_LINK, {"query": None, "error": None, "form": None})
    query = st.query_params.to_dict()
    if query and query != link["query"]:
        link["query"] = query
        try:
            values = widget_values(link_config(query))
        except ConfigError as exc:
            link["error"], link["form"] = str(exc), _form_state()
        else:
            link["error"] = None
            st.session_state.update(values)
            saved.update(values)
    elif link["error"] and any(st.session_state.get(k) != v for k, v in link["form"].items()):
        link["error"] = None
    return link["error"]


def share_link(config: TrainConfig) -> str:
    """The full address that reproduces `config` (relative when the browser's is unknown)."""
    base = st.context.url or "/Train"
    query = urlencode(config.to_query())
    return f"{base}?{query}" if query else base


def write_link(config: TrainConfig) -> None:
    """Put the form's settings in the URL, so the address reproduces them."""
    query = config.to_query()
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    st.session_state[state.TRAIN_LINK]["query"] = query


# ---------------------------------------------------------------- the widgets


def parse_int_list(name: str, text: str) -> list[int]:
    """'256, 128' -> [256, 128]; a ConfigError naming the field otherwise."""
    parts = str(text).replace(",", " ").split()
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ConfigError(name, f"must be whole numbers separated by commas, got {text!r}") from None


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


def apply_preset() -> None:
    st.session_state.update(widget_values(preset_config(st.session_state["train_preset"])))


def preset_picker() -> None:
    p = st.columns([1, 3])
    p[0].selectbox("Preset", list(PRESETS), key="train_preset", on_change=apply_preset)
    p[1].caption(PRESETS[st.session_state["train_preset"]][0] + " Choosing a preset fills the form.")


def model_controls() -> tuple[str, dict]:
    """Dataset, model and one control per argument the registry declares: (model, raw values)."""
    st.markdown("**Data and model**")
    st.radio("Dataset", list(DATASETS), key="cfg_dataset", horizontal=True,
             format_func=lambda n: DATASETS[n].title)
    model = st.selectbox("Model", list(MODELS), key="cfg_model", format_func=lambda m: MODELS[m].title,
                         help="; ".join(f"{s.title}: {s.description}" for s in MODELS.values()))
    spec = MODELS[model]
    st.caption(spec.description)
    if not spec.args:
        st.caption("This model has no options.")
    raw = {}
    for arg, a in spec.args.items():
        key, default = f"cfg_{model}_{arg}", spec.defaults[arg]
        if key not in st.session_state:
            st.session_state[key] = ", ".join(map(str, default)) if a.kind == "ints" else default
        if a.kind == "ints":
            raw[arg] = st.text_input(a.label, key=key, help=a.help)
        elif a.kind == "bool":
            raw[arg] = st.checkbox(a.label, key=key, help=a.help)
        elif a.kind == "choice":
            raw[arg] = st.selectbox(a.label, list(a.choices), key=key, help=a.help)
        elif a.kind == "float":
            raw[arg] = st.slider(a.label, a.low, a.high, step=a.step, key=key, help=a.help)
        else:
            raw[arg] = st.number_input(a.label, int(a.low), int(a.high), step=int(a.step or 1), key=key,
                                       help=a.help)
    return model, raw


def optimisation_controls() -> None:
    st.markdown("**Optimisation**")
    optimizer = st.selectbox("Optimizer", OPTIMIZERS, key="cfg_optimizer")
    st.number_input("Learning rate", *RANGES["lr"], step=1e-4, format="%.5f", key="cfg_lr")
    st.slider("Momentum", *RANGES["momentum"], step=0.01, key="cfg_momentum",
              disabled=optimizer not in ("sgd", "rmsprop"), help="SGD and RMSprop only")
    st.number_input("Weight decay", *RANGES["weight_decay"], step=1e-4, format="%.5f", key="cfg_weight_decay")
    st.slider("Label smoothing", *RANGES["label_smoothing"], step=0.05, key="cfg_label_smoothing")
    schedule = st.selectbox("Learning-rate schedule", SCHEDULES, key="cfg_schedule")
    s = st.columns(2)
    s[0].number_input("Step size (epochs)", *RANGES["step_size"], key="cfg_step_size", disabled=schedule != "step")
    s[1].number_input("Decay factor", *RANGES["gamma"], step=0.05, key="cfg_gamma", disabled=schedule != "step")
    s[0].number_input("Warm-up (epochs)", *RANGES["warmup_epochs"], step=0.5, key="cfg_warmup_epochs",
                      disabled=schedule != "cosine")
    s[1].number_input("First cycle (epochs)", *RANGES["restart_epochs"], step=0.5, key="cfg_restart_epochs",
                      disabled=schedule != "cosine")


def run_controls() -> tuple[str, bool]:
    """Epochs, batch, data and budget settings; returns (run label, handwriting set is empty)."""
    st.markdown("**Run**")
    r = st.columns(2)
    r[0].number_input("Epochs", *RANGES["epochs"], key="cfg_epochs")
    r[1].number_input("Batch size", *RANGES["batch_size"], step=32, key="cfg_batch_size")
    r[0].number_input("Training images", *RANGES["train_subset"], step=1000, key="cfg_train_subset",
                      help="0 uses the whole training set")
    r[1].number_input("Seed", *RANGES["seed"], key="cfg_seed")
    r[0].selectbox("Device", DEVICES, key="cfg_device")
    r[1].number_input("Log every (batches)", *RANGES["log_every"], key="cfg_log_every")
    r[0].number_input(
        "Time budget (s)", *RANGES["time_budget"], step=5.0, format="%g", key="cfg_time_budget",
        help="0 = no limit. Otherwise training stops after this many seconds (test evaluation "
        "not counted) or at the last epoch, whichever comes first; one-cycle then follows the clock.")
    st.checkbox("Augment (random rotation, shift, scale)", key="cfg_augment")
    hw_empty = False
    if st.checkbox("Add my handwriting", key="cfg_handwriting",
                   help=f"Train on MNIST plus the digits saved on the Draw page, each repeated "
                        f"{HANDWRITING_REPEAT} times so a few dozen of them count."):
        if not sum(handwriting.count_set()[0]):
            hw_empty = True
            st.warning("Your handwriting set is empty: save some digits on the Draw page first.")
            st.page_link(BY_TITLE["Draw"].file, label="Open Draw", icon=":material/draw:")
    label = st.text_input("Run label (optional)", key="train_label", max_chars=80)
    return label, hw_empty


def form_config(raw_kwargs: dict) -> TrainConfig | None:
    """The config the widgets describe, or None after showing what to fix."""
    try:
        values = {f.name: st.session_state[f"cfg_{f.name}"]
                  for f in dataclasses.fields(TrainConfig) if f.name != "model_kwargs"}
        values["model_kwargs"] = {k: parse_int_list(k, v) if isinstance(v, str) else v
                                  for k, v in raw_kwargs.items()}
        return TrainConfig.from_dict(values)
    except ConfigError as exc:
        st.error(f"Please fix the form: {exc}")
        return None
