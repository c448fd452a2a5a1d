"""Sweeps on Optuna: a study over a TrainConfig search space, each trial a normal run folder.

- The space (sweep_space): which settings vary and how, checked before any trial starts.
- The objective: the run's final test accuracy (maximised); with a base `time_budget`, the
  accuracy reached in that many seconds of training.
- Pruning: Optuna's median pruner on the test accuracy after each epoch (or at each tenth of a
  budgeted run), once two trials have finished.
- Storage (sweep_storage): a SQLite file beside the runs unless a storage URL is given.
  `claim()` (sweep_claim) makes the workers together run exactly the study's number of trials.
- Figures (sweep_figures): Optuna's own charts.

`work()` is one worker: a generator of events ("trial" when a trial starts, the run's own
training events, "trial_end" with its state and value); the CLI and the tests drive it. The
app's sweep runs its trials as ordinary jobs instead (mnist_core.studies.sweep_job), so they count against
the server's job limits.
"""
from __future__ import annotations

from collections.abc import Iterator

from mnist_core.errors import SweepError
from mnist_core.studies.sweep_claim import claim, give_back, remaining
from mnist_core.studies.sweep_figures import figures
from mnist_core.studies.sweep_space import check_space, config_of, describe_space, parse_space, suggest
from mnist_core.studies.sweep_storage import MAX_TRIALS, Sweep, default_storage, list_studies, load, open_sweep, shown
from mnist_core.train.config import ConfigError, TrainConfig

# The names the CLI, the pages and the tests use, wherever they are defined.
__all__ = ["MAX_TRIALS", "Sweep", "SweepError", "best_trials", "check_space", "claim", "config_of",
           "default_storage", "describe_space", "figures", "finish", "give_back", "list_studies", "load",
           "open_sweep", "parse_space", "remaining", "report", "shown", "step_of", "suggest",
           "trial_label", "work"]


def step_of(event: dict, config: TrainConfig) -> int | None:
    """The pruner's step for a training event: how far through its run, in thousandths. Trials
    of different lengths are then compared at the same share of their runs (a one-cycle rate is
    at its peak a third of the way through whatever the epochs), never a long run's first epoch
    against a short one's last. For a budgeted run, the tenth of the budget a probe was taken
    at. None for other events and for part-epochs."""
    if config.time_budget:
        if event["kind"] != "probe":
            return None
        return 100 * max(1, int(round(event["train_seconds"] / config.time_budget * 10)))
    if event["kind"] == "epoch" and float(event["epoch"]).is_integer():
        return int(round(1000 * event["epoch"] / config.epochs))
    return None


def report(trial, event: dict, config: TrainConfig, may_prune: bool = True) -> bool:
    """Tell Optuna the accuracy this event carries; True when the pruner says stop. Never at the
    run's end: stopping there saves nothing, and the trial's answer is complete."""
    step = step_of(event, config)
    if step is None:
        return False
    trial.report(float(event["test_acc"]), step)
    return may_prune and step < 1000 and trial.should_prune()


def finish(sweep: Sweep, trial, status: str, epochs: list[dict], pruned: bool, run_id: str | None,
           message: str = "") -> tuple[str, float | None]:
    """Record a trial's end in the study: (state, value)."""
    import optuna

    State = optuna.trial.TrialState
    if run_id:
        trial.set_user_attr("run_id", run_id)
    trial.set_user_attr("status", status)
    if pruned:
        sweep.study.tell(trial, state=State.PRUNED)
        return "pruned", None
    if status in ("completed", "diverged") and (epochs or status == "diverged"):
        # A diverged run is an answer too ("this rate is too high"): its last accuracy, or chance.
        value = float(epochs[-1]["test_acc"]) if epochs else 1.0 / 10
        sweep.study.tell(trial, value)
        return "complete", value
    trial.set_user_attr("message", message[:300])
    sweep.study.tell(trial, state=State.FAIL)
    return "failed", None


def trial_label(sweep: Sweep, number: int) -> str:
    return f"{sweep.name} #{number}"


def work(sweep: Sweep, data=None, runs_dir=None, data_dir=None, owner: dict | None = None) -> Iterator[dict]:
    """One worker: claim trials until the study has all of them, training each in this process.
    A trial this worker claimed is always told its end, even when the worker is interrupted
    (Ctrl-C, a closed generator): otherwise it would stay "running" and the study never finish."""
    if data is None:
        from mnist_core.data.tensors import load_dataset

        data = load_dataset(sweep.base.dataset, data_dir)
    while (trial := claim(sweep)) is not None:
        told = False
        try:
            end = yield from _one_trial(sweep, trial, data, runs_dir, owner)
            told = True
            yield end
        finally:
            if not told:
                finish(sweep, trial, "failed", [], False, None, "the worker was interrupted")


def _one_trial(sweep: Sweep, trial, data, runs_dir, owner) -> Iterator[dict]:
    """Train one claimed trial, yielding its events; returns its "trial_end" event once told."""
    from mnist_core.runs.folders import RunError
    from mnist_core.runs.recorder import record
    from mnist_core.train.trainer import Trainer

    epochs, status, run_id, pruned, message = [], "failed", None, False, ""
    try:
        # A suggestion the memory budget refuses (a huge batch for a wide model) fails this
        # trial only, with the reason.
        config = suggest(trial, sweep.space, sweep.base)
    except ConfigError as exc:
        config, message = None, str(exc)
    if config is not None:
        yield {"kind": "trial", "trial": trial.number, "params": dict(trial.params), "of": sweep.n_trials}
        # Not the storage URL: a server database's carries its password.
        summary = {**(owner or {}), "sweep": {"study": sweep.name, "trial": trial.number}}
        try:
            events = record(Trainer(config, data), runs_dir, label=trial_label(sweep, trial.number), owner=summary)
            try:
                for event in events:
                    run_id = event.get("run_id", run_id)
                    yield {**event, "trial": trial.number}
                    if event["kind"] == "epoch":
                        epochs.append(event)
                    if event["kind"] == "end":
                        status, message = event["status"], event.get("message", "")
                    if report(trial, event, config):
                        pruned, status = True, "stopped"
                        break
            finally:
                events.close()
        except (ConfigError, RunError, OSError, RuntimeError) as exc:
            message = str(exc)
    state, value = finish(sweep, trial, status, epochs, pruned, run_id, message)
    return {"kind": "trial_end", "trial": trial.number, "state": state, "value": value, "run_id": run_id,
            "params": dict(trial.params), "message": message}


def best_trials(sweep: Sweep, top: int = 5) -> list:
    import optuna

    done = [t for t in sweep.study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    return sorted(done, key=lambda t: -t.value)[:top]
