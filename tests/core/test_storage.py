"""One storage URL for everything a server keeps, on a real PostgreSQL server (tests/postgres.py):
a server whose local folders vanish gets every run, mark and handwriting set back; two servers
on one database share runs, ownership and the board; a database that goes away mid-run loses
nothing and catches up; `storage copy` moves a class's work in and out."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from mnist_core import settings, storage
from mnist_core.data import handwriting, label_marks
from mnist_core.errors import RunError
from mnist_core.runs import board
from mnist_core.runs.checkpoints import load_model
from mnist_core.runs.folders import list_runs, load_run, relabel
from mnist_core.runs.ownership import owner_fields, owner_id, require_change
from mnist_core.runs.recorder import record
from mnist_core.storage.url import engine_url
from mnist_core.train.config import TrainConfig
from mnist_core.train.trainer import Trainer
from tests.support import REPO, mnist_dir

ADA, BEN = "a" * 32, "b" * 32


def server_settings(folder: Path, url: str):
    """One app server: its own local folders, on the storage `url`."""
    return settings.replace(settings.read({}), runs_dir=folder / "runs", handwriting_dir=folder / "data" / "handwriting",
                            label_marks=folder / "data" / "label_marks.json", storage_url=url)


@contextmanager
def on(server):
    """Run the engine as `server` (this thread), as a restarted process would: nothing cached."""
    before = settings.installed()
    settings.install(server)
    try:
        yield storage.current()
    finally:
        settings.install(before)


def restart() -> None:
    storage._open.clear()  # a new process opens its storage afresh


def train(data, secret: str, name: str, **fields) -> Path:
    config = TrainConfig.from_dict({"model": "logreg", "epochs": 1, "train_subset": 2000, "device": "cpu", **fields})
    events = list(record(Trainer(config, data), None, name, owner=owner_fields(secret, name)))
    return settings.current().runs_dir / events[-1]["run_id"]


def digit() -> np.ndarray:
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 12:16] = 255
    return image


def test_postgresql_urls_get_the_installed_driver():
    assert engine_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert engine_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert engine_url("sqlite:///x.db") == "sqlite:///x.db"


def test_without_a_url_everything_stays_in_local_files(tmp_path, tiny_data):
    with on(server_settings(tmp_path, "")) as store:
        assert store.kind == "local" and store.health().reachable
        train(tiny_data, ADA, "Ada")
        label_marks.set_mark("train", 3, "wrong", by="Ada")
        assert storage.refresh(0).sent == 0
    assert not list(tmp_path.rglob(".synced-*"))  # nothing of a database's bookkeeping


def test_a_restarted_server_with_empty_folders_gets_everything_back(real_mnist, database_url, tmp_path):
    server = server_settings(tmp_path / "a", database_url)
    with on(server) as store:
        path = train(real_mnist, ADA, "Ada")
        board.publish(path, real_mnist, owner_id(ADA))
        label_marks.set_mark("train", 21601, "wrong", by="Ada")
        own_set = tmp_path / "a" / "data" / "handwriting" / "visitors" / ADA[:16]
        handwriting.save_sample(digit(), 1, folder=own_set)
        assert store.sync().error is None
    shutil.rmtree(tmp_path / "a")
    restart()
    with on(server):
        runs = list_runs()
        assert [r.run_id for r in runs] == [path.name]
        run = runs[0]
        assert run.damaged is None and run.summary["owner"] == owner_id(ADA) and run.summary["owner_name"] == "Ada"
        load_model(run.path)  # Draw and Evaluate read it
        assert [r["run"] for r in board.rows()] == [path.name] and board.rows()[0]["who"] == "Ada"
        assert label_marks.wrong_indices() == [21601]
        images, labels = handwriting.load_set(own_set)
        assert labels.tolist() == [1] and images.shape == (1, 28, 28)


def test_two_servers_share_runs_ownership_and_the_board(real_mnist, database_url, tmp_path):
    a, b = server_settings(tmp_path / "a", database_url), server_settings(tmp_path / "b", database_url)
    with on(a) as store:
        ada_run = train(real_mnist, ADA, "Ada")
        store.sync()
    with on(b) as store:
        ben_run = train(real_mnist, BEN, "Ben")
        seen = {r.run_id: r for r in list_runs()}
        assert set(seen) == {ada_run.name, ben_run.name}
        load_model(seen[ada_run.name].path)  # usable here, though trained there
        with pytest.raises(RunError, match="started by Ada"):
            require_change(seen[ada_run.name].summary, owner_id(BEN), admin=False, action="delete")
        with pytest.raises(RunError, match="started by Ada"):
            board.publish(seen[ada_run.name].path, real_mnist, owner_id(BEN))
        store.sync()
    with on(a) as store:
        store.sync()  # as the server's own sync does every few seconds (studio.storage_panel)
        assert len(list_runs()) == 2  # the owner on Ada's server sees Ben's run too

    # Both publish at the same moment, each on their own server, while each marks labels and
    # Ada's server relabels Ben's run as Ben publishes it: nothing is lost.
    go = threading.Barrier(2)
    errors = []

    def act(server, run_path, secret, marks, other_run):
        try:
            with on(server):
                go.wait()
                board.publish(Path(server.runs_dir) / run_path.name, real_mnist, owner_id(secret))
                for index in marks:
                    label_marks.set_mark("train", index, "wrong", by=secret[:3])
                if other_run is not None:
                    relabel(None, other_run.name, "relabelled by the owner")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=act, args=(a, ada_run, ADA, range(0, 20, 2), ben_run)),
               threading.Thread(target=act, args=(b, ben_run, BEN, range(1, 20, 2), None))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for server in (a, b):
        with on(server) as store:
            store.sync()
    for server in (a, b):
        with on(server) as store:
            store.sync()
            assert {r["run"] for r in board.rows()} == {ada_run.name, ben_run.name}
            assert label_marks.wrong_indices() == list(range(20))
            ben = load_run(Path(server.runs_dir) / ben_run.name, curves=False)
            assert ben.summary["label"] == "relabelled by the owner" and ben.summary.get("published")


def test_a_database_that_goes_away_mid_run_loses_nothing_and_catches_up(tiny_data, tmp_path):
    from tests import postgres as pg

    server = pg.start()  # its own server: this test stops it
    try:
        url = server.new_database()
        a, b = server_settings(tmp_path / "a", url), server_settings(tmp_path / "b", url)
        with on(a) as store:
            assert store.sync().error is None
            server.stop()
            path = train(tiny_data, ADA, "Ada")  # training never waits on the database
            label_marks.set_mark("train", 7, "wrong", by="Ada")
            report = store.sync()
            assert report.error and "127.0.0.1" in report.error
            health = store.health()
            assert not health.reachable and health.waiting >= 4  # config, summary, metrics, checkpoint, marks
            assert [r.run_id for r in list_runs()] == [path.name]  # the local copy, listed as ever
            server.start()
            report = store.sync()
            assert report.error is None and report.sent >= 5 and store.health().reachable
        with on(b):
            assert [r.run_id for r in list_runs()] == [path.name]
            assert label_marks.wrong_indices() == [7]
    finally:
        server.close()


def test_storage_copy_moves_everything_out_and_back(real_mnist, database_url, tmp_path):
    local = tmp_path / "laptop"
    with on(server_settings(local, "")):
        path = train(real_mnist, ADA, "Ada")
        label_marks.set_mark("test", 4, "fine", by="Ada")
        handwriting.save_sample(digit(), 3, folder=local / "data" / "handwriting")
    from mnist_core.cli.main import main

    assert main(["storage", "copy", str(local), database_url]) == 0
    assert main(["storage", "copy", database_url, str(tmp_path / "back")]) == 0
    with on(server_settings(tmp_path / "back", "")):
        assert [r.run_id for r in list_runs()] == [path.name]
        assert label_marks.load_marks()["test"] == {4: "fine"}
        assert handwriting.load_set(tmp_path / "back" / "data" / "handwriting")[1].tolist() == [3]


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "mnist_core", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MNIST_OFFLINE": "1", **env})
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_the_cli_trains_into_the_database_and_another_folder_reads_it_back(database_url, tmp_path):
    from PIL import Image

    env = {"MNIST_STORAGE_URL": database_url, "MNIST_DATA_DIR": str(mnist_dir())}
    done = cli("--runs-dir", str(tmp_path / "one"), "train", "--model", "logreg", "--epochs", "1",
               "--train-subset", "1000", env=env)
    assert done.returncode == 0, done.stderr
    shutil.rmtree(tmp_path / "one")
    listed = cli("--runs-dir", str(tmp_path / "two"), "runs", "list", env=env)
    assert listed.returncode == 0 and "logreg" in listed.stdout, listed.stderr
    run_id = next(line.split()[0] for line in listed.stdout.splitlines() if "logreg" in line)
    Image.fromarray(digit()).save(tmp_path / "digit.png")
    read = cli("--runs-dir", str(tmp_path / "two"), "predict", "--run", run_id, str(tmp_path / "digit.png"), env=env)
    assert read.returncode == 0 and "digit.png" in read.stdout, read.stderr


def test_two_cli_sweep_workers_in_separate_folders_run_exactly_n_trials(database_url, tmp_path):
    import optuna

    flags = ["--study", "shared", "--space", "lr=1e-3..1e-1:log", "--trials", "6", "--model", "logreg",
             "--train-subset", "600", "--epochs", "1", "--schedule", "constant"]
    env = {"MNIST_DATA_DIR": str(mnist_dir())}
    workers = [subprocess.Popen([sys.executable, "-m", "mnist_core", "--runs-dir", str(tmp_path / f"w{i}"), "sweep",
                                 "--storage", database_url, *flags], cwd=REPO, env={**os.environ, **env},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in (1, 2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    for w, (_out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0 and "Traceback" not in err, err
    study = optuna.load_study(study_name="shared", storage=engine_url(database_url))
    counted = [t for t in study.trials if not t.user_attrs.get("surplus")]
    assert len(counted) == 6
    assert all(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for t in counted)
    made = [r for i in (1, 2) for r in list_runs(tmp_path / f"w{i}", curves=False)]
    assert len(made) == 6


# ---------------------------------------------------------------- what a review found

def storages(tmp_path, url, *names):
    from mnist_core.storage.areas import areas_of
    from mnist_core.storage.mirror import DatabaseStorage

    return [DatabaseStorage(url, areas_of(server_settings(tmp_path / n, url))) for n in names]


def mark(store, key: str) -> None:
    store.update_json("marks", "label_marks.json", lambda d: d.setdefault("m", {}).update({key: 1}))


def marks_of(tmp_path, name: str) -> dict:
    import json

    return json.loads((tmp_path / name / "data" / "label_marks.json").read_text())["m"]


def test_a_new_empty_database_never_empties_the_local_folders(postgres, tmp_path):
    old, new = postgres.new_database(), postgres.new_database()
    (kept := tmp_path / "a" / "runs" / "r1").mkdir(parents=True)
    (kept / "summary.json").write_text("{}")
    [store] = storages(tmp_path, old, "a")
    assert store.sync().sent == 1
    [moved] = storages(tmp_path, new, "a")  # the owner points the server at another database
    assert moved.sync(send=False).removed == 0 and (kept / "summary.json").exists()
    assert moved.sync().sent == 1  # and the new one gets the local copy


def test_marks_made_while_the_database_was_away_are_merged_not_lost(database_url, tmp_path, monkeypatch):
    import sqlalchemy.exc

    a, b = storages(tmp_path, database_url, "a", "b")
    mark(a, "before")
    real = a._ready

    def down():
        raise sqlalchemy.exc.OperationalError("connect", {}, Exception("the database is down"))

    monkeypatch.setattr(a, "_ready", down)
    mark(a, "while_away")  # kept in A's local copy
    mark(b, "on_b")  # meanwhile, on the database
    monkeypatch.setattr(a, "_ready", real)
    monkeypatch.setattr(a, "_failed_at", float("-inf"))
    mark(a, "after")  # the first change once it is back merges the one made while away
    a.sync(), b.sync()
    for name in ("a", "b"):
        assert set(marks_of(tmp_path, name)) == {"before", "while_away", "on_b", "after"}


def test_a_name_the_disk_refuses_is_skipped_and_the_rest_still_syncs(database_url, tmp_path):
    a, b = storages(tmp_path, database_url, "a", "b")
    a.put("marks", "label_marks.json", b'{"m": {"7": 1}}')
    a.put("runs", "x", b"a file")
    a.put("runs", "x/y", b"a file in a folder of the same name")
    a.put("runs", "r" * 300, b"a name longer than a file name may be")
    (tmp_path / "b" / "data" / "handwriting").mkdir(parents=True)
    (tmp_path / "b" / "data" / "handwriting" / "labels.csv").write_text("b's set")
    (tmp_path / "b" / "runs").mkdir(parents=True)
    (tmp_path / "b" / "runs" / b"stray-\xff".decode("utf-8", "surrogateescape")).write_text("not UTF-8")
    report = b.sync()
    assert report.error is None and report.skipped == 2 and b.health().reachable
    assert marks_of(tmp_path, "b") == {"7": 1} and ("handwriting", "labels.csv") in a.listing()


def test_a_pages_refresh_never_waits_on_a_sync_under_way(database_url, tmp_path):
    [store] = storages(tmp_path, database_url, "a")
    store.sync()  # the server's first sync is done (until then a page waits for it: it has nothing to list)
    held, released = threading.Event(), threading.Event()

    def sync_thread():  # mid-sync, or waiting on a database that is down
        with store._lock:
            held.set()
            released.wait(30)

    holder = threading.Thread(target=sync_thread)
    holder.start()
    held.wait(10)
    threading.Timer(10, released.set).start()  # lets a waiting refresh go, so that the test ends
    store.sync(max_age=2.0)
    waited = released.is_set()
    released.set()
    holder.join()
    assert not waited  # the page went on with its local files at once


def test_the_owners_audit_log_keeps_both_servers_lines(database_url, tmp_path):
    from mnist_core.runs import audit

    a, b = server_settings(tmp_path / "a", database_url), server_settings(tmp_path / "b", database_url)
    for server, action in ((a, "deleted a run"), (b, "cleared the board")):
        with on(server) as store:
            store.sync()
            audit.record(None, "the owner", action)
    for _ in range(2):
        for server in (a, b):
            with on(server) as store:
                assert store.sync().error is None
    for server in (a, b):
        with on(server):
            assert {e["action"] for e in audit.recent(None)} == {"deleted a run", "cleared the board"}
