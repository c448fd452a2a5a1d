"""The class board: publishing scores a run once on the challenge half of the test set; only
its maker (or the server's owner) publishes it; the board filters by training seconds."""
import pytest
import torch

from mnist_core.errors import RunError
from mnist_core.runs import board
from mnist_core.runs.checkpoints import BUNDLED_DIR, load_model
from mnist_core.runs.folders import load_run, read_json, write_json
from mnist_core.runs.ownership import owner_fields, owner_id
from mnist_core.runs.recorder import record
from mnist_core.train.config import TrainConfig
from mnist_core.train.trainer import Trainer

ALICE, BOB = "a" * 32, "b" * 32


def trained_run(data, root, secret, name, **fields):
    config = TrainConfig.from_dict({"model": "logreg", "epochs": 1, "train_subset": 2000,
                                    "device": "cpu", **fields})
    events = list(record(Trainer(config, data), root, name, owner=owner_fields(secret, name)))
    return load_run(root / events[-1]["run_id"])


def test_the_challenge_set_is_the_last_5000_test_digits(real_mnist):
    model, _ = load_model(BUNDLED_DIR)
    from mnist_core.data.tensors import normalise

    with torch.inference_mode():
        preds = model(normalise(real_mnist.test_images[5000:], real_mnist.spec)).argmax(1)
    expected = (preds == real_mnist.test_labels[5000:]).double().mean().item()
    assert board.challenge_accuracy(model, real_mnist) == pytest.approx(expected)
    assert 0.98 < expected < 1.0


def test_publishing_is_the_makers_and_the_board_filters_by_seconds(real_mnist, tmp_path):
    alice = trained_run(real_mnist, tmp_path, ALICE, "Alice")
    bob = trained_run(real_mnist, tmp_path, BOB, "Bob", lr=0.02)
    assert board.rows(tmp_path) == []  # nothing is published by itself
    with pytest.raises(RunError, match="started by Alice"):
        board.publish(alice.path, real_mnist, owner_id(BOB))
    assert "challenge set" in board.publish(alice.path, real_mnist, owner_id(ALICE))
    board.publish(bob.path, real_mnist, owner_id(BOB))

    rows = board.rows(tmp_path)
    assert {r["who"] for r in rows} == {"Alice", "Bob"}
    accuracies = [r["test accuracy"] for r in rows]
    assert accuracies == sorted(accuracies, reverse=True) and None not in accuracies
    summary = read_json(alice.path / "summary.json")
    model, _ = load_model(alice.path)
    assert summary["challenge_acc"] == pytest.approx(board.challenge_accuracy(model, real_mnist))
    assert 0.5 < summary["challenge_acc"] < summary["final_test_acc"] + 0.05
    bob_row = next(r for r in rows if r["who"] == "Bob")
    assert "lr 0.02" in bob_row["settings"] and "model logreg" in bob_row["settings"]
    # A logistic regression has none of the default CNN's options: none is listed as "None".
    assert "None" not in bob_row["settings"] and "channels" not in bob_row["settings"], bob_row
    columns = list(bob_row)  # the scores come before the long settings text
    assert columns.index("test accuracy") < columns.index("settings") == len(columns) - 1

    # The time filter: make Alice's run look slow.
    summary["duration_s"] = 500.0
    write_json(alice.path / "summary.json", summary)
    assert [r["who"] for r in board.rows(tmp_path, max_seconds=100)] == ["Bob"]

    with pytest.raises(RunError, match="only they"):
        board.unpublish(bob.path, owner_id(ALICE))
    with pytest.raises(RunError, match="server's owner"):
        board.clear(tmp_path, admin=False)
    assert board.clear(tmp_path, admin=True) == 2
    assert board.rows(tmp_path) == []


def test_a_run_made_outside_the_app_is_on_the_board_once_published(real_mnist, tmp_path):
    config = TrainConfig.from_dict({"model": "logreg", "epochs": 1, "train_subset": 2000, "device": "cpu"})
    events = list(record(Trainer(config, real_mnist), tmp_path))  # as the CLI records: no owner
    path = tmp_path / events[-1]["run_id"]
    with pytest.raises(RunError, match="outside the app"):  # a shared server's owner decides
        board.publish(path, real_mnist, owner_id(ALICE))
    assert "challenge set" in board.publish(path, real_mnist, None, shared=False)
    assert [(r["run"], r["who"]) for r in board.rows(tmp_path)] == [(path.name, "outside the app")]


def test_a_run_without_a_finished_epoch_cannot_be_published(real_mnist, tmp_path):
    run = trained_run(real_mnist, tmp_path, ALICE, "Alice")
    summary = read_json(run.path / "summary.json")
    summary.update(epochs_done=0)
    write_json(run.path / "summary.json", summary)
    with pytest.raises(RunError, match="finished epoch"):
        board.publish(run.path, real_mnist, owner_id(ALICE))


def test_the_board_ranks_ties_together_and_keeps_each_makers_best(real_mnist, tmp_path):
    runs = [trained_run(real_mnist, tmp_path, ALICE, "Alice"), trained_run(real_mnist, tmp_path, ALICE, "Alice"),
            trained_run(real_mnist, tmp_path, BOB, "Bob")]
    for run, secret in zip(runs, (ALICE, ALICE, BOB)):
        board.publish(run.path, real_mnist, owner_id(secret))
    for run, acc in zip(runs, (0.91, 0.95, 0.95)):  # Alice's second run ties with Bob's
        summary = read_json(run.path / "summary.json")
        summary["final_test_acc"] = acc
        write_json(run.path / "summary.json", summary)
    rows = board.rows(tmp_path)
    assert [r["rank"] for r in rows] == [1, 1, 3]
    assert [r["test accuracy"] for r in rows] == [0.95, 0.95, 0.91]
    best = board.rows(tmp_path, best_per_maker=True)
    assert sorted((r["who"], r["test accuracy"]) for r in best) == [("Alice", 0.95), ("Bob", 0.95)]
    # Images seen: the work done, whatever the server's load (each run: its epochs of its subset).
    config = read_json(runs[0].path / "config.json")
    epochs = read_json(runs[0].path / "summary.json")["epochs_done"]
    expected = epochs * min(config["train_subset"] or 60_000, 60_000)
    assert next(r for r in rows if r["run"] == runs[0].path.name)["images seen"] == expected
