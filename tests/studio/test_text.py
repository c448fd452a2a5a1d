"""Visitors' text as Streamlit's Markdown reads it: escaped so it shows as typed."""
from studio.text import plain


def test_plain_text_leaves_no_link_image_markup_or_autolink():
    hostile = "![i](http://x/a.png) [x](javascript:alert(1)) **b** <b>h</b> :red[r] www.x.com a@b.com"
    shown = plain(hostile)
    for syntax in ("![", "](", "**", "<b>", ":red[", "www.", "a@"):
        assert syntax not in shown, (syntax, shown)
    # Undone, the escapes give back exactly what was typed.
    assert shown.replace("\\", "") == hostile


def test_plain_text_keeps_ordinary_words_as_they_are():
    assert plain("mine.zip - run 3, 97.5%") == "mine.zip - run 3, 97.5%"
