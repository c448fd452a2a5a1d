"""Command line: python -m mnist_core train | continue | lrfind | labels | sweep | headtohead |
evaluate | predict | runs | export | bundle | storage. The parser and the entry point; the commands are in
cli.training and cli.looking."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mnist_core import settings
from mnist_core.cli.looking import cmd_bundle, cmd_evaluate, cmd_export, cmd_predict, cmd_runs
from mnist_core.cli.storing import cmd_storage, sync_quietly
from mnist_core.cli.training import (
    _config_flags,
    cmd_continue,
    cmd_headtohead,
    cmd_labels,
    cmd_lrfind,
    cmd_sweep,
    cmd_train,
)
from mnist_core.data.tensors import DatasetError
from mnist_core.errors import StorageError, SweepError
from mnist_core.fsfault import describe as describe_fs_error
from mnist_core.runs.checkpoints import BUNDLED_DIR
from mnist_core.runs.folders import RunError
from mnist_core.train.config import PRESETS, ConfigError


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

    from mnist_core.studies.headtohead import BUDGET_RANGE, DEFAULT_BUDGET

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

    st = sub.add_parser("storage", help="where runs, marks, handwriting and sweeps are kept; copy them "
                                        "between storages")
    st.add_argument("action", choices=["status", "sync", "copy"])
    st.add_argument("source", nargs="?", metavar="FROM", help="copy: a database URL, `local`, or a folder")
    st.add_argument("target", nargs="?", metavar="TO", help="copy: a database URL, `local`, or a folder")
    st.set_defaults(func=cmd_storage)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    before = settings.installed()
    if args.runs_dir:  # the storage keeps this runs folder too
        settings.install(settings.replace(settings.current(), runs_dir=Path(args.runs_dir)))
    try:
        if args.command != "storage":
            sync_quietly("before")  # runs, marks and sets made elsewhere
        code = args.func(args)
        if args.command != "storage":
            sync_quietly("after")  # what this command made, for the other servers
        return code
    except (ConfigError, DatasetError, RunError, SweepError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only folder, a path that is a file
        print(f"error: {describe_fs_error(exc)}", file=sys.stderr)
        return 2
    finally:
        settings.install(before)
