"""Every page's frame: page config, the sidebar, and a message instead of a traceback."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from mnist_core.device import torch_loaded
from mnist_core.errors import (
    AuditError,
    ConfigError,
    DatasetError,
    ImageInputError,
    JobLimitError,
    MarkError,
    ModelError,
    RunError,
    StorageError,
    SweepError,
)
from mnist_core.fsfault import describe as describe_fs_error

from . import identity, state, storage_panel
from .nav import BY_TITLE, PAGES
from .picker import model_in_use_text
from .text import plain

FAVICON = Path(__file__).with_name("favicon.png")
EXPECTED_ERRORS = (DatasetError, ConfigError, RunError, ImageInputError, JobLimitError, ModelError, AuditError,
                   MarkError, SweepError, StorageError)


@contextmanager
def shown_errors():
    """Show an expected failure as a message instead of a traceback, and skip the rest."""
    try:
        yield
    except EXPECTED_ERRORS as exc:
        st.error(str(exc))


def you() -> None:
    """Who this session is; a visitor's name labels their runs and is kept across reloads."""
    identity.renamed_by_owner()
    visitor = identity.current()
    if visitor.login:
        st.caption(f"Signed in as **{plain(visitor.name)}**")
        return
    # Set on every run, before the box is drawn: after a page change Streamlit took the previous
    # page's value for another widget's and drew the box empty (every other page), and the
    # owner may have renamed this visitor.
    st.session_state["visitor_name"] = visitor.name
    st.text_input("Your name", key="visitor_name", max_chars=40,
                  placeholder="shown on your runs",
                  help="Your runs carry this name, and only you (in this browser) can delete them.",
                  on_change=_renamed)
    taken = st.session_state.pop("_name_taken", None)
    if taken:
        st.error(f"Someone else's runs here already carry the name {plain(taken)}: add an initial or a number.")
    st.button("Not me? Start as someone new", key="visitor_new", type="tertiary", icon=":material/person_add:",
              help="On a shared computer: a new visitor, with none of the last one's runs to change.",
              on_click=identity.start_new)
    identity.remember()
    from . import owner

    owner.write_pending()


def _renamed() -> None:
    name = st.session_state["visitor_name"]
    if identity.taken_by_another(name):
        st.session_state["_name_taken"] = name
        st.session_state["visitor_name"] = identity.current().name  # keep the name one had
        return
    identity.rename(name)


# Two fixes for phones and tablets, installed once per browser tab:
# - at Streamlit's breakpoint (768 px wide or less) the sidebar covers the page, and a tap on an
#   st.page_link leaves it open, where Streamlit's own page list closes it: a student had to
#   find the close button after every page change. Close it the same way, and after Enter in
#   the sidebar's name box.
# - the canvas's bin, undo and redo show on hover only: a touch pins them;
# - Plotly reports a tap on a chart with the point under the previous tap (it reads the point
#   from the last hover, and a finger does not hover; plotly.js #6721): a tap on a confusion
#   matrix cell showed the cell tapped before. A mouse move at the finger, first, sets it.
TOUCH_FIXES = """<script>
if (!window.mnistTouchFixes) {
  window.mnistTouchFixes = true;
  const closeSidebar = () => {
    const close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (close) setTimeout(() => close.click(), 0);
  };
  document.addEventListener("click", (event) => {
    if (window.innerWidth > 768 || !event.target.closest('[data-testid="stSidebar"] a')) return;
    closeSidebar();
  }, true);
  document.addEventListener("keydown", (event) => {
    if (window.innerWidth > 768 || event.key !== "Enter" || !event.target.closest('[data-testid="stSidebar"] input')) return;
    closeSidebar();
  }, true);
  // The drawing canvas shows its bin, undo and redo on hover only, and a finger does not hover:
  // after drawing on a phone they stayed hidden. A touch pins them (inside the component's
  // shadow root, which a page's stylesheet cannot reach).
  document.addEventListener("touchstart", () => {
    document.querySelectorAll('[class*="st-key-canvas-"] *').forEach((el) => {
      const root = el.shadowRoot;
      if (root && !root.querySelector("style[data-mnist-pin]")) {
        const style = document.createElement("style");
        style.dataset.mnistPin = "1";
        style.textContent = ".dc-toolbar{opacity:1;top:-2.65rem}";
        root.appendChild(style);
      }
    });
  }, {capture: true, passive: true});
  document.addEventListener("touchstart", (event) => {
    const layer = event.target.closest(".js-plotly-plot .nsewdrag"), touch = event.touches[0];
    if (layer && touch) {
      layer.dispatchEvent(new MouseEvent("mousemove", {clientX: touch.clientX, clientY: touch.clientY, bubbles: true}));
    }
  }, {capture: true, passive: true});
}
</script>"""


