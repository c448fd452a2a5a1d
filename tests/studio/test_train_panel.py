"""Train's live view of a run once it has finished: Evaluate it, and Continue, in AppTest."""
from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from mnist_core.jobs.job import Job
from mnist_core.jobs.runner import JobRunner
from mnist_core.runs.folders import load_run
from mnist_core.train.config import TrainConfig
from tests.support import APP, PAGE_FILES, TIMEOUT, assert_no_crash, goto, open_app, start_job, stopped_part_way


def shown(job) -> AppTest:
    """The Train page of a session whose job is `job`."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["train_job"] = job
    at.switch_page(PAGE_FILES["train"])
    return at.run()


def batch_curve_x(at: AppTest) -> list[float]:
    """The x of the live loss chart's batch line, in epochs."""
    for chart in at.get("plotly_chart"):
        for trace in json.loads(chart.proto.spec)["data"]:
            if trace.get("name") == "train (batches)":
                return trace["x"]
    raise AssertionError("no live training curve on the page")


def test_evaluate_it_opens_evaluate_on_the_run_just_trained(app_env, runner):
    at = goto(open_app(), "train")
    job = start_job(at, epochs=1, device="cpu")
    assert job.wait(120) and job.status == "completed", job.message
    at.run()
    at.button(key="job_evaluate").click().run()
    assert_no_crash(at)
    # Evaluate shows the model in use: the run just trained, not the bundled model.
    assert at.session_state["model_in_use"] == job.run_path
    assert at.selectbox(key="eval_model").value == job.run_path
    assert at.metric[0].label == "Accuracy"  # it evaluated that run


def test_a_continued_run_goes_on_from_its_curve_to_the_epoch_it_finished(tiny_data, app_env):
    path, sent = stopped_part_way(tiny_data, app_env, after_steps=7)
    run = load_run(path)
    part = run.metrics[-1]["epoch"]
    config = TrainConfig.from_dict(run.config)
    earlier = Job(config=config, label="first", run_path=path, run_id=run.run_id, status="stopped",
                  message=run.summary["message"], params=run.summary["params"], device="cpu",
                  batches=[e for e in sent if e["kind"] == "batch"], epochs=list(run.metrics))
    at = shown(earlier)
    assert_no_crash(at)
    # Stopped at 1.37, one more epoch finishes epoch 2, and the button says so.
    assert at.button(key="job_continue").label == "Finish epoch 2"

    job = JobRunner(mode="thread").submit_continue(path, 1, tiny_data, app_env, earlier=earlier)
    assert job.wait(90) and job.status == "completed", job.message
    at = shown(job)
    assert_no_crash(at)
    progress = at.get("progress")[0].proto
    assert progress.value == 100 and "epoch 2 of 2" in progress.text
    x = batch_curve_x(at)
    # The curve from before the stop is still there, and the new one ends at epoch 2, its last point.
    assert min(x) < 1 and max(x) <= 2
    assert sorted(x) == x and any(v > part for v in x)
    assert at.button(key="job_continue").label == "Continue for 1 more epoch"
