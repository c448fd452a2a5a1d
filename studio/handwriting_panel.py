"""The "My handwriting" panels: saving drawn digits (Draw), the set's summary, its score (Evaluate).

Kept apart from the pages so that AppTest can drive them without the drawing canvas.
"""
from __future__ import annotations

import functools

import streamlit as st

from mnist_core.analysis.evaluation import evaluate_tensors
from mnist_core.data import handwriting
from mnist_core.data.handwriting import HandwritingError
from mnist_core.fsfault import describe as describe_fs_error

from . import identity
from .text import plain


def save_panel(reading, spec, key: str = "draw") -> None:
    """'Save to my handwriting' for a drawing that was read (a draw_panel.Reading), then the
    set's summary."""
    st.subheader("My handwriting")
    if spec.name != "mnist":
        st.caption("Your handwriting set holds digits; pick an MNIST model to add to it.")
        return
    top = None if reading is None else reading.top
    if top is not None:
        # The key carries the prediction so the default follows each new drawing.
        label = st.selectbox("True label", list(range(10)), index=top, key=f"{key}-hw-label-{top}")
        if st.button("Save to my handwriting", icon=":material/save:", key=f"{key}-hw-save"):
            try:
                folder = _checked_folder(1)
                handwriting.save_sample(reading.prep.steps["centred 28x28"], label, folder=folder)
                st.success(f"Saved as a {label}.")
            except (HandwritingError, OSError) as exc:
                st.error(f"Could not save the digit: {_reason(exc)}.")
    summary(key)


def _checked_folder(adding: int):
    """This visitor's set, once there is room in it for `adding` more digits (on a class's
    server: their own limit and the server's); HandwritingError otherwise, before any write."""
    from mnist_core import settings
    from mnist_core.data import handwriting_sets

    folder = identity.handwriting_folder()
    if identity.shared_server():
        handwriting_sets.room_for(settings.current().handwriting_dir, folder, adding)
        handwriting_sets.name_maker(folder, identity.current().name)
    return folder


def _reason(exc: Exception) -> str:
    """A refused sample's reason, or a full disk's in words: "[Errno 28] ..." names no remedy."""
    return describe_fs_error(exc) if isinstance(exc, OSError) else str(exc)


def summary(key: str = "draw") -> None:
    try:
        # Counted, not loaded: this runs on every stroke drawn on the canvas.
        counts, skipped = handwriting.count_set(identity.handwriting_folder())
    except OSError as exc:
        st.error(f"Could not read your handwriting set: {exc}")
        return
    total = sum(counts)
    message = st.session_state.pop(f"{key}-hw-message", None)
    if message:
        st.success(message)
    folder = identity.handwriting_folder()
    where = (f" in `{folder.resolve()}` (set MNIST_HANDWRITING_DIR to use another folder)"
             if identity.sees_server_details() else "")
    st.caption(f"{total} saved digit{'' if total == 1 else 's'}{where}. Per class: "
               + ", ".join(f"{d}: {n}" for d, n in enumerate(counts))
               + (f". {skipped} unreadable entries skipped." if skipped else "."))
    if total:
        # A callable: the zip is built on click, not on every stroke that reruns the page.
        st.download_button("Download the set (zip)", functools.partial(handwriting.export_zip, folder),
                           file_name="my-handwriting.zip", mime="application/zip",
                           icon=":material/download:", key=f"{key}-hw-download", on_click="ignore")
        _delete_mine(folder, total, key)
    upload = st.file_uploader("Import a handwriting zip (labels.csv and 28x28 PNGs)", type=["zip"],
                              key=f"{key}-hw-upload")
    if upload is not None:
        # Each file is tried once: the rerun after importing (or any stroke later) must not
        # import it again, and a failure stays on screen while the file stays in the box.
        stamp = (upload.name, upload.size, getattr(upload, "file_id", None))
        tried = st.session_state.get(f"{key}-hw-imported")
        if tried is not None and tried[0] == stamp:
            if tried[1]:
                st.error(tried[1])
            return
        try:
            added, skipped = handwriting.import_zip(upload.getvalue(), folder, before_write=_checked_folder)
        except (HandwritingError, OSError) as exc:
            st.session_state[f"{key}-hw-imported"] = (stamp, f"Could not import {plain(upload.name)}: {_reason(exc)}. "
                                                      "Your saved digits are as they were.")
            st.error(st.session_state[f"{key}-hw-imported"][1])  # its file's name made plain above
        else:
            st.session_state[f"{key}-hw-imported"] = (stamp, "")
            # Shown after the rerun, which redraws the counts above with the new samples.
            st.session_state[f"{key}-hw-message"] = (
                f"Imported {added} digits" + (f"; skipped {skipped} invalid entries." if skipped else "."))
            st.rerun()


def evaluate_block(model, spec, test_accuracy: float | None) -> None:
    """The model's accuracy on the user's digits beside its MNIST test accuracy."""
    if spec.name != "mnist":
        return
    try:
        images, labels = handwriting.load_set(identity.handwriting_folder())
    except OSError:
        return
    if not len(labels):
        st.caption("Save some digits with their true label on the Draw page to score this model on them.")
        return
    device = next(model.parameters()).device
    acc = evaluate_tensors(model, images.to(device), labels.to(device), spec)["accuracy"]
    cols = st.columns(2)
    cols[0].metric(f"Accuracy on your {len(labels)} digits", f"{acc:.1%}")
    if test_accuracy is not None:
        cols[1].metric("MNIST test accuracy", f"{test_accuracy:.2%}")


def _delete_mine(folder, total: int, key: str) -> None:
    """A visitor empties their own set, after a confirmation."""
    from mnist_core.data import handwriting_sets

    if st.button("Delete my set...", key=f"{key}-hw-delete", icon=":material/delete:"):
        st.session_state[f"{key}-hw-delete-pending"] = True
    if st.session_state.get(f"{key}-hw-delete-pending"):
        st.warning(f"Delete all {total} of your saved digits for good?", icon=":material/delete:")
        c = st.columns(2)
        if c[0].button("Yes, delete them", type="primary", key=f"{key}-hw-delete-yes"):
            st.session_state.pop(f"{key}-hw-delete-pending", None)
            gone = handwriting_sets.clear(folder)
            identity.audit("deleted their handwriting", f"{gone} digit(s)")
            st.session_state[f"{key}-hw-message"] = f"Deleted your {gone} saved digits."
            st.rerun()
        if c[1].button("Cancel", key=f"{key}-hw-delete-no"):
            st.session_state.pop(f"{key}-hw-delete-pending", None)
            st.rerun()
