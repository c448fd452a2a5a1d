"""Command line: python -m mnist_core train | continue | lrfind | labels | sweep | headtohead | evaluate | predict | runs | export | bundle."""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from .config import PRESETS, ConfigError, TrainConfig, preset_config
from .data import DatasetError, get_spec, load_dataset
from .errors import SweepError
from .runs import (BUNDLED_DIR, RunError, delete_run, list_runs, load_model, load_run, run_path,
                   runs_root)
from .console import ProgressLine, print_table
from .fsfault import describe as describe_fs_error
from .recorder import record
from .training import Trainer


def _config_flags(parser: argparse.ArgumentParser) -> None:
    # Every TrainConfig field is a flag; values stay strings so TrainConfig validates them.
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        help_text = "JSON object, e.g. '{\"channels\": [32, 64]}'" if f.name == "model_kwargs" else None
        parser.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(), help=help_text)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
                 if getattr(args, f.name) is not None}
    if args.preset:
        return preset_config(args.preset, **overrides)
    return TrainConfig.from_dict(overrides)


def cmd_train(args) -> int:
    config = config_from_args(args)
    data = load_dataset(config.dataset, args.data_dir)
    trainer = Trainer(config, data)
    print(f"training {config.model} on {data.spec.title} from {data.source} "
          f"({trainer.device}); run folder under {runs_root(args.runs_dir)}", file=sys.stderr)
    return _drive(trainer, record(trainer, args.runs_dir, args.label or ""), args.runs_dir)


def cmd_continue(args) -> int:
    from .recorder import RunRecorder

    path = _model_source(args)
    if path == BUNDLED_DIR or path.resolve().parent == BUNDLED_DIR.resolve().parent and path.name == "bundled":
        raise RunError("the bundled model cannot be continued: train a new run from the 'bundled' preset")
    config = TrainConfig.from_dict(load_run(path).config)
    data = load_dataset(config.dataset, args.data_dir)
    trainer = Trainer.continued(path, args.epochs, data)
    print(f"continuing {path.name} from epoch {trainer.epochs_done:g} for {args.epochs} more epoch(s)",
          file=sys.stderr)
    recorder = RunRecorder(trainer, continuing=path)
    return _drive(trainer, record(trainer, recorder=recorder), args.runs_dir)


def _drive(trainer: Trainer, events, runs_dir) -> int:
    """Run a recorded trainer with a progress line; Ctrl-C stops it and keeps what it learned."""
    bar = ProgressLine()
    end = {}
    run_id = None
    try:
        for e in events:
            run_id = e["run_id"]
            if e["kind"] == "batch":
                bar.show(e)
            elif e["kind"] == "epoch":
                bar.end_line()
                print(f"epoch {e['epoch']}/{e['epochs']}: train loss {e['train_loss']:.4f} "
                      f"acc {e['train_acc']:.2%} | test loss {e['test_loss']:.4f} "
                      f"acc {e['test_acc']:.2%} | {e['elapsed']:.1f} s", file=sys.stderr)
            elif e["kind"] == "end":
                end = e
    except KeyboardInterrupt:
        events.close()
        bar.end_line()
        print("stopped; the completed epochs and the one under way are saved", file=sys.stderr)
        end = {"status": "stopped"}
    print_table(["epoch", "train loss", "train acc", "test loss", "test acc", "time s"],
                [[h["epoch"], f"{h['train_loss']:.4f}", f"{h['train_acc']:.2%}", f"{h['test_loss']:.4f}",
                  f"{h['test_acc']:.2%}", f"{h['elapsed']:.1f}"] for h in trainer.history])
    print(f"status: {end.get('status')}  {end.get('message', '')}")
    print(f"run: {runs_root(runs_dir) / run_id if run_id else '-'}")
    return 0 if end.get("status") == "completed" else 3


