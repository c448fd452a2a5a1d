import streamlit as st

from mnist_core.runs.folders import list_runs, runs_root
from studio import charts, frame, identity, owner_panel, picker, runs_panel, state, storage_panel, text
from studio.nav import BY_TITLE

with frame.page("Runs"):
    st.title("Runs")
    storage_panel.owner_note()
    done = st.session_state.pop(state.RUNS_MESSAGE, None)
    if done:
        # Plain: a relabel's message holds the visitor's new label.
        st.success(text.plain(done[:1].upper() + done[1:] + "."), icon=":material/check:")
    root = runs_root()
    runs = list_runs(root)
    if not runs:
        where = f" in `{root}`" if identity.sees_server_details() else ""
        st.info(f"No saved runs{where} yet. Train one and it appears here.")
        st.page_link(BY_TITLE["Train"].file, label="Open Train", icon=":material/model_training:")
        owner_panel.owner_unlock()  # the owner may still stop what is training
        st.stop()
    by_id = {r.run_id: r for r in runs}

    def titled(run_id: str) -> str:
        # A labelled run's title hides its folder; an unlabelled one's is its folder already.
        run = by_id[run_id]
        title = picker.run_title(run)
        return f"{title} ({run_id})" if run.summary.get("label") else title

    runs_panel.runs_table(runs)
    if identity.sees_server_details():  # the server's folders are its owner's business
        st.caption(storage_panel.where_runs_are(root))
    st.subheader("Compare curves")
    with_curves = [r.run_id for r in runs if r.metrics]
    runs_panel.kept_choice("runs_overlay", with_curves, with_curves[:3])
    picked = st.multiselect(
        "Runs to overlay",
        with_curves,
        key="runs_overlay",
        format_func=titled,
    )
    by_time = st.radio("Against", ["epochs", "seconds of training"], horizontal=True,
                       key="runs_overlay_x") == "seconds of training"
    if picked:
        names = picker.distinct({i: by_id[i].summary.get("label") or i for i in picked})  # one line each
        acc_fig, loss_fig = charts.epoch_overlay({names[i]: runs_panel.curve(by_id[i], by_time) for i in picked},
                                                 by_time)
        c = st.columns(2)
        c[0].plotly_chart(acc_fig, key="overlay_acc")
        c[1].plotly_chart(loss_fig, key="overlay_loss")
    if len(runs) >= 2:
        st.subheader("Compare settings")
        runs_panel.settings_diff(by_id, titled)
    st.subheader("Manage a run")
    runs_panel.kept_choice("runs_selected", list(by_id), next(iter(by_id)))
    run_id = st.selectbox("Run", list(by_id), key="runs_selected", format_func=titled)
    runs_panel.manage(by_id[run_id], root)
    owner_panel.owner_unlock()
