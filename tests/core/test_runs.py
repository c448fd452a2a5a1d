import json
import os
import pickle

import pytest
import torch

from mnist_core.analysis.evaluation import evaluate_tensors
from mnist_core.runs.checkpoints import load_checkpoint, load_model
from mnist_core.runs.folders import (
    RunError,
    clean_label,
    delete_run,
    effective_status,
    list_runs,
    load_run,
    run_path,
    save_checkpoint,
    write_json,
)
from mnist_core.runs.recorder import record
from mnist_core.train.config import TrainConfig
from mnist_core.train.trainer import Trainer
from tests.support import fill_disk_after, tiny_run


def test_save_load_round_trip_rebuilds_model_and_history(tiny_data, runs_dir):
    trainer, path = tiny_run(tiny_data, runs_dir)
    run = load_run(path)
    assert run.summary["status"] == "completed"
    assert run.summary["epochs_done"] == 2 and len(run.metrics) == 2
    assert run.summary["final_test_acc"] == run.metrics[-1]["test_acc"]
    assert set(run.summary["versions"]) == {"mnist_core", "torch", "torchvision", "python"}
    assert TrainConfig.from_dict(run.config) == trainer.config
    model, config = load_model(path)
    assert config == trainer.config
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[k], v)
    again = evaluate_tensors(model, tiny_data.test_images, tiny_data.test_labels, tiny_data.spec)
    assert again["accuracy"] == pytest.approx(run.metrics[-1]["test_acc"])
    state = load_checkpoint(path)
    assert state["epoch"] == 2 and len(state["history"]) == 2 and "optimizer_state" in state
    assert [r.run_id for r in list_runs(runs_dir)] == [path.name]


def test_loading_uses_weights_only(monkeypatch, tmp_path):
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_model()  # the bundled model
    assert seen.get("weights_only") is True


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "checkpoint.pt"
    torch.save({"model_state": {}, "config": {}, "x": _Exploit(str(marker))}, bad)
    # Prove the payload is live: plain pickle loading would create the marker.
    with pytest.raises(RunError, match="could not be loaded safely"):
        load_checkpoint(bad)
    assert not marker.exists()
    with open(bad, "rb"):
        pass
    raw = pickle.dumps(_Exploit(str(marker)))
    pickle.loads(raw)
    assert marker.exists()  # the same payload does run code when unpickled unsafely


def test_checkpoint_for_another_architecture(tiny_data, runs_dir, tmp_path):
    _, path = tiny_run(tiny_data, runs_dir)
    state = load_checkpoint(path)
    state["config"]["model_kwargs"] = {"hidden": [64]}
    save_checkpoint(tmp_path / "other.pt", state)
    with pytest.raises(RunError, match="do not match model 'mlp'.*size mismatch"):
        load_model(tmp_path / "other.pt")
    state["config"]["model"] = "cnn"
    state["config"]["model_kwargs"] = {}
    save_checkpoint(tmp_path / "other2.pt", state)
    with pytest.raises(RunError, match="do not match model 'cnn'"):
        load_model(tmp_path / "other2.pt")