def sidebar() -> None:
    st.markdown("### MNIST Studio")
    for p in PAGES:
        st.page_link(p.file, label=p.title, icon=p.icon)
    st.html(TOUCH_FIXES, unsafe_allow_javascript=True)
    st.divider()
    you()
    st.caption(f"Model in use: {model_in_use_text()}")
    job = st.session_state.get(state.TRAIN_JOB)
    race = st.session_state.get(state.RACE_JOBS) or {}
    if (job is not None and not job.finished) or any(not j.finished for j in race.values()):
        # A fragment drawn inside the sidebar may redraw there: the figures stay current on
        # every page, instead of those of the moment the page opened.
        st.fragment(run_every=2.0)(_background_jobs)(job, race)


def _background_jobs(job, race: dict) -> None:
    if job is not None:
        if job.finished:
            st.caption(f"Your run has ended: {job.status}.")
        else:
            st.caption(f"Training in the background: {job.status}, {job.progress:.0%}")
        st.page_link(BY_TITLE["Train"].file, label="Watch it live" if not job.finished else "See the result",
                     icon=":material/monitoring:")
    if race:
        running = any(not j.finished for j in race.values())
        st.caption("A head to head is running in the background." if running else "Your head to head has ended.")
        st.page_link(BY_TITLE["Head to head"].file, label="Watch the race", icon=":material/monitoring:")


@contextmanager
def page(title: str):
    """A page's body runs inside: config, sidebar navigation, and errors shown as messages."""
    from mnist_core.device import configure_threads

    # The tab's icon is a file of the app's own: a Material icon there is fetched from a font
    # host, which a class's server behind a firewall (or offline) cannot reach.
    st.set_page_config(page_title=f"{title} - MNIST Studio", page_icon=str(FAVICON), layout="wide")
    if torch_loaded():  # every page but Home has imported it by now; Home never needs it
        configure_threads()
    if title != "Home":  # Home draws no chart and should not wait for pandas's cold import
        # Plotly looks pandas up in sys.modules without importing it (to_scalar_or_list): while
        # another session's first `import pandas` was half done, a class's cold server showed
        # "partially initialized module 'pandas' has no attribute 'Series'". An import here
        # waits for that one to finish before this page draws anything.
        import pandas  # noqa: F401
    identity.recover_job()
    storage_panel.start()
    with st.sidebar:
        sidebar()
    try:
        storage_panel.warn_if_unreachable(fetch=title != "Home")
        yield
    except EXPECTED_ERRORS as exc:
        st.error(str(exc))
    except OSError as exc:  # a full disk, a read-only runs folder, a path that is a file
        text = describe_fs_error(exc)
        st.error(text[:1].upper() + text[1:] + ".", icon=":material/hard_drive:")
    except Exception as exc:  # the last line of defence: a message, never a traceback
        st.error(f"Something went wrong on this page: {type(exc).__name__}: {exc}")


def live_panel(render, running: bool, what: str) -> None:
    """Draw `render()` (which returns whether its jobs have finished) in a fragment that redraws
    every second while `running`. When a redraw finds them finished, one full rerun turns the
    polling off and refreshes the sidebar."""
    def body() -> None:
        try:
            finished = render()
        except Exception as exc:  # a fragment rerun is outside page()'s guard
            st.error(f"Could not show {what}: {type(exc).__name__}: {exc}")
            return
        if running and finished:
            st.rerun(scope="app")

    st.fragment(run_every=1.0 if running else None)(body)()
