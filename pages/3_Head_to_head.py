import pandas as pd
import streamlit as st

from mnist_core.data.tensors import DATASETS
from mnist_core.jobs.runner import JobLimitError, default_runner
from mnist_core.models.registry import MODELS, parameter_count
from mnist_core.runs.folders import RunError, runs_root
from mnist_core.studies.headtohead import BUDGET_RANGE, DEFAULT_BUDGET, contender_configs, recipe
from studio import frame, identity, race_panel, state
from studio.shared_data import dataset_or_help


@st.cache_data
def contenders_table() -> pd.DataFrame:
    rows = []
    for name, config in contender_configs().items():
        params = parameter_count(config.model, config.model_kwargs)
        rows.append({"contender": name, "model": MODELS[config.model].title,
                     "recipe": recipe(config), "parameters": params})
    return pd.DataFrame(rows)


with frame.page("Head to head"):
    st.title("Head to head")
    default_runner().warm()  # so that the first run starts at once
    st.markdown(
        "**Is the CNN really better than the MLP?** Both train on the same images in the same "
        "order, from the same seed, for the same number of seconds, one after the other so "
        "neither slows the other. Each uses its own tuned recipe."
    )
    jobs = st.session_state.get(state.RACE_JOBS)
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
    subset = c[1].number_input("Training images (0: all)", 0, 60000, 0, step=5000, key="h2h_subset",
                               disabled=running, help="0 uses the whole training set")
    seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="h2h_seed", disabled=running)
    dataset = c[3].radio("Dataset", list(DATASETS), key="h2h_dataset", horizontal=True, disabled=running,
                         format_func=lambda n: DATASETS[n].title)
    data = dataset_or_help(dataset)
    if st.button("Start head to head", type="primary", icon=":material/play_arrow:", key="h2h_start",
                 disabled=running or data is None):
        configs = contender_configs(budget, seed, subset, dataset)
        label = f"head to head {budget} s"
        try:
            started = default_runner().submit_in_turn(
                [(config, f"{label}: {name}") for name, config in configs.items()], data, runs_root(),
                owner=identity.current().owner(), origin="race")
        except (JobLimitError, RunError) as exc:
            st.warning(str(exc), icon=":material/hourglass:")
        else:
            st.session_state[state.RACE_JOBS] = dict(zip(configs, started))
            st.rerun()
    if jobs:
        st.divider()
        frame.live_panel(lambda: race_panel.render(jobs), running, "the head to head")
