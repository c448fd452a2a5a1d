"""The server owner's panel (Runs and Class board): unlock with the password, then every job
and sweep on the server with Stop, and who did what lately."""
from __future__ import annotations

import streamlit as st

from . import identity, owner


def owner_unlock() -> None:
    """The server owner's password, which lets this session relabel or delete any run."""
    # Open for the owner: an unlock reruns the page, and the panel closed under them.
    with st.expander("Server owner", icon=":material/admin_panel_settings:", expanded=identity.is_admin()):
        if not identity.owner_password():
            st.caption(f"No owner password is set on this server: set {identity.PASSWORD_ENV}, or "
                       f"`{identity.PASSWORD_SECRET}` in .streamlit/secrets.toml, to manage "
                       "every run from here.")
            return
        if identity.is_admin():
            st.success(f"You have the server owner's rights in this browser for up to {owner.OWNER_HOURS} "
                       "hours.", icon=":material/key:")
            if st.button("Lock", key="owner_lock", icon=":material/lock:"):
                owner.forget()
            training_now()
            rename_maker()
            handwriting_sets()
            audit_table()
            return
        with st.form(key="owner_unlock", border=False):
            given = st.text_input("Owner password", type="password")
            if st.form_submit_button("Unlock"):
                if identity.unlock(given):
                    st.rerun()
                st.error("That is not the owner password.")


def training_now() -> None:
    """The owner's view of every job and sweep on the server, each with Stop: one student's
    runaway run must not hold the class's slots."""
    import sys

    if "mnist_core.jobs.runner" not in sys.modules:  # nothing has trained since the server started
        return
    from mnist_core.jobs.runner import default_runner
    from mnist_core.runs.ownership import made_by
    from mnist_core.studies import sweep_job

    jobs = [j for j in default_runner().active() if j.origin != "sweep"]
    sweeps = sweep_job.running()
    st.markdown("**Training now**")
    if not jobs and not sweeps:
        st.caption("Nothing is training or queued.")
    for i, job in enumerate(jobs):
        c = st.columns([5, 1], vertical_alignment="center")
        c[0].text(f"{made_by(job.owner)}: {job.label or job.config.model} ({job.status}, {job.progress:.0%})")
        if c[1].button("Stop", key=f"owner_stop_job_{i}", icon=":material/stop:"):
            job.stop(by="the server's owner")
            job.wait(10)  # so that the list drawn next no longer shows it running
            identity.audit("stopped a run", f"{made_by(job.owner)}: {job.label or job.config.model}")
            st.rerun()
    for i, sweep in enumerate(sweeps):
        c = st.columns([5, 1], vertical_alignment="center")
        c[0].text(f"{made_by(sweep.owner)}: sweep {sweep.name} ({sweep.status})")
        if c[1].button("Stop", key=f"owner_stop_sweep_{i}", icon=":material/stop:"):
            sweep.stop()
            sweep.wait(10)
            identity.audit("stopped a sweep", f"{made_by(sweep.owner)}: {sweep.name}")
            st.rerun()


def audit_table() -> None:
    """The owner's view of who did what: the newest destructive and owner actions."""
    from mnist_core.runs import audit
    from mnist_core.runs.folders import runs_root

    entries = audit.recent(runs_root())
    st.markdown("**Recent actions** (deletions, labels, the board, the owner's rights)")
    if entries:
        for e in entries:  # "2026-12-07T19:57:52+00:00" as people read it
            e["at"] = e["at"][:16].replace("T", " ") + " UTC"
        st.dataframe(entries, hide_index=True)
    else:
        st.caption("Nothing yet.")


def handwriting_sets() -> None:
    """Every visitor's handwriting set by its maker, each deletable (a junk zip, a name)."""
    from mnist_core import settings
    from mnist_core.data import handwriting_sets as sets

    base = settings.current().handwriting_dir
    listed = sets.list_sets(base)
    st.markdown("**Handwriting sets**")
    if not listed:
        st.caption("Nobody has saved any digits yet.")
        return
    st.dataframe(listed, hide_index=True)
    c = st.columns([3, 1], vertical_alignment="bottom")
    pick = c[0].selectbox("Set", [s["set"] for s in listed], key="owner_hw_set",
                          format_func=lambda i: next(f"{s['maker']}: {s['digits']} digits ({i})"
                                                     for s in listed if s["set"] == i))
    if c[1].button("Delete this set", key="owner_hw_delete", icon=":material/delete:"):
        maker = next(s["maker"] for s in listed if s["set"] == pick)
        gone = sets.delete_set(base, pick)
        identity.audit("deleted a handwriting set", f"{maker}: {gone} digit(s)")
        st.rerun()


def rename_maker() -> None:
    """The owner renames a name on the board (a rude one, a clash), on all that visitor's runs."""
    from mnist_core.runs.folders import list_runs, rename_maker, runs_root

    makers = {}
    for run in list_runs(runs_root(), curves=False):
        if run.summary.get("owner"):
            makers.setdefault(run.summary["owner"], run.summary.get("owner_name") or "anonymous")
    if not makers:
        return
    st.markdown("**Names on the runs**")
    c = st.columns([2, 2, 1], vertical_alignment="bottom")
    who = c[0].selectbox("Visitor", list(makers), key="owner_rename_who",
                         format_func=lambda o: f"{makers[o]} ({o[:8]})")
    new = c[1].text_input("New name (empty: anonymous)", key="owner_rename_to", max_chars=40)
    if c[2].button("Rename", key="owner_rename"):
        changed = rename_maker(runs_root(), who, new)
        identity.audit("renamed a visitor", f"{makers[who]} -> {new or 'anonymous'} ({changed} run(s))")
        st.rerun()
