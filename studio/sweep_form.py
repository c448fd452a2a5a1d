"""The Sweep page's setup: the fixed settings (a preset), what varies and how, the trial count
and the objective, read into (base config, space) for mnist_core.studies.sweep."""
from __future__ import annotations

import streamlit as st

from mnist_core.errors import SweepError
from mnist_core.studies.sweep import check_space
from mnist_core.train.config import OPTIMIZERS, PRESETS, ConfigError, preset_config

BASES = ("quick", "default", "mlp", "logistic")
BATCHES = [16, 32, 64, 128, 256, 512, 1024]
# Setting -> (label, kind, default, varied at first). Ranges are typed as text so 1e-4 reads as is.
KNOBS = {
    "lr": ("Learning rate", "range", ("1e-4", "1e-1", True), True),
    "batch_size": ("Batch size", "choices", [64, 128, 256], True),
    "epochs": ("Epochs", "range", ("1", "3", False), False),
    "weight_decay": ("Weight decay", "range", ("1e-5", "1e-2", True), False),
    "label_smoothing": ("Label smoothing", "range", ("0", "0.2", False), False),
    "dropout": ("Dropout", "range", ("0", "0.5", False), False),
    "optimizer": ("Optimizer", "choices", ["adam", "sgd"], False),
    "augment": ("Augment", "choices", [False, True], False),
}
OPTIONS = {"batch_size": BATCHES, "optimizer": list(OPTIMIZERS), "augment": [False, True]}


def base_controls():
    """The fixed settings: a preset, with the training images and epochs per trial."""
    c = st.columns([2, 1, 1])
    preset = c[0].selectbox("Start from the preset", BASES, key="sweep_base",
                            format_func=lambda p: f"{p}: {PRESETS[p][0]}",
                            help="Every setting not varied below is the preset's.")
    defaults = PRESETS[preset][1]
    subset = c[1].number_input("Training images per trial", 1000, 60000, int(defaults.get("train_subset") or 10000),
                               step=1000, key=f"sweep_subset_{preset}",
                               help="Fewer images make each trial faster; the test set is always all 10,000.")
    budget = c[2].number_input("Time budget per trial (s)", 0, 600, 0, step=5, key="sweep_budget",
                               help="0: each trial trains its epochs. Otherwise each trains for this many "
                                    "seconds, and the sweep finds the best accuracy for that time.")
    try:
        return preset_config(preset, train_subset=int(subset), time_budget=float(budget),
                             **({"schedule": "onecycle"} if budget else {}))
    except ConfigError as exc:
        st.error(f"These fixed settings are not valid: {exc}")
        return None


def _range(name: str, label: str, default) -> dict:
    low, high, log = default
    c = st.columns([2, 2, 1])
    lo = c[0].text_input(f"{label}: from", low, key=f"sweep_{name}_low")
    hi = c[1].text_input(f"{label}: to", high, key=f"sweep_{name}_high")
    is_log = c[2].checkbox("Log scale", log, key=f"sweep_{name}_log",
                           help="Spread the trials evenly over the powers of ten, as for learning rates.")
    return {"low": lo.strip(), "high": hi.strip(), "log": is_log}


def space_controls(base) -> dict | None:
    """The varied settings as a checked space, or None (with the reason on screen)."""
    space = {}
    for name, (label, kind, default, on) in KNOBS.items():
        if name == "dropout" and "dropout" not in base.model_kwargs:
            continue
        if not st.checkbox(f"Vary {label.lower()}", on, key=f"sweep_vary_{name}"):
            continue
        if kind == "range":
            space[name] = _range(name, label, default)
        else:
            picked = st.multiselect(f"{label}: try", OPTIONS[name], default, key=f"sweep_{name}_choices",
                                    format_func=lambda v: str(v).lower() if isinstance(v, bool) else str(v))
            space[name] = {"choices": picked}
    if not space:
        st.info("Tick at least one setting to vary.")
        return None
    try:
        return check_space(space, base)
    except SweepError as exc:
        st.error(f"The sweep cannot start: {exc}")
        return None


def run_controls(max_parallel: int) -> tuple[int, int]:
    c = st.columns(2)
    trials = c[0].slider("Trials", 2, 40, 12, key="sweep_trials",
                         help="How many runs the sweep makes. The first third are random; later ones "
                              "follow what worked (Optuna's TPE sampler).")
    if max_parallel <= 1:  # a slider from 1 to 1 is refused by Streamlit
        c[1].caption("Trials train one at a time: this server runs one job at once.")
        return trials, 1
    parallel = c[1].slider("At once", 1, max_parallel, max_parallel, key="sweep_parallel",
                           help=f"Trials training at the same time; this server runs at most {max_parallel} "
                                "jobs at once, for everyone.")
    return trials, parallel
