"""A sweep's search space: which settings vary and how, as text
(`lr=1e-4..1e-1:log batch_size=32,64,128`) or as a dict ({"lr": {"low": 1e-4, "high": 0.1,
"log": true}, "batch_size": {"choices": [...]}}), checked against TrainConfig before any trial
starts. Numeric model options (the CNN's `dropout`, `hidden`, ...) vary by their own names."""
from __future__ import annotations

import re

from mnist_core.errors import SweepError
from mnist_core.models.registry import MODELS
from mnist_core.train.config import ConfigError, TrainConfig, coerce

FLOAT_FIELDS = ("lr", "weight_decay", "label_smoothing", "momentum", "gamma", "warmup_epochs", "restart_epochs")
INT_FIELDS = ("batch_size", "epochs", "train_subset", "step_size")
# Not "model": each model has its own options, so a sweep over models is a sweep per model
# (Head to head compares models).
CHOICE_FIELDS = ("optimizer", "schedule", "augment", "distort")


def _is_model_option(name: str, base: TrainConfig) -> bool:
    """A name that is one of the base model's options (dropout, hidden...), not a TrainConfig field."""
    return name in MODELS[base.model].args and name not in FLOAT_FIELDS + INT_FIELDS + CHOICE_FIELDS


def _kind(name: str, base: TrainConfig) -> str:
    """"float", "int" or "choice" for a field or a numeric model option of the base model."""
    if name in FLOAT_FIELDS:
        return "float"
    if name in INT_FIELDS:
        return "int"
    if name in CHOICE_FIELDS:
        return "choice"
    arg = MODELS[base.model].args.get(name)
    if arg is not None and arg.kind in ("int", "float"):
        return arg.kind
    if arg is not None and arg.kind in ("bool", "choice"):
        return "choice"
    options = sorted(FLOAT_FIELDS + INT_FIELDS + CHOICE_FIELDS) + sorted(
        a for a, spec in MODELS[base.model].args.items() if spec.kind != "ints")
    raise SweepError(f"{name!r} cannot be swept; choose from {', '.join(options)}")


def parse_space(text: str) -> dict:
    """'lr=1e-4..1e-1:log batch_size=32,64' -> the dict form (values still as typed)."""
    space = {}
    for entry in re.split(r"[\s;]+", text.strip()):
        if not entry:
            continue
        name, sep, spec = entry.partition("=")
        if not sep or not name or not spec:
            raise SweepError(f"{entry!r}: write name=low..high[:log] or name=a,b,c")
        if ".." in spec:
            bounds, _, scale = spec.partition(":")
            low, _, high = bounds.partition("..")
            if scale not in ("", "log"):
                raise SweepError(f"{entry!r}: the only scale is ':log'")
            space[name] = {"low": low, "high": high, "log": scale == "log"}
        else:
            space[name] = {"choices": [c for c in spec.split(",") if c != ""]}
    if not space:
        raise SweepError("the space is empty: name at least one setting to vary")
    return space


def _value(name: str, value, base: TrainConfig):
    """One value of a field as TrainConfig (or the model's option) takes it, checked."""
    try:
        if _is_model_option(name, base):
            config = base.replace(model_kwargs={**base.model_kwargs, name: value})
            return config.model_kwargs[name]
        config = base.replace(**{name: coerce(name, value)})
        return getattr(config, name)
    except ConfigError as exc:
        raise SweepError(f"{name}: {value!r} is not a valid value ({exc})") from None


def check_space(space: dict, base: TrainConfig) -> dict:
    """The space with every bound and choice checked against TrainConfig; SweepError otherwise."""
    if not isinstance(space, dict) or not space:
        raise SweepError("the space is empty: name at least one setting to vary")
    out = {}
    for name, spec in space.items():
        kind = _kind(name, base)
        if not isinstance(spec, dict):
            raise SweepError(f"{name}: give a range (low, high) or choices")
        if "choices" in spec:
            choices = []
            for c in spec["choices"]:
                v = _value(name, c, base)
                if v not in choices:
                    choices.append(v)
            if len(choices) < 2:
                raise SweepError(f"{name}: give at least two different choices, got {spec['choices']!r}")
            out[name] = {"choices": choices}
            continue
        if kind == "choice":
            raise SweepError(f"{name} takes choices (a,b,c), not a range")
        low, high = _value(name, spec.get("low"), base), _value(name, spec.get("high"), base)
        if kind == "int":
            low, high = int(low), int(high)
        log = bool(spec.get("log", False))
        if not low < high:
            raise SweepError(f"{name}: the range {low:g}..{high:g} is empty; the low end must be below the high end")
        if log and low <= 0:
            raise SweepError(f"{name}: a log scale needs a low end above 0, got {low:g}")
        out[name] = {"low": low, "high": high, "log": log}
    return out


def describe_space(space: dict) -> str:
    """The space as the text form (what the CLI takes)."""
    parts = []
    for name, spec in space.items():
        if "choices" in spec:
            parts.append(f"{name}={','.join(str(c).lower() if isinstance(c, bool) else str(c) for c in spec['choices'])}")
        else:
            parts.append(f"{name}={spec['low']:g}..{spec['high']:g}{':log' if spec['log'] else ''}")
    return " ".join(parts)


def suggest(trial, space: dict, base: TrainConfig) -> TrainConfig:
    """The trial's config: the base with each varied setting as Optuna suggests it."""
    values = {}
    for name, spec in space.items():
        if "choices" in spec:
            values[name] = trial.suggest_categorical(name, spec["choices"])
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            values[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec["log"])
        else:
            values[name] = trial.suggest_float(name, spec["low"], spec["high"], log=spec["log"])
    return config_of(values, base)


def config_of(params: dict, base: TrainConfig, digits: int | None = None) -> TrainConfig:
    """The base with a trial's parameters (settings and model options); with `digits`, floats
    rounded to that many significant digits, as a person would type them."""
    if digits:
        params = {k: float(f"{v:.{digits}g}") if isinstance(v, float) else v for k, v in params.items()}
    kwargs = {k: v for k, v in params.items() if _is_model_option(k, base)}
    fields = {k: v for k, v in params.items() if k not in kwargs}
    return base.replace(**fields, model_kwargs={**base.model_kwargs, **kwargs})