def test_truncated_and_garbage_checkpoints(tiny_data, runs_dir, tmp_path):
    _, path = tiny_run(tiny_data, runs_dir)
    raw = (path / "checkpoint.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(RunError, match="cut.pt"):
        load_model(tmp_path / "cut.pt")
    (tmp_path / "junk.pt").write_bytes(b"hello")
    with pytest.raises(RunError, match="junk.pt"):
        load_model(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(RunError, match="not an MNIST Studio checkpoint"):
        load_model(tmp_path / "foreign.pt")
    with pytest.raises(RunError, match="missing"):
        load_model(tmp_path / "nothing-here.pt")


@pytest.mark.parametrize("bad", ["../etc", "/etc/passwd", "..", "a/b", "20260101-000000-cnn-abcdef/..",
                                 "x\x00y", ""])
def test_run_ids_never_become_paths_outside_the_runs_folder(runs_dir, bad):
    with pytest.raises(RunError):
        run_path(runs_dir, bad)
    with pytest.raises(RunError):
        delete_run(runs_dir, bad)


def test_labels_are_text_not_paths(tiny_data, runs_dir):
    _, path = tiny_run(tiny_data, runs_dir, label="../../evil\n\x1b[31mname/")
    assert path.parent == runs_dir
    assert load_run(path).summary["label"] == "../../evil[31mname/"
    assert clean_label("a\tb\x00c" + "x" * 200) == "abc" + "x" * 77


def test_killed_writer_reads_as_interrupted(tiny_data, runs_dir):
    _, path = tiny_run(tiny_data, runs_dir)
    summary = json.loads((path / "summary.json").read_text())
    summary.update(status="running", pid=2**22 + 12345)  # no such process
    (path / "summary.json").write_text(json.dumps(summary))
    with open(path / "metrics.jsonl", "a") as fh:
        fh.write('{"kind": "epoch", "epo')  # a torn last line
    run = load_run(path)
    assert run.summary["status"] == "interrupted"
    assert len(run.metrics) == 2
    summary.update(pid=os.getpid())  # ours, but not being written by this process
    assert effective_status(summary) == "interrupted"


def test_delete_run(tiny_data, runs_dir):
    _, path = tiny_run(tiny_data, runs_dir)
    delete_run(runs_dir, path.name)
    assert not path.exists() and list_runs(runs_dir) == []
    with pytest.raises(RunError, match="no run"):
        delete_run(runs_dir, path.name)


def test_disk_full_while_writing_checkpoint_keeps_the_previous_one(tiny_data, runs_dir, monkeypatch):
    c = TrainConfig.from_dict({"model": "mlp", "model_kwargs": {"hidden": [16]}, "epochs": 3,
                               "batch_size": 64, "device": "cpu"})
    trainer = Trainer(c, tiny_data)
    events = record(trainer, runs_dir)
    free_disk = fill_disk_after(monkeypatch, 2)
    run_id = None
    with pytest.raises(RunError, match="No space left") as caught:
        for e in events:
            run_id = e["run_id"]
    free_disk()
    # torch's own "unexpected pos" RuntimeError is not what a person reads
    assert "checkpoint.pt: the disk is full: free some space" in str(caught.value), caught.value
    run = load_run(runs_dir / run_id)
    assert run.summary["status"] == "failed" and "No space left" in run.summary["message"]
    state = load_checkpoint(run.path)
    assert state["epoch"] == 1
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]


def test_a_budgeted_run_keeps_its_test_checks_apart_from_its_epochs(tiny_data, runs_dir):
    config = TrainConfig(model="logreg", epochs=500, batch_size=32, device="cpu", time_budget=1.0)
    events = list(record(Trainer(config, tiny_data), runs_dir))
    run = load_run(runs_dir / events[0]["run_id"])
    probes = [e for e in events if e["kind"] == "probe"]
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert len(run.probes) == len(probes) == 9
    assert [p["train_seconds"] for p in run.probes] == [p["train_seconds"] for p in probes]
    assert [m["epoch"] for m in run.metrics] == [e["epoch"] for e in epochs]  # epochs only
    _, plain = tiny_run(tiny_data, runs_dir)
    assert load_run(plain).probes == [] and not (plain / "probes.jsonl").exists()


def test_messages_say_what_happened(tmp_path, tiny_data, runs_dir):
    from mnist_core.runs.checkpoints import BUNDLED_DIR

    raw = (BUNDLED_DIR / "checkpoint.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(RunError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "cut.pt")
    with pytest.raises(RunError, match="no such run folder"):
        load_model(runs_dir / "20990101-000000-cnn-abcdef")
    _, path = tiny_run(tiny_data, runs_dir)
    (path / "checkpoint.pt").unlink()
    with pytest.raises(RunError, match="no completed epoch yet"):
        load_model(path)
    (path / "checkpoint.pt").mkdir()
    with pytest.raises(RunError, match="is a folder, not a checkpoint"):
        load_model(path)
    assert "truncated or corrupt" in load_run(path).damaged  # and Runs lists it as damaged
    (tmp_path / "etc").mkdir()
    with pytest.raises(RunError, match="is not a run folder"):
        load_model(tmp_path / "etc")


def test_a_damaged_run_is_listed_with_its_reason_beside_the_healthy_ones(tiny_data, runs_dir, capsys):
    from mnist_core.cli.main import main

    _, good = tiny_run(tiny_data, runs_dir, label="good")
    _, bad = tiny_run(tiny_data, runs_dir, label="bad")
    summary = json.loads((bad / "summary.json").read_text())
    summary.update(params="lots", final_test_acc="high", label="evil\x1b[31m red\x1b[0m")
    write_json(bad / "summary.json", summary)
    unreadable = runs_dir / "20200101-000000-cnn-abcdef"
    unreadable.mkdir()
    (unreadable / "summary.json").write_text("{not json")
    runs = {r.run_id: r for r in list_runs(runs_dir)}
    assert set(runs) == {good.name, bad.name, unreadable.name}
    assert runs[good.name].damaged is None and runs[good.name].summary["status"] == "completed"
    assert runs[bad.name].summary["status"] == "damaged"
    assert "params should be a number, not 'lots'" in runs[bad.name].damaged
    assert runs[bad.name].summary["params"] is None and runs[bad.name].summary["label"] == "evil[31m red[0m"
    assert runs[unreadable.name].summary["status"] == "damaged" and "unreadable" in runs[unreadable.name].damaged
    assert main(["runs", "list"]) == 0  # MNIST_RUNS_DIR is runs_dir
    out = capsys.readouterr().out
    assert "\x1b" not in out and f"damaged: {bad.name}: summary.json: params" in out
    assert delete_run(runs_dir, bad.name) == f"deleted run {bad.name}"


def test_deleting_a_run_that_is_a_link_removes_the_link_only(tiny_data, runs_dir, tmp_path):
    _, real = tiny_run(tiny_data, tmp_path / "elsewhere")
    link = runs_dir / real.name
    runs_dir.mkdir(exist_ok=True)
    link.symlink_to(real, target_is_directory=True)
    assert "removed the link" in delete_run(runs_dir, real.name)
    assert not link.exists() and (real / "summary.json").is_file()
