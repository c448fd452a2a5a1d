"""The server owner's password and rights: tries slowed and logged, rights kept by a signed
cookie that expires; and a class's identities: names told apart, "Not me?" on a shared PC."""
from __future__ import annotations

import logging

from streamlit.testing.v1 import AppTest

from studio import owner
from studio.identity import Visitor
from tests.studio.test_ownership_pages import ALICE, BOB, trained, visit
from tests.support import assert_no_crash, start_job, unlock_owner


def test_each_failure_doubles_the_wait_for_the_session_and_the_server():
    assert owner.delay_for(0, 0) == 0.0
    assert [owner.delay_for(n, 0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert owner.delay_for(0, 6) == 1.0  # a guesser opening new sessions still waits
    assert owner.delay_for(50, 0) == owner.MAX_DELAY_S


def _try_passwords(tries):
    import streamlit as st

    from studio import identity

    st.session_state.setdefault("visitor", identity.Visitor("c" * 32, "Mallory"))
    for given in tries:
        st.write(identity.unlock(given))


def test_wrong_passwords_wait_longer_and_are_logged(monkeypatch, caplog):
    monkeypatch.setenv("MNIST_ADMIN_PASSWORD", "s3cret")
    waits = []
    monkeypatch.setattr(owner, "_sleep", waits.append)
    monkeypatch.setattr(owner, "_failures", owner.deque(maxlen=1000))
    with caplog.at_level(logging.WARNING, logger="mnist_studio.owner"):
        at = AppTest.from_function(_try_passwords, args=(["a", "b", "c", "s3cret"],)).run()
    assert_no_crash(at)
    assert [m.value.strip("`") for m in at.markdown] == ["False", "False", "False", "True"]
    assert waits == [0.0, 0.5, 1.0, 2.0]
    lines = [r.getMessage() for r in caplog.records]
    assert sum("wrong owner password" in line for line in lines) == 3 and "s3cret" not in " ".join(lines)


def test_the_owner_cookie_proves_the_password_for_one_visitor_until_it_expires(monkeypatch):
    monkeypatch.setenv("MNIST_ADMIN_PASSWORD", "s3cret")
    value = owner.cookie_value("alice-id")
    assert owner.valid(value, "alice-id")
    assert not owner.valid(value, "bob-id")  # copied to another browser's visitor
    assert not owner.valid(owner.cookie_value("alice-id", hours=-1), "alice-id")  # expired
    assert not owner.valid("9999999999.forged", "alice-id")
    monkeypatch.setenv("MNIST_ADMIN_PASSWORD", "changed")
    assert not owner.valid(value, "alice-id")  # a new password voids every cookie


def test_a_name_anothers_runs_carry_is_refused_and_the_old_name_kept(app_env, runner):
    alice, job = trained(ALICE, "Alice", model="logreg")
    bob = visit("home", BOB, "Bob")
    bob.sidebar.text_input(key="visitor_name").set_value("alice").run()
    assert_no_crash(bob)
    assert "already carry the name alice" in " ".join(e.value for e in bob.sidebar.error)
    assert bob.session_state["visitor"].name == "Bob"
    assert bob.sidebar.text_input(key="visitor_name").value == "Bob"
    again = visit("home", ALICE, "Alice")  # Alice herself may keep or retype her own name
    again.sidebar.text_input(key="visitor_name").set_value("ALICE").run()
    assert not again.sidebar.error and again.session_state["visitor"].name == "ALICE"


def test_not_me_starts_someone_new_with_nothing_of_the_last_visitors(app_env):
    at = visit("home", ALICE, "Alice")
    at.session_state["model_in_use"] = "/somewhere/else"
    at.sidebar.button(key="visitor_new").click().run()
    assert_no_crash(at)
    visitor = at.session_state["visitor"]
    assert isinstance(visitor, Visitor) and visitor.secret != ALICE and visitor.name == ""
    assert "model_in_use" not in at.session_state


def test_the_owner_stops_any_students_run_and_the_log_says_who(app_env, runner, monkeypatch):
    from mnist_core.runs import audit
    from mnist_core.runs.folders import runs_root

    monkeypatch.setenv("MNIST_ADMIN_PASSWORD", "s3cret")
    alice = visit("train", ALICE, "Alice")
    job = start_job(alice, batch_size=2, epochs=200, device="cpu")
    try:
        teacher = visit("runs", BOB, "Teacher")
        assert not [b for b in teacher.button if b.key and b.key.startswith("owner_stop_job")]  # not yet
        unlock_owner(teacher, "s3cret")
        assert_no_crash(teacher)
        assert any("Alice: " in t.value for t in teacher.text)
        teacher.button(key="owner_stop_job_0").click().run()
        assert_no_crash(teacher)
        assert job.wait(60) and job.status == "stopped"
        assert "stopped by the server's owner" in job.message  # not "by the user": Alice did not
        assert not [b for b in teacher.button if b.key and b.key.startswith("owner_stop_job")]  # gone at once
        assert ("stopped a run", "Teacher") in [(e["action"], e["who"].split(" (")[0]) for e in audit.recent(runs_root())]
    finally:
        job.stop()
        job.wait(60)


def test_the_owner_renames_a_visitor_on_all_their_runs(app_env, runner, monkeypatch):
    from mnist_core.runs.folders import list_runs, runs_root

    monkeypatch.setenv("MNIST_ADMIN_PASSWORD", "s3cret")
    alice, job = trained(ALICE, "Rude name", model="logreg")
    teacher = visit("runs", BOB, "Teacher")
    unlock_owner(teacher, "s3cret")
    teacher.text_input(key="owner_rename_to").set_value("Alice")
    teacher.button(key="owner_rename").click().run()
    assert_no_crash(teacher)
    assert [r.summary["owner_name"] for r in list_runs(runs_root(), curves=False)] == ["Alice"]
    # Her next visit and run carry the new name too, not the old one beside it.
    again = visit("train", ALICE, "Rude name")
    assert again.session_state["visitor"].name == "Alice"
    assert again.sidebar.text_input(key="visitor_name").value == "Alice"
    second = start_job(again, model="logreg")
    assert second.wait(120) and second.status == "completed", second.message
    assert sorted(r.summary["owner_name"] for r in list_runs(runs_root(), curves=False)) == ["Alice", "Alice"]
