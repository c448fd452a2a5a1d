"""Side-by-side benchmark: python -m benchmarks [--quick] [--json PATH].

Everything runs in one process on the same data, so ratios against the baseline hold up on a
shared, noisy machine even when absolute seconds drift.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mnist_core.data.preprocessing import classify
from mnist_core.data.tensors import load_dataset
from mnist_core.device import configure_threads, describe_device
from mnist_core.errors import DatasetError
from mnist_core.heap import keep_freed_memory
from mnist_core.jobs.runner import JobRunner
from mnist_core.jobs.worker import peak_mb
from mnist_core.models.registry import build_model
from mnist_core.runs.checkpoints import load_model
from mnist_core.train.config import preset_config
from mnist_core.train.trainer import Trainer

TARGET = 0.99


# ---------------------------------------------------------------- 1. the seed-002 pipeline

def _torchvision_root(source: str) -> Path:
    """torchvision's MNIST class wants raw files in <root>/MNIST/raw; unpack ours into a temp root."""
    root = Path(tempfile.mkdtemp(prefix="mnist-bench-"))
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        gz, plain = Path(source) / (name + ".gz"), Path(source) / name
        if plain.exists():
            shutil.copy(plain, raw / name)
        else:
            with gzip.open(gz, "rb") as src, open(raw / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return root


def seed_pipeline(source: str, limit_s: float) -> dict:
    """The tutorial: DataLoader with per-sample ToTensor+Normalize, batch 64, conv10-conv20-fc500, Adam 1e-3."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    root = _torchvision_root(source)
    try:
        tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
        train_set = datasets.MNIST(str(root), train=True, transform=tf)
        test_set = datasets.MNIST(str(root), train=False, transform=tf)
        torch.manual_seed(1)
        model = build_model("tutorial_cnn")
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
        test_loader = DataLoader(test_set, batch_size=1000)
        epochs, start, reached = [], time.perf_counter(), None
        while time.perf_counter() - start < limit_s:
            t0 = time.perf_counter()
            model.train()
            for x, y in train_loader:
                opt.zero_grad()
                F.cross_entropy(model(x), y).backward()
                opt.step()
            train_s = time.perf_counter() - t0
            model.eval()
            correct = 0
            with torch.no_grad():
                for x, y in test_loader:
                    correct += (model(x).argmax(1) == y).sum().item()
            acc = correct / len(test_set)
            epochs.append({"test_acc": acc, "epoch_s": time.perf_counter() - t0, "train_s": train_s,
                           "elapsed": time.perf_counter() - start})
            if acc >= TARGET:
                reached = epochs[-1]["elapsed"]
                break
        return {"name": "seed-002 pipeline", "epochs": epochs, "time_to_99": reached,
                "final_acc": epochs[-1]["test_acc"], "seconds_per_epoch": epochs[0]["epoch_s"],
                "images_per_s": len(train_set) / epochs[0]["train_s"], "limit_s": limit_s}
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- 2. the project's presets

def run_preset(name: str, data, **overrides) -> dict:
    config = preset_config(name, **overrides)
    trainer = Trainer(config, data)
    wall = time.perf_counter()
    history, reached, batch_rates, tta = [], None, [], None
    for e in trainer.events():
        if e["kind"] == "end":
            tta = e.get("test_acc_tta")
        elif e["kind"] == "batch":
            batch_rates.append(e["images_per_s"])
        elif e["kind"] == "epoch":
            history.append(e)
            if reached is None and e["test_acc"] >= TARGET:
                reached = time.perf_counter() - wall
    total = time.perf_counter() - wall
    return {"name": name, "final_acc": history[-1]["test_acc"], "tta_acc": tta, "seed": config.seed,
            "train_s": trainer.active_seconds - trainer.eval_seconds, "eval_s": trainer.eval_seconds,
            "best_acc": max(h["test_acc"] for h in history),
            "time_to_99": reached, "wall_s": total, "epochs": len(history),
            "seconds_per_epoch": history[0]["epoch_time"],
            "images_per_s": float(np.median(batch_rates)) if batch_rates else None,
            "history": [{"test_acc": h["test_acc"], "elapsed": h["elapsed"]} for h in history]}


def default_over_seeds(data, seeds=(0, 1, 2)) -> dict:
    """The default preset from three seeds: its accuracy must not hang on a lucky one."""
    runs = [run_preset("default", data, seed=s) for s in seeds]
    first = runs[0]
    return {**first, "seeds": [{k: r[k] for k in ("seed", "final_acc", "train_s", "eval_s", "wall_s")}
                               for r in runs],
            "mean_acc": float(np.mean([r["final_acc"] for r in runs])),
            "min_acc": min(r["final_acc"] for r in runs),
            "median_train_s": float(np.median([r["train_s"] for r in runs])),
            "median_wall_s": float(np.median([r["wall_s"] for r in runs]))}


# ---------------------------------------------------------------- 3. drawing latency

def drawing_latency(data, n: int = 1000) -> dict:
    model, config = load_model()
    rng = np.random.default_rng(0)
    canvases = []
    for i in range(n):
        digit = data.test_images[i % len(data.test_images)].numpy()
        scale = int(rng.integers(4, 10))
        from PIL import Image

        big = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale)))
        rgba = np.zeros((280, 280, 4), np.uint8)
        rgba[..., :3] = 255
        top, left = (int(v) for v in rng.integers(0, 280 - 28 * scale + 1, 2))
        rgba[top:top + big.shape[0], left:left + big.shape[1], 3] = big
        canvases.append(rgba)
    for c in canvases[:20]:  # warm-up
        classify(model, c)
    times, correct = [], 0
    for i, c in enumerate(canvases):
        t = time.perf_counter()
        _, probs = classify(model, c)
        times.append(time.perf_counter() - t)
        correct += int(probs.argmax()) == int(data.test_labels[i % len(data.test_labels)])
    ms = np.array(times) * 1000
    return {"n": n, "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "accuracy_on_redrawn": correct / n}


# ---------------------------------------------------------------- 4. job runner vs plain loop

def _plain_seconds(config, data) -> float:
    t = time.perf_counter()
    for _ in Trainer(config, data).events():
        pass
    return time.perf_counter() - t


def _job_seconds(config, data, runs_dir) -> tuple[float, str]:
    t = time.perf_counter()
    job = JobRunner(max_running=1).submit(config, data, runs_dir)
    while not job.wait(1.0):  # a reader polling every second, as the Train page does
        job.snapshot()
    return time.perf_counter() - t, job.snapshot()["status"]


def job_runner_overhead(data, subset: int = 20000, pairs: int = 5) -> dict:
    """Median ratio over `pairs` alternating plain/job runs of one epoch: single runs on a
    shared machine drift between repeats, and single pairs on 20,000 images scatter widely, so
    only the median of several pairs holds from run to run."""
    config = preset_config("default", epochs=1, train_subset=subset)
    runs_dir = tempfile.mkdtemp(prefix="mnist-bench-runs-")
    try:
        # Once per server: the fork server imports torch (the app starts it at start-up).
        t = time.perf_counter()
        _job_seconds(preset_config("default", epochs=1, train_subset=512), data, runs_dir)
        first_start = time.perf_counter() - t
        ratios, plains, jobs, statuses = [], [], [], set()
        for i in range(pairs):
            if i % 2:  # alternate which goes first, so drift does not favour either
                job_s, status = _job_seconds(config, data, runs_dir)
                plain = _plain_seconds(config, data)
            else:
                plain = _plain_seconds(config, data)
                job_s, status = _job_seconds(config, data, runs_dir)
            ratios.append(job_s / plain)
            plains.append(plain)
            jobs.append(job_s)
            statuses.add(status)
    finally:
        shutil.rmtree(runs_dir, ignore_errors=True)
    return {"plain_s": float(np.median(plains)), "job_s": float(np.median(jobs)),
            "ratio_job_over_plain": float(np.median(ratios)), "ratios": ratios,
            "first_job_start_s": first_start, "status": "/".join(sorted(statuses)),
            "images": subset or len(data.train_labels)}


def peak_rss_in_job(data_dir: str | None) -> dict:
    """Peak RSS of a fresh process that loads the data and trains the default preset as a job."""
    # The app's libraries are resident in a server too; they are imported by the child's
    # command line, since mnist_core itself never imports streamlit.
    code = "import streamlit, plotly; from benchmarks.bench import _rss_child; _rss_child()"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    if data_dir:
        env["MNIST_DATA_DIR"] = data_dir
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        return {"error": out.stderr[-500:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rss_child() -> None:
    configure_threads()
    data = load_dataset("mnist")
    before = peak_mb()
    runs_dir = tempfile.mkdtemp()
    job = JobRunner().submit(preset_config("default", epochs=1), data, runs_dir)
    while not job.wait(1.0):
        job.snapshot()
    peak = peak_mb()
    shutil.rmtree(runs_dir, ignore_errors=True)
    print(json.dumps({"peak_rss_mb": peak, "rss_after_load_mb": before, "status": job.status,
                      "worker_peak_rss_mb": job.worker_peak_mb}))


# ---------------------------------------------------------------- report

def _fmt(v, unit="", digits=1):
    return "-" if v is None else f"{v:.{digits}f}{unit}"


ISSUE_SEED_PASS_S = 19.9  # the seed pipeline's first pass where issue #14 set its targets


def table(results: dict) -> str:
    seed, default = results["seed"], results["default"]
    rows = [("measure", "target", "measured", "met")]

    def add(measure, target, measured, ok):
        rows.append((measure, target, measured, "-" if ok is None else ("yes" if ok else "NO")))

    ok = (default["mean_acc"] >= 0.99 and default["min_acc"] >= 0.989
          and default["median_train_s"] <= 4)
    add("default preset, 3 seeds: mean (min) accuracy; median training s (with the test evaluation)",
        ">= 99.0% (each >= 98.9%) in <= 4 s",
        f"{default['mean_acc']:.2%} ({default['min_acc']:.2%}); {default['median_train_s']:.1f} s "
        f"({default['median_wall_s']:.1f} s)", ok)
    t99 = default["median_wall_s"] if default["min_acc"] >= TARGET else default["time_to_99"]
    if seed.get("time_to_99"):
        ratio = seed["time_to_99"] / t99 if t99 else None
        add("seed-002 time to 99% / default's", ">= 6x",
            f"{_fmt(seed['time_to_99'], ' s')} / {_fmt(t99, ' s')} = {_fmt(ratio, 'x')}",
            ratio is not None and ratio >= 6)
    else:
        add("seed-002 time to 99% / default's", ">= 6x",
            f"seed not at 99% within {seed['limit_s']:.0f} s ({seed['final_acc']:.2%})", None)
    add("seconds for the first pass over the training digits (seed: 60,000 / default: 40,000)", "",
        f"{seed['seconds_per_epoch']:.1f} / {default['seconds_per_epoch']:.1f}", None)
    # This machine's speed drifts from hour to hour; the 4 s target was set where the seed
    # pipeline's first pass took 19.9 s (issue #14). Information, not the verdict.
    add("default's median training s scaled to issue #14's machine (seed's first pass 19.9 s there)", "",
        f"{default['median_train_s'] * ISSUE_SEED_PASS_S / seed['seconds_per_epoch']:.1f} s", None)
    add("images/s training (seed / default)", "", f"{seed['images_per_s']:,.0f} / {default['images_per_s']:,.0f}", None)
    if "best" in results:
        rows.append(best_row(results["best"]))
    for name, target in (("mlp", 0.98), ("logistic", 0.92)):
        r = results[name]
        add(f"{name} preset", f">= {target:.0%}", f"{r['final_acc']:.2%} in {r['wall_s']:.1f} s", r["final_acc"] >= target)
    lat = results["latency"]
    add("drawing prediction p50 / p99", "p50 <= 2 ms", f"{lat['p50_ms']:.2f} / {lat['p99_ms']:.2f} ms", lat["p50_ms"] <= 2)
    for key, what in (("job", "full epoch"), ("job_subset", "20,000 images")):
        job = results[key]
        add(f"job runner time / plain loop, {what}", "<= 1.10",
            f"{job['ratio_job_over_plain']:.3f} (median of {len(job['ratios'])})",
            job["ratio_job_over_plain"] <= 1.10)
    rss = results["rss"]
    if "peak_rss_mb" in rss:
        add("peak RSS training in a job: server", "< 1024 MB", f"{rss['peak_rss_mb']:.0f} MB", rss["peak_rss_mb"] < 1024)
        if rss.get("worker_peak_rss_mb"):
            add("peak RSS training in a job: its worker (shares torch's pages with the fork server)",
                "", f"{rss['worker_peak_rss_mb']:.0f} MB", None)
    text = _markdown(rows)
    presets = [("preset", "epochs", "test accuracy", "training wall s", "images/s")]
    for name, r in results.get("presets", {}).items():
        presets.append((name, str(r["epochs"]), f"{r['final_acc']:.2%}", f"{r['wall_s']:.1f}",
                        f"{r['images_per_s']:,.0f}" if r["images_per_s"] else "-"))
    return text + "\n\n" + _markdown(presets) if len(presets) > 1 else text


BEST_TARGET, BEST_SECONDS = 0.997, 600


def best_row(b: dict) -> tuple[str, str, str, str]:
    """The best preset's row: its final test accuracy, read with test-time augmentation when the
    preset asks for it (issue #14 allows it, shown as such), and its wall time with every
    evaluation."""
    tta = b.get("tta_acc")
    acc = b["final_acc"] if tta is None else tta
    measured = f"{b['final_acc']:.2%} plain" + ("" if tta is None else f", {tta:.2%} with TTA")
    ok = acc >= BEST_TARGET and b["wall_s"] <= BEST_SECONDS
    return ("best preset (test-time augmentation allowed); wall s with every evaluation",
            f">= {BEST_TARGET:.1%} in <= {BEST_SECONDS // 60} min", f"{measured}; {b['wall_s']:.0f} s",
            "yes" if ok else "NO")


def _markdown(rows) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--data-dir")
    p.add_argument("--json", default="bench-results/bench.json")
    p.add_argument("--quick", action="store_true", help="skip the 'best' preset (minutes)")
    p.add_argument("--seed-limit", type=float, default=240, help="cap for the seed pipeline, seconds")
    p.add_argument("--levers", action="store_true", help="only measure the speed levers")
    p.add_argument("--best", action="store_true", help="only train the 'best' preset (about 8 minutes)")
    args = p.parse_args(argv)
    # As the CLI and the training workers do, so the plain loop here is the CLI's: with glibc's
    # defaults even a warm process pays page faults on every training step (mnist_core.heap).
    keep_freed_memory()
    threads = configure_threads()
    t = time.perf_counter()
    try:
        data = load_dataset("mnist", args.data_dir)
    except DatasetError as exc:  # a message, as the CLI gives, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    load_s = time.perf_counter() - t
    if args.levers:
        from benchmarks.levers import levers_table, measure_levers

        rows = measure_levers(data)
        print(levers_table(rows))
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).with_name("levers.json").write_text(json.dumps(rows, indent=2))
        return 0
    if args.best:
        load = os.getloadavg()[0]
        best = run_preset("best", data)
        print(_markdown([("measure", "target", "measured", "met"), best_row(best)]))
        print(f"load average (1 min) {load:.2f} before, {os.getloadavg()[0]:.2f} after; "
              f"{best['epochs']} epochs, {best['train_s']:.0f} s training, {best['eval_s']:.0f} s evaluating")
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).with_name("best.json").write_text(json.dumps(best, indent=2))
        return 0
    results = {"machine": {"platform": platform.platform(), "processor": platform.processor(),
                           "cpus": os.cpu_count(), "threads": threads, "device": describe_device(),
                           "torch": str(torch.__version__), "python": platform.python_version()},
               "date": datetime.now(UTC).isoformat(timespec="seconds"), "data_load_s": load_s}
    steps = [("default", lambda: default_over_seeds(data)),
             ("seed", lambda: seed_pipeline(data.source, args.seed_limit)),
             ("mlp", lambda: run_preset("mlp", data)),
             ("logistic", lambda: run_preset("logistic", data)),
             ("latency", lambda: drawing_latency(data)),
             ("job", lambda: job_runner_overhead(data, subset=0)),
             # Seven pairs: the short epoch on 20,000 images is the noisier of the two.
             ("job_subset", lambda: job_runner_overhead(data, subset=20000, pairs=7)),
             ("rss", lambda: peak_rss_in_job(args.data_dir or data.source))]
    if not args.quick:
        steps.append(("best", lambda: run_preset("best", data)))
    for name, step in steps:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = step()
    # The remaining presets, for the record: accuracy and time of each on this machine.
    results["presets"] = {k: results[k] for k in ("default", "mlp", "logistic", "best") if k in results}
    others = ["quick", "seed-cnn", "seed-mlp", "seed-logistic"] + ([] if args.quick else ["bundled"])
    for name in others:
        print(f"running preset {name} ...", file=sys.stderr, flush=True)
        results["presets"][name] = run_preset(name, data)
    report = table(results)
    print(report)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({**results, "table": report}, indent=2, default=str))
    print(f"\nJSON written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
