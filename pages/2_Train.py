import streamlit as st

from mnist_core.jobs.runner import JobLimitError, default_runner
from mnist_core.runs.folders import RunError, runs_root
from mnist_core.train.config import ConfigError
from mnist_core.train.estimate import estimate_seconds
from studio import (
    augment_preview,
    experiments_panel,
    frame,
    identity,
    lr_finder_panel,
    state,
    train_form,
    train_groups,
    train_link,
    train_panel,
)
from studio.shared_data import dataset_or_help
from studio.text import duration

with frame.page("Train"):
    st.title("Train")
    runner = default_runner()
    runner.warm()  # so that the first run starts at once
    job = st.session_state.get(state.TRAIN_JOB)
    started = st.session_state.pop(state.TRAIN_STARTED, None)
    if started:
        st.toast(started, icon=":material/monitoring:")
    busy = job is not None and not job.finished
    if job is not None:
        frame.live_panel(lambda: train_panel.render_job(job), busy, "the run")
        st.divider()
    saved = train_form.restore()
    link_error = train_link.read_link(saved)
    # While this session's run trains, the form waits closed below it: the live curves take the
    # place the Start button had, in view without scrolling.
    form_box = (st.expander("Set up the next run", icon=":material/add_circle:") if busy
                else st.container())
    with form_box:
        if not busy:
            st.subheader("New run")
        train_link.show_origin()  # where the settings came from (a sweep's best trial), while they hold
        if link_error:
            st.error(
                f"The settings in this page's address were not used: {link_error}. "
                "Fix the address, or change any setting below to go on with the form as it is."
            )
        # Checked before the form so that missing data is the first thing a user reads.
        data = dataset_or_help(st.session_state["cfg_dataset"])
        errors = train_form.field_errors()
        train_groups.first_screen(errors)
        label, hw_empty, schedule_slot = train_groups.groups(errors)
        train_form.remember(saved)
        config = None
        try:
            config = train_form.form_config()  # exactly what is on screen
        except ConfigError as exc:
            marked = [train_form.field_label(name) for name in errors]
            st.error(f"Please fix the {len(marked)} settings marked above: {', '.join(marked)}." if len(marked) > 1
                     else f"Please fix the form: {train_form.describe_error(exc)}", icon=":material/error:")
        experiments_panel.under_way(config)  # "Experiment: <title>, watch: ..." while the form sets one up
        if data is None:
            st.stop()
        if config is not None:
            train_form.schedule_chart(schedule_slot, config, len(data.train_images))
        augmenting = st.session_state["cfg_augment"] or st.session_state["cfg_distort"]
        with st.expander("What the network will see: training digits with this run's augmentation",
                         expanded=bool(augmenting), icon=":material/visibility:"):
            augment_preview.show(data, st.session_state["cfg_augment"], st.session_state["cfg_distort"])
        lr_finder_panel.finder(config, data)
        key = config.to_json() if config is not None else None
        blocked = busy or bool(link_error) or hw_empty or config is None
        # One row sized to its buttons: in columns of a sixth of the page their labels were cut
        # ("Estimate ti...") at 1280 pixels.
        row = st.container(horizontal=True, vertical_alignment="center")
        start = row.button(
            "Start training", type="primary", icon=":material/play_arrow:", key="train_start", disabled=blocked
        )
        if row.button("Estimate time", icon=":material/timer:", key="train_estimate", disabled=config is None):
            with st.spinner("Timing a few batches of this model..."):
                with frame.shown_errors():
                    state.store(state.ESTIMATES, key, estimate_seconds(config, data))
        estimate = state.cached(state.ESTIMATES, key) if key else None
        if estimate is not None:
            row.info(
                f"Estimated **{duration(estimate['seconds'])}** here: {estimate['steps']:,} steps of "
                f"{estimate['step_seconds'] * 1000:.0f} ms plus {duration(estimate['eval_seconds'])} "
                "of evaluation.",
                icon=":material/timer:",
            )
        elif busy:
            row.caption("Your run is still going: stop it or wait for it to finish to start another.")
        if config is not None and not link_error:
            train_link.write_link(config)
            with st.popover("Share these settings", icon=":material/share:"):
                st.markdown("The page's address holds the settings above: anyone who opens this link gets "
                            "the same form (the run itself is not included).")
                st.code(train_link.share_link(config), language=None, wrap_lines=True)
        if start and not blocked:
            try:
                waiting = sum(j.status == "queued" for j in runner.active())
                full = len([j for j in runner.active() if j.status != "queued"]) >= runner.max_running
                st.session_state[state.TRAIN_JOB] = runner.submit(
                    config, data, runs_root(), label, owner=identity.current().owner(), origin="train",
                    server_settings=identity.visitor_settings())  # their own handwriting set
                st.session_state[state.TRAIN_STARTED] = (
                    f"Your run is queued, number {waiting + 1} in line: the server is training as many as it can."
                    if full or waiting else "Training started: its live curves are at the top of this page.")
                st.rerun()
            except (JobLimitError, RunError) as exc:  # the queue is full, or the runs folder is
                st.warning(str(exc), icon=":material/hourglass:")
