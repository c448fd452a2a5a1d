import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from conftest import REPO, mnist_dir


def run_cli(*args, env_extra=None, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(REPO), "MNIST_DATA_DIR": str(mnist_dir()), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "mnist_core", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)


def test_train_tiny_run_end_to_end_then_evaluate_predict_and_list(tmp_path, real_mnist):
    runs = str(tmp_path / "runs")
    r = run_cli("--runs-dir", runs, "train", "--model", "cnn", "--model-kwargs", '{"channels": [8], "hidden": 16}',
                "--train-subset", "2000", "--epochs", "1", "--batch-size", "64", "--label", "cli test")
    assert r.returncode == 0, r.stderr
    assert "epoch 1/1" in r.stderr and "img/s" in r.stderr
    assert "test acc" in r.stdout and "status: completed" in r.stdout
    run_dir = Path(r.stdout.strip().splitlines()[-1].split("run: ")[1])
    assert {"config.json", "metrics.jsonl", "checkpoint.pt", "summary.json"} <= {p.name for p in run_dir.iterdir()}

    r = run_cli("--runs-dir", runs, "runs", "list")
    assert run_dir.name in r.stdout and "completed" in r.stdout and "cli test" in r.stdout

    r = run_cli("--runs-dir", runs, "evaluate", "--run", run_dir.name)
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stdout and "macro" in r.stdout and "confusion matrix" in r.stdout

    digit = real_mnist.test_images[0].numpy()
    Image.fromarray(255 - digit).resize((200, 200)).save(tmp_path / "seven.png")
    r = run_cli("predict", str(tmp_path / "seven.png"))  # the bundled model
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{tmp_path / 'seven.png'}: {int(real_mnist.test_labels[0])} (")

    r = run_cli("--runs-dir", runs, "runs", "delete", run_dir.name)
    assert r.returncode == 0 and not run_dir.exists()


def test_bad_input_gets_a_message_not_a_traceback(tmp_path):
    r = run_cli("train", "--batch-size", "0")
    assert r.returncode == 2 and "batch_size" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("train", "--epochs", "1", env_extra={"MNIST_DATA_DIR": str(tmp_path), "MNIST_OFFLINE": "1"})
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "x.png").write_text("not an image")
    r = run_cli("predict", str(tmp_path / "x.png"))
    assert "not a readable image" in (r.stdout + r.stderr) and "Traceback" not in r.stderr
    r = run_cli("runs", "delete", "../../etc")
    assert r.returncode == 2 and "not a run id" in r.stderr
