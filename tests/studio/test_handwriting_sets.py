"""Handwriting on a class's server: each visitor's own set, limits before writing, and the
owner's view of every set by its maker."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from mnist_core.data import handwriting, handwriting_sets
from mnist_core.data.handwriting import HandwritingError
from tests.support import TIMEOUT

ALICE, BOB = "a" * 32, "b" * 32


def digits_zip(n: int, label: int = 3) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        rows = ["file,label"]
        for i in range(n):
            png = io.BytesIO()
            pixels = np.zeros((28, 28), np.uint8)
            pixels[8:20, 12 + i % 4:16 + i % 4] = 255
            Image.fromarray(pixels).save(png, format="PNG")
            zf.writestr(f"{i}.png", png.getvalue())
            rows.append(f"{i}.png,{label}")
        zf.writestr("labels.csv", "\n".join(rows) + "\n")
    return buf.getvalue()


def panel_app(secret: str, name: str):
    import streamlit as st

    from studio import handwriting_panel, identity

    st.session_state.setdefault("visitor", identity.Visitor(secret, name))
    handwriting_panel.summary("draw")


def visitor(secret: str, name: str) -> AppTest:
    return AppTest.from_function(panel_app, args=(secret, name), default_timeout=TIMEOUT).run()


def saved(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def test_a_visitors_zip_lands_in_their_own_set_only(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path / "hw"))
    monkeypatch.setenv("MNIST_ADMIN_PASSWORD", "s3cret")  # a class's server
    alice = visitor(ALICE, "Alice")
    alice.file_uploader[0].set_value(("junk.zip", digits_zip(5), "application/zip")).run()
    assert not alice.exception and not alice.error, [e.value for e in alice.error]
    assert saved(alice).startswith("5 saved digits")
    bob = visitor(BOB, "Bob")
    assert saved(bob).startswith("0 saved digits")  # Alice's "3"s are not Bob's
    sets = handwriting_sets.list_sets(tmp_path / "hw")
    assert [(s["maker"], s["digits"]) for s in sets] == [("Alice", 5)]
    _, labels = handwriting.load_set(tmp_path / "hw")
    assert len(labels) == 0  # the laptop's set (the folder itself) is untouched


def test_the_limits_are_checked_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(handwriting_sets, "MAX_VISITOR_HANDWRITING", 4)
    base = tmp_path / "hw"
    mine = handwriting_sets.visitor_folder(base, "c" * 32)
    with pytest.raises(HandwritingError, match="limit of 4 for one person"):
        handwriting.import_zip(digits_zip(5), mine,
                               before_write=lambda n: handwriting_sets.room_for(base, mine, n))
    assert not mine.exists() or not list(mine.glob("*.png"))
    monkeypatch.setattr(handwriting_sets, "MAX_HANDWRITING_SET", 6)
    handwriting.import_zip(digits_zip(4), mine, before_write=lambda n: handwriting_sets.room_for(base, mine, n))
    theirs = handwriting_sets.visitor_folder(base, "d" * 32)
    with pytest.raises(HandwritingError, match="this server's handwriting sets hold 4 digits"):
        handwriting_sets.room_for(base, theirs, 3)


def test_a_visitor_deletes_their_set_and_the_owner_deletes_anyones(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path / "hw"))
    monkeypatch.setenv("MNIST_ADMIN_PASSWORD", "s3cret")
    alice = visitor(ALICE, "Alice")
    alice.file_uploader[0].set_value(("a.zip", digits_zip(3), "application/zip")).run()
    alice.button(key="draw-hw-delete").click().run()
    alice.button(key="draw-hw-delete-yes").click().run()
    assert not alice.exception
    assert saved(alice).startswith("0 saved digits")
    bob = visitor(BOB, "Bob")
    bob.file_uploader[0].set_value(("b.zip", digits_zip(2), "application/zip")).run()
    [bobs] = [s for s in handwriting_sets.list_sets(tmp_path / "hw") if s["digits"]]
    assert handwriting_sets.delete_set(tmp_path / "hw", bobs["set"]) == 2
    assert saved(visitor(BOB, "Bob")).startswith("0 saved digits")
    with pytest.raises(HandwritingError):
        handwriting_sets.delete_set(tmp_path / "hw", "../../etc")
