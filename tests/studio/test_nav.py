"""The one page list (studio.nav): every page file, in file order, with its address."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from studio.nav import PAGES, discover
from tests.support import REPO, open_app


def test_every_page_file_is_listed_in_file_order():
    files = sorted(p.name for p in (REPO / "pages").glob("*.py"))
    assert [p.file for p in PAGES] == ["app.py"] + [f"pages/{f}" for f in files]
    assert all(p.icon.startswith(":material/") and p.description for p in PAGES)


def test_a_new_page_file_appears_with_its_title_and_address(tmp_path):
    (tmp_path / "pages").mkdir()
    for name in ("2_Second.py", "10_Last_one.py", "1_First.py"):
        (tmp_path / "pages" / name).write_text("")
    pages = discover(tmp_path)
    assert [p.title for p in pages] == ["Home", "First", "Second", "Last one"]
    assert [p.url_path for p in pages] == ["/", "/First", "/Second", "/Last_one"]
    assert pages[-1].icon == ":material/article:"  # not in ABOUT: a plain icon, still listed


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
