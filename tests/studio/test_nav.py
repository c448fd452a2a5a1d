"""The one page list (studio.nav): every page file, in file order, with its address."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from studio.nav import HOME, PAGES, Page
from tests.support import REPO, open_app


def test_every_page_file_is_listed_once_in_file_order():
    files = sorted((p.name for p in (REPO / "pages").glob("*.py")), key=lambda n: int(n.split("_")[0]))
    assert [p.file for p in PAGES] == [f"pages/{f}" for f in files]
    assert all(p.icon.startswith(":material/") and p.description for p in PAGES)
    assert PAGES[0] is HOME and len({p.title for p in PAGES}) == len(PAGES)


def test_a_page_lives_at_its_file_name_without_the_number():
    assert [p.url_path for p in PAGES][:4] == ["/", "/Data", "/Train", "/Head_to_head"]
    assert Page("pages/10_Last_one.py", "Last one", ":material/article:", "").url_path == "/Last_one"


def test_sidebar_and_home_list_the_pages_in_order(offline_env):
    at = open_app()
    assert not at.exception
    paths = ["/" + e.proto.page for e in at.sidebar.get("page_link")]  # "/" for home
    assert paths[:len(PAGES)] == [p.url_path for p in PAGES]
    home = ["/" + e.proto.page for e in at.main.get("page_link")]
    # Laid out in three columns, so read column by column; every page but home, once.
    assert sorted(home[-(len(PAGES) - 1):]) == sorted(p.url_path for p in PAGES[1:])


def _cache_app(keys):
    import streamlit as st

    from studio import state

    for key in keys:
        state.cached(("_test_cache", 2), key, lambda k=key: k * 10)
    st.write(list(st.session_state["_test_cache"].items()))


def test_session_caches_keep_only_their_newest_entries():
    at = AppTest.from_function(_cache_app, args=([1, 2, 1, 3],)).run()
    assert not at.exception
    assert list(at.session_state["_test_cache"].items()) == [(1, 10), (3, 30)]
