"""What the pages say about where the class's work is kept: every visitor hears, in plain words,
when the database cannot be reached (their work is kept); the owner of a host whose files are
temporary is told, on Runs and the Class board, that runs vanish without a database."""
from __future__ import annotations

import pytest

from mnist_core import storage
from tests.support import assert_no_crash, fake_run, free_port, open_page, texts, wait_for


@pytest.fixture
def local_folders(app_env, tmp_path, monkeypatch):
    """Every area of the storage in the test's own folder, none in the repository's."""
    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path / "data" / "handwriting"))
    monkeypatch.setenv("MNIST_LABEL_MARKS", str(tmp_path / "data" / "label_marks.json"))
    return app_env


def test_every_visitor_hears_when_the_database_cannot_be_reached(local_folders, monkeypatch):
    run = fake_run(local_folders, "good")
    nobody = free_port()  # nothing listens there: the database is down
    monkeypatch.setenv("MNIST_STORAGE_URL", f"postgresql://ada:secret@127.0.0.1:{nobody}/class")
    at = open_page("runs")
    assert_no_crash(at)
    # The page or the server's sync thread, whichever tries first, finds the database down; a
    # page never waits on the other's try, so the word may come with the next rerun.
    assert wait_for(lambda: not storage.current().health().reachable, timeout=30)
    at.run()
    words = texts(at.warning)
    assert "database can't be reached" in words and "kept on this server" in words
    assert ":secret@" not in texts(at.caption) + words and "ada:***@" in texts(at.caption)  # no password shown
    assert at.dataframe and run.name in at.dataframe[0].value.to_string()  # the local runs, listed as ever


def test_the_url_may_come_from_streamlits_secrets(local_folders, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from mnist_core import settings
    from tests.support import APP, PAGE_FILES, TIMEOUT

    monkeypatch.setattr(settings, "_adopted", {})  # the process-wide value, put back afterwards
    fake_run(local_folders, "good")
    at = open_page("runs")
    assert "database" not in texts(at.warning)  # no secret, no database
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["storage_url"] = f"postgresql://ada:secret@127.0.0.1:{free_port()}/class"
    at.switch_page(PAGE_FILES["runs"])
    at.run()
    assert_no_crash(at)
    assert wait_for(lambda: not storage.current().health().reachable, timeout=30)
    at.run()
    assert "database can't be reached" in texts(at.warning)


@pytest.mark.parametrize("page", ["runs", "class_board"])
def test_the_owner_of_a_temporary_host_is_told_runs_vanish_without_a_database(local_folders, monkeypatch, page, tmp_path):
    monkeypatch.setenv("MNIST_TEMPORARY_DISK", "1")
    at = open_page(page)
    assert_no_crash(at)
    assert "deletes them when the app restarts" in texts(at.warning) and "storage_url" in texts(at.warning)
    monkeypatch.setenv("MNIST_STORAGE_URL", f"sqlite:///{tmp_path / 'class.db'}")
    at = open_page(page)
    assert_no_crash(at)
    assert "deletes them" not in texts(at.warning)
