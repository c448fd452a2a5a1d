"""The Runs page's panels: the table of saved runs, the settings diff of two, and the row of
actions on one (download, export, use, delete)."""
from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from mnist_core.models.export import export_bundle, onnx_available
from mnist_core.runs.checkpoints import TORN_CHECKPOINT, checkpoint_intact
from mnist_core.runs.compare import config_diff
from mnist_core.runs.folders import Run, RunError, delete_run, load_run, relabel
from mnist_core.runs.ownership import made_by, may_change, require_change

from . import identity, picker, state
from .shared_data import dataset_or_help
from .text import MISSING, duration, plain


def _shown(value) -> str:
    return MISSING if value is None else str(value)


def _percent(value):
    return None if value is None else 100 * value


def curve(run, by_time: bool) -> list[dict]:
    # A budgeted run's mid-run test checks fill in its curve on the seconds axis.
    if not by_time:
        return run.metrics
    return sorted(run.probes + run.metrics, key=lambda r: r.get("train_seconds", r.get("elapsed", 0)))


def _epochs_text(run) -> str:
    done = run.summary.get("epochs_done") or 0
    budget = (run.config or {}).get("time_budget")
    if isinstance(budget, (int, float)) and budget:  # the clock, not the epoch count, ended it
        return f"{done:g} in {budget:g} s"
    return f"{done:g}/{run.summary.get('epochs', '?')}"


def _acc_text(run) -> str:
    acc = run.summary.get("final_test_acc")
    return "-" if acc is None else f"{acc:.2%}"


def runs_table(runs: list[Run]) -> None:
    """Every saved run, one row each."""
    table = pd.DataFrame(
        [
            {
                "run": r.run_id,
                "label": r.summary.get("label", ""),
                "by": made_by(r.summary),
                "status": r.summary.get("status"),
                "model": r.summary.get("model"),
                "dataset": r.summary.get("dataset"),
                "params": r.summary.get("params"),
                "epochs": _epochs_text(r),
                "test accuracy": _percent(r.summary.get("final_test_acc")),
                "best accuracy": _percent(r.summary.get("best_test_acc")),
                "with TTA": _percent(r.summary.get("final_test_acc_tta")),
                "duration": duration(r.summary.get("duration_s")),
                "started": str(r.summary.get("started", ""))[:16].replace("T", " "),
            }
            for r in runs
        ]
    )
    for r in runs:
        if r.damaged:
            st.warning(f"Run {r.run_id} is damaged: {r.damaged}. It is listed with what could be read; "
                       "delete it, or repair its files.", icon=":material/broken_image:")
    pct = st.column_config.NumberColumn(format="%.2f%%")  # one precision for every row
    st.dataframe(
        table,
        hide_index=True,
        placeholder=MISSING,
        column_config={
            "test accuracy": pct,
            "best accuracy": pct,
            "with TTA": st.column_config.NumberColumn(
                format="%.2f%%", help="The final test accuracy with test-time augmentation (the mean "
                                      "prediction over each digit and four one-pixel shifts), for runs "
                                      "that asked for it"),
            "params": st.column_config.NumberColumn(format="localized"),
        },
    )


def settings_diff(by_id: dict[str, Run], titled) -> None:
    """Two runs side by side: their outcomes, then every setting that differs."""
    ids = list(by_id)
    d = st.columns(2)
    kept_choice("runs_diff_a", ids, ids[0])
    kept_choice("runs_diff_b", ids, ids[1])
    a_id = d[0].selectbox("Run A", ids, key="runs_diff_a", format_func=titled)
    b_id = d[1].selectbox("Run B", ids, key="runs_diff_b", format_func=titled)
    a, b = by_id[a_id], by_id[b_id]
    outcome = pd.DataFrame(
        [
            {"": "test accuracy", "A": _acc_text(a), "B": _acc_text(b)},
            {"": "params", "A": f"{a.summary.get('params') or 0:,}", "B": f"{b.summary.get('params') or 0:,}"},
            {"": "duration", "A": duration(a.summary.get("duration_s")),
             "B": duration(b.summary.get("duration_s"))},
        ]
    )
    # A caption above the table keeps its toolbar, which a touch screen always shows, off the
    # Run B picker (on a phone the pickers stack just above it).
    st.caption("How they came out:")
    st.dataframe(outcome, hide_index=True)
    # Values are shown as text: a column can mix numbers, lists and strings across settings. A
    # setting one run's model does not have (a CNN's kernel size beside an MLP) reads "-".
    diff = config_diff(a.config, b.config)
    if diff:
        # A caption between the tables also keeps the lower one's toolbar, which a touch screen
        # always shows, off the upper one's last row.
        st.caption(f"The {len(diff)} setting(s) that differ:")
        st.dataframe(
            pd.DataFrame([{"setting": k.removeprefix("model_kwargs."), "A": _shown(va), "B": _shown(vb)}
                          for k, va, vb in diff]),
            hide_index=True,
        )
    else:
        st.info("The two runs used identical settings.")


