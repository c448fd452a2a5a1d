import streamlit as st

from mnist_core.jobs.runner import JobLimitError, default_runner
from mnist_core.runs.folders import runs_root
from mnist_core.studies import sweep, sweep_job
from studio import frame, identity, state, sweep_form, sweep_panel
from studio.shared_data import dataset_or_help

with frame.page("Sweep"):
    st.title("Sweep")
    st.markdown("Which learning rate is best? Does batch size matter? A sweep trains many runs with "
                "different settings and shows which settings mattered. It runs on "
                "[Optuna](https://optuna.org): the first trials are random, later ones follow what "
                "worked, and a trial clearly behind the others' median is stopped early. Every trial is "
                "an ordinary run (on Runs, Evaluate and Draw).")
    runner = default_runner()
    runner.warm()
    visitor = identity.current()
    job = st.session_state.get(state.SWEEP_JOB) or sweep_job.owned_by(visitor.id)
    if job is not None:
        st.session_state[state.SWEEP_JOB] = job
        frame.live_panel(lambda: sweep_panel.live(job), not job.finished, "the sweep")
        st.divider()
    busy = job is not None and not job.finished
    with st.expander("New sweep", expanded=not busy, icon=":material/add:"):
        data = dataset_or_help("mnist")
        base = sweep_form.base_controls()
        space = sweep_form.space_controls(base) if base is not None else None
        trials, parallel = sweep_form.run_controls(runner.max_running)
        if space is not None and identity.sees_server_details():  # a shell command: the owner's
            st.caption(f"From another shell or machine, `python -m mnist_core sweep --study NAME` joins a "
                       f"study as an extra worker; this one varies `{sweep.describe_space(space)}`.")
        if busy:
            st.caption("Your sweep is running: stop it or wait for it to finish before starting another.")
        start = st.button("Start the sweep", type="primary", icon=":material/play_arrow:", key="sweep_start",
                          disabled=busy or space is None or data is None)
        if start and not busy and space is not None and data is not None:
            try:
                sweep_job.check_room()  # before the study is made: a refused sweep leaves none behind
                s = sweep.open_sweep(None, sweep_panel.storage(), space, base, trials)
                st.session_state[state.SWEEP_JOB] = sweep_job.start(
                    s, runner, data, runs_root(), owner=visitor.owner(), parallel=parallel)
                st.rerun()
            except JobLimitError as exc:
                st.warning(str(exc), icon=":material/hourglass:")
    studies = [s for s in sweep.list_studies(sweep_panel.storage()) if job is None or s["name"] != job.name]
    if studies:
        st.subheader("Earlier sweeps on this server")
        pick = st.selectbox("Study", studies, key="sweep_study", format_func=lambda s: (
            f"{s['name']}: {s['trials']} trial(s)" + (f", best {s['best']:.2%}" if s["best"] is not None else "")))
        sweep_panel.show_study(sweep.load(pick["name"], sweep_panel.storage()))
