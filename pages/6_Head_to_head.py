import pandas as pd
import streamlit as st
import torch

import studio_charts as charts
import studio_ui
from mnist_core.data import DATASETS
from mnist_core.headtohead import BUDGET_RANGE, DEFAULT_BUDGET, contender_configs, recipe, score, verdict
from mnist_core.jobs import JobLimitError, default_runner
from mnist_core.models import build_model, count_parameters

MODEL_TITLES = {"mlp": "multilayer perceptron", "cnn": "convolutional network"}
JOBS = "h2h_jobs"  # contender name -> Job, in this session


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
        acc_fig, loss_fig = charts.head_to_head_curves(series, budget)
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
        st.page_link("pages/5_Runs.py", label="Open Runs", icon=":material/folder_open:")
    return finished


@st.cache_data
def contenders_table() -> pd.DataFrame:
    rows = []
    for name, config in contender_configs().items():
        with torch.device("meta"):  # counting needs shapes, not weights
            params = count_parameters(build_model(config.model, **config.model_kwargs))
        rows.append({"contender": name, "model": MODEL_TITLES.get(config.model, config.model),
                     "recipe": recipe(config), "parameters": params})
    return pd.DataFrame(rows)


with studio_ui.page("Head to head", ":material/compare_arrows:"):
    st.title("Head to head")
    st.markdown(
        "**Is the CNN really better than the MLP?** Both train on the same images in the same "
        "order, from the same seed, for the same number of seconds, one after the other so "
        "neither slows the other. Each uses its own tuned recipe."
    )
    jobs = st.session_state.get(JOBS)
    running = bool(jobs) and not all(job.finished for job in jobs.values())
    st.dataframe(
        contenders_table(),
        hide_index=True,
        column_config={"parameters": st.column_config.NumberColumn(format="localized")},
    )
    c = st.columns(4)
    budget = c[0].slider("Seconds of training each", int(BUDGET_RANGE[0]), 120, int(DEFAULT_BUDGET),
                         key="h2h_budget", disabled=running,
                         help="Test evaluations are not counted. The whole contest takes about twice this.")
    subset = c[1].number_input("Training images", 0, 60000, 0, step=5000, key="h2h_subset",
                               disabled=running, help="0 uses the whole training set")
    seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="h2h_seed", disabled=running)
    dataset = c[3].radio("Dataset", list(DATASETS), key="h2h_dataset", horizontal=True, disabled=running,
                         format_func=lambda n: DATASETS[n].title)
    data = studio_ui.dataset_or_help(dataset)
    if st.button("Start head to head", type="primary", icon=":material/play_arrow:", key="h2h_start",
                 disabled=running or data is None):
        configs = contender_configs(budget, seed, subset, dataset)
        label = f"head to head {budget} s"
        try:
            started = default_runner().submit_in_turn(
                [(config, f"{label}: {name}") for name, config in configs.items()], data, studio_ui.runs_dir())
        except JobLimitError as exc:
            st.warning(str(exc), icon=":material/hourglass:")
        else:
            st.session_state[JOBS] = dict(zip(configs, started))
            st.rerun()
    if jobs:
        st.divider()
        studio_ui.live_panel(lambda: render(jobs), running, "the head to head")
