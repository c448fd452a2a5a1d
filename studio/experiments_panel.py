"""One guided experiment on the Experiments page: its set-up link, what to watch, the question,
and, once a run of it has finished, the answer explained from that run's numbers."""
from __future__ import annotations

import streamlit as st

from mnist_core.runs.folders import list_runs, runs_root
from mnist_core.studies.experiments import Experiment, numbers, runs_of

from .nav import BY_TITLE
from .train_link import link_query


@st.cache_data(ttl=5, show_spinner=False, max_entries=4)
def _runs(root: str):
    """Run folders, read at most once every 5 s for the whole page (eight experiments look)."""
    return list_runs(root)


def show(experiment: Experiment) -> None:
    c = st.columns([2, 3])
    c[0].page_link(BY_TITLE["Train"].file, label="Set it up on Train", icon=":material/tune:",
                   query_params=link_query(experiment.config))
    c[1].markdown(f"**Watch:** {experiment.watch}.")
    guess = st.radio(experiment.question, experiment.choices, index=None, key=f"exp_guess-{experiment.slug}")
    runs = runs_of(experiment, _runs(str(runs_root())))
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
    st.caption(f"From run {runs[0].summary.get('label') or runs[0].path.name}"
               + (f" (and {len(runs) - 1} more like it)" if len(runs) > 1 else ""))
