"""Per-session state: every key shared between modules is named here, once, and every cache a
session keeps is bounded (thirty users share one server process).

Widget keys that only their own module reads stay in that module.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

T = TypeVar("T")

MODEL_IN_USE = "model_in_use"  # a run folder, or absent for the bundled model
ABSTAIN = "abstain_threshold"  # set on Evaluate; below it Draw names two guesses, not one answer
TRAIN_JOB = "train_job"  # this session's training Job
TRAIN_STARTED = "train_started"  # a run was started: the next run of the page says where to watch it
TRAIN_EXPERIMENT = "train_experiment"  # the experiment whose set-up link filled the Train form
TRAIN_FORM = "train_saved"  # the Train form's values, which outlive its widgets on page change
TRAIN_LINK = "train_link"  # the URL settings last read or written, and why a link was refused
RACE_JOBS = "h2h_jobs"  # head to head: contender name -> Job
SWEEP_JOB = "sweep_job"  # this session's sweep (mnist_core.studies.sweep_job.SweepJob)
DELETE_PENDING = "runs_confirm_delete"  # the run id a Delete... click asks to confirm
RUNS_MESSAGE = "runs_message"  # what the last delete did, shown once after the rerun
EMBEDDING_PICK = "eval_embedding_pick"  # the test digit clicked on the embedding map
VISITOR = "visitor"  # studio.identity.Visitor: who this session is
ADMIN = "server_owner"  # True once the server owner's password was given in this session

# Session caches: (name, entries kept). One model's worth is enough for most: a user looks at
# one model at a time, and the old entry is freed when a new one comes.
USER_MODELS = ("_user_models", 1)
TRAIN_EMBEDDINGS = ("_train_embeddings", 1)  # 128 floats a digit
ROBUSTNESS = ("_robustness", 1)
PROJECTION = ("_internals_projection", 1)
ESTIMATES = ("train_estimates", 16)  # a few numbers each
LR_FINDS = ("train_lr_finds", 2)  # 300 numbers each
BREAK = ("_break", 3)  # the intact and a broken copy's evaluations of 2,000 digits (about 100 kB each)
ABLATION = ("_ablation", 1)  # a few accuracies per layer
SWEEP_FIGURES = ("_sweep_figures", 1)  # one study's Optuna figures (a few hundred kB)


def _cache(which: tuple[str, int]) -> OrderedDict:
    name, _size = which
    cache = st.session_state.get(name)
    if not isinstance(cache, OrderedDict):
        cache = st.session_state[name] = OrderedDict()
    return cache


def cached(which: tuple[str, int], key, compute: Callable[[], T] | None = None) -> T | None:
    """The session's value for key; computed by compute() when missing (None without it).

    Only the newest entries are kept, so a session's memory stays bounded whatever it views.
    """
    cache = _cache(which)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    if compute is None:
        return None
    return store(which, key, compute())


def store(which: tuple[str, int], key, value: T) -> T:
    cache = _cache(which)
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > which[1]:
        cache.popitem(last=False)
    return value
