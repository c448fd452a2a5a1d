"""Whose run it is: the rules, on real run folders written by a real trainer."""
import pytest

from mnist_core.errors import RunError
from mnist_core.runs.folders import load_run
from mnist_core.runs.ownership import made_by, may_change, owner_fields, owner_id, password_matches, require_change
from mnist_core.runs.recorder import record
from mnist_core.train.trainer import Trainer
from tests.support import small_config

ALICE, BOB = "a" * 32, "b" * 32


def test_a_run_records_its_owner_as_a_hash_and_a_name(tiny_data, tmp_path):
    trainer = Trainer(small_config(), tiny_data)
    for _ in record(trainer, tmp_path, "mine", owner=owner_fields(ALICE, "Alice\x1b[31m")):
        pass
    run = load_run(next(tmp_path.iterdir()))
    assert run.damaged is None
    assert run.summary["owner"] == owner_id(ALICE) != ALICE  # the secret itself is never stored
    assert ALICE not in (run.path / "summary.json").read_text()
    assert made_by(run.summary) == "Alice[31m"  # control characters are dropped
    assert may_change(run.summary, owner_id(ALICE))
    assert not may_change(run.summary, owner_id(BOB))
    with pytest.raises(RunError, match="started by Alice.*only they, or the server's owner"):
        require_change(run.summary, owner_id(BOB), admin=False, action="delete")
    assert may_change(run.summary, owner_id(BOB), admin=True)


def test_runs_made_outside_the_app_are_the_owners_on_a_shared_server():
    cli_run = {"status": "completed"}
    assert made_by(cli_run) == "outside the app"
    assert not may_change(cli_run, owner_id(BOB), shared=True)
    assert may_change(cli_run, owner_id(BOB), shared=False)  # a laptop: no password set
    assert may_change(cli_run, None, admin=True)
    with pytest.raises(RunError, match="outside the app"):
        require_change(cli_run, owner_id(BOB), admin=False, action="relabel")


def test_a_forged_summary_with_someone_elses_name_is_not_theirs():
    forged = {"owner": owner_id(BOB), "owner_name": "Alice"}
    assert not may_change(forged, owner_id(ALICE))
    assert not may_change({"owner": owner_id(ALICE)}, None)


def test_the_password_check():
    assert password_matches("s3cret", "s3cret")
    assert not password_matches("s3cre", "s3cret")
    assert not password_matches("", "")  # no password configured: nobody is the owner
    assert not password_matches("anything", "")
