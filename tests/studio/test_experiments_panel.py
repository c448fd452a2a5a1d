"""The guided experiments in AppTest: the learner's answer outlives a page change, and Train says
which experiment is under way and what to watch."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from mnist_core.jobs.job import Job
from mnist_core.studies.experiments import BY_SLUG
from tests.support import APP, PAGE_FILES, TIMEOUT, assert_no_crash, goto, texts

EXPERIMENT = BY_SLUG["linear-ceiling"]
UNDER_WAY = f"Experiment: {EXPERIMENT.title} — watch: {EXPERIMENT.watch}."


def test_the_answer_given_is_kept_across_page_changes(app_env):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(PAGE_FILES["experiments"]).run()
    key = f"exp_guess-{EXPERIMENT.slug}"
    assert at.radio(key=key).value is None
    at.radio(key=key).set_value(EXPERIMENT.choices[2]).run()
    goto(at, "train")  # to run it, as the page says
    goto(at, "experiments")
    assert_no_crash(at)
    assert at.radio(key=key).value == EXPERIMENT.choices[2]
    assert all(at.radio(key=f"exp_guess-{slug}").value is None for slug in BY_SLUG if slug != EXPERIMENT.slug)


def form_settings(slug: str | None, lr: float | None = None, linked: bool = True):
    """What the Train page does with the form's settings: under_way(config), after the
    experiment's link filled the form (`linked`) or after the same settings were chosen by hand."""
    import streamlit as st

    from mnist_core.studies.experiments import BY_SLUG
    from studio import experiments_panel

    if linked:
        st.session_state["train_experiment"] = slug
    config = BY_SLUG[slug].config if slug else None
    if config is not None and lr is not None:
        config = config.replace(lr=lr)
    experiments_panel.under_way(config)


def test_train_says_which_experiment_its_form_sets_up_and_what_to_watch():
    at = AppTest.from_function(form_settings, args=(EXPERIMENT.slug,), default_timeout=TIMEOUT).run()
    assert_no_crash(at)
    assert texts(at.info) == UNDER_WAY
    # A setting changed after the link: a run of one's own, no longer the experiment.
    at = AppTest.from_function(form_settings, args=(EXPERIMENT.slug, 0.1), default_timeout=TIMEOUT).run()
    assert not at.info
    at = AppTest.from_function(form_settings, args=(None,), default_timeout=TIMEOUT).run()  # a form with errors
    assert not at.info
    # The same settings chosen by hand (the quick preset is one experiment's): no experiment.
    at = AppTest.from_function(form_settings, args=(EXPERIMENT.slug, None, False), default_timeout=TIMEOUT).run()
    assert not at.info


def test_the_experiments_link_tells_train_which_experiment_it_sets_up(app_env):
    from studio.train_link import link_query
    from tests.support import open_page

    at = open_page("train", {**link_query(EXPERIMENT.config), "experiment": EXPERIMENT.slug})
    assert_no_crash(at)
    assert UNDER_WAY in texts(at.info)
    assert not at.error  # "experiment" is not read as an unknown setting
    plain = open_page("train", link_query(EXPERIMENT.config))
    assert UNDER_WAY not in texts(plain.info)


def test_trains_live_view_says_which_experiment_is_training_and_what_to_watch(app_env):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["train_job"] = Job(config=EXPERIMENT.config.replace(device="cpu", seed=7))
    at.session_state["train_experiment"] = EXPERIMENT.slug
    at.switch_page(PAGE_FILES["train"]).run()
    assert_no_crash(at)
    assert UNDER_WAY in texts(at.info)
    # The form beside it, set up for the same experiment, does not say it twice.
    at = AppTest.from_function(form_settings, args=(EXPERIMENT.slug,), default_timeout=TIMEOUT)
    at.session_state["train_job"] = Job(config=EXPERIMENT.config)
    assert not at.run().info
