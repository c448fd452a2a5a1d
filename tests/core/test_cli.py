import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from mnist_core.cli.main import main
from tests.support import REPO, mnist_dir


def run_cli(capsys, *args):
    """The CLI in this process (fast); returns (exit code, stdout, stderr)."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_subprocess_end_to_end_then_evaluate_predict_list_delete(tmp_path, real_mnist, capsys):
    runs = str(tmp_path / "runs")
    env = {**os.environ, "PYTHONPATH": str(REPO), "MNIST_DATA_DIR": str(mnist_dir())}
    r = subprocess.run([sys.executable, "-m", "mnist_core", "--runs-dir", runs, "train", "--model", "cnn",
                        "--model-kwargs", '{"channels": [8], "hidden": 16}', "--train-subset", "2000",
                        "--epochs", "1", "--batch-size", "64", "--label", "cli test"],
                       capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "epoch 1/1" in r.stderr and "img/s" in r.stderr
    assert "test acc" in r.stdout and "status: completed" in r.stdout
    run_dir = Path(r.stdout.strip().splitlines()[-1].split("run: ")[1])
    assert {"config.json", "metrics.jsonl", "checkpoint.pt", "summary.json"} <= {p.name for p in run_dir.iterdir()}

    code, out, _ = run_cli(capsys, "--runs-dir", runs, "runs", "list")
    assert run_dir.name in out and "completed" in out and "cli test" in out

    code, out, err = run_cli(capsys, "--runs-dir", runs, "--data-dir", str(mnist_dir()), "evaluate",
                             "--run", run_dir.name)
    assert code == 0, err
    assert "accuracy" in out and "macro" in out and "confusion matrix" in out

    digit = real_mnist.test_images[0].numpy()
    Image.fromarray(255 - digit).resize((200, 200)).save(tmp_path / "seven.png")
    code, out, err = run_cli(capsys, "predict", str(tmp_path / "seven.png"))  # the bundled model
    assert code == 0, err
    assert out.startswith(f"{tmp_path / 'seven.png'}: {int(real_mnist.test_labels[0])} (")

    code, out, _ = run_cli(capsys, "--runs-dir", runs, "runs", "delete", run_dir.name)
    assert code == 0 and not run_dir.exists()


def test_predict_refuses_what_is_not_one_digit_as_draw_does_with_its_best_guess_marked(tmp_path, real_mnist, capsys):
    """A dot, and a 3 and a 5 side by side, are refused with the reason; a real digit still reads."""
    import numpy as np
    from PIL import ImageDraw

    images, labels = real_mnist.test_images.numpy(), real_mnist.test_labels.numpy()
    three, five = (images[int(np.nonzero(labels == d)[0][0])] for d in (3, 5))
    pair = Image.new("L", (280, 140))
    for k, digit in enumerate((three, five)):
        pair.paste(Image.fromarray(digit).resize((130, 130)), (5 + k * 140, 5))
    Image.fromarray(255 - np.asarray(pair)).save(tmp_path / "three-five.png")  # dark ink on white paper
    dot = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(dot).ellipse([130, 130, 146, 146], fill=0)
    dot.save(tmp_path / "dot.png")
    Image.fromarray(255 - images[0]).resize((200, 200)).save(tmp_path / "seven.png")
    files = [str(tmp_path / f) for f in ("dot.png", "three-five.png", "seven.png")]
    code, out, err = run_cli(capsys, "predict", *files)
    assert code == 0, err  # a refusal is an answer, not an error
    dot_line, pair_line, seven_line = out.splitlines()
    assert dot_line.startswith(f"{files[0]}: ? not one digit: there is too little ink")
    assert pair_line.startswith(f"{files[1]}: ? not one digit: the ink falls in 2 separate shapes")
    for line in (dot_line, pair_line):
        assert "Best guess, not a confident reading: " in line
    assert seven_line.startswith(f"{files[2]}: {int(labels[0])} (") and "not one digit" not in seven_line


def test_bad_input_gets_a_message_not_a_traceback(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(capsys, "train", "--batch-size", "0")
    assert code == 2 and "batch_size" in err
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    code, _, err = run_cli(capsys, "--data-dir", str(tmp_path), "train", "--epochs", "1")
    assert code == 2 and "not found" in err and str(tmp_path) in err
    (tmp_path / "x.png").write_text("not an image")
    code, out, _ = run_cli(capsys, "predict", str(tmp_path / "x.png"))
    assert code == 2 and "not a readable image" in out
    code, _, err = run_cli(capsys, "runs", "delete", "../../etc")
    assert code == 2 and "not a run id" in err
    code, _, err = run_cli(capsys, "evaluate", "--run", str(tmp_path / "nope"))
    assert code == 2 and "missing" in err
    for command in ("evaluate", "export"):  # `--run "$RUN"` with RUN unset: not the bundled model
        code, out, err = run_cli(capsys, command, "--run", "")
        assert code == 2 and "--run is empty" in err and not out, (command, out, err)
    code, _, err = run_cli(capsys, "runs", "delete")
    assert code == 2 and "name a run id" in err, err


@pytest.mark.slow
def test_headtohead_prints_a_scoreboard_and_saves_both_runs(tmp_path, real_mnist, capsys):
    runs = tmp_path / "runs"
    code, out, err = run_cli(capsys, "--runs-dir", str(runs), "--data-dir", str(mnist_dir()), "headtohead",
                             "--budget", "2", "--train-subset", "3000", "--seed", "5")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["contender", "model", "params", "epochs", "steps", "train", "s",
                                "images/s", "test", "acc", "errors"]
    rows = {line.split()[0]: line.split() for line in lines[2:4]}
    assert rows["MLP"][2] == "235,146" and rows["CNN"][2] == "105,218"
    accs = {name: float(row[7].rstrip("%")) for name, row in rows.items()}
    winner = max(accs, key=accs.get)
    assert lines[4].startswith(f"{winner} wins: {accs[winner]:.2f}%")
    assert "MLP: epoch" in err and "CNN: epoch" in err
    assert len(list(runs.iterdir())) == 2

    with pytest.raises(SystemExit) as exit_:
        main(["headtohead", "--budget", "0.5"])
    assert exit_.value.code == 2 and "must be between 2 and 600 seconds, got 0.5" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (lambda f: ["--runs-dir", str(f / "a-file" / "runs"), "train", "--preset", "quick", "--train-subset", "200"],
     "part of that path is a file, not a folder"),
    (lambda f: ["export", "--out", str(f)], "that path is a folder: name a file inside it"),
])
def test_filesystem_faults_are_one_line_not_a_traceback(tmp_path, capsys, argv, words):
    (tmp_path / "a-file").write_text("not a folder")
    assert main(argv(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "error: could not use " in err and words in err and "Traceback" not in err, err


def test_a_full_disk_is_one_line_naming_what_to_do(tmp_path, capsys, monkeypatch):
    import errno

    import mnist_core.runs.recorder as recorder

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "runs" / "x"))

    monkeypatch.setattr(recorder, "write_json", full)
    assert main(["--runs-dir", str(tmp_path / "runs"), "train", "--preset", "quick", "--train-subset", "200"]) == 2
    err = capsys.readouterr().err
    assert "the disk is full: free some space" in err and "Traceback" not in err, err


@pytest.mark.slow
def test_labels_writes_an_audit_the_page_can_read(tmp_path, real_mnist, capsys, monkeypatch):
    import dataclasses

    from mnist_core.analysis import label_audit
    from mnist_core.cli import training as cli

    small = dataclasses.replace(real_mnist, train_images=real_mnist.train_images[:4000],
                                train_labels=real_mnist.train_labels[:4000],
                                test_images=real_mnist.test_images[:500], test_labels=real_mnist.test_labels[:500])
    monkeypatch.setattr(cli, "load_dataset", lambda name, folder=None: small)
    out = tmp_path / "audit.json"
    code, stdout, err = run_cli(capsys, "labels", "--folds", "2", "--out", str(out))
    assert code == 0, err
    assert "fold 2/2 epoch 5: held-out accuracy" in err
    assert "train: " in stdout and "the 10 most suspicious" in stdout and "human-confirmed" in stdout
    result = label_audit.load(small, out)
    assert result["folds"] == 2 and len(result["splits"]["test"]["suspects"]) == label_audit.KEEP
    code, _, err = run_cli(capsys, "labels", "--folds", "1")
    assert code == 2 and "folds: must be between 2 and 10" in err
