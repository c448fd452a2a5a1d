"""A class on one server: python -m benchmarks.load [--sessions 30] [--trainings 2] [--server-python PY]
[--postgres].

N real Chromium sessions, each a separate Streamlit session, against one server. The first
`--trainings` of them start the default preset and leave their page (their browsers would be
elsewhere in a class); then every session draws a digit on Draw (timed from mouse-up to the
prediction in the page), opens Evaluate on the bundled model and browses Runs, and stays open,
so the server holds all N sessions at once at the end.

Prints the peak memory of the server's whole process tree (the Streamlit server, the worker
fork server and the training workers; PSS summed, so shared pages count once, sampled every
0.25 s), the server's own peak RSS, the memory added per session, the stroke-to-prediction
p50 and p95 while the trainings run, and every error seen on any page.

`--server-python` runs the server with another interpreter: a virtual environment with the
CPU-only torch measures what Streamlit Community Cloud would hold; `--postgres` keeps the class's
work in a temporary PostgreSQL database, as a Cloud deployment with `storage_url` does (the
database server's own memory is not the app's, and is not counted). A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from benchmarks.bench import _markdown
from benchmarks.browser import PROBE
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, AppServer
from tests.browser.helpers import (
    STROKES,
    VIEWPORT,
    assert_clean,
    canvas,
    draw,
    goto,
    navigate,
    set_number,
    wait_idle,
    widget,
)
from tests.support import mnist_dir

BUDGET_MB = 1024
STROKE_TARGET_MS = 1000


def _tree(root: int) -> list[int]:
    """root and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _kb(pid: int, field: str, name: str) -> int:
    try:
        with open(f"/proc/{pid}/{name}") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith(field))
    except (OSError, StopIteration, ValueError):
        return 0


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            words = fh.read().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(w.decode(errors="replace") for w in words if w)
    for tag in ("streamlit run", "forkserver", "spawn_main", "resource_tracker"):
        if tag in text:
            return tag
    return text[:40]


class MemorySampler(threading.Thread):
    """Samples the server tree's summed PSS and the server's RSS until stopped."""

    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_tree_mb = self.peak_server_mb = self.now_mb = 0.0
        self.at_peak: dict[str, float] = {}  # process -> PSS MB when the tree peaked
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            by_process = {f"{pid} {_name(pid)}": _kb(pid, "Pss:", "smaps_rollup") / 1024
                          for pid in _tree(self.pid)}
            self.now_mb = sum(by_process.values())
            if self.now_mb > self.peak_tree_mb:
                self.peak_tree_mb, self.at_peak = self.now_mb, by_process
            self.peak_server_mb = max(self.peak_server_mb, _kb(self.pid, "VmRSS:", "status") / 1024)
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def _check(page, where: str, errors: list[str]) -> None:
    try:
        assert_clean(page)
    except AssertionError as exc:
        errors.append(f"{where}: {str(exc)[:300]}")


def start_training(page, url: str, errors: list[str]) -> None:
    goto(page, url, "train")
    set_number(page, "cfg_epochs", 50)  # trains past the end of the benchmark
    widget(page, "train_start").first.get_by_role("button").click()
    page.get_by_text("images/s").first.wait_for(timeout=180_000)
    _check(page, "Train", errors)


