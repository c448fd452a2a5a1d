"""Text a visitor typed reaches every classmate's browser as text, never as Markdown or HTML.

A run labelled with a Markdown image and a `javascript:` link, made by someone whose name is an
image too, is published on the board and put in use; every page is then opened. No request may
leave for any address but the app's (a listener stands where the images point), and no link or
image on any page may come from that text."""
from __future__ import annotations

import http.server
import threading

import pytest

from mnist_core.data.tensors import load_dataset
from mnist_core.runs import board
from mnist_core.runs.folders import read_json, write_json
from tests.support import REPO, mnist_dir, tiny_run

from .conftest import free_port, running_server
from .helpers import PAGE_PATHS, assert_clean, goto, wait_idle, widget

pytestmark = pytest.mark.browser
OWNER = "ab" * 16  # an owner id, as a visitor's cookie hashes to


class _Listener(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - the standard library's name
        _Listener.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    port = free_port()
    listener = http.server.HTTPServer(("127.0.0.1", port), _Listener)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    label = f"![l](http://127.0.0.1:{port}/label.png) [x](javascript:alert(1)) **b** <b>h</b>"
    name = f"![n](http://127.0.0.1:{port}/name.png)"
    runs = tmp_path_factory.mktemp("hostile-runs")
    data = load_dataset("mnist", str(mnist_dir()), allow_download=False)
    _trainer, folder = tiny_run(data, runs, label=label, train_subset=500)
    summary = read_json(folder / "summary.json")
    summary.update(owner=OWNER, owner_name=name)
    write_json(folder / "summary.json", summary)
    board.publish(folder, data, OWNER, shared=False)
    env = {"MNIST_DATA_DIR": str(mnist_dir()), "MNIST_RUNS_DIR": str(runs), "MNIST_OFFLINE": "1",
           "MNIST_HANDWRITING_DIR": str(tmp_path_factory.mktemp("hostile-handwriting"))}
    with running_server(REPO, env, "hostile") as server:
        server.run_id, server.port_of_listener = folder.name, port
        yield server
    listener.shutdown()


def test_every_page_shows_visitors_text_as_text(hostile, page):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    # Put the hostile run in use, so the sidebar names it on every page.
    goto(page, hostile.url, "evaluate")
    box = widget(page, "eval_model").get_by_role("combobox")
    box.click()
    page.get_by_role("option").filter(has_text="mlp on mnist").first.click()  # its label, then this
    wait_idle(page)
    for name in PAGE_PATHS:
        goto(page, hostile.url, name)
        wait_idle(page)
        assert_clean(page)
        assert page.locator('a[href^="javascript"]').count() == 0, name
        images = page.locator("img").evaluate_all("els => els.map(e => e.src)")
        assert not [s for s in images if str(hostile.port_of_listener) in s], (name, images)
        assert page.locator("b").filter(has_text="h").count() == 0, name  # no HTML from the label
    page.wait_for_timeout(500)
    assert _Listener.hits == [], f"classmates' browsers fetched {_Listener.hits}"
    outside = [u for u in requests if not u.startswith((hostile.url, "data:", "blob:", "about:"))]
    assert outside == [], f"requests left for other hosts: {outside[:5]}"
    # The text itself is there, as typed, where the run is named.
    goto(page, hostile.url, "runs")
    assert page.get_by_text("[x](javascript:alert(1))").count() > 0
