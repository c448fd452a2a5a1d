"""A real Streamlit server and a real Chromium for the browser tests.

Two servers, each started once per session and stopped whatever the outcome: one on the real
MNIST files, one where no dataset can be found. Every test gets a fresh browser context,
which Streamlit sees as a new session.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.support import free_port, mnist_dir

from .helpers import ARTIFACTS, REPO, VIEWPORT

# Debian's package by default; CHROMIUM_PATH points elsewhere (another distribution, macOS).
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 120  # importing torch and streamlit on a busy 2-core machine


class AppServer:
    """`streamlit run app.py` in its own process group, so stopping it leaves nothing behind."""

    def __init__(self, cwd: Path, env: dict[str, str], log: Path, python: str = sys.executable):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(log, "wb")  # noqa: SIM115 - the server writes to it until stop()
        self.proc = subprocess.Popen(
            [
                python, "-m", "streamlit", "run", str(REPO / "app.py"),
                "--server.port", str(self.port),
                "--server.headless", "true",
                "--server.address", "127.0.0.1",
                "--browser.gatherUsageStats", "false",
            ],
            cwd=cwd,
            # One torch thread: training then leaves a core to Streamlit and Chromium, so the
            # live view keeps polling on a 2-core machine instead of queueing behind torch.
            env={**os.environ, "MNIST_THREADS": "1", **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"streamlit did not answer in {START_TIMEOUT} s:\n{self.output()}")

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if a training thread holds it up; the whole group either way."""
        try:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass  # it had already exited
        finally:
            self._log_file.close()


@contextmanager
def running_server(cwd: Path, env: dict[str, str], name: str):
    server = AppServer(cwd, env, ARTIFACTS.parent / f"streamlit-{name}.log")
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The app on the real MNIST files, with an empty runs folder of its own."""
    folder = mnist_dir()
    if not any((folder / f"train-images-idx3-ubyte{s}").exists() for s in (".gz", "")):
        pytest.fail(f"real MNIST files are required in {folder} (set MNIST_DATA_DIR)")
    runs = tmp_path_factory.mktemp("browser-runs")
    # Never the user's own ./data/handwriting: tests save digits there and Evaluate reads it.
    handwriting = tmp_path_factory.mktemp("browser-handwriting")
    env = {
        "MNIST_DATA_DIR": str(folder),
        "MNIST_RUNS_DIR": str(runs),
        "MNIST_HANDWRITING_DIR": str(handwriting),
        "MNIST_OFFLINE": "1",
    }
    with running_server(REPO, env, "real-data") as server:
        server.runs_dir = runs
        server.handwriting_dir = handwriting
        yield server


@pytest.fixture
def handwriting_dir(app_server):
    """The real-data server's handwriting folder, empty before the test and again after it,
    so a test starts from no saved digits and leaves none to the pages other tests open."""
    folder = app_server.handwriting_dir

    def empty() -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)

    empty()
    yield folder
    empty()


@pytest.fixture(scope="session")
def nodata_server(tmp_path_factory):
    """The app where no dataset can be found: both data settings point at an empty folder."""
    cwd = tmp_path_factory.mktemp("browser-nodata")  # so there is no ./data either
    empty = cwd / "empty"
    empty.mkdir()
    # Streamlit reads .streamlit/config.toml from the working directory.
    shutil.copytree(REPO / ".streamlit", cwd / ".streamlit")
    env = {
        "MNIST_DATA_DIR": str(empty),
        "FASHION_MNIST_DATA_DIR": str(empty),
        "MNIST_RUNS_DIR": str(cwd / "runs"),
        "MNIST_HANDWRITING_DIR": str(cwd / "handwriting"),
        "MNIST_OFFLINE": "1",
    }
    with running_server(cwd, env, "no-data") as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    for old in ARTIFACTS.glob("FAILED-*.png"):  # from an earlier run; this run's failures only
        old.unlink()
    if not Path(CHROMIUM).exists():
        message = (f"no Chromium at {CHROMIUM}: `apt-get install chromium` (Debian), or set "
                   "CHROMIUM_PATH to a Chromium or Chrome binary")
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the browser tests, never skip them quietly
        pytest.skip(message)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
