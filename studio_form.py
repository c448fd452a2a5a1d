"""The Train form's settings: widget values, the widgets' ranges, and the shareable link.

The page's address holds every setting that differs from TrainConfig's defaults
(?model=mlp&lr=0.01&model_kwargs={...}), so a link reproduces a form. A link is checked with
TrainConfig.from_dict and against the widgets' ranges before anything in the form changes.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from mnist_core.config import ConfigError, TrainConfig
from mnist_core.models import model_arguments

LINK = "train_link"  # the URL's settings last read or written, and why a link was refused

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
ARG_RANGES = {float: (0.0, 0.9), int: (0, 4096)}  # model options shown as sliders and numbers


def widget_values(config: TrainConfig) -> dict:
    """Widget key -> value for a whole config, model options included."""
    values = {f"cfg_{k}": v for k, v in config.to_dict().items() if k != "model_kwargs"}
    defaults = model_arguments(config.model)
    for arg, v in {**defaults, **config.model_kwargs}.items():
        if isinstance(v, (list, tuple)):
            v = ", ".join(map(str, v))
        elif type(defaults.get(arg)) in ARG_RANGES:
            v = type(defaults[arg])(v)  # JSON's 0 for a float option would upset its slider
        values[f"cfg_{config.model}_{arg}"] = v
    return values


def link_config(query: dict) -> TrainConfig:
    """The config a shared link describes; ConfigError naming the field the form cannot take."""
    config = TrainConfig.from_dict(query)
    values = config.to_dict()
    for name, (lo, hi) in RANGES.items():
        if not lo <= values[name] <= hi:
            raise ConfigError(name, f"the form takes {_num(lo)} to {_num(hi)}, got {_num(values[name])}")
    for arg, default in model_arguments(config.model).items():
        value = config.model_kwargs[arg]
        if type(default) in ARG_RANGES and arg != "kernel_size":
            lo, hi = ARG_RANGES[type(default)]
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
    state = st.session_state.setdefault(LINK, {"query": None, "error": None, "form": None})
    query = st.query_params.to_dict()
    if query and query != state["query"]:
        state["query"] = query
        try:
            values = widget_values(link_config(query))
        except ConfigError as exc:
            state["error"], state["form"] = str(exc), _form_state()
        else:
            state["error"] = None
            st.session_state.update(values)
            saved.update(values)
    elif state["error"] and any(st.session_state.get(k) != v for k, v in state["form"].items()):
        state["error"] = None
    return state["error"]


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
    st.session_state[LINK]["query"] = query
