"""Whose run it is, as two visitors of one server meet it: a run is only its maker's to relabel
or delete, the owner's password unlocks every run, and a reload finds one's live run again."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from mnist_core.runs.folders import list_runs, load_run, read_json, write_json
from mnist_core.runs.ownership import owner_id
from studio.identity import Visitor
from tests.support import APP, PAGE_FILES, TIMEOUT, assert_no_crash, goto, start_job, texts, unlock_owner, wait_for

ALICE, BOB = "a" * 32, "b" * 32


def visit(page: str, secret: str, name: str) -> AppTest:
    """A browser session of a visitor known by `secret` (its cookie) landing on `page`."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["visitor"] = Visitor(secret, name)
    at.switch_page(PAGE_FILES[page])
    return at.run()


def trained(secret: str, name: str, **fields):
    """A visitor who trained a run on Train, to its end: (their session, the job)."""
    at = visit("train", secret, name)
    job = start_job(at, **fields)
    assert job.wait(120) and job.status == "completed", job.message
    return at, job


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_only_the_maker_or_the_owner_can_relabel_or_delete_a_run(app_env, runner, monkeypatch):
    monkeypatch.setenv("MNIST_ADMIN_PASSWORD", "s3cret")
    alice, job = trained(ALICE, "Alice", epochs=1, device="cpu")
    goto(alice, "runs")
    assert_no_crash(alice)
    assert list(alice.dataframe[0].value["by"]) == ["Alice"]
    label = next(t for t in alice.text_input if t.label == "Label")
    label.set_value("alice's best")
    button(alice, "Save label").click().run()
    assert_no_crash(alice)
    assert load_run(job.run_path).summary["label"] == "alice's best"

    bob = visit("runs", BOB, "Bob")
    assert_no_crash(bob)
    assert list(bob.dataframe[0].value["by"]) == ["Alice"]
    assert bob.button(key="runs_delete").disabled
    assert not [t for t in bob.text_input if t.label == "Label"]  # no relabel form for Bob
    assert "Made by Alice" in texts(bob.caption)

    wrong = next(t for t in bob.text_input if t.label == "Owner password")
    wrong.set_value("guess")
    button(bob, "Unlock").click().run()
    assert "not the owner password" in texts(bob.error)
    assert bob.button(key="runs_delete").disabled

    unlock_owner(bob, "s3cret")
    assert_no_crash(bob)
    assert not bob.button(key="runs_delete").disabled
    bob.button(key="runs_delete").click().run()
    bob.button(key="runs_delete_yes").click().run()
    assert_no_crash(bob)
    assert list_runs(app_env) == []


def test_without_a_password_runs_stay_their_makers(app_env, runner, monkeypatch):
    monkeypatch.delenv("MNIST_ADMIN_PASSWORD", raising=False)
    alice, job = trained(ALICE, "Alice", epochs=1, device="cpu")
    bob = visit("runs", BOB, "Bob")
    assert bob.button(key="runs_delete").disabled
    assert "No owner password is set" in texts(bob.caption)
    assert len(list_runs(app_env)) == 1


def test_a_reload_or_a_second_tab_finds_the_live_run_again(app_env, runner):
    first = visit("train", ALICE, "Alice")
    # Batches of 2 and many epochs: the run is still live when the other tabs open.
    job = start_job(first, batch_size=2, epochs=200, device="cpu")
    try:
        assert wait_for(lambda: job.status == "running")
        again = visit("train", ALICE, "Alice")  # the same cookie: a reload, or a second tab
        assert_no_crash(again)
        assert again.session_state["train_job"] is job
        assert any(h.value.startswith("Run:") for h in again.subheader)  # its live view
        other = visit("train", BOB, "Bob")
        assert_no_crash(other)
        assert "train_job" not in other.session_state or other.session_state["train_job"] is None
    finally:
        job.stop()
        job.wait(60)


def test_a_published_run_is_on_everyones_board_and_the_owner_clears_it(real_env, runner, monkeypatch):
    monkeypatch.setenv("MNIST_ADMIN_PASSWORD", "s3cret")
    alice, job = trained(ALICE, "Alice", model="logreg")
    goto(alice, "runs")
    button(alice, "Publish to the class board").click().run()
    assert_no_crash(alice)
    assert "on the challenge set" in texts(alice.success)

    bob = visit("class_board", BOB, "Bob")
    assert_no_crash(bob)
    table = bob.dataframe[0].value
    assert list(table["who"]) == ["Alice"] and list(table["model"]) == ["logreg"]
    assert 80 < table["challenge accuracy"][0] <= 100
    summary = read_json(Path(job.run_path) / "summary.json")
    write_json(Path(job.run_path) / "summary.json", {**summary, "duration_s": 50.0})
    bob.number_input(key="board_seconds").set_value(10).run()
    assert "No published run trained for 10 s or less" in texts(bob.info)
    bob.number_input(key="board_seconds").set_value(0).run()
    assert list(bob.dataframe[0].value["who"]) == ["Alice"]
    assert not [b for b in bob.button if b.key == "board_clear"]  # Bob is not the owner
    unlock_owner(bob, "s3cret")
    bob.button(key="board_clear").click().run()
    assert_no_crash(bob)
    assert list(bob.dataframe[0].value["who"]) == ["Alice"]  # not on one click: it asks first
    assert "Take all 1 run(s) off the board?" in texts(bob.warning)
    bob.button(key="board_clear_yes").click().run()
    assert_no_crash(bob)
    assert "No run is on the board yet" in texts(bob.info)
    from mnist_core.runs import audit
    from mnist_core.runs.folders import runs_root

    actions = [(e["action"], e["who"]) for e in audit.recent(runs_root())]
    assert ("cleared the class board", f"Bob ({owner_id(BOB)[:8]}) as owner") in actions
    assert any(a == "published a run" and w.startswith("Alice") for a, w in actions)


def test_a_reload_keeps_the_model_in_use_and_a_classmate_keeps_their_own(app_env, runner):
    alice, job = trained(ALICE, "Alice", model="logreg")
    alice.run()
    alice.button(key="job_use").click().run()
    assert_no_crash(alice)
    again = visit("evaluate", ALICE, "Alice")  # the same cookie: a reload
    assert_no_crash(again)
    assert again.session_state["model_in_use"] == job.run_path
    assert job.run_id in again.selectbox(key="eval_model").value
    other = visit("evaluate", BOB, "Bob")
    assert other.session_state["eval_model"] == "bundled"
