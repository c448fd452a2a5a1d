"""Head to head's live view: both contenders' progress, overlaid curves, the scoreboard and the verdict."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from mnist_core.studies.headtohead import score, verdict

from . import train_charts
from .nav import BY_TITLE
from .text import MISSING


def render(jobs: dict) -> bool:
    snaps = {name: job.snapshot() for name, job in jobs.items()}
    budget = next(iter(snaps.values()))["config"]["time_budget"]
    finished = all(job.finished for job in jobs.values())
    for name, snap in snaps.items():
        status = snap["status"]
        if status == "queued":
            text = "waits for its turn" if any(not j.finished for j in jobs.values() if j is not jobs[name]) \
                else "queued: the server's training slots are busy"
        else:
            trained = snap["batches"][-1]["train_seconds"] if snap["batches"] else 0.0
            text = status if status != "running" else f"{trained:.0f} of {budget:g} s"
        st.progress(min(1.0, snap["progress"]), text=f"**{name}**: {snap['progress']:.0%} · {text}")
    if not finished:
        st.button("Stop both", icon=":material/stop:", key="h2h_stop",
                  on_click=lambda: [job.stop() for job in jobs.values()])
    series = {name: {"batches": s["batches"], "probes": s["probes"], "epochs": s["epochs"]}
              for name, s in snaps.items() if s["batches"]}
    if series:
        acc_fig, loss_fig = train_charts.head_to_head_curves(series, budget)
        c = st.columns(2)
        c[0].plotly_chart(acc_fig, key="h2h_acc")
        c[1].plotly_chart(loss_fig, key="h2h_loss")
    rows = [score(name, s["config"], s["params"], s["epochs"]) for name, s in snaps.items()]
    table = pd.DataFrame(rows).drop(columns="model")
    table["test_acc"] = pd.to_numeric(table["test_acc"]) * 100  # one precision for both rows
    st.dataframe(
        table.rename(columns={
            "contender": "", "params": "parameters", "train_seconds": "seconds of training",
            "images_per_s": "images/s", "test_acc": "test accuracy", "errors": "test errors"}),
        hide_index=True,
        placeholder=MISSING,
        column_config={
            "test accuracy": st.column_config.NumberColumn(format="%.2f%%"),
            "images/s": st.column_config.NumberColumn(format="localized"),
            "parameters": st.column_config.NumberColumn(format="localized"),
            "seconds of training": st.column_config.NumberColumn(format="%.1f"),
            "epochs": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    for name, s in snaps.items():
        if s["status"] in ("failed", "diverged"):
            st.error(f"{name}: {s['message']}")
    if finished:
        text = verdict(rows)
        if text:
            st.success(text, icon=":material/emoji_events:")
        else:
            st.info("No verdict: the race was stopped or a contender failed before its budget ran out.")
        st.caption("Both runs are saved; compare or reuse them on the Runs page.")
        st.page_link(BY_TITLE["Runs"].file, label="Open Runs", icon=":material/folder_open:")
    return finished