def kept_choice(key: str, options: list[str], default: str | list[str]) -> None:
    """Hand the select widget keyed `key` its choice back, by run id, before it is drawn (draw
    it with no default or index of its own). `default` is a run id for a selectbox, a list of
    them for a multiselect.

    Its options are run ids shown by title, and a title changes with a relabel (or a new
    accuracy). A browser sends a choice back as the title it showed, so after a relabel the old
    title matched no option on the next click and Streamlit fell back to the default: "Manage a
    run" jumped to the first run, where Delete then asked about another run. Kept by id beside
    the widget, the choice also outlives a page change, which drops the widget's own."""
    many = isinstance(default, list)
    kept = f"{key}_kept"
    value = st.session_state.get(key)
    sent = value if many and value is not None else [value]
    if value is None or any(v not in options for v in sent):  # nothing yet, or an out-of-date title
        sent = st.session_state.get(kept, default if many else [default])
    chosen = [v for v in sent if v in options]  # less any run deleted since
    if not many:
        chosen = chosen[:1] or [default]
    st.session_state[kept] = chosen
    st.session_state[key] = chosen if many else chosen[0]


def run_named(run: Run) -> str:
    """A run as a confirmation names it: its label, who made it and its id, in full, for
    st.text (the label and the name are a visitor's own text, never read as Markdown)."""
    return (f"Label: {run.summary.get('label') or '(no label)'}\n"
            f"Made by: {made_by(run.summary)}\n"
            f"Run id: {run.run_id}")


def _may_change(run: Run) -> bool:
    return may_change(run.summary, identity.current().id, identity.is_admin(), identity.shared_server())


def _check_still_mine(run: Run, action: str) -> None:
    """The rule again on the summary as it is on disk now, just before the change."""
    require_change(load_run(run.path, curves=False).summary, identity.current().id,
                   identity.is_admin(), action, identity.shared_server())


