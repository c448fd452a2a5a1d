"""Sweeps on Optuna: the space, a known answer, shared storage, pruning, and the CLI."""
from __future__ import annotations

import multiprocessing as mp
import os

import optuna
import pytest

from mnist_core.errors import SweepError
from mnist_core.runs.folders import list_runs
from mnist_core.studies import sweep, sweep_claim
from mnist_core.train.config import TrainConfig
from mnist_core.train.trainer import Trainer
from tests.support import mnist_dir

optuna.logging.set_verbosity(optuna.logging.WARNING)

# An MLP with Adam, one pass over 2,000 digits: accuracy peaks near lr 3e-3 and falls to
# chance by 0.1 on either side by two decades, a sharp answer.
MLP = TrainConfig(model="mlp", optimizer="adam", schedule="constant", train_subset=2000, epochs=1,
                  batch_size=50, label_smoothing=0.0)
TINY = TrainConfig(model="logreg", schedule="constant", train_subset=600, epochs=1, batch_size=100, lr=0.01)


def test_a_space_is_read_from_text_and_checked():
    space = sweep.parse_space("lr=1e-4..1e-1:log  batch_size=32,64,128; augment=true,false epochs=1..3")
    checked = sweep.check_space(space, TrainConfig())
    assert checked == {"lr": {"low": 1e-4, "high": 0.1, "log": True}, "batch_size": {"choices": [32, 64, 128]},
                       "augment": {"choices": [True, False]}, "epochs": {"low": 1, "high": 3, "log": False}}
    assert sweep.parse_space(sweep.describe_space(checked)) and \
        sweep.check_space(sweep.parse_space(sweep.describe_space(checked)), TrainConfig()) == checked
    # A model's own numeric options vary by name.
    assert sweep.check_space({"dropout": {"low": 0, "high": 0.5}}, TrainConfig(model="cnn"))["dropout"]["high"] == 0.5


@pytest.mark.parametrize("text, message", [
    ("lr=0.1..0.001", "is empty"),
    ("lr=0.01..0.01", "is empty"),
    ("nonsense=1..2", "cannot be swept; choose from"),
    ("seed=1..5", "cannot be swept"),
    ("weight_decay=0..0.1:log", "log scale needs a low end above 0"),
    ("lr=-1..1", "not a valid value"),
    ("batch_size=64", "at least two different choices"),
    ("batch_size=64,64", "at least two different choices"),
    ("optimizer=adam,lion", "not a valid value"),
    ("optimizer=1..2", "takes choices"),
    ("model=mlp,cnn", "cannot be swept"),
    ("lr=1..2:square", "only scale"),
    ("lr", "write name=low..high"),
    ("   ", "empty"),
])
def test_a_bad_space_gets_a_clear_error(text, message):
    with pytest.raises(SweepError, match=message):
        sweep.check_space(sweep.parse_space(text), TrainConfig())


def _accuracy(config, data) -> float:
    return [e for e in Trainer(config, data).events() if e["kind"] == "epoch"][-1]["test_acc"]


def test_a_small_study_finds_the_learning_rate_in_the_right_decade(real_mnist, tmp_path):
    # The known answer, by brute force: one run per decade (and 3e-3).
    grid = [1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 1e-1]
    scores = {lr: _accuracy(MLP.replace(lr=lr), real_mnist) for lr in grid}
    best_lr = max(scores, key=scores.get)
    s = sweep.open_sweep("known", f"sqlite:///{tmp_path / 's.db'}", {"lr": {"low": 1e-5, "high": 1.0, "log": True}},
                         MLP, n_trials=6, seed=0)
    events = list(sweep.work(s, data=real_mnist, runs_dir=tmp_path / "runs"))
    ends = [e for e in events if e["kind"] == "trial_end"]
    assert len(ends) == 6 and sweep.remaining(s) == 0
    found = sweep.best_trials(s)[0]
    assert best_lr / 10 <= found.params["lr"] <= best_lr * 10, (found.params, scores)
    assert found.value >= scores[best_lr] - 0.03
    # Every trial is a normal run folder that names its study and trial.
    runs = {r.summary["sweep"]["trial"]: r for r in list_runs(tmp_path / "runs")}
    assert set(runs) == set(range(6))
    assert runs[found.number].path.name == found.user_attrs["run_id"]
    assert runs[found.number].summary["sweep"]["study"] == "known"
    assert runs[found.number].config["lr"] == pytest.approx(found.params["lr"])


def _worker(storage, runs_dir, data_dir, ready):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ["MNIST_THREADS"] = "1"
    s = sweep.open_sweep("shared", storage)
    from mnist_core.data.tensors import load_dataset

    data = load_dataset("mnist", data_dir)
    ready.wait(120)  # both loaded: a worker that starts faster must not run every trial alone
    for _ in sweep.work(s, data=data, runs_dir=runs_dir):
        pass