def cmd_lrfind(args) -> int:
    from .lr_finder import find_lr, rates

    config = config_from_args(args)
    rates(args.start, args.end, args.steps)  # a bad range is refused before the data loads
    data = load_dataset(config.dataset, args.data_dir)
    print(f"sweeping the learning rate of {config.model} ({config.optimizer}, batch {config.batch_size}) "
          f"from {args.start:g} to {args.end:g} over {args.steps} batches", file=sys.stderr)
    result = find_lr(config, data, args.start, args.end, args.steps)
    n = len(result["lrs"])
    shown = sorted({round(i * (n - 1) / 12) for i in range(13)}) if n else []
    print_table(["learning rate", "smoothed loss"],
                [[f"{result['lrs'][i]:.2e}", f"{result['smoothed'][i]:.4f}"] for i in shown])
    if result["suggestion"] is None:
        print("no suggestion: the loss never fell; try a smaller --start")
        return 3
    print(f"suggested learning rate: {result['suggestion']:.2g} (steepest fall of the loss)")
    return 0


def cmd_labels(args) -> int:
    from . import label_audit

    if not 2 <= args.folds <= 10:
        raise ConfigError("folds", f"must be between 2 and 10, got {args.folds}")
    data = load_dataset(args.dataset, args.data_dir)
    out = args.out or label_audit.audit_path(args.dataset)
    print(f"finding suspicious labels in {data.spec.title}: {args.folds} models, each trained on "
          f"{args.folds - 1} of {args.folds} folds; written to {out}", file=sys.stderr)
    bar, result = ProgressLine(), None
    for e in label_audit.audit(data, folds=args.folds, seed=args.seed):
        if e["kind"] == "batch":
            bar.show(e)
        elif e["kind"] == "epoch":
            bar.end_line()
            print(f"fold {e['fold']}/{args.folds} epoch {e['epoch']}: held-out accuracy "
                  f"{e['test_acc']:.2%}", file=sys.stderr)
        elif e["kind"] == "done":
            result = e["result"]
    label_audit.save(result, out)
    for split in ("train", "test"):
        part = result["splits"][split]
        print(f"\n{split}: {part['flagged']} of {part['count']:,} flagged; the 10 most suspicious:")
        print_table(["image", "given", "model says", "p(given)"],
                    [[s["index"], s["given"], s["suggested"], f"{s['p_given']:.4f}"]
                     for s in part["suspects"][:10]])
    found = result.get("validated")
    if found:
        print(f"\n{found['found']} of the {found['of']} human-confirmed MNIST test label errors "
              f"({found['source']}) are in the test list's top {found['top']}.")
    return 0


