"""The Train form's values and its shareable link: widget values for a config, the form's
ranges, and reading and writing the page's address.

The address holds the model and every setting that differs from TrainConfig's defaults
(?model=mlp&lr=0.01&model_kwargs={...}), so a link reproduces a form; a hand-written link may
also name a preset (?preset=best). A link is checked with
TrainConfig.from_dict and against the form's ranges before anything in the form changes.

Another page sends settings to Train with send(), which also says where they came from (a
sweep's best trial); show_origin() says it above the form for as long as the form holds them.
"""
from __future__ import annotations

from typing import NoReturn
from urllib.parse import urlencode

import streamlit as st

from mnist_core.models.registry import MODELS
from mnist_core.train.config import ConfigError, TrainConfig, preset_settings

from . import state
from .nav import BY_TITLE

TEXT_FIELDS = ("lr", "weight_decay")  # floats typed as text: the shortest exact form, 1e-06 or 0.003
NUMBER_KINDS = {"int": int, "float": float}  # model options shown as numbers and sliders, with ranges

# The form's ranges, checked for the form's values and for links alike (the sliders also draw them).
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
    values = {f"cfg_{k}": str(v) if k in TEXT_FIELDS else v
              for k, v in config.to_dict().items() if k != "model_kwargs"}
    spec = MODELS[config.model]
    for arg, v in {**spec.defaults, **config.model_kwargs}.items():
        kind = spec.args[arg].kind
        if kind == "ints":
            v = ", ".join(map(str, v))
        elif kind in NUMBER_KINDS:
            v = NUMBER_KINDS[kind](v)  # JSON's 0 for a float option would upset its slider
        values[f"cfg_{config.model}_{arg}"] = v
    return values


def checked_config(values: dict) -> TrainConfig:
    """The config a link or the form describes; ConfigError naming the first field that is not
    valid or lies outside the form's range."""
    config = TrainConfig.from_dict(values)
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


def with_preset(query: dict) -> dict:
    """A link's settings with `preset=NAME` (?preset=best&seed=3) read as that preset's settings,
    the link's other settings on top."""
    query = dict(query)
    query.pop("experiment", None)  # which experiment's link this is: not a setting
    name = query.pop("preset", None)
    return query if name is None else {**preset_settings(name), **query}


def _num(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _form_state() -> dict:
    return {k: v for k, v in st.session_state.items() if isinstance(k, str) and k.startswith("cfg_")}


def read_link(saved: dict):
    """Fill the form from the URL when it holds new settings; returns a refused link's error.

    A refused link stays refused (and Start disabled) until the user changes the form, so a run
    never starts from settings the user believes came from the link.
    """
    link = _link()
    query = st.query_params.to_dict()
    if query and query != link["query"]:
        link["query"] = query
        try:
            values = widget_values(checked_config(with_preset(query)))
        except ConfigError as exc:
            link["error"], link["form"] = str(exc), _form_state()
        else:
            link["error"] = None
            st.session_state.update(values)
            st.session_state[state.TRAIN_EXPERIMENT] = query.get("experiment")
            saved.update(values)
            _applied(link, query, values)
    elif link["error"] and any(st.session_state.get(k) != v for k, v in link["form"].items()):
        link["error"] = None
    return link["error"]


def _link() -> dict:
    return st.session_state.setdefault(state.TRAIN_LINK, {"query": None, "error": None, "form": None})


def send(config: TrainConfig, origin: str) -> NoReturn:
    """Open Train on `config`, remembering where the settings came from: `origin` is the sentence
    show_origin() says above the form ("Settings from sweep ..., trial 3 (98.12%): ...").

    A finished run of this session is let go first: Train draws it above the form, and a failed
    run's error sitting over the new settings read as if it were theirs (the run stays on Runs).
    A run still training is kept, so its live view is never lost."""
    query = {k: str(v) for k, v in link_query(config).items()}
    link = _link()
    link["origin"] = {"text": origin, "query": query, "form": None}
    link["query"] = None  # read again even when the same settings were sent before
    job = st.session_state.get(state.TRAIN_JOB)
    if job is not None and job.finished:
        del st.session_state[state.TRAIN_JOB]
    st.switch_page(BY_TITLE["Train"].file, query_params=query)


def _applied(link: dict, query: dict, values: dict) -> None:
    """The link just filled the form: when it is the one send() sent, remember the form it made,
    so the origin is said until a setting changes. Any other link ends an earlier origin."""
    origin = link.get("origin")
    if origin is not None:
        if origin["query"] == query:
            origin["form"] = dict(values)
        else:
            link["origin"] = None


def applied_from() -> str | None:
    """Where the form's settings came from (send()'s sentence) while the form still holds them;
    None otherwise. Once any setting is changed the settings are the user's own, and the
    sentence is dropped for good."""
    link = st.session_state.get(state.TRAIN_LINK) or {}
    origin = link.get("origin")
    if not origin or origin["form"] is None:
        return None
    if any(st.session_state.get(k) != v for k, v in origin["form"].items()):
        link["origin"] = None
        return None
    return origin["text"]


def show_origin() -> None:
    """Say above Train's form where its settings came from, when another page sent them."""
    text = applied_from()
    if text:
        st.info(text, icon=":material/tune:")


def link_query(config: TrainConfig) -> dict[str, str]:
    """The address's settings: the model, then what differs from TrainConfig's defaults. The
    model is always there, so the default preset's link is not a bare /Train (the start page)."""
    return {"model": config.model, **config.to_query()}


def share_link(config: TrainConfig) -> str:
    """The full address that reproduces `config` (relative when the browser's is unknown)."""
    base = st.context.url or "/Train"
    return f"{base}?{urlencode(link_query(config))}"


def write_link(config: TrainConfig) -> None:
    """Put the form's settings in the URL, so the address reproduces them."""
    query = link_query(config)
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    st.session_state[state.TRAIN_LINK]["query"] = query