def test_two_workers_share_one_study_and_run_exactly_n_trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 'sweeps.db'}"
    sweep.open_sweep("shared", storage, {"lr": {"low": 1e-3, "high": 0.1, "log": True}}, TINY, n_trials=7, seed=1)
    ctx = mp.get_context("spawn")
    ready = ctx.Barrier(2)
    workers = [ctx.Process(target=_worker, args=(storage, str(tmp_path / "runs"), str(mnist_dir()), ready))
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(240)
        assert w.exitcode == 0
    study = optuna.load_study(study_name="shared", storage=storage)
    numbers = [t.number for t in study.trials if not t.user_attrs.get("surplus")]
    assert sorted(numbers) == list(range(7))
    assert all(t.state.is_finished() and t.state != optuna.trial.TrialState.FAIL for t in study.trials)
    runs = [r.summary["sweep"]["trial"] for r in list_runs(tmp_path / "runs")]
    assert sorted(runs) == list(range(7))  # one run per trial: none run twice
    assert len({r.summary["pid"] for r in list_runs(tmp_path / "runs")}) == 2  # both workers took part


def test_the_median_pruner_stops_a_clearly_bad_trial_early(real_mnist, tmp_path):
    base = TrainConfig(model="logreg", schedule="constant", train_subset=2000, epochs=3, batch_size=50, lr=0.01)
    s = sweep.open_sweep("prune", f"sqlite:///{tmp_path / 's.db'}", {"lr": {"low": 1e-7, "high": 0.1, "log": True}},
                         base, n_trials=3, seed=0)
    for lr in (0.01, 0.02, 1e-7):  # two good trials, then one that barely moves
        s.study.enqueue_trial({"lr": lr})
    ends = [e for e in sweep.work(s, data=real_mnist, runs_dir=tmp_path / "runs") if e["kind"] == "trial_end"]
    assert [e["state"] for e in ends] == ["complete", "complete", "pruned"]
    bad = next(r for r in list_runs(tmp_path / "runs") if r.summary["sweep"]["trial"] == 2)
    assert bad.summary["status"] == "stopped" and bad.summary["epochs_done"] == 1  # 1 of 3 epochs


def test_a_joiner_gets_the_study_and_a_different_space_is_refused(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    s = sweep.open_sweep("j", storage, {"lr": {"low": 1e-3, "high": 0.1}}, TINY, n_trials=4)
    joined = sweep.open_sweep("j", storage)
    assert (joined.space, joined.base, joined.n_trials) == (s.space, s.base, 4)
    with pytest.raises(SweepError, match="join it without --space"):
        sweep.open_sweep("j", storage, {"lr": {"low": 1e-4, "high": 0.1}})
    with pytest.raises(SweepError, match="runs 4 trials"):
        sweep.open_sweep("j", storage, n_trials=5)
    with pytest.raises(SweepError, match="no study 'other'"):
        sweep.open_sweep("other", storage)
    with pytest.raises(SweepError, match="study name"):
        sweep.open_sweep("bad name!", storage, {"lr": {"low": 1e-3, "high": 0.1}})
    with pytest.raises(SweepError, match="cannot open the storage"):
        sweep.open_sweep("x", "nosuchdb://nowhere", {"lr": {"low": 1e-3, "high": 0.1}})


def test_the_cli_creates_a_study_another_worker_joins_and_prints_the_best(tmp_path, capsys):
    from mnist_core.cli.main import main

    runs = str(tmp_path / "runs")
    code = main(["--runs-dir", runs, "--data-dir", str(mnist_dir()), "sweep", "--space", "lr=1e-3..1e-1:log",
                 "--trials", "3", "--study", "cli", "--model", "logreg", "--train-subset", "600",
                 "--schedule", "constant", "--epochs", "1"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "join it from another shell or machine" in out.err and "--study cli" in out.err
    assert "the study's best" in out.out and "test acc" in out.out
    # A second worker on a finished study has nothing left to run, and says so.
    code = main(["--runs-dir", runs, "sweep", "--study", "cli"])
    out = capsys.readouterr()
    assert code == 0 and "0 still to run" in out.err and "this worker ran 0 trial(s)" in out.out
    code = main(["--runs-dir", runs, "sweep", "--space", "lr=0.1..0.01", "--study", "bad"])
    assert code == 2 and "is empty" in capsys.readouterr().err


def test_a_claim_past_the_limit_from_another_machine_is_given_back(tmp_path, monkeypatch):
    s = sweep.open_sweep("race", f"sqlite:///{tmp_path / 's.db'}", {"lr": {"low": 1e-3, "high": 0.1}}, TINY, n_trials=2)
    s.study.ask(), s.study.ask()  # two workers elsewhere claimed both trials since this one counted
    calls, real = [], sweep_claim._taken
    # The count under the lock (the first) saw room; the check after asking sees the truth.
    monkeypatch.setattr(sweep_claim, "_taken", lambda trials: 0 if not calls.append(1) and len(calls) == 1 else real(trials))
    assert sweep.claim(s) is None
    extra = s.study.trials[-1]
    assert extra.number == 2 and extra.user_attrs["surplus"] and extra.state == optuna.trial.TrialState.FAIL


def test_the_app_runs_a_sweep_as_jobs_within_the_limits_and_stops_it(real_mnist, tmp_path):
    from mnist_core.jobs import runner as jobs
    from mnist_core.studies import sweep_job

    runner = jobs.JobRunner(max_running=2, max_jobs=8, mode="thread")
    s = sweep.open_sweep("app", f"sqlite:///{tmp_path / 's.db'}", {"lr": {"low": 1e-3, "high": 0.1, "log": True}},
                         TINY, n_trials=4, seed=0)
    job = sweep_job.start(s, runner, real_mnist, tmp_path / "runs", owner={"owner": "abc"}, parallel=5)
    assert job.parallel == 2  # never more than the server's running-job limit
    assert sweep_job.owned_by("abc") is job
    assert job.wait(120) and job.status == "completed", job.message
    assert sorted(t.number for t in s.study.trials) == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in s.study.trials)
    assert {r.summary["sweep"]["trial"] for r in list_runs(tmp_path / "runs")} == {0, 1, 2, 3}
    assert all(r.summary["owner"] == "abc" for r in list_runs(tmp_path / "runs"))
    # Stopping a sweep stops its trials cleanly: each running one is "stopped", the rest never start.
    long = TrainConfig(model="cnn", train_subset=20000, epochs=3, batch_size=64)
    s2 = sweep.open_sweep("stop", f"sqlite:///{tmp_path / 's.db'}", {"lr": {"low": 1e-3, "high": 0.01}},
                          long, n_trials=6, seed=0)
    job = sweep_job.start(s2, runner, real_mnist, tmp_path / "runs2", parallel=2)
    deadline = __import__("time").time() + 60
    while not any(j.batches for j in job.jobs.values()) and __import__("time").time() < deadline:
        __import__("time").sleep(0.2)
    job.stop()
    assert job.wait(60) and job.status == "stopped"
    assert all(j.finished and j.status == "stopped" for j in job.jobs.values())
    assert len(s2.study.trials) <= 2 and not runner.active()


def test_a_damaged_sweeps_database_is_a_clear_message(tmp_path, capsys):
    from mnist_core.cli.main import main

    db = tmp_path / "runs" / "sweeps.db"
    db.parent.mkdir()
    sweep.open_sweep("s", f"sqlite:///{db}", {"lr": {"low": 1e-3, "high": 0.1}}, TINY, n_trials=2)
    db.write_bytes(b"this is not a database" * 100)  # damaged after it was opened
    with pytest.raises(SweepError, match="move it aside"):
        sweep.list_studies(f"sqlite:///{db}")
    code = main(["--runs-dir", str(tmp_path / "runs"), "--data-dir", str(mnist_dir()), "sweep",
                 "--space", "lr=1e-3..1e-2", "--trials", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "sweeps database" in err and "move it aside" in err
    assert sweep.shown("postgresql://ada:secret@db.example/sweeps") == "postgresql://ada:***@db.example/sweeps"


def test_a_suggestion_over_the_memory_budget_fails_that_trial_only(tmp_path):
    base = TrainConfig(model="cnn", model_kwargs={"channels": [16, 32]}, train_subset=600, epochs=1)
    s = sweep.open_sweep("budget", f"sqlite:///{tmp_path / 's.db'}",
                         sweep.parse_space("batch_size=128,1024 hidden=128..4096"), base, n_trials=1)
    s.study.enqueue_trial({"batch_size": 1024, "hidden": 4096})  # each fits alone; together they do not
    ends = [e for e in sweep.work(s, runs_dir=tmp_path / "runs") if e["kind"] == "trial_end"]
    assert [e["state"] for e in ends] == ["failed"] and "MNIST_MODEL_BUDGET_MB" in ends[0]["message"]
    assert s.study.trials[0].user_attrs["message"].startswith("model_kwargs: this model needs")
    assert not list_runs(tmp_path / "runs")  # nothing was allocated or written


def test_an_interrupted_worker_tells_the_study_and_two_sweeps_never_share_a_name(real_mnist, tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    s = sweep.open_sweep(None, storage, {"lr": {"low": 1e-3, "high": 0.1}}, TINY, n_trials=2)
    assert s.name != sweep.open_sweep(None, storage, {"lr": {"low": 1e-3, "high": 0.1}}, TINY, n_trials=2).name
    events = sweep.work(s, data=real_mnist, runs_dir=tmp_path / "runs")
    for event in events:
        if event["kind"] == "batch":
            break
    events.close()  # Ctrl-C, or a closed page: the claimed trial must not stay "running"
    first = s.study.trials[0]
    assert first.state == optuna.trial.TrialState.FAIL and "interrupted" in first.user_attrs["message"]
    assert sweep.remaining(s) == 1


def test_optunas_figures_name_the_accuracy_and_read_it_in_per_cent():
    import optuna

    study = optuna.create_study(direction="maximize")
    for lr, value in ((1e-3, 0.7819), (3e-3, 0.7871), (1e-2, 0.8012)):
        study.add_trial(optuna.trial.create_trial(
            params={"lr": lr}, distributions={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)},
            value=value))
    figs = sweep.figures(study)
    assert {"history", "parallel", "slice"} <= set(figs)
    for name in ("history", "slice"):
        layout = figs[name].layout
        assert layout.yaxis.tickformat == ".1%" and layout.yaxis.title.text == "Test accuracy", name