def manage(run: Run, root) -> None:
    """Download, export or use any run; relabel or delete one's own (a running run cannot be
    deleted), or any run once the server owner's password was given."""
    run_id = run.run_id
    mine = _may_change(run)
    checkpoint = run.path / "checkpoint.pt"
    # A torn checkpoint would make the zip's export fail after the click, out of the page's sight.
    has_weights = checkpoint.is_file() and checkpoint_intact(run.path)
    if checkpoint.exists() and not has_weights:
        st.warning(f"This run's checkpoint.pt cannot be used: {TORN_CHECKPOINT}. Its curves and "
                   "settings are still here; delete the run, or train it again.", icon=":material/broken_image:")
    # A row of buttons at their natural widths: equal columns cut their labels short.
    row = st.container(horizontal=True)
    row.download_button(
        "Download .pt",
        checkpoint.read_bytes,
        file_name=f"{run_id}.pt",
        mime="application/octet-stream",
        icon=":material/download:",
        disabled=not has_weights,
        key="runs_download",
        on_click="ignore",
    )
    row.download_button(
        "Download model (zip)",
        partial(export_bundle, run.path),  # built on click: ONNX export takes a couple of seconds
        file_name=f"{run_id}-model.zip",
        mime="application/zip",
        icon=":material/folder_zip:",
        disabled=not has_weights,
        key="runs_download_zip",
        on_click="ignore",
        help="Weights (state_dict), a manifest with the config, metrics and preprocessing, "
        + ("and model.onnx." if onnx_available() else "without ONNX (the onnx package is not installed)."),
    )
    if row.button(
        "Use this model", disabled=not has_weights, key="runs_use", icon=":material/check:"
    ):
        picker.use_model(str(run.path))
        st.rerun()
    if row.button(
        "Delete...",
        icon=":material/delete:",
        key="runs_delete",
        disabled=run.summary.get("status") == "running" or not mine,
        help=None if mine else f"Only whoever started it ({plain(made_by(run.summary))}) or the server's owner "
                               "can delete it.",
    ):
        st.session_state[state.DELETE_PENDING] = run_id
    if st.session_state.get(state.DELETE_PENDING) == run_id:
        st.warning("Delete this run and its checkpoint for good? It cannot be undone.", icon=":material/delete:")
        st.text(run_named(run))
        d = st.columns([1, 1, 6])
        if d[0].button("Yes, delete", type="primary", key="runs_delete_yes"):
            st.session_state.pop(state.DELETE_PENDING, None)
            try:
                _check_still_mine(run, "delete")
                st.session_state[state.RUNS_MESSAGE] = delete_run(root, run_id)
                identity.audit("deleted a run", run_named(run).replace("\n", "; "))
            except RunError as exc:
                st.error(str(exc))
            else:
                st.rerun()  # the sidebar's current_model_key() forgets a deleted model in use
        if d[1].button("Cancel", key="runs_delete_no"):
            st.session_state.pop(state.DELETE_PENDING, None)
            st.rerun()
    if mine:
        _relabel_form(run, root)
        _publish_toggle(run, has_weights)
    else:
        st.caption(f"Made by {plain(made_by(run.summary))}: you can download it and use it, but only they "
                   "or the server's owner can relabel or delete it.")


def _relabel_form(run: Run, root) -> None:
    with st.form(key="runs_relabel", border=False):
        cols = st.columns([4, 1], vertical_alignment="bottom")
        label = cols[0].text_input("Label", value=run.summary.get("label") or "", max_chars=80)
        if cols[1].form_submit_button("Save label"):
            def change() -> str:
                _check_still_mine(run, "relabel")
                done = relabel(root, run.run_id, label)
                identity.audit("relabelled a run", f"{run.run_id}: {label}")
                return done
            _act(change)


def _publish_toggle(run: Run, has_weights: bool) -> None:
    """Put one's own finished run on the class board, or take it off."""
    from mnist_core.runs import board

    if run.summary.get("published"):
        score = run.summary.get("challenge_acc")
        st.caption("On the class board" + (f": {score:.2%} on the challenge set." if score is not None else "."))
        if st.button("Take off the class board", key="runs_unpublish", icon=":material/visibility_off:"):
            _act(lambda: board.unpublish(run.path, identity.current().id, identity.is_admin(),
                                         identity.shared_server()), ("took a run off the board", run.run_id))
        return
    finished = run.summary.get("status") != "running" and run.summary.get("epochs_done") and has_weights
    if st.button("Publish to the class board", key="runs_publish", icon=":material/leaderboard:",
                 disabled=not finished,
                 help=f"Everyone sees it on Class board, scored on {board.CHALLENGE_TEXT}."):
        data = dataset_or_help(run.summary.get("dataset") or "mnist")
        if data is not None:
            with st.spinner("Scoring it on the challenge set..."):
                _act(lambda: board.publish(run.path, data, identity.current().id, identity.is_admin(),
                                           identity.shared_server()), ("published a run", run.run_id))


def _act(change, audited: tuple[str, str] | None = None) -> None:
    """Run a change to a run folder; its message shows after the rerun, its refusal now; a
    change made is written to the audit log as `audited` (action, target)."""
    try:
        st.session_state[state.RUNS_MESSAGE] = change()
    except RunError as exc:
        st.error(str(exc))
    else:
        if audited:
            identity.audit(*audited)
        st.rerun()