def visit(page, url: str, errors: list[str]) -> tuple[float, bool]:
    """Draw a 7, then Evaluate and Runs in the same session; (stroke ms, read correctly)."""
    goto(page, url, "draw")
    canvas(page).wait_for(timeout=120_000)
    page.mouse.move(0, 0)
    draw(page, STROKES["7"])
    value = page.get_by_role("tabpanel", name="Draw").locator('[data-testid="stMetricValue"]')
    value.first.wait_for(state="visible", timeout=120_000)
    marks = page.evaluate("window.__marks")
    read = value.first.inner_text().strip() == "7"
    wait_idle(page, timeout=180_000)
    _check(page, "Draw", errors)
    navigate(page, "evaluate")
    page.get_by_text("Accuracy").first.wait_for(timeout=300_000)
    wait_idle(page, timeout=300_000)
    _check(page, "Evaluate", errors)
    navigate(page, "runs")
    wait_idle(page, timeout=180_000)
    _check(page, "Runs", errors)
    return marks["shown"] - marks["up"], read


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    p.add_argument("--sessions", type=int, default=30)
    p.add_argument("--trainings", type=int, default=2)
    p.add_argument("--server-python", default=sys.executable)
    p.add_argument("--postgres", action="store_true",
                   help="keep everything in a temporary PostgreSQL database (MNIST_STORAGE_URL), as on Cloud")
    args = p.parse_args(argv)
    database = None
    if args.postgres:
        from tests import postgres

        database = postgres.start()
    results: dict = {"sessions": args.sessions, "trainings": args.trainings, "postgres": args.postgres,
                     "server_python": args.server_python, "load_before": os.getloadavg()}
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mnist-load-") as tmp:
        env = {"MNIST_DATA_DIR": str(mnist_dir()), "MNIST_RUNS_DIR": f"{tmp}/runs",
               "MNIST_HANDWRITING_DIR": f"{tmp}/handwriting", "MNIST_OFFLINE": "1",
               "MNIST_THREADS": os.environ.get("MNIST_THREADS", ""),
               "MNIST_STORAGE_URL": database.new_database() if database else ""}
        server = AppServer(Path.cwd(), env, Path(tmp) / "server.log", python=args.server_python)
        server.wait_healthy()
        sampler = MemorySampler(server.proc.pid)
        sampler.start()
        started = time.perf_counter()
        strokes, misread, after_each = [], 0, []
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                pages = []
                for i in range(args.sessions):
                    context = browser.new_context(viewport=VIEWPORT)
                    context.add_init_script(PROBE)
                    page = context.new_page()
                    page.set_default_timeout(180_000)
                    pages.append(page)
                    try:
                        if i < args.trainings:
                            start_training(page, server.url, errors)
                        ms, read = visit(page, server.url, errors)
                        strokes.append(ms)
                        misread += not read
                    except Exception as exc:  # noqa: BLE001 - a session that fails is a result
                        errors.append(f"session {i}: {type(exc).__name__}: {str(exc)[:300]}")
                    after_each.append(sampler.now_mb)
                    print(f"session {i + 1}/{args.sessions}: server tree {sampler.now_mb:.0f} MB "
                          f"(peak {sampler.peak_tree_mb:.0f}), stroke {strokes[-1] if strokes else 0:.0f} ms",
                          file=sys.stderr, flush=True)
                time.sleep(2)
                browser.close()
        finally:
            sampler.stop()
            results["log_tail"] = server.output()[-2000:]
            server.stop()
            if database:
                database.close()
    results.update(
        seconds=time.perf_counter() - started, load_after=os.getloadavg(),
        peak_tree_mb=sampler.peak_tree_mb, peak_server_rss_mb=sampler.peak_server_mb,
        at_peak_mb=sampler.at_peak,
        after_each_mb=after_each, strokes_ms=strokes, misread=misread, errors=errors)
    tail = after_each[args.trainings:]
    results["mb_per_session"] = ((tail[-1] - tail[0]) / (len(tail) - 1)) if len(tail) >= 2 else None
    report(results)
    out = Path("bench-results/load.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


def report(r: dict) -> None:
    ms = r["strokes_ms"]
    p50 = statistics.median(ms) if ms else float("nan")
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) >= 2 else p50
    rows = [("measure", "target", "measured", "met"),
            ("peak memory, server tree (PSS)", f"< {BUDGET_MB} MB", f"{r['peak_tree_mb']:,.0f} MB",
             "yes" if r["peak_tree_mb"] < BUDGET_MB else "NO"),
            ("peak RSS, the Streamlit server alone", "", f"{r['peak_server_rss_mb']:,.0f} MB", "-"),
            ("memory per extra session", "", "-" if r["mb_per_session"] is None else f"{r['mb_per_session']:.1f} MB", "-"),
            ("stroke to prediction while training: p50 / p95", f"p50 <= {STROKE_TARGET_MS} ms",
             f"{p50:,.0f} / {p95:,.0f} ms", "yes" if p50 <= STROKE_TARGET_MS else "NO"),
            ("drawings misread (a 7 each)", "0", str(r["misread"]), "yes" if not r["misread"] else "NO"),
            ("errors on any page", "0", str(len(r["errors"])), "yes" if not r["errors"] else "NO")]
    print(_markdown(rows))
    print("at the peak, PSS by process: " + ", ".join(f"{k}: {v:.0f} MB" for k, v in r["at_peak_mb"].items()))
    for e in r["errors"]:
        print(" -", e)
    print(f"\n{r['sessions']} sessions, {r['trainings']} training; server: {r['server_python']}; "
          f"{r['seconds']:.0f} s; load average before {r['load_before'][0]:.2f}, after {r['load_after'][0]:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
