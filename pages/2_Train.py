import dataclasses

import streamlit as st

import studio_charts as charts
import studio_ui
from mnist_core import handwriting
from mnist_core.config import (
    DEVICES,
    HANDWRITING_REPEAT,
    OPTIMIZERS,
    PRESETS,
    SCHEDULES,
    ConfigError,
    TrainConfig,
    preset_config,
)
from mnist_core.data import DATASETS
from mnist_core.estimate import estimate_seconds
from mnist_core.jobs import JobLimitError, default_runner
from mnist_core.models import MODELS, model_arguments
from studio_form import ARG_RANGES, RANGES, read_link, share_link, widget_values, write_link

JOB = "train_job"
SAVED = "train_saved"  # widget values outlive the widgets, which are dropped on page change

MODEL_TITLES = {"logreg": "Logistic regression", "mlp": "MLP", "cnn": "CNN", "tutorial_cnn": "Tutorial CNN"}

ARG_LABELS = {
    "hidden": "Hidden units",
    "channels": "Conv channels",
    "dropout": "Dropout",
    "batch_norm": "Batch norm",
    "kernel_size": "Kernel size",
}


def render_job(job) -> bool:
    snap = job.snapshot()
    status, config = snap["status"], snap["config"]
    name = snap["label"] or snap["run_id"] or "new run"
    st.subheader(f"Run: {name}")
    if status == "queued":
        st.info(
            f"Queued: all {default_runner().max_running} training slots on this server are "
            "busy; it starts when one frees up.",
            icon=":material/hourglass:",
        )
    elif status == "starting":
        st.info("Starting: loading the data and building the model...")
    batches, epochs = snap["batches"], snap["epochs"]
    parts = [
        f"{snap['progress']:.0%}",
        f"epoch {batches[-1]['epoch'] if batches else 1} of {config['epochs']}",
    ]
    if config.get("time_budget"):
        parts[1] = f"epoch {batches[-1]['epoch'] if batches else 1}, {config['time_budget']:g} s budget"
    if not job.finished:
        parts.append(f"about {studio_ui.duration(snap['eta'])} left" if snap["eta"] else "timing...")
    if snap["images_per_s"]:
        parts.append(f"{snap['images_per_s']:,.0f} images/s")
    progress_text = " · ".join(parts + [status])
    st.progress(min(1.0, snap["progress"]), text=progress_text)
    if not job.finished:
        b = st.columns([1, 1, 6])
        if status == "paused":
            b[0].button("Resume", icon=":material/play_arrow:", on_click=job.resume, key="job_resume")
        else:
            b[0].button(
                "Pause",
                icon=":material/pause:",
                on_click=job.pause,
                key="job_pause",
                disabled=status != "running",
            )
        b[1].button("Stop", icon=":material/stop:", on_click=job.stop, key="job_stop")
    if batches:
        steps_per_epoch = batches[-1]["total_steps"] / config["epochs"]
        loss_fig, acc_fig = charts.training_curves(batches, epochs, steps_per_epoch, snap["probes"])
        c = st.columns(2)
        c[0].plotly_chart(loss_fig, key="live_loss")
        c[1].plotly_chart(acc_fig, key="live_acc")
    if job.finished:
        show_result(job, snap)
    return job.finished


def show_result(job, snap) -> None:
    status, epochs = snap["status"], snap["epochs"]
    message = snap["message"]
    if status == "completed":
        st.success(message, icon=":material/check_circle:")
    elif status in ("diverged", "failed"):
        st.error(message)
    else:
        st.warning(message)
    if not epochs:
        return
    last = epochs[-1]
    m = st.columns(4)
    m[0].metric("Final test accuracy", f"{last['test_acc']:.2%}")
    m[1].metric("Best test accuracy", f"{max(e['test_acc'] for e in epochs):.2%}")
    m[2].metric("Test loss", f"{last['test_loss']:.4f}")
    m[3].metric("Training time", studio_ui.duration(snap["elapsed"]))
    st.caption(f"{snap['params']:,} parameters on {snap['device']}; saved in `{snap['run_path']}`")
    in_use = studio_ui.current_model_key() == snap["run_path"]
    c = st.columns([2, 1, 3])
    if c[0].button("Use this model", type="primary", disabled=in_use, key="job_use", icon=":material/check:"):
        studio_ui.use_model(snap["run_path"])
        st.rerun(scope="app")
    c[1].page_link("pages/3_Evaluate.py", label="Evaluate it", icon=":material/fact_check:")
    if in_use:
        st.caption("This model is now used by Evaluate and Draw.")


