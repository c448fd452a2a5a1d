"""The Sweep page's views: a study's trials as they arrive, Optuna's own figures, the best
settings sent to Train, and any trial's run opened in Evaluate."""
from __future__ import annotations

from collections import Counter

import streamlit as st

from mnist_core.runs.folders import runs_root
from mnist_core.studies import sweep
from mnist_core.train.config import TrainConfig

from . import picker, state, train_link
from .nav import BY_TITLE
from .sweep_form import KNOBS
from .text import MISSING, plain

FIGURES = {"history": "Optimisation history", "importance": "Parameter importances",
           "parallel": "Parallel coordinates", "slice": "Slices"}


def storage() -> str:
    return sweep.default_storage(runs_root())


def _figures(study, complete: int) -> dict:
    # Redrawn only when a trial completes (the figures plot no other): a running sweep's page
    # refreshes every second.
    return state.cached(state.SWEEP_FIGURES, (study.study_name, complete), lambda: sweep.figures(study))


def state_of(t) -> str:
    """A trial's state as the page says it: a trial Stop the sweep ended is "stopped", not "fail"."""
    if t.state.name == "FAIL":
        return "stopped" if t.user_attrs.get("status") == "stopped" else "failed"
    return t.state.name.lower()


# The states of a trial that has ended, as state_of() says them: what the status line counts.
ENDED = ("complete", "pruned", "failed", "stopped")


def trials_of(study) -> list:
    """The study's trials, read once per drawing: the status line, the table and the best trial
    all come from this one reading, so a trial that ends while the page draws cannot be finished
    in one and running in another."""
    return [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("surplus")]


def trials_table(trials: list, jobs: dict | None = None) -> list[dict]:
    """One row a trial. The study's state is final once it has one; until then the trial's job
    (of this server) says how it is doing."""
    rows = []
    for t in trials:
        job = dict(jobs or {}).get(t.number)
        row = {"trial": t.number, "state": state_of(t), "test accuracy": t.value}
        if job is not None and not t.state.is_finished():
            epochs = job.epochs
            # A job that has ended is "finishing" until the sweep's thread has told the study
            # (under a second): not yet counted as ended, but its last accuracy stays in view.
            row["state"] = "finishing" if job.finished else job.status
            row["test accuracy"] = epochs[-1]["test_acc"] if epochs else None
        row["epochs"] = len(t.intermediate_values) or None
        row.update({k: v for k, v in t.params.items()})
        row["run"] = t.user_attrs.get("run_id") or (job.run_id if job is not None else None)
        rows.append(row)
    return rows


def show_study(study, jobs: dict | None = None) -> None:
    """Trials, figures and what to do with the best one."""
    attrs = study.user_attrs
    trials = trials_of(study)
    rows = trials_table(trials, jobs)
    ended = [r for r in rows if r["state"] in ENDED]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    counts = Counter(r["state"] for r in ended)
    st.markdown(f"**{len(ended)} of {attrs.get('n_trials', '?')} trials finished** "
                f"({', '.join(f'{n} {k}' for k, n in counts.items()) or 'none yet'}). "
                f"Objective: {attrs.get('objective', 'test accuracy')}; "
                f"varied: `{sweep.describe_space(attrs.get('space') or {})}`.")
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch", placeholder=MISSING,
                     column_config={"test accuracy": st.column_config.NumberColumn(format="percent")})
    figures = _figures(study, len(complete))
    if not figures:
        # Optuna's figures plot complete trials only: a pruned, stopped or failed one has ended
        # but gives them nothing, so "once a trial has finished" was untrue beside "1 finished".
        st.caption("The figures appear once a trial is complete (pruned, stopped and failed trials "
                   "are not plotted).")
    else:
        tabs = st.tabs([FIGURES[k] for k in FIGURES if k in figures], key=f"sweep_tabs_{study.study_name}")
        for tab, name in zip(tabs, [k for k in FIGURES if k in figures]):
            with tab:
                st.plotly_chart(figures[name], key=f"sweep_fig_{study.study_name}_{name}")
        missing = [FIGURES[k] for k in FIGURES if k not in figures]
        if missing:
            st.caption(f"{', '.join(missing)}: need more complete trials with different settings.")
        if len(complete) < 10:
            st.caption(f"With {len(complete)} complete trial(s) these are rough: importances and slices "
                       "settle once 10 or more are complete. Parallel coordinates show accuracy as a "
                       "fraction (0.98 = 98%).")
    if complete:
        best = max(complete, key=lambda t: t.value)
        base = TrainConfig.from_dict(attrs["base"])
        config = sweep.config_of(best.params, base, digits=3)  # 0.00352, not 0.00351527373570865
        c = st.columns([2, 3])
        # A button, not a link: Train is told where its settings came from (send()).
        if c[0].button(f"Use the best settings (trial {best.number}, {best.value:.2%})", icon=":material/tune:",
                       key=f"sweep_best_{study.study_name}"):
            train_link.send(config, origin_text(study.study_name, best, config))
        # Best first, so the choice beside "Use the best settings" is the same trial.
        ranked = sorted((t for t in trials if t.user_attrs.get("run_id")),
                        key=lambda t: (t.value is None, -(t.value or 0.0), t.number))
        _open_in_evaluate(c[1], ranked, study.study_name, len(ended))


def origin_text(name: str, trial, config: TrainConfig) -> str:
    """What Train says of settings sent from a sweep: the study, the trial and its score, and each
    varied setting as applied (rounded, as the form shows it)."""
    values = {**config.to_dict(), **config.model_kwargs}
    applied = ", ".join(f"{KNOBS[k][0].lower() if k in KNOBS else k.replace('_', ' ')} {_shown(values.get(k))}"
                        for k in trial.params)
    return (f"Settings from sweep **{plain(name)}**, trial {trial.number} ({trial.value:.2%} test accuracy): "
            f"{applied}. Every other setting is the sweep's fixed one.")


def _shown(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _open_in_evaluate(col, trials: list, name: str, finished: int) -> None:
    if not trials:
        return
    root = runs_root()
    with col:
        a, b = st.columns([3, 2])
        # Keyed by the finished count too: when a new trial finishes, the choice goes back to the best.
        pick = a.selectbox("Trial to open in Evaluate", trials, key=f"sweep_open_{name}_{finished}",
                           format_func=lambda t: f"trial {t.number}: "
                           + (f"{t.value:.2%}" if t.value is not None else state_of(t)))
        if b.button("Open in Evaluate", key=f"sweep_open_button_{name}", icon=":material/fact_check:"):
            path = root / pick.user_attrs["run_id"]
            if (path / "checkpoint.pt").is_file():
                picker.use_model(str(path))
                st.switch_page(BY_TITLE["Evaluate"].file)
            else:
                st.warning(f"Trial {pick.number}'s run ({path.name}) has no saved weights: it was deleted, "
                           "or stopped before its first epoch.")


def live(job) -> bool:
    """A running sweep of this session; returns whether it has finished."""
    c = st.columns([4, 1])
    if job.finished:
        c[0].info(f"Sweep **{plain(job.name)}** {job.status}: {plain(job.message)}.", icon=":material/check_circle:")
    else:
        running = sum(1 for j in list(job.jobs.values()) if not j.finished)  # the sweep's thread adds to it
        c[0].info(f"Sweep **{plain(job.name)}** is {job.status}: {running} trial(s) training now.",
                  icon=":material/autorenew:")
        c[1].button("Stop the sweep", key="sweep_stop", icon=":material/stop:", on_click=job.stop,
                    disabled=job.status != "running")
    show_study(job.sweep.study, job.jobs)
    return job.finished
