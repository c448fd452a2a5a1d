"""Train's live view of this session's run: progress, Pause/Resume/Stop, curves, then the result."""
from __future__ import annotations

import math

import streamlit as st

from mnist_core.jobs.runner import default_runner

from . import experiments_panel, health_panel, identity, picker, state, train_charts
from .nav import BY_TITLE
from .text import duration, plain


def render_job(job) -> bool:
    snap = job.snapshot()
    status, config = snap["status"], snap["config"]
    name = snap["label"] or snap["run_id"] or "new run"
    st.subheader(f"Run: {plain(name)}")  # a label is the visitor's own text
    experiments_panel.job_note(job)
    if status == "queued":
        runner = default_runner()
        st.info(queued_text(runner.queue_place(job), runner.max_running), icon=":material/hourglass:")
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
        parts.append(f"about {duration(snap['eta'])} left" if snap["eta"] else "timing...")
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
        lr_knob(job, snap, b[2])
    if batches:
        # Events before steps_per_epoch was recorded had only the total (a run never continued).
        steps_per_epoch = batches[-1].get("steps_per_epoch") or batches[-1]["total_steps"] / config["epochs"]
        loss_fig, acc_fig = train_charts.training_curves(batches, epochs, steps_per_epoch, snap["probes"],
                                                         snap["lr_changes"])
        c = st.columns(2)
        c[0].plotly_chart(loss_fig, key="live_loss")
        c[1].plotly_chart(acc_fig, key="live_acc")
    if snap["health"] is not None or not job.finished:
        if st.toggle("Inside the network: weights, gradients and dead units", key="job_health"):
            health_panel.show(snap["health"], snap["health_history"], key="job-health")
    if job.finished:
        show_result(job, snap)
    return job.finished


# The knob's stops: a log scale from a hundredth to ten times the schedule's rate.
KNOB = tuple(float(f"{10 ** (k / 4):.2g}") for k in range(-8, 5))


def lr_knob(job, snap, where) -> None:
    """A log-scale slider that multiplies the schedule's learning rate while the run trains."""
    key = f"job_lr_knob-{snap['run_id']}"
    if key not in st.session_state:  # a reload or a second tab shows the knob where it is
        st.session_state[key] = min(KNOB, key=lambda v: abs(math.log(v / snap["lr_scale"])))
    lr = snap["batches"][-1]["lr"] if snap["batches"] else None
    where.select_slider(
        "Learning rate, times the schedule's", options=KNOB, key=key,
        format_func=lambda v: f"x{v:g}", disabled=snap["status"] not in ("running", "paused"),
        on_change=lambda: job.set_lr_scale(st.session_state[key]),
        help="Turn the rate up or down while the run trains: from the next step on, the schedule's "
             "rate is multiplied by this. Each change is marked on the curves. "
             + (f"The rate now: {lr:.2e}." if lr else ""))


def queued_text(place: tuple[int, float | None] | None, slots: int) -> str:
    """What a waiting student reads: their place in the server's queue and when it should start."""
    text = f"Queued: all {slots} training slots on this server are busy"
    if place is None:
        return text + "; it starts when one frees up."
    n, wait = place
    ahead = "it is next in line" if n == 1 else f"it is number {n} in line"
    when = (f"it should start in about {duration(wait)}" if wait is not None
            else "its start time is known once the runs ahead of it have started")
    return f"{text}: {ahead}, and {when}."


def show_result(job, snap) -> None:
    status, epochs = snap["status"], snap["epochs"]
    message = snap["message"]
    if status == "completed" and not snap["learned"]:
        st.warning(message, icon=":material/trending_flat:")
    elif status == "completed":
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
    m[3].metric("Training time", duration(snap["elapsed"]))
    where = f"; saved in `{snap['run_path']}`" if identity.sees_server_details() else "; saved on Runs"
    st.caption(f"{snap['params']:,} parameters on {snap['device']}{where}")
    in_use = picker.current_model_key() == snap["run_path"]
    c = st.columns([2, 1, 3])
    if c[0].button("Use this model", type="primary", disabled=in_use, key="job_use", icon=":material/check:"):
        picker.use_model(snap["run_path"])
        st.rerun(scope="app")
    # A button, not a link: Evaluate shows the model in use, so this run must become it first,
    # or Evaluate opens on whichever model was in use before (the bundled one, usually).
    if c[1].button("Evaluate it", key="job_evaluate", icon=":material/fact_check:",
                   help="Makes this run the model in use (Evaluate and Draw share it) and opens Evaluate."):
        picker.use_model(snap["run_path"])
        st.switch_page(BY_TITLE["Evaluate"].file)
    if in_use:
        st.caption("This model is now used by Evaluate and Draw.")
    if status in ("completed", "stopped") and snap["run_path"] and not snap["config"].get("time_budget"):
        continue_controls(job, snap)


def continue_words(last_epoch: float, more: int) -> str:
    """The Continue button's label. A run stopped part-way (1.37) first finishes that epoch, and
    the label says so: "1 more epoch" from 1.37 ends at epoch 2, not 2.37."""
    done = math.floor(last_epoch)
    if last_epoch == done:
        return f"Continue for {more} more epoch{'s' if more > 1 else ''}"
    then = f" and train {more - 1} more" if more > 1 else ""
    return f"Finish epoch {done + 1}{then}"


def continue_controls(job, snap) -> None:
    """"+N epochs": the same run trains on from its checkpoint, its curves extended."""
    from mnist_core.jobs.runner import JobLimitError
    from mnist_core.runs.folders import RunError, runs_root
    from mnist_core.train.config import ConfigError

    from .shared_data import dataset_or_help

    c = st.columns([1, 2, 3], vertical_alignment="bottom")
    more = c[0].number_input("More epochs", 1, 100, 1, key="job_more_epochs")
    if c[1].button(continue_words(snap["epochs"][-1]["epoch"], int(more)), key="job_continue",
                   icon=":material/fast_forward:",
                   help="Trains this same run on from its last checkpoint, with its optimizer's state and "
                        "a fresh learning-rate schedule over the added steps; the curves go on. A run "
                        "stopped part-way through an epoch first finishes it, on the digits it had not "
                        "reached."):
        data = dataset_or_help(snap["config"]["dataset"])
        if data is None:
            return
        try:
            st.session_state[state.TRAIN_JOB] = default_runner().submit_continue(
                snap["run_path"], int(more), data, runs_root(), owner=identity.current().owner(), origin="train",
                earlier=job, server_settings=identity.visitor_settings())
        except (JobLimitError, RunError, ConfigError) as exc:
            st.warning(str(exc), icon=":material/hourglass:")
            return
        st.rerun(scope="app")
