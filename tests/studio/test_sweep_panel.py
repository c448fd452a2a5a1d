"""The Sweep page's study view (studio.sweep_panel) in AppTest: its status line, table and figures agree."""
from types import SimpleNamespace

import pytest

from tests.support import assert_clean, goto, open_page, start_job, texts


def _a_study_with_a_trial_running(runs_dir):
    """A study of 4 trials on the page's storage: trial 0 complete, trial 1 still running."""
    from mnist_core.studies import sweep
    from mnist_core.train.config import TrainConfig

    base = TrainConfig(model="logreg", schedule="constant", train_subset=600, epochs=1, batch_size=100)
    s = sweep.open_sweep("drawn", sweep.default_storage(runs_dir), {"lr": {"low": 1e-3, "high": 0.1, "log": True}},
                         base, n_trials=4, seed=0)
    first, second = sweep.claim(s), sweep.claim(s)
    for trial in (first, second):
        sweep.suggest(trial, s.space, s.base)
    sweep.finish(s, first, "completed", [{"test_acc": 0.9}], False, None)
    return second.number


def test_the_status_line_counts_the_trials_its_table_shows_ended(app_env, monkeypatch):
    import optuna

    running = _a_study_with_a_trial_running(app_env)
    read, told = optuna.Study.get_trials, []

    def a_trial_ends_while_the_page_draws(study, *args, **kwargs):
        trials = read(study, *args, **kwargs)
        if not told:  # what the sweep's thread does at any moment: tell the study a trial ended
            told.append(study.tell(running, 0.95))
        return trials

    monkeypatch.setattr(optuna.Study, "get_trials", a_trial_ends_while_the_page_draws)
    at = open_page("sweep")
    assert_clean(at)
    assert told, "the page did not read the study"
    table = at.dataframe[0].value
    ended = int(table["state"].isin(["complete", "pruned", "failed", "stopped"]).sum())
    assert f"{ended} of 4 trials finished" in texts(at.markdown), (texts(at.markdown), table)


def test_a_study_with_no_complete_trial_says_why_it_has_no_figures_yet(app_env):
    from mnist_core.studies import sweep
    from mnist_core.train.config import TrainConfig

    base = TrainConfig(model="logreg", schedule="constant", train_subset=600, epochs=1, batch_size=100)
    s = sweep.open_sweep("stopped", sweep.default_storage(app_env), {"lr": {"low": 1e-3, "high": 0.1}}, base,
                         n_trials=4, seed=0)
    trial = sweep.claim(s)
    sweep.suggest(trial, s.space, s.base)
    sweep.finish(s, trial, "stopped", [], False, None)
    at = open_page("sweep")
    assert_clean(at)
    assert "1 of 4 trials finished** (1 stopped)" in texts(at.markdown)
    said = texts(at.caption)
    assert "once a trial is complete" in said and "once a trial has finished" not in said, said


def test_the_best_settings_open_train_saying_where_they_came_from_without_the_last_failed_run(
        app_env, runner, monkeypatch):
    from mnist_core.studies import sweep
    from mnist_core.train.config import TrainConfig
    at = open_page("train")
    failed = start_job(at, lr=100.0, schedule="constant", epochs=3, batch_size=64, device="cpu")
    assert failed.wait(60) and failed.status == "diverged"
    at.run()
    assert "diverged" in texts(at.error)  # the failed run's message, above the form

    base = TrainConfig(model="mlp", schedule="constant", train_subset=600, epochs=1, batch_size=100)
    s = sweep.open_sweep("best", sweep.default_storage(app_env), {"lr": {"low": 1e-3, "high": 0.1, "log": True}},
                         base, n_trials=2, seed=0)
    for acc in (0.5, 0.9):
        trial = sweep.claim(s)
        sweep.suggest(trial, s.space, s.base)
        sweep.finish(s, trial, "completed", [{"test_acc": acc}], False, None)
    best = s.study.best_trial
    goto(at, "sweep")
    assert_clean(at)
    at.button(key="sweep_best_best").click().run()
    assert_clean(at)
    assert float(at.session_state["cfg_lr"]) == pytest.approx(best.params["lr"], rel=5e-3)  # the best trial's rate
    assert "diverged" not in texts(at.error) + texts(at.warning)  # not under the last run's failure
    said = f"Settings from sweep **best**, trial {best.number} (90.00% test accuracy): learning rate"
    assert said in texts(at.info), texts(at.info)
    goto(at, "train")  # AppTest stays on the page it last switched to: a rerun of Train, as a browser's
    assert [t.value for t in at.title] == ["Train"]
    assert said in texts(at.info)  # it stays while the form holds the sweep's settings
    at.text_input(key="cfg_lr").set_value("0.05").run()
    assert "Settings from sweep" not in texts(at.info)  # and goes once the settings are the user's own


def _trial(number: int, state: str, value=None):
    import optuna

    return SimpleNamespace(number=number, state=optuna.trial.TrialState[state], value=value, user_attrs={},
                           params={"lr": 0.01}, intermediate_values={})


def test_a_trial_reads_the_studys_final_state_once_it_has_one_and_its_jobs_until_then():
    from studio.sweep_panel import trials_table

    def job(status, acc=None):
        return SimpleNamespace(status=status, finished=status in ("completed", "stopped", "failed", "diverged"),
                               epochs=[{"test_acc": acc}] if acc else [], run_id="r")

    # The sweep's thread told the study trial 0 failed while its job was still stopping.
    rows = trials_table([_trial(0, "FAIL"), _trial(1, "RUNNING"), _trial(2, "RUNNING"), _trial(3, "RUNNING")],
                        {0: job("running"), 1: job("running", 0.8), 2: job("completed", 0.9)})
    assert [(r["state"], r["test accuracy"]) for r in rows] == [
        ("failed", None), ("running", 0.8), ("finishing", 0.9), ("running", None)]
