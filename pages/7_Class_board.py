import pandas as pd
import streamlit as st

from mnist_core.runs import board
from mnist_core.runs.folders import runs_root
from studio import frame, identity, owner_panel, state, storage_panel, text
from studio.nav import BY_TITLE

with frame.page("Class board"):
    st.title("Class board")
    storage_panel.owner_note()
    st.markdown(
        "Every run its maker published, best test accuracy first; click a column's header to sort "
        f"by it. **Challenge accuracy** is measured on {board.CHALLENGE_TEXT}, once, when a run is "
        "published: a second score on one group of writers, which nobody trains on.")
    done = st.session_state.pop(state.RUNS_MESSAGE, None)
    if done:
        st.success(done[:1].upper() + done[1:] + ".", icon=":material/check:")
    limit = st.number_input(
        "Only runs with at most this many seconds of training (0 shows all)", min_value=0,
        max_value=36_000, value=0, step=10, key="board_seconds",
        help="Compete on accuracy within a time budget: the same seconds for everyone.")
    best_only = st.toggle("Each student's best run only", key="board_best")
    rows = board.rows(runs_root(), float(limit) if limit else None, best_per_maker=best_only)
    if rows:
        # Also keeps the table's toolbar, which a touch screen always shows, off the +/- above.
        st.caption(f"{len(rows)} published run(s)" + (f" with at most {limit:,} s of training." if limit else ".")
                   + " Images seen is the work a run did, the same however busy the server was; its "
                   "seconds of training grow when many train at once.")
        table = pd.DataFrame(rows)
        for column in ("test accuracy", "challenge accuracy"):
            table[column] = table[column].map(lambda v: None if v is None else 100 * v)
        pct = st.column_config.NumberColumn(format="%.2f%%")
        st.dataframe(table, hide_index=True, placeholder=text.MISSING, column_config={
            "rank": st.column_config.NumberColumn(width="small"),
            "test accuracy": pct, "challenge accuracy": pct,
            # A long name or label is cut to its column; a cell shows all of it on hover.
            "who": st.column_config.TextColumn(width="small"),
            "label": st.column_config.TextColumn(width="medium"),
            "images seen": st.column_config.NumberColumn(format="localized"),
            "training s": st.column_config.NumberColumn(format="%.1f"),
            "parameters": st.column_config.NumberColumn(format="localized")})
    elif limit:
        st.info(f"No published run trained for {limit:,} s or less.")
    else:
        st.info("No run is on the board yet. Train one, then publish it on the Runs page.")
        st.page_link(BY_TITLE["Runs"].file, label="Open Runs", icon=":material/folder_open:")
    if identity.is_admin():
        if st.button("Clear the board...", key="board_clear", icon=":material/delete_sweep:",
                     disabled=not board.published(runs_root()),
                     help="Takes every run off the board; the runs themselves stay."):
            st.session_state["board_clear_pending"] = True
        if st.session_state.get("board_clear_pending"):
            st.warning(f"Take all {len(board.published(runs_root()))} run(s) off the board? The runs stay on "
                       "Runs, and their makers can publish them again.", icon=":material/delete_sweep:")
            c = st.columns([1, 1, 6])
            if c[0].button("Yes, clear it", type="primary", key="board_clear_yes"):
                st.session_state.pop("board_clear_pending", None)
                cleared = board.clear(runs_root(), admin=True)
                identity.audit("cleared the class board", f"{cleared} run(s)")
                st.session_state[state.RUNS_MESSAGE] = f"took {cleared} run(s) off the board"
                st.rerun()
            if c[1].button("Cancel", key="board_clear_no"):
                st.session_state.pop("board_clear_pending", None)
                st.rerun()
    else:
        owner_panel.owner_unlock()
