"""The CLI's training commands: train, continue, lrfind, labels, sweep and headtohead."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from mnist_core.cli.console import ProgressLine, print_table
from mnist_core.data.tensors import load_dataset
from mnist_core.runs.checkpoints import BUNDLED_DIR
from mnist_core.runs.folders import RunError, load_run, runs_root
from mnist_core.runs.recorder import record
from mnist_core.train.config import ConfigError, TrainConfig, preset_config
from mnist_core.train.trainer import Trainer


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


def model_source(args) -> Path:
    if args.run is not None:
        if not args.run.strip():  # `--run "$RUN"` with RUN unset must not read the bundled model
            raise RunError("--run is empty: name a run id or folder, or leave --run out for the bundled model")
        p = Path(args.run)
        return p if p.exists() else runs_root(args.runs_dir) / args.run
    return BUNDLED_DIR


def cmd_train(args) -> int:
    config = config_from_args(args)
    data = load_dataset(config.dataset, args.data_dir)
    trainer = Trainer(config, data)
    print(f"training {config.model} on {data.spec.title} from {data.source} "
          f"({trainer.device}); run folder under {runs_root(args.runs_dir)}", file=sys.stderr)
    return _drive(trainer, record(trainer, args.runs_dir, args.label or ""), args.runs_dir)


def cmd_continue(args) -> int:
    from mnist_core.runs.recorder import RunRecorder

    path = model_source(args)
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
    from mnist_core.train.lr_finder import find_lr, rates

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
    from mnist_core.analysis import label_audit

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

    from mnist_core.studies import sweep

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
    from mnist_core.studies.headtohead import contender_configs, head_to_head, score, verdict

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