def cmd_sweep(args) -> int:
    from tqdm import tqdm

    from . import sweep

    given = args.preset or any(getattr(args, f.name) is not None for f in dataclasses.fields(TrainConfig))
    base = config_from_args(args) if given else None
    space = sweep.parse_space(args.space) if args.space else None
    storage = args.storage or sweep.default_storage(args.runs_dir)
    s = sweep.open_sweep(args.study, storage, space, base,
                         args.trials, int(args.seed) if args.seed is not None else None)
    where = sweep.shown(storage)  # a server database's password is not echoed
    print(f"study {s.name} in {where}: {s.n_trials} trials of {sweep.describe_space(s.space)}, "
          f"{sweep.remaining(s)} still to run\njoin it from another shell or machine with:\n"
          f"  python -m mnist_core sweep --study {s.name} --storage '{where}'"
          + (" (with the password)" if where != storage else ""), file=sys.stderr)
    bar = tqdm(total=s.n_trials, initial=s.n_trials - sweep.remaining(s), unit="trial", file=sys.stderr,
               dynamic_ncols=True)
    mine = 0
    for e in sweep.work(s, runs_dir=args.runs_dir, data_dir=args.data_dir):
        if e["kind"] == "trial":
            bar.set_postfix_str(f"trial {e['trial']}: " + ", ".join(f"{k}={_short(v)}" for k, v in e["params"].items()))
        elif e["kind"] == "epoch":
            bar.set_postfix_str(f"trial {e['trial']} epoch {e['epoch']:g}: {e['test_acc']:.2%}")
        elif e["kind"] == "trial_end":
            mine += 1
            done = sum(t.state.is_finished() for t in s.study.get_trials(deepcopy=False))
            bar.update(max(0, done - bar.n))
            bar.write(f"trial {e['trial']} {e['state']}" + (f": {e['value']:.2%}" if e["value"] is not None else "")
                      + (f" ({e['message']})" if e["state"] == "failed" and e["message"] else ""))
    bar.close()
    best = sweep.best_trials(s)
    print(f"this worker ran {mine} trial(s); the study's best:")
    names = list(s.space)
    print_table(["trial", "test acc", *names, "run"],
                [[t.number, f"{t.value:.2%}", *[_short(t.params.get(n)) for n in names], t.user_attrs.get("run_id", "")]
                 for t in best])
    return 0 if best else 3


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def cmd_headtohead(args) -> int:
    from .headtohead import contender_configs, head_to_head, score, verdict

    configs = contender_configs(args.budget, args.seed, args.train_subset, args.dataset, args.device)
    print(f"head to head on {args.dataset}: {', '.join(configs)}, {args.budget:g} s of training each, "
          f"seed {args.seed}; runs saved under {runs_root(args.runs_dir)}", file=sys.stderr)
    params, epochs = {}, {name: [] for name in configs}
    for e in head_to_head(configs, runs_dir=args.runs_dir, data_dir=args.data_dir):
        name = e["contender"]
        if e["kind"] == "start":
            params[name] = e["params"]
        elif e["kind"] == "epoch":
            epochs[name].append(e)
            print(f"{name}: epoch {e['epoch']:g} test acc {e['test_acc']:.2%} after "
                  f"{e['train_seconds']:.1f} s", file=sys.stderr)
        elif e["kind"] == "end" and e["status"] != "completed":
            print(f"{name}: {e['status']}: {e['message']}", file=sys.stderr)
    rows = [score(name, configs[name].to_dict(), params.get(name), epochs[name]) for name in configs]
    print_table(["contender", "model", "params", "epochs", "steps", "train s", "images/s", "test acc", "errors"],
                [[r["contender"], r["model"], f"{r['params'] or 0:,}", f"{r['epochs']:g}", f"{r['steps']:,}",
                  f"{r['train_seconds'] or 0:.1f}", f"{r['images_per_s'] or 0:,.0f}",
                  "-" if r["test_acc"] is None else f"{r['test_acc']:.2%}", r["errors"]] for r in rows])
    print(verdict(rows))
    return 0 if all(r["test_acc"] is not None for r in rows) else 3


def _model_source(args) -> Path:
    if args.run is not None:
        if not args.run.strip():  # `--run "$RUN"` with RUN unset must not read the bundled model
            raise RunError("--run is empty: name a run id or folder, or leave --run out for the bundled model")
        p = Path(args.run)
        return p if p.exists() else runs_root(args.runs_dir) / args.run
    return BUNDLED_DIR


def cmd_evaluate(args) -> int:
    from .evaluation import evaluate_split

    model, config = load_model(_model_source(args))
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
    from .preprocessing import ImageInputError, classify, load_image, read_capped

    model, config = load_model(_model_source(args))
    spec = get_spec(config.dataset)
    status = 0
    for name in args.images:
        try:
            prep, probs = classify(model, load_image(read_capped(name)), spec)
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
        top = probs.argsort(descending=True)[:3].tolist()
        print(f"{name}: {spec.classes[top[0]]} ({probs[top[0]]:.1%}); then "
              + ", ".join(f"{spec.classes[i]} {probs[i]:.1%}" for i in top[1:]))
    return status


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
    from .export import export_bundle

    source = _model_source(args)
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
    from .runs import save_checkpoint

    save_checkpoint(out / "checkpoint.pt", trainer.checkpoint(include_optimizer=False))
    shutil.rmtree(tmp_root)
    print(f"bundled model: test accuracy {trainer.history[-1]['test_acc']:.2%}, written to {out}")
    return 0