def apply_preset() -> None:
    st.session_state.update(widget_values(preset_config(st.session_state["train_preset"])))


def model_kwarg_controls(model: str) -> dict:
    """One control per argument of the chosen model; returns their raw values."""
    kwargs = {}
    defaults = model_arguments(model)
    if not defaults:
        st.caption("This model has no options.")
    for arg, default in defaults.items():
        key = f"cfg_{model}_{arg}"
        if key not in st.session_state:
            st.session_state[key] = ", ".join(map(str, default)) if isinstance(default, tuple) else default
        label = ARG_LABELS.get(arg, arg)
        if isinstance(default, tuple):
            kwargs[arg] = st.text_input(label, key=key, help="Comma-separated layer widths, e.g. 256, 128")
        elif isinstance(default, bool):
            kwargs[arg] = st.checkbox(label, key=key)
        elif arg == "kernel_size":
            kwargs[arg] = st.selectbox(label, [3, 5, 7], key=key)
        elif isinstance(default, float):
            kwargs[arg] = st.slider(label, *ARG_RANGES[float], step=0.05, key=key)
        else:
            kwargs[arg] = st.number_input(label, *ARG_RANGES[int], step=16, key=key, help="0 removes the hidden layer")
    return kwargs


with studio_ui.page("Train", ":material/model_training:"):
    st.title("Train")
    job = st.session_state.get(JOB)
    if job is not None:
        studio_ui.live_panel(lambda: render_job(job), not job.finished, "the run")
        st.divider()
    saved = st.session_state.setdefault(SAVED, {})
    if not saved:
        saved.update(widget_values(preset_config("quick")), train_preset="quick")
    for key, value in saved.items():
        st.session_state.setdefault(key, value)
    link_error = read_link(saved)
    st.subheader("New run")
    if link_error:
        st.error(
            f"The settings in this page's address were not used: {link_error}. "
            "Fix the address, or change any setting below to go on with the form as it is."
        )
    # Checked before the form so that missing data is the first thing a user reads.
    data = studio_ui.dataset_or_help(st.session_state["cfg_dataset"])
    p = st.columns([1, 3])
    p[0].selectbox("Preset", list(PRESETS), key="train_preset", on_change=apply_preset)
    p[1].caption(PRESETS[st.session_state["train_preset"]][0] + " Choosing a preset fills the form.")
    hw_empty = False
    col_model, col_opt, col_run = st.columns(3)
    with col_model:
        st.markdown("**Data and model**")
        st.radio(
            "Dataset",
            list(DATASETS),
            key="cfg_dataset",
            horizontal=True,
            format_func=lambda n: DATASETS[n].title,
        )
        model = st.selectbox("Model", list(MODELS), key="cfg_model", format_func=MODEL_TITLES.get)
        raw_kwargs = model_kwarg_controls(model)
    with col_opt:
        st.markdown("**Optimisation**")
        optimizer = st.selectbox("Optimizer", OPTIMIZERS, key="cfg_optimizer")
        st.number_input("Learning rate", *RANGES["lr"], step=1e-4, format="%.5f", key="cfg_lr")
        st.slider(
            "Momentum",
            *RANGES["momentum"],
            step=0.01,
            key="cfg_momentum",
            disabled=optimizer not in ("sgd", "rmsprop"),
            help="SGD and RMSprop only",
        )
        st.number_input("Weight decay", *RANGES["weight_decay"], step=1e-4, format="%.5f", key="cfg_weight_decay")
        st.slider("Label smoothing", *RANGES["label_smoothing"], step=0.05, key="cfg_label_smoothing")
        schedule = st.selectbox("Learning-rate schedule", SCHEDULES, key="cfg_schedule")
        s = st.columns(2)
        s[0].number_input("Step size (epochs)", *RANGES["step_size"], key="cfg_step_size", disabled=schedule != "step")
        s[1].number_input("Decay factor", *RANGES["gamma"], step=0.05, key="cfg_gamma", disabled=schedule != "step")
        s[0].number_input(
            "Warm-up (epochs)", *RANGES["warmup_epochs"], step=0.5, key="cfg_warmup_epochs", disabled=schedule != "cosine"
        )
        s[1].number_input(
            "First cycle (epochs)",
            *RANGES["restart_epochs"],
            step=0.5,
            key="cfg_restart_epochs",
            disabled=schedule != "cosine",
        )
    with col_run:
        st.markdown("**Run**")
        r = st.columns(2)
        r[0].number_input("Epochs", *RANGES["epochs"], key="cfg_epochs")
        r[1].number_input("Batch size", *RANGES["batch_size"], step=32, key="cfg_batch_size")
        r[0].number_input(
            "Training images",
            *RANGES["train_subset"],
            step=1000,
            key="cfg_train_subset",
            help="0 uses the whole training set",
        )
        r[1].number_input("Seed", *RANGES["seed"], key="cfg_seed")
        r[0].selectbox("Device", DEVICES, key="cfg_device")
        r[1].number_input("Log every (batches)", *RANGES["log_every"], key="cfg_log_every")
        r[0].number_input(
            "Time budget (s)",
            *RANGES["time_budget"],
            step=5.0,
            format="%g",
            key="cfg_time_budget",
            help="0 = no limit. Otherwise training stops after this many seconds (test evaluation "
            "not counted) or at the last epoch, whichever comes first; one-cycle then follows the clock.",
        )
        st.checkbox("Augment (random rotation, shift, scale)", key="cfg_augment")
        if st.checkbox("Add my handwriting", key="cfg_handwriting",
                       help=f"Train on MNIST plus the digits saved on the Draw page, each repeated "
                            f"{HANDWRITING_REPEAT} times so a few dozen of them count."):
            if not sum(handwriting.count_set()[0]):
                hw_empty = True
                st.warning("Your handwriting set is empty: save some digits on the Draw page first.")
                st.page_link("pages/4_Draw.py", label="Open Draw", icon=":material/draw:")
        label = st.text_input("Run label (optional)", key="train_label", max_chars=80)
    saved.update(
        {
            k: v
            for k, v in st.session_state.items()
            if isinstance(k, str) and (k.startswith("cfg_") or k == "train_preset")
        }
    )
    config = None
    try:
        values = {
            f.name: st.session_state[f"cfg_{f.name}"]
            for f in dataclasses.fields(TrainConfig)
            if f.name != "model_kwargs"
        }
        values["model_kwargs"] = {
            k: studio_ui.parse_int_list(k, v) if isinstance(v, str) else v for k, v in raw_kwargs.items()
        }
        config = TrainConfig.from_dict(values)
    except ConfigError as exc:
        st.error(f"Please fix the form: {exc}")
    if config is not None and not link_error:
        write_link(config)
        with st.popover("Share these settings", icon=":material/share:"):
            st.markdown("The page's address holds the settings above: anyone who opens this link gets "
                        "the same form (the run itself is not included).")
            st.code(share_link(config), language=None, wrap_lines=True)
    if config is None or data is None:
        st.stop()
    estimates = st.session_state.setdefault("train_estimates", {})
    key = config.to_json()
    busy = job is not None and not job.finished
    blocked = busy or bool(link_error) or hw_empty
    b = st.columns([1, 1, 4])
    if b[0].button("Estimate time", icon=":material/timer:", key="train_estimate"):
        with st.spinner("Timing a few batches of this model..."):
            with studio_ui.shown_errors():
                estimates[key] = estimate_seconds(config, data)
    start = b[1].button(
        "Start training", type="primary", icon=":material/play_arrow:", key="train_start", disabled=blocked
    )
    if key in estimates:
        e = estimates[key]
        b[2].info(
            f"Estimated **{studio_ui.duration(e['seconds'])}** here: {e['steps']:,} steps of "
            f"{e['step_seconds'] * 1000:.0f} ms plus {studio_ui.duration(e['eval_seconds'])} "
            "of evaluation.",
            icon=":material/timer:",
        )
    elif busy:
        b[2].caption("A run of this session is in progress; stop it or wait for it to finish.")
    if start and not blocked:
        try:
            st.session_state[JOB] = default_runner().submit(config, data, studio_ui.runs_dir(), label)
            st.rerun()
        except JobLimitError as exc:
            st.warning(str(exc), icon=":material/hourglass:")
