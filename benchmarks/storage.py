"""What a database costs the pages: `python -m benchmarks.storage [--runs 200]`.

Starts a temporary PostgreSQL server (Debian's postgresql, as the tests do), fills a runs
folder with copies of one real run, then times, in one process:
- the baseline: listing the runs from local files only (what Runs and the Class board do);
- a page's refresh that finds nothing new (fetch only), which pages add at most every 2 s;
- the server's full sync that finds nothing to do (its thread's, every 3 s);
- the first sync that sends everything, and a fresh server's sync that fetches everything.
Prints each as a ratio to the baseline, the targets with yes/NO, and the load average.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from mnist_core import settings, storage
from mnist_core.runs.folders import list_runs, new_run_id, read_json, write_json

# A page's refresh that finds nothing new may add at most half of what listing the runs costs a
# page already; the sync thread's full sync (a walk over every local file) has no target.
IDLE_REFRESH_TARGET = 0.5


def timed(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_runs(root: Path, n: int) -> None:
    from mnist_core.data.tensors import load_dataset
    from mnist_core.runs.recorder import record
    from mnist_core.train.config import TrainConfig
    from mnist_core.train.trainer import Trainer

    data = load_dataset("mnist", allow_download=False)
    config = TrainConfig.from_dict({"model": "logreg", "epochs": 1, "train_subset": 1000, "device": "cpu"})
    first = root / list(record(Trainer(config, data), root, "bench"))[-1]["run_id"]
    for _ in range(n - 1):
        copy = root / new_run_id("logreg")
        shutil.copytree(first, copy)
        summary = read_json(copy / "summary.json")
        summary["run_id"] = copy.name
        write_json(copy / "summary.json", summary)


def main(argv=None) -> int:
    from tests import postgres as pg

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    server = pg.start()
    folder = Path(tempfile.mkdtemp(prefix="mnist-storage-bench-"))
    try:
        url = server.new_database()

        def on(name: str, storage_url: str):
            return settings.replace(settings.current(), runs_dir=folder / name / "runs",
                                    handwriting_dir=folder / name / "handwriting",
                                    label_marks=folder / name / "label_marks.json", storage_url=storage_url)

        settings.install(on("a", ""))
        make_runs(folder / "a" / "runs", args.runs)
        size_mb = sum(p.stat().st_size for p in (folder / "a").rglob("*") if p.is_file()) / 1e6
        baseline = timed(lambda: list_runs(curves=False))
        settings.install(on("a", url))
        start = time.perf_counter()
        report = storage.current().sync()
        send_all = time.perf_counter() - start
        assert report.error is None and report.sent >= 4 * args.runs, report
        idle = timed(lambda: storage.current().sync())
        refresh = timed(lambda: storage.current().sync(send=False))
        settings.install(on("b", url))
        start = time.perf_counter()
        fetched = storage.current().sync()
        fetch_all = time.perf_counter() - start
        assert fetched.fetched == report.sent, (fetched, report)
        settings.install(None)
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.runs} runs, {size_mb:.1f} MB; load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
          f"after {os.getloadavg()[0]:.2f}")
    print(f"baseline: listing the runs (local files)      {baseline * 1000:8.1f} ms")
    ok = "yes" if refresh / baseline <= IDLE_REFRESH_TARGET else "NO"
    print(f"a page's refresh with nothing new              {refresh * 1000:8.1f} ms  "
          f"{refresh / baseline:5.2f}x baseline  target <= {IDLE_REFRESH_TARGET}x: {ok}")
    print(f"a full sync with nothing to do                 {idle * 1000:8.1f} ms  {idle / baseline:5.2f}x baseline")
    print(f"the first sync, sending every file             {send_all * 1000:8.1f} ms  {send_all / baseline:5.2f}x baseline")
    print(f"a fresh server's sync, fetching every file     {fetch_all * 1000:8.1f} ms  {fetch_all / baseline:5.2f}x baseline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
