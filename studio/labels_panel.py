"""Data's "Suspicious labels" tab: the images whose given label the audit's models find least
likely, each to be marked "label is wrong" or "label is fine" (mnist_core.data.label_marks)."""
from __future__ import annotations

import math

import streamlit as st

from mnist_core.data import label_marks
from mnist_core.errors import AuditError, MarkError

from . import identity
from .images import enlarge
from .nav import BY_TITLE

PER_PAGE = 20
PER_ROW = 5
CHOICES = {"wrong": "Wrong", "fine": "Fine"}  # short enough for five to a row
SHOW = {"unreviewed": "Not reviewed yet", "wrong": "Marked wrong", "fine": "Marked fine", "all": "All"}


@st.cache_resource(show_spinner=False, max_entries=4)
def _audit(dataset: str, source: str, stamp: float) -> dict:
    # Shared by every session (read-only); the file's time is in the key so a new audit shows.
    from mnist_core.analysis import label_audit

    from .shared_data import cached_dataset

    return label_audit.load(cached_dataset(dataset, source))


def _load(data) -> dict | None:
    from mnist_core.analysis.label_audit import audit_path

    path = audit_path(data.spec.name)
    try:
        stamp = path.stat().st_mtime
    except OSError:
        stamp = 0.0
    try:
        return _audit(data.spec.name, data.source, stamp)
    except AuditError as exc:
        if not path.exists():  # a dataset nobody has audited yet: say so plainly
            how = (f" Make one with `python -m mnist_core labels --dataset {data.spec.name}` (a few minutes)."
                   if identity.sees_server_details() else " Whoever runs the server can make one.")
            st.info(f"No list of suspicious labels has been made for {data.spec.title} on this server yet "
                    f"(MNIST's comes with the app).{how}", icon=":material/fact_check:")
        else:
            st.info(str(exc)[:1].upper() + str(exc)[1:], icon=":material/fact_check:")
        return None


def _save(split: str, index: int, key: str, dataset: str) -> None:
    verdict = st.session_state.get(key)
    try:
        label_marks.set_mark(split, index, verdict, dataset=dataset, by=identity.current().name)
    except (MarkError, OSError) as exc:
        from mnist_core.fsfault import describe

        st.session_state["labels_error"] = str(exc) if isinstance(exc, MarkError) else describe(exc)


def show(data, split: str) -> None:
    audit = _load(data)
    if audit is None:
        return
    from mnist_core.analysis.label_audit import VALIDATED_TEST_ERRORS

    part = audit["splits"][split]
    folds = audit["folds"]
    accs = ", ".join(f"{a:.2%}" for a in audit["held_out_accuracy"])
    flagged = part["flagged"]
    st.markdown(
        f"The {len(part['suspects'])} {split} images whose given label the models find least likely. "
        f"Look at each and say whether its label is wrong. The first **{flagged:,}** (marked ⚑) are "
        f"the ones confident learning flags as likely mislabelled, least likely first; the rest follow, "
        f"again least likely first." if flagged else
        f"The {len(part['suspects'])} {split} images whose given label the models find least likely, "
        f"least likely first. Look at each and say whether its label is wrong.")
    if split == "test" and flagged < 10:
        st.caption(f"Confident learning flags only {flagged} test image(s): the models are so sure of nearly "
                   "every test image that few pass its per-class thresholds. The order below, by the "
                   "probability the models give the image's own label, still puts real errors first.")
    with st.expander("How the list is made"):
        st.markdown(
            f"**Method:** {audit['method']}. {folds} models each trained on {folds - 1} of {folds} parts of "
            f"the training set and predicted the part they did not see (held-out accuracy {accs}), so no "
            f"image is judged by a model that learnt its label; each test image's probabilities are the "
            f"mean of all {folds} models'." + (" Made by `python -m mnist_core labels`."
                                                if identity.sees_server_details() else ""))
    found = audit.get("validated")
    if split == "test" and found:
        st.success(f"**{found['found']} of the {found['of']}** MNIST test images that people confirmed "
                   f"as mislabelled ({found['source']}) are in this list's top {found['top']}.",
                   icon=":material/verified:")
    if message := st.session_state.pop("labels_error", None):
        st.error(message)
    marks = label_marks.load_marks(data.spec.name)[split]
    suspects = part["suspects"]
    c = st.columns([3, 1, 2])
    show_which = c[0].radio("Show", list(SHOW), format_func=SHOW.get, horizontal=True, key=f"labels_show_{split}")
    if show_which != "all":
        suspects = [s for s in suspects if marks.get(s["index"], "unreviewed") == show_which]
    pages = max(1, math.ceil(len(suspects) / PER_PAGE))
    page = c[1].number_input(f"Page (of {pages})", 1, pages, key=f"labels_page_{split}_{show_which}")
    wrong = sum(v == "wrong" for v in marks.values())
    c[2].metric("Marked wrong / fine", f"{wrong} / {sum(v == 'fine' for v in marks.values())}")
    if not suspects:
        st.info("Nothing to show here yet: mark some images under *Not reviewed yet*.")
    shown = suspects[(page - 1) * PER_PAGE: page * PER_PAGE]
    images, _ = data.split(split)
    classes = data.classes
    for start in range(0, len(shown), PER_ROW):
        for col, s in zip(st.columns(PER_ROW), shown[start:start + PER_ROW]):
            i = s["index"]
            confirmed = " ✓ confirmed" if split == "test" and i in VALIDATED_TEST_ERRORS else ""
            flag = "⚑ " if s["flagged"] else ""
            col.image(enlarge(images[i].numpy(), 84), width="stretch",
                      caption=f"{flag}#{i}: labelled {classes[s['given']]} · model: {classes[s['suggested']]} "
                              f"· p(label) {s['p_given']:.2g}{confirmed}")
            key = f"labels_mark_{data.spec.name}_{split}_{i}"
            st.session_state[key] = marks.get(i)  # the file is the truth: another session may have marked it
            col.segmented_control("Verdict", list(CHOICES), format_func=CHOICES.get, key=key,
                                  label_visibility="collapsed", on_change=_save, width="stretch",
                                  args=(split, i, key, data.spec.name))
    if split == "train":
        st.caption(f"{wrong} training image(s) marked wrong. Train's form can leave them out of a run "
                   "(*Leave out ... marked wrong on Data*); compare it with the same run on every image.")
        st.page_link(BY_TITLE["Train"].file, label="Open Train", icon=":material/model_training:")
    else:
        st.caption("Test images marked wrong are saved for everyone on this server; training never uses "
                   "the test set, so they do not change a run.")
