from functools import partial

import pandas as pd
import streamlit as st

import studio_charts as charts
import studio_ui
from mnist_core.compare import config_diff
from mnist_core.export import export_bundle, onnx_available
from mnist_core.runs import RunError, delete_run, list_runs

CONFIRM = "runs_confirm_delete"


def _percent(value):
    return None if value is None else 100 * value


def _curve(run, by_time: bool) -> list[dict]:
    # A budgeted run's mid-run test checks fill in its curve on the seconds axis.
    if not by_time:
        return run.metrics
    return sorted(run.probes + run.metrics, key=lambda r: r.get("train_seconds", r.get("elapsed", 0)))


def _epochs_text(run) -> str:
    done = run.summary.get("epochs_done") or 0
    budget = (run.config or {}).get("time_budget")
    if budget:  # the clock, not the epoch count, ended it
        return f"{done:g} in {budget:g} s"
    return f"{done:g}/{run.summary.get('epochs', '?')}"


def _acc_text(run) -> str:
    acc = run.summary.get("final_test_acc")
    return "-" if acc is None else f"{acc:.2%}"


with studio_ui.page("Runs", ":material/folder_open:"):
    st.title("Runs")
    root = studio_ui.runs_dir()
    runs = list_runs(root)
    if not runs:
        st.info(f"No saved runs in `{root}` yet. Train one and it appears here.")
        st.page_link("pages/2_Train.py", label="Open Train", icon=":material/model_training:")
        st.stop()
    by_id = {r.run_id: r for r in runs}

    def titled(run_id: str) -> str:
        return f"{studio_ui.run_title(by_id[run_id])} ({run_id})"

    table = pd.DataFrame(
        [
            {
                "run": r.run_id,
                "label": r.summary.get("label", ""),
                "status": r.summary.get("status"),
                "model": r.summary.get("model"),
                "dataset": r.summary.get("dataset"),
                "params": r.summary.get("params"),
                "epochs": _epochs_text(r),
                "test accuracy": _percent(r.summary.get("final_test_acc")),
                "best accuracy": _percent(r.summary.get("best_test_acc")),
                "duration": studio_ui.duration(r.summary.get("duration_s")),
                "started": str(r.summary.get("started", ""))[:16].replace("T", " "),
            }
            for r in runs
        ]
    )
    pct = st.column_config.NumberColumn(format="%.2f%%")  # one precision for every row
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "test accuracy": pct,
            "best accuracy": pct,
            "params": st.column_config.NumberColumn(format="localized"),
        },
    )
    st.caption(f"Saved in `{root}` (set MNIST_RUNS_DIR to use another folder).")
    st.subheader("Compare curves")
    with_curves = [r.run_id for r in runs if r.metrics]
    picked = st.multiselect(
        "Runs to overlay",
        with_curves,
        default=with_curves[:3],
        key="runs_overlay",
        format_func=lambda i: studio_ui.run_title(by_id[i]),
    )
    by_time = st.radio("Against", ["epochs", "seconds of training"], horizontal=True,
                       key="runs_overlay_x") == "seconds of training"
    if picked:
        acc_fig, loss_fig = charts.epoch_overlay(
            {by_id[i].summary.get("label") or i: _curve(by_id[i], by_time) for i in picked}, by_time
        )
        c = st.columns(2)
        c[0].plotly_chart(acc_fig, key="overlay_acc")
        c[1].plotly_chart(loss_fig, key="overlay_loss")
    if len(runs) >= 2:
        st.subheader("Compare settings")
        ids = list(by_id)
        d = st.columns(2)
        a_id = d[0].selectbox("Run A", ids, index=0, key="runs_diff_a",
                              format_func=titled)
        b_id = d[1].selectbox("Run B", ids, index=1, key="runs_diff_b",
                              format_func=titled)
        a, b = by_id[a_id], by_id[b_id]
        outcome = pd.DataFrame(
            [
                {"": "test accuracy", "A": _acc_text(a), "B": _acc_text(b)},
                {"": "params", "A": f"{a.summary.get('params') or 0:,}", "B": f"{b.summary.get('params') or 0:,}"},
                {"": "duration", "A": studio_ui.duration(a.summary.get("duration_s")),
                 "B": studio_ui.duration(b.summary.get("duration_s"))},
            ]
        )
        st.dataframe(outcome, hide_index=True)
        # Values are shown as text: a column can mix numbers, lists and strings across settings.
        diff = config_diff(a.config, b.config)
        if diff:
            st.dataframe(
                pd.DataFrame([{"setting": k, "A": str(va), "B": str(vb)} for k, va, vb in diff]),
                hide_index=True,
            )
        else:
            st.info("The two runs used identical settings.")
    st.subheader("Manage a run")
    run_id = st.selectbox(
        "Run",
        list(by_id),
        key="runs_selected",
        format_func=titled,
    )
    run = by_id[run_id]
    checkpoint = run.path / "checkpoint.pt"
    has_weights = checkpoint.is_file()
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
        studio_ui.use_model(str(run.path))
        st.rerun()
    if row.button(
        "Delete...",
        icon=":material/delete:",
        key="runs_delete",
        disabled=run.summary.get("status") == "running",
    ):
        st.session_state[CONFIRM] = run_id
    if st.session_state.get(CONFIRM) == run_id:
        st.warning(f"Delete run {run_id} and its checkpoint for good?")
        d = st.columns([1, 1, 6])
        if d[0].button("Yes, delete", type="primary", key="runs_delete_yes"):
            st.session_state.pop(CONFIRM, None)
            try:
                delete_run(root, run_id)
            except RunError as exc:
                st.error(str(exc))
            else:
                st.rerun()  # the sidebar's current_model_key() forgets a deleted model in use
        if d[1].button("Cancel", key="runs_delete_no"):
            st.session_state.pop(CONFIRM, None)
            st.rerun()
