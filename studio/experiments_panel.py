"""One guided experiment on the Experiments page: its set-up link, what to watch, the question,
and, once a run of it has finished, the answer explained from that run's numbers; and, on Train,
which experiment the run being set up or trained is, and what to watch while it trains."""
from __future__ import annotations

import functools
import json

import streamlit as st

from mnist_core.runs.folders import list_runs, runs_root
from mnist_core.studies.experiments import EXPERIMENTS, Experiment, numbers, runs_of
from mnist_core.train.config import TrainConfig

from . import state
from .nav import BY_TITLE
from .text import plain
from .train_link import link_query


@st.cache_data(ttl=5, show_spinner=False, max_entries=4)
def _runs(root: str):
    """Run folders, read at most once every 5 s for the whole page (eight experiments look)."""
    return list_runs(root)


def _yours(run) -> bool:
    """A run of this visitor's: the answer is explained from their own run, never a classmate's
    ("your run says about 97%" to someone who never ran it). On a laptop, runs made outside the
    app (no owner) are the one user's too."""
    from . import identity

    owner = run.summary.get("owner")
    if not owner:
        return not identity.shared_server()
    return owner == identity.current().id


def show(experiment: Experiment) -> None:
    c = st.columns([2, 3])
    c[0].page_link(BY_TITLE["Train"].file, label="Set it up on Train", icon=":material/tune:",
                   query_params={**link_query(experiment.config), "experiment": experiment.slug})
    c[1].markdown(f"**Watch:** {experiment.watch}.")
    # Kept for the whole session: the learner answers, goes to Train to run it, and comes back
    # to the answer they gave (a widget's value is otherwise dropped on a page change).
    guess = st.radio(experiment.question, experiment.choices, index=None, key=f"exp_guess-{experiment.slug}",
                     persist_state="session")
    runs = runs_of(experiment, [r for r in _runs(str(runs_root())) if _yours(r)])
    if not runs:
        st.caption("No finished run of this experiment yet: set it up, start it on Train, and come back.")
        return
    if guess is None:
        st.caption("A run of it has finished: answer the question to see the explanation.")
        return
    n = numbers(runs[0])
    shown = experiment.verdict(n)  # what this run bears out, usually the expected answer
    right = guess == experiment.choices[shown]
    (st.success if right else st.info)(
        ("Right. " if right else f"Not quite: your run says *{experiment.choices[shown]}*. ")
        + experiment.explain(n), icon=":material/lightbulb:")
    if shown != experiment.answer:
        st.warning(f"This run came out unlike most: usually the answer is *{experiment.choices[experiment.answer]}*. "
                   "A different seed, or a setting changed after the link, can do that.")
    st.caption(f"From your run {plain(runs[0].summary.get('label') or runs[0].path.name)}"
               + (f" (and {len(runs) - 1} more like it)" if len(runs) > 1 else ""))


def experiment_of(config: TrainConfig | None) -> Experiment | None:
    """The experiment these settings set up, or None (a setting changed after its link makes
    it a run of one's own)."""
    return None if config is None else _experiment_of(config.to_json())


def chosen(config: TrainConfig | None) -> Experiment | None:
    """The experiment whose set-up link filled the form, while the form still sets it up: the
    quick preset is also one experiment's settings, but a learner who only chose the preset
    is not doing that experiment."""
    experiment = experiment_of(config)
    if experiment is not None and st.session_state.get(state.TRAIN_EXPERIMENT) == experiment.slug:
        return experiment
    return None


@functools.lru_cache(maxsize=64)
def _experiment_of(settings: str) -> Experiment | None:
    # Matching validates a config per experiment, about 20 ms in all: once per settings, not at
    # each of the live view's redraws, every second for every session watching a run.
    config = json.loads(settings)
    return next((e for e in EXPERIMENTS if e.matches(config)), None)


def _say(experiment: Experiment, finished: bool = False) -> None:
    after = ("its run has finished: answer its question on Experiments to see what your run shows"
             if finished else f"watch: {experiment.watch}")
    st.info(f"Experiment: {experiment.title} — {after}.", icon=":material/science:")


def job_note(job) -> None:
    """Above a run's live curves on Train: the experiment it is, and what to watch as it trains."""
    experiment = chosen(job.config)
    if experiment is not None:
        _say(experiment, finished=job.finished)


def under_way(config: TrainConfig | None) -> Experiment | None:
    """On Train, beside the form: the experiment that `config`, the form's settings, sets up, and
    what to watch; returns it. Said once: while this session's run of that same experiment
    trains, its live view above already says it."""
    experiment = chosen(config)
    job = st.session_state.get(state.TRAIN_JOB)
    said_above = job is not None and not job.finished and chosen(job.config) is experiment
    if experiment is not None and not said_above:
        _say(experiment)
    return experiment