def _seconds(lo: float, hi: float):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo:g} and {hi:g} seconds, got {value:g}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mnist_core", description=__doc__)
    p.add_argument("--data-dir", default=None, help="folder with the IDX files (else $MNIST_DATA_DIR, else ./data)")
    p.add_argument("--runs-dir", default=None, help="runs folder (else $MNIST_RUNS_DIR, else ./runs)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model; writes a run folder")
    t.add_argument("--preset", choices=sorted(PRESETS), help="start from a preset; flags override it")
    t.add_argument("--label", help="a name to show for the run")
    _config_flags(t)
    t.set_defaults(func=cmd_train)

    co = sub.add_parser("continue", help="train a saved run for more epochs, appending to its curves")
    co.add_argument("--run", required=True, help="run id or folder")
    co.add_argument("--epochs", type=int, default=1, help="epochs to add (a fresh schedule over them)")
    co.set_defaults(func=cmd_continue)

    lf = sub.add_parser("lrfind", help="learning-rate finder: loss against a rising rate, and a suggestion")
    lf.add_argument("--preset", choices=sorted(PRESETS), help="start from a preset; flags override it")
    lf.add_argument("--start", type=float, default=1e-6, help="first rate of the sweep")
    lf.add_argument("--end", type=float, default=1.0, help="last rate of the sweep")
    lf.add_argument("--steps", type=int, default=100, help="batches in the sweep")
    _config_flags(lf)
    lf.set_defaults(func=cmd_lrfind)

    la = sub.add_parser("labels", help="find suspicious labels (confident learning on out-of-fold predictions)")
    la.add_argument("--dataset", default="mnist")
    la.add_argument("--folds", type=int, default=4, help="cross-validation folds (2-10): one model each")
    la.add_argument("--seed", type=int, default=0)
    la.add_argument("--out", help="file to write (default: the one the Data page reads)")
    la.set_defaults(func=cmd_labels)

    sw = sub.add_parser("sweep", help="create or join an Optuna study over the settings; each trial is a run")
    sw.add_argument("--space", help="what varies, e.g. 'lr=1e-4..1e-1:log batch_size=32,64,128' "
                                    "(range low..high, ':log' for a log scale, or choices a,b,c)")
    sw.add_argument("--trials", type=int, default=None, help="trials in the study, all workers together (default 12)")
    sw.add_argument("--study", help="study name: joins it when it exists in the storage")
    sw.add_argument("--storage", help="Optuna storage URL (default: sqlite:///RUNS_DIR/sweeps.db); e.g. "
                                      "postgresql://user:pass@host/db for workers on several machines")
    sw.add_argument("--preset", choices=sorted(PRESETS), help="the fixed settings start from a preset")
    _config_flags(sw)
    sw.set_defaults(func=cmd_sweep)

    from .headtohead import BUDGET_RANGE, DEFAULT_BUDGET

    h = sub.add_parser("headtohead", help="MLP vs CNN: same data, seed and seconds of training")
    h.add_argument("--budget", type=_seconds(*BUDGET_RANGE), default=DEFAULT_BUDGET,
                   help=f"seconds of training per model ({BUDGET_RANGE[0]:g}-{BUDGET_RANGE[1]:g})")
    h.add_argument("--seed", type=int, default=0)
    h.add_argument("--train-subset", type=int, default=0, help="training images (0 = all)")
    h.add_argument("--dataset", default="mnist")
    h.add_argument("--device", default="auto")
    h.set_defaults(func=cmd_headtohead)

    e = sub.add_parser("evaluate", help="accuracy, per-class metrics and confusion matrix")
    e.add_argument("--run", help="run id or folder (default: the bundled model)")
    e.add_argument("--split", choices=["train", "test"], default="test")
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="read digits from image files")
    pr.add_argument("images", nargs="+")
    pr.add_argument("--run", help="run id or folder (default: the bundled model)")
    pr.set_defaults(func=cmd_predict)

    r = sub.add_parser("runs", help="list, show or delete saved runs")
    r.add_argument("action", choices=["list", "show", "delete"])
    r.add_argument("run_id", nargs="?")
    r.set_defaults(func=cmd_runs)

    x = sub.add_parser("export", help="zip a model: weights, manifest and ONNX (when onnx is installed)")
    x.add_argument("--run", help="run id or folder (default: the bundled model)")
    x.add_argument("--out", help="zip file to write (default: <run>-model.zip here)")
    x.set_defaults(func=cmd_export)

    b = sub.add_parser("bundle", help="retrain the bundled pretrained model")
    b.add_argument("--out", default=str(BUNDLED_DIR))
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(func=cmd_bundle)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DatasetError, RunError, SweepError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only folder, a path that is a file
        print(f"error: {describe_fs_error(exc)}", file=sys.stderr)
        return 2
