"""The CLI's commands on trained models and runs: evaluate, predict, runs, export and bundle."""
from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from mnist_core.cli.console import print_table
from mnist_core.cli.training import model_source
from mnist_core.data.tensors import get_spec, load_dataset
from mnist_core.runs.checkpoints import load_model
from mnist_core.runs.folders import RunError, delete_run, list_runs, load_run, run_path, runs_root
from mnist_core.runs.recorder import record
from mnist_core.train.config import preset_config
from mnist_core.train.trainer import Trainer


def cmd_evaluate(args) -> int:
    from mnist_core.analysis.evaluation import evaluate_split

    model, config = load_model(model_source(args))
    data = load_dataset(config.dataset, args.data_dir)
    images, labels = data.split(args.split)
    result = evaluate_split(model, images, labels, data.spec)
    m = result["metrics"]
    print(f"{config.model} on {data.spec.title} {args.split}: accuracy {result['accuracy']:.2%}, "
          f"loss {result['loss']:.4f}")
    print_table(["class", "precision", "recall", "f1", "support"],
                [[r["class"], f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['f1']:.4f}", r["support"]]
                 for r in m["per_class"]]
                + [[k, f"{m[k]['precision']:.4f}", f"{m[k]['recall']:.4f}", f"{m[k]['f1']:.4f}",
                    m[k]["support"]] for k in ("macro", "weighted")])
    print("confusion matrix (rows true, columns predicted):")
    for row in result["confusion"].tolist():
        print(" ".join(f"{v:5d}" for v in row))
    return 0


def cmd_predict(args) -> int:
    from mnist_core.analysis.guard import read_one_digit
    from mnist_core.data.preprocessing import ImageInputError, load_image, read_capped

    model, config = load_model(model_source(args))
    spec = get_spec(config.dataset)
    status = 0
    for name in args.images:
        try:
            prep, probs, problem = read_one_digit(model, load_image(read_capped(name)), spec)
        except OSError as exc:
            print(f"{name}: cannot read ({exc.strerror})")
            status = 2
            continue
        except ImageInputError as exc:
            print(f"{name}: {exc}")
            status = 2
            continue
        if probs is None:
            print(f"{name}: blank: {prep.message}")
            continue
        print(f"{name}: {reading_line(probs, problem, spec.classes)}")
    return status


def reading_line(probs, problem: str | None, classes) -> str:
    """One image's reading as Draw gives it: the digit and the next two guesses, or, when the
    guard refuses the image, "?" with the reason and the best guess marked as not a reading (a
    dot read as "0" at 86% looked like an answer)."""
    top = [int(i) for i in np.argsort(-probs)[:3]]
    then = ", ".join(f"{classes[i]} {probs[i]:.1%}" for i in top[1:])
    if problem:
        return (f"? not one digit: {problem}. Best guess, not a confident reading: "
                f"{classes[top[0]]} ({probs[top[0]]:.1%}); then {then}")
    return f"{classes[top[0]]} ({probs[top[0]]:.1%}); then {then}"


def cmd_runs(args) -> int:
    if args.action == "list":
        root = runs_root(args.runs_dir)
        if root.exists() and not root.is_dir():
            raise RunError(f"{root} is not a folder: point --runs-dir or MNIST_RUNS_DIR at one")
        runs = list_runs(args.runs_dir, curves=False)
        if not runs:
            print(f"no runs in {root}")
            return 0
        print_table(["run", "label", "status", "model", "params", "epochs", "best acc", "time s"],
                    [[r.run_id, r.summary.get("label", ""), r.summary["status"], r.summary.get("model"),
                      f"{r.summary.get('params') or 0:,}", r.summary.get("epochs_done"),
                      _pct(r.summary.get("best_test_acc")), r.summary.get("duration_s")] for r in runs])
        for r in runs:
            if r.damaged:
                print(f"damaged: {r.run_id}: {r.damaged}")
    elif args.action == "show":
        run = load_run(_run_dir(args))
        print(json.dumps({"summary": run.summary, "config": run.config, "metrics": run.metrics}, indent=2))
    elif args.action == "delete":
        print(delete_run(args.runs_dir, _run_dir(args).name))
    return 0


def _run_dir(args) -> Path:
    if not args.run_id:
        raise RunError("name a run id (see 'runs list')")
    return run_path(runs_root(args.runs_dir), Path(args.run_id).name)


def _pct(v) -> str:
    return "-" if v is None else f"{v:.2%}"


def cmd_export(args) -> int:
    from mnist_core.models.export import export_bundle

    source = model_source(args)
    name = Path(args.run).name if args.run else "bundled"
    out = export_bundle(source, args.out or f"{name}-model.zip")
    with zipfile.ZipFile(out) as z:
        print(f"wrote {out}: {', '.join(z.namelist())}")
    return 0


def cmd_bundle(args) -> int:
    """Train the bundled model's preset and write it, without optimizer state, to the package."""
    config = preset_config("bundled", seed=args.seed)
    data = load_dataset(config.dataset, args.data_dir)
    trainer = Trainer(config, data)
    tmp_root = Path(tempfile.mkdtemp(prefix="mnist-bundle-"))
    events = list(record(trainer, tmp_root, "bundled model"))
    run_dir = tmp_root / events[-1]["run_id"]
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in ("config.json", "metrics.jsonl", "summary.json"):
        shutil.copy(run_dir / name, out / name)
    from mnist_core.runs.folders import save_checkpoint

    save_checkpoint(out / "checkpoint.pt", trainer.checkpoint(include_optimizer=False))
    shutil.rmtree(tmp_root)
    print(f"bundled model: test accuracy {trainer.history[-1]['test_acc']:.2%}, written to {out}")
    return 0
