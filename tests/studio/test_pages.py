"""The Streamlit app, driven headlessly through AppTest on the real MNIST files.

app.py is the navigation over pages/ (studio.nav.PAGES), each page reached with
at.switch_page, each drawing the shared sidebar through studio.frame.page(). Every check looks for content the page must show, so a
page that silently renders nothing fails.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.support import (
    TIMEOUT,
    assert_clean,
    canvas_from_digit,
    draw_digit_app,
    goto,
    mnist_dir,
    open_app,
    texts,
    tiny_run,
    wait_for,
)

# ---------------------------------------------------------------- every page, real data

def test_every_page_renders_with_real_data(real_env):
    at = open_app()
    assert_clean(at)
    assert at.title[0].value == "MNIST Studio"
    assert "MNIST: found in" in texts(at.success)
    assert "bundled model" in texts(at.sidebar.caption)

    goto(at, "data")
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "60,000" and metrics["Pixel mean"] == "0.1307"
    assert len(at.get("image")) >= 48  # the sample grid (one element per image)
    assert len(at.get("plotly_chart")) == 4  # pixels, balance, histogram, mean images

    goto(at, "train")
    assert_clean(at)
    assert at.button(key="train_start").proto.label == "Start training"
    assert at.number_input(key="cfg_train_subset").value == 10000  # the "quick" preset

    goto(at, "draw")
    assert_clean(at)
    assert "Draw a digit" in texts(at.info)  # an untouched canvas is blank

    goto(at, "runs")
    assert_clean(at)
    assert "No saved runs" in texts(at.info)


def test_data_filters_and_paging(real_env):
    at = goto(open_app(), "data")
    at.selectbox(key="data_label").set_value(3).run()
    at.number_input(key="data_page").set_value(2).run()
    assert_clean(at)
    # The Samples tab's digits ("#index: class"); the Augmentation and Suspicious labels tabs
    # have their own ("#index: labelled ...").
    captions = [c for img in at.get("image") for c in img.captions if c.startswith("#") and "labelled" not in c]
    assert captions and all(c.endswith(": 3") for c in captions)
    at.radio(key="data_split").set_value("test").run()  # resets the page, keeps it in range
    assert at.number_input(key="data_page").value == 1
    assert {m.label: m.value for m in at.metric}["Images"] == "10,000"


# ---------------------------------------------------------------- training

def test_train_page_runs_a_job_to_completion(real_env):
    at = goto(open_app(), "train")
    at.number_input(key="cfg_train_subset").set_value(2000)
    at.number_input(key="cfg_epochs").set_value(1)
    at.button(key="train_estimate").click().run()
    assert_clean(at)
    assert "Estimated" in texts(at.info)

    at.button(key="train_start").click().run()
    assert_clean(at)
    job = at.session_state["train_job"]
    assert job.config.train_subset == 2000
    assert job.wait(timeout=180), "the training job did not finish"
    assert job.status == "completed", job.message

    at.run()  # the page re-attaches to the session's job and shows the result
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    final = float(metrics["Final test accuracy"].rstrip("%")) / 100
    assert final == pytest.approx(job.epochs[-1]["test_acc"], abs=1e-4)
    assert final > 0.5
    curves = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Loss" in c for c in curves) and any("Accuracy" in c for c in curves)
    run_dir = Path(job.run_path)
    assert run_dir.parent == real_env and (run_dir / "checkpoint.pt").is_file()

    at.button(key="job_use").click().run()
    assert at.session_state["model_in_use"] == str(run_dir)
    goto(at, "runs")
    assert_clean(at)
    table = at.dataframe[0].value
    assert list(table["run"]) == [run_dir.name] and table["status"][0] == "completed"
    # A run without test-time augmentation has no TTA figure: shown as "-", not the word None.
    assert table["with TTA"].isna().all() and at.dataframe[0].proto.placeholder == "-"
    assert len(at.get("plotly_chart")) == 2  # its epoch curves, overlaid by default

    at.button(key="runs_delete").click().run()
    assert "for good" in texts(at.warning) and run_dir.exists()
    at.button(key="runs_delete_yes").click().run()
    assert_clean(at)
    assert not run_dir.exists() and "model_in_use" not in at.session_state
    assert "No saved runs" in texts(at.info)


@pytest.mark.slow
def test_head_to_head_trains_both_and_names_a_winner(real_env):
    at = goto(open_app(), "head_to_head")
    assert_clean(at)
    contenders = at.dataframe[0].value
    assert list(contenders["contender"]) == ["MLP", "CNN"]
    assert list(contenders["parameters"]) == [235146, 105218]
    at.slider(key="h2h_budget").set_value(2)
    at.number_input(key="h2h_subset").set_value(5000)
    at.number_input(key="h2h_seed").set_value(4)
    at.button(key="h2h_start").click().run()
    assert_clean(at)
    jobs = at.session_state["h2h_jobs"]
    assert list(jobs) == ["MLP", "CNN"] and at.button(key="h2h_start").disabled
    assert all(job.wait(timeout=180) for job in jobs.values())
    assert [j.status for j in jobs.values()] == ["completed", "completed"], [j.message for j in jobs.values()]
    cfgs = [j.config for j in jobs.values()]
    assert {(c.time_budget, c.seed, c.train_subset) for c in cfgs} == {(2.0, 4, 5000)}

    at.run()
    assert_clean(at)
    winner = max(jobs, key=lambda n: jobs[n].epochs[-1]["test_acc"])
    assert texts(at.success).startswith(f"{winner} wins: {jobs[winner].epochs[-1]['test_acc']:.2%}")
    board = at.dataframe[1].value
    assert list(board["test accuracy"]) == pytest.approx([100 * j.epochs[-1]["test_acc"] for j in jobs.values()])
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(specs) == 2 and all("seconds of training" in s for s in specs)
    assert all(name in specs[0] for name in ("MLP test", "CNN test"))
    labels = {json.loads((Path(j.run_path) / "summary.json").read_text())["label"] for j in jobs.values()}
    assert labels == {"head to head 2 s: MLP", "head to head 2 s: CNN"}

    # On Runs the pair overlays on the seconds they shared, test checks included.
    goto(at, "runs")
    at.radio(key="runs_overlay_x").set_value("seconds of training").run()
    assert_clean(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["title"]["text"] == "seconds of training"
    lines = {t["name"]: t for t in spec["data"]}
    cnn = jobs["CNN"]
    assert len(cnn.probes) == 9
    assert len(lines["head to head 2 s: CNN"]["x"]) == len(cnn.probes) + len(cnn.epochs)


def test_pause_resume_and_stop(real_env):
    at = goto(open_app(), "train")
    at.number_input(key="cfg_epochs").set_value(3)
    at.number_input(key="cfg_log_every").set_value(1)
    at.button(key="train_start").click().run()
    job = at.session_state["train_job"]
    try:
        for _ in range(600):
            if job.status == "running" or job.finished:
                break
            job.wait(0.1)
        at.run()
        at.button(key="job_pause").click().run()
        assert job.status == "paused"
        at.button(key="job_resume").click().run()
        assert job.status in ("running", "completed")
        at.button(key="job_stop").click().run()
        assert job.wait(timeout=60)
        at.run()
        assert_clean(at)
        assert job.status == "stopped"
        assert "stopped" in texts(at.warning)
    finally:
        job.stop()


def test_job_limit_is_a_message_not_a_traceback(real_env, monkeypatch):
    from mnist_core.jobs import runner as jobs

    class FullRunner:
        max_running = 2

        def warm(self):
            pass

        def active(self):
            return []

        def submit(self, *args, **kwargs):
            raise jobs.JobLimitError("8 training jobs are already running or queued (limit 8)")

    monkeypatch.setattr(jobs, "default_runner", FullRunner)
    at = goto(open_app(), "train")
    at.button(key="train_start").click().run()
    assert_clean(at)
    assert "limit 8" in texts(at.warning)
    assert "train_job" not in at.session_state


# ---------------------------------------------------------------- evaluation

def test_evaluate_shows_confusion_matrix_and_per_class_table(real_env):
    at = goto(open_app(), "evaluate")
    assert_clean(at)
    accuracy = float({m.label: m.value for m in at.metric}["Accuracy"].rstrip("%")) / 100
    assert accuracy > 0.98  # the bundled model on the test split

    [chart] = [c for c in at.get("plotly_chart") if "predicted" in c.proto.spec]
    assert '"type":"heatmap"' in chart.proto.spec.replace(" ", "")
    table = at.dataframe[0].value
    assert list(table.columns) == ["class", "precision", "recall", "f1", "support"]
    assert list(table["class"][:10]) == [str(d) for d in range(10)]
    assert table["support"][:10].sum() == 10000

    from mnist_core.analysis.evaluation import evaluate_split
    from mnist_core.data.tensors import load_dataset
    from mnist_core.runs.checkpoints import load_model

    data = load_dataset("mnist", mnist_dir(), allow_download=False)
    cm = evaluate_split(load_model()[0], *data.split("test"), data.spec)["confusion"]
    at.selectbox(key="eval_true").set_value(9)
    at.selectbox(key="eval_pred").set_value(4).run()
    assert_clean(at)
    assert f"**{int(cm[9, 4]):,} image(s)** (errors)" in texts(at.markdown)

    at.radio(key="eval_norm").set_value("Row-normalised").run()
    assert_clean(at)
    assert "%" in [c for c in at.get("plotly_chart") if "predicted" in c.proto.spec][0].proto.spec

    metrics = {m.label: m.value for m in at.metric}
    assert 0 < float(metrics["Temperature T"]) < 20
    # Label smoothing left the bundled model underconfident (T < 1); scaling fixes most of it.
    ece, scaled = (float(metrics[k].rstrip("%")) for k in ("Calibration error", "After temperature scaling"))
    assert scaled < ece and metrics["Coverage at t"] == "100.00%"
    at.slider(key="eval_abstain").set_value(0.9).run()
    assert_clean(at)
    assert at.session_state["abstain_threshold"] == 0.9
    assert float({m.label: m.value for m in at.metric}["Coverage at t"].rstrip("%")) < 100


def test_evaluate_reads_with_tta_when_asked_and_by_default_for_a_run_trained_so(real_env, real_mnist):
    from mnist_core.analysis.evaluation import evaluate_split
    from mnist_core.runs.checkpoints import load_model

    # Small runs, not the bundled model: its reading with TTA takes seconds on 10,000 digits.
    _, plain_path = tiny_run(real_mnist, real_env, label="plain-run", epochs=1, train_subset=2000)
    at = goto(open_app(), "evaluate")
    at.selectbox(key="eval_true").set_value(7)
    at.selectbox(key="eval_pred").set_value(7).run()  # a cell picked on the bundled model...
    at.selectbox(key="eval_model").set_value(str(plain_path)).run()
    plain = {m.label: m.value for m in at.metric}
    # ...gives way to the new model's own largest confusion.
    off = evaluate_split(load_model(plain_path)[0], *real_mnist.split("test"), real_mnist.spec)["confusion"].numpy()
    off[range(10), range(10)] = -1
    assert (at.session_state["eval_true"], at.session_state["eval_pred"]) == divmod(int(off.argmax()), 10)
    assert at.toggle(key=f"eval_tta-{plain_path}").value is False  # read plainly by default
    at.toggle(key=f"eval_tta-{plain_path}").set_value(True).run()
    assert_clean(at)
    metrics = {m.label: m.value for m in at.metric}
    expected = evaluate_split(load_model(plain_path)[0], *real_mnist.split("test"), real_mnist.spec, tta=True)
    assert metrics["Accuracy with TTA"] == f"{expected['accuracy']:.2%}"
    assert metrics["Errors"] == f"{len(expected['errors']):,}"
    assert "Accuracy with TTA" not in plain and "Accuracy" in plain
    # The abstain figures read the model's own outputs, as Draw does, with TTA on or off.
    from mnist_core.analysis.calibration import coverage_curve

    at.slider(key="eval_abstain").set_value(0.9).run()
    own = evaluate_split(load_model(plain_path)[0], *real_mnist.split("test"), real_mnist.spec)
    covered = {name: coverage_curve(r["probs"], r["labels"], [0.9])["coverage"].item()
               for name, r in (("own", own), ("tta", expected))}
    assert f"{covered['own']:.2%}" != f"{covered['tta']:.2%}", covered  # so the check below tells them apart
    assert {m.label: m.value for m in at.metric}["Coverage at t"] == f"{covered['own']:.2%}", covered

    _, path = tiny_run(real_mnist, real_env, label="tta-run", epochs=1, train_subset=2000, tta=True)
    at = goto(open_app(), "evaluate")
    at.selectbox(key="eval_model").set_value(str(path)).run()
    assert_clean(at)
    assert at.toggle(key=f"eval_tta-{path}").value is True
    assert "Accuracy with TTA" in {m.label for m in at.metric}
    assert "with TTA)" in at.selectbox(key="eval_model").format_func(str(path))


# ---------------------------------------------------------------- drawing





# ---------------------------------------------------------------- no data, no network

def test_every_page_renders_without_data_or_network(offline_env):
    at = open_app()
    assert_clean(at)
    assert "MNIST files not found" in texts(at.warning)
    assert str(offline_env) in texts(at.warning)

    for page in ("data", "train", "evaluate"):
        goto(at, page)
        assert_clean(at)
        help_text = texts(at.info)
        assert "MNIST files not found" in help_text and "MNIST_DATA_DIR" in help_text, page
        assert not [b for b in at.button if b.proto.label.startswith("Download")]

    goto(at, "draw")
    assert_clean(at)
    assert at.selectbox(key="draw_model").value == "bundled"
    assert "Draw a digit" in texts(at.info)

    goto(at, "runs")
    assert_clean(at)

    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[4:24, 13:16] = 255  # a plain vertical bar reads as a 1
    at = AppTest.from_function(draw_digit_app, args=(canvas_from_digit(digit),),
                               default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert at.metric[0].value == "1"


def test_start_waits_for_a_handwriting_set(real_env, tmp_path, monkeypatch):
    from mnist_core.data import handwriting
    from tests.support import open_page

    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path / "hw"))
    at = open_page("train", {"handwriting": "true", "train_subset": "2000"})
    assert_clean(at)
    assert "empty" in texts(at.warning) and at.button(key="train_start").disabled
    handwriting.save_sample(np.eye(28, dtype=np.uint8) * 255, 1)
    at.run()
    assert "empty" not in texts(at.warning) and not at.button(key="train_start").disabled


@pytest.mark.slow
def test_train_page_runs_a_time_budgeted_job(real_env):
    at = goto(open_app(), "train")
    at.number_input(key="cfg_epochs").set_value(50)
    at.number_input(key="cfg_time_budget").set_value(2.0)
    at.button(key="train_estimate").click().run()
    assert_clean(at)
    estimate = next(iter(at.session_state["train_estimates"].values()))
    assert estimate["train_seconds"] == 2.0  # 50 epochs would take far longer
    assert "Estimated" in texts(at.info)
    at.button(key="train_start").click().run()
    job = at.session_state["train_job"]
    assert job.config.time_budget == 2.0 and job.wait(timeout=180)
    assert job.status == "completed" and "2 s time budget" in job.message, job.message
    at.run()
    assert_clean(at)
    assert "2 s time budget" in texts(at.success)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    checks = [t for s in specs for t in s["data"] if t.get("name") == "test (checks)"]
    assert len(checks) == 2 and len(checks[0]["x"]) == len(job.probes) == 9


def test_stopping_a_head_to_head_gives_no_verdict(real_env):
    at = goto(open_app(), "head_to_head")
    at.slider(key="h2h_budget").set_value(60)
    at.button(key="h2h_start").click().run()
    jobs = at.session_state["h2h_jobs"]
    assert wait_for(lambda: jobs["MLP"].status == "running")
    at.button(key="h2h_stop").click().run()
    assert all(job.wait(timeout=60) for job in jobs.values())
    assert [j.status for j in jobs.values()] == ["stopped", "stopped"]
    assert jobs["CNN"].run_id is None  # it never started
    at.run()
    assert_clean(at)
    assert "No verdict" in texts(at.info) and not at.success
    assert not at.button(key="h2h_start").disabled


def test_data_and_train_preview_the_augmentation_as_its_settings_change(real_env):
    from tests.support import open_page

    at = open_page("data")
    assert_clean(at)
    at.checkbox(key="data_distort").check().run()
    assert_clean(at)
    assert any("slanted, bent and re-stroked" in c.value for c in at.caption)
    at.checkbox(key="data_augment").uncheck().run()
    at.checkbox(key="data_distort").uncheck().run()
    assert any("Augmentation is off" in c.value for c in at.caption)
    train = open_page("train")
    assert any("Augmentation is off" in c.value for c in train.caption)
    train.checkbox(key="cfg_augment").check().run()
    assert_clean(train)
    assert any("rotated, shifted and scaled" in c.value for c in train.caption)


def test_an_experiment_link_opens_it_and_a_finished_run_explains_the_answer(real_env, tmp_path, monkeypatch):
    from mnist_core.data.tensors import load_dataset
    from mnist_core.runs.recorder import record
    from mnist_core.studies.experiments import BY_SLUG
    from mnist_core.train.trainer import Trainer
    from tests.support import open_page

    experiment = BY_SLUG["linear-ceiling"]
    at = open_page("experiments", {"experiment": "linear-ceiling"})
    assert_clean(at)
    opened = [e for e in at.expander if e.proto.expanded]
    assert len(opened) == 1 and experiment.title in opened[0].label  # the teacher's link opens that one
    links = [p for p in at.get("page_link") if "Set it up" in p.proto.label]
    assert len(links) == 8
    assert "no finished run of this experiment yet" in texts(at.caption).lower()
    # Its link's settings are exactly the experiment's: the Train page opened with them trains it.
    train = open_page("train", {"model": "logreg", **experiment.config.to_query()})
    assert_clean(train)
    data = load_dataset("mnist", mnist_dir(), allow_download=False)
    list(record(Trainer(experiment.config, data), real_env, label="a student's run"))
    from studio import experiments_panel

    experiments_panel._runs.clear()  # the page reads the runs folder at most every 5 s
    at = open_page("experiments", {"experiment": "linear-ceiling"})
    at.radio(key="exp_guess-linear-ceiling").set_value(experiment.choices[0]).run()
    assert_clean(at)
    assert "Right." in texts(at.success) and "single linear layer" in texts(at.success)
    at.radio(key="exp_guess-linear-ceiling").set_value(experiment.choices[1]).run()
    assert "Not quite: your run says *about 92%*" in texts(at.info)


@pytest.mark.slow
def test_break_it_evaluates_a_broken_copy_and_leaves_the_model_alone(real_env):
    from tests.support import open_page

    at = open_page("evaluate")
    at.toggle(key="eval_break").set_value(True).run()
    at.selectbox(key="eval_break_layer").set_value("conv 2")
    at.slider(key="eval_break_share").set_value(0.9)
    at.button[[b.label for b in at.button].index(next(b.label for b in at.button if "Break a copy" in b.label))].click().run()
    assert_clean(at)
    broken = next(m for m in at.metric if m.label == "Accuracy, broken copy")
    assert float(broken.value.rstrip("%")) < 90 and broken.delta.startswith("-")
    intact = next(m for m in at.metric if m.label == "Accuracy")
    assert float(intact.value.rstrip("%")) > 99  # the page's own model is untouched
    at.button(key="eval_break_curve").click().run()
    assert_clean(at)
    assert any("Accuracy as a layer loses units" in str(c.proto.spec) for c in at.get("plotly_chart"))


def test_suspicious_labels_are_marked_on_data_and_left_out_on_train(real_env, tmp_path, monkeypatch):
    from mnist_core.analysis import label_audit
    from mnist_core.data import label_marks
    from tests.support import open_page

    monkeypatch.setenv("MNIST_LABEL_MARKS", str(tmp_path / "marks.json"))
    at = open_page("data")
    at.radio(key="data_split").set_value("test").run()
    assert_clean(at)
    assert "confident learning" in texts(at.markdown)
    assert "people confirmed as mislabelled" in texts(at.success)  # the published list's count
    first = json.loads(label_audit.BUNDLED.read_text())["splits"]["test"]["suspects"][0]
    assert any(c.lstrip("⚑ ").startswith(f"#{first['index']}: labelled {first['given']}")
               for img in at.get("image") for c in img.captions)
    at.segmented_control(key=f"labels_mark_mnist_test_{first['index']}").set_value("wrong").run()
    assert_clean(at)
    assert label_marks.load_marks()["test"] == {first["index"]: "wrong"}
    # Marked images leave the "not reviewed" list and show under "Marked wrong".
    assert not any(c.lstrip("⚑ ").startswith(f"#{first['index']}:") for img in at.get("image") for c in img.captions)
    at.radio(key="labels_show_test").set_value("wrong").run()
    assert any(c.lstrip("⚑ ").startswith(f"#{first['index']}:") for img in at.get("image") for c in img.captions)

    at.radio(key="data_split").set_value("train").run()
    train_first = json.loads(label_audit.BUNDLED.read_text())["splits"]["train"]["suspects"][:2]
    for s in train_first:
        at.segmented_control(key=f"labels_mark_mnist_train_{s['index']}").set_value("wrong").run()
    assert_clean(at)
    marked = sorted(s["index"] for s in train_first)
    assert label_marks.wrong_indices() == marked

    train = open_page("train")
    assert_clean(train)
    box = train.checkbox(key="train_leave_marked")
    assert "Leave out 2 image(s) marked wrong" in box.label and not box.value
    box.check().run()
    assert_clean(train)
    assert train.session_state["cfg_leave_out"] == tuple(marked)
    assert train.query_params["leave_out"] == ",".join(map(str, marked))  # the shareable link keeps it
    train.checkbox(key="train_leave_marked").uncheck().run()
    assert train.session_state["cfg_leave_out"] == ()


def test_a_sweep_starts_from_the_page_and_shows_optunas_figures(real_env, monkeypatch):
    from mnist_core.jobs import runner as jobs
    from tests.support import open_page

    runner = jobs.JobRunner(max_running=2, max_jobs=8, mode="thread")
    monkeypatch.setattr(jobs, "_default_runner", runner)
    monkeypatch.setenv("MNIST_THREADS", "1")
    at = open_page("sweep")
    assert_clean(at)
    at.number_input(key="sweep_subset_quick").set_value(1000).run()
    at.slider(key="sweep_trials").set_value(4).run()
    # A bad range is refused before anything starts.
    at.text_input(key="sweep_lr_low").set_value("0.5").run()
    assert "the low end must be below the high end" in texts(at.error)
    assert at.button(key="sweep_start").disabled
    at.text_input(key="sweep_lr_low").set_value("1e-3").run()
    assert_clean(at)
    at.button(key="sweep_start").click().run()
    assert_clean(at)
    job = at.session_state["sweep_job"]
    assert job.wait(180) and job.status == "completed", job.message
    at.run()
    assert_clean(at)
    assert "4 of 4 trials finished" in texts(at.markdown)
    assert len(at.get("plotly_chart")) >= 3  # history, importances, parallel coordinates, slices
    best = at.button(key=f"sweep_best_{job.name}")
    top = max((t for t in job.sweep.study.trials if t.value is not None), key=lambda t: t.value)
    assert f"trial {top.number}" in best.label
    best.click().run()  # on to Train, its form filled with the best trial's settings
    assert_clean(at)
    assert float(at.session_state["cfg_lr"]) == pytest.approx(top.params["lr"], rel=5e-3)
    assert at.session_state["cfg_batch_size"] == top.params["batch_size"]
    assert at.session_state["cfg_train_subset"] == 1000  # the fixed settings come along
    goto(at, "sweep")
    at.button(key=f"sweep_open_button_{job.name}").click().run()
    assert_clean(at)
