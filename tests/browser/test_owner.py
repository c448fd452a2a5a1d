"""The server owner in Chromium: unlocked once, still the owner after a reload (a signed cookie),
and no longer after Lock."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support import REPO, mnist_dir

from .conftest import running_server
from .helpers import assert_clean, goto, wait_idle

pytestmark = pytest.mark.browser
RIGHTS = "You have the server owner's rights"


@pytest.fixture(scope="module")
def owned_server(tmp_path_factory):
    env = {"MNIST_DATA_DIR": str(mnist_dir()), "MNIST_OFFLINE": "1", "MNIST_ADMIN_PASSWORD": "teach",
           "MNIST_RUNS_DIR": str(tmp_path_factory.mktemp("owner-runs")),
           "MNIST_HANDWRITING_DIR": str(tmp_path_factory.mktemp("owner-hw"))}
    with running_server(REPO, env, "owner") as server:
        yield server


def test_the_owners_rights_survive_a_reload_until_lock(owned_server, page):
    goto(page, owned_server.url, "runs")
    page.get_by_text("Server owner").first.click()
    page.get_by_label("Owner password").fill("teach")
    page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_text(RIGHTS)).to_be_visible(timeout=30_000)  # and the panel stays open
    wait_idle(page)
    assert any(c["name"] == "mnist_owner" for c in page.context.cookies())
    page.reload()
    wait_idle(page)
    assert_clean(page)
    expect(page.get_by_text(RIGHTS)).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Lock").click()
    wait_idle(page)
    page.reload()
    wait_idle(page)
    page.get_by_text("Server owner").first.click()
    expect(page.get_by_label("Owner password")).to_be_visible()
    assert not any(c["name"] == "mnist_owner" and c["value"] for c in page.context.cookies())
