"""Who this session is: the logged-in user when Streamlit's login is configured, else a visitor
known by a random token kept in a browser cookie with the name they chose, so that a reload or a
second tab is the same visitor. And whether the session has unlocked the server owner's rights.
"""
from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass
from urllib.parse import quote, unquote

import streamlit as st

from mnist_core import settings
from mnist_core.runs.ownership import TOKEN, clean_name, owner_fields, owner_id

from . import state

TOKEN_COOKIE, NAME_COOKIE = "mnist_visitor", "mnist_name"
PASSWORD_ENV, PASSWORD_SECRET = "MNIST_ADMIN_PASSWORD", "admin_password"
# The visitor's cookie lasts a term, not a year: on a shared lab PC the next class should not
# inherit this one's runs (and "Not me?" in the sidebar starts someone new at once).
COOKIE_DAYS = 120


@dataclass(frozen=True)
class Visitor:
    secret: str  # the token, or "login:<email>"; never shown or stored in a run
    name: str
    login: bool = False

    @property
    def id(self) -> str:
        return owner_id(self.secret)

    def owner(self) -> dict:
        """What a run started by this visitor records (mnist_core.runs.ownership.owner_fields)."""
        return owner_fields(self.secret, self.name)


def _logged_in() -> Visitor | None:
    try:
        user = st.user
        if not user.is_logged_in:
            return None
        email = str(user.get("email") or user.get("sub") or "")
        return Visitor(f"login:{email}", clean_name(user.get("name") or email), login=True) if email else None
    except Exception:  # no login configured: st.user has nothing to say
        return None


def _cookie(name: str) -> str:
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no browser behind this session (AppTest)
        return ""
    return value if isinstance(value, str) else ""


def current() -> Visitor:
    """This session's visitor, made once per session and kept in session_state."""
    visitor = st.session_state.get(state.VISITOR)
    if isinstance(visitor, Visitor):
        return visitor
    visitor = _logged_in()
    if visitor is None:
        token = _cookie(TOKEN_COOKIE)
        if not TOKEN.match(token):
            token = secrets.token_hex(16)
        visitor = Visitor(token, clean_name(unquote(_cookie(NAME_COOKIE))))
    st.session_state[state.VISITOR] = visitor
    return visitor


def renamed_by_owner() -> None:
    """Take the name the server's owner gave this visitor, if they did (Runs, Server owner):
    else the visitor's next run would bring the old name back beside the new one."""
    visitor = current()
    if visitor.login:
        return
    from mnist_core.runs.folders import read_names, runs_root

    name = read_names(runs_root()).get(visitor.id)
    if name is not None and name != visitor.name:
        st.session_state[state.VISITOR] = Visitor(visitor.secret, name, visitor.login)


def rename(name: str) -> Visitor:
    visitor = current()
    visitor = Visitor(visitor.secret, clean_name(name), visitor.login)
    st.session_state[state.VISITOR] = visitor
    return visitor


def start_new() -> None:
    """"Not me?": a new visitor in this browser, with a new token and no name; the runs of the
    one before stay theirs, and this session lets go of their live run and model in use."""
    st.session_state[state.VISITOR] = Visitor(secrets.token_hex(16), "")
    st.session_state["visitor_name"] = ""
    for key in (state.TRAIN_JOB, state.MODEL_IN_USE, state.ADMIN):
        st.session_state.pop(key, None)
    st.session_state["_owner_locked"] = True


def taken_by_another(name: str) -> bool:
    """Whether another visitor's runs on this server already carry this name (case aside), so
    that two students are not both "Alex" on the board."""
    from mnist_core.runs.folders import runs_root

    wanted = clean_name(name).casefold()
    if not wanted or wanted == "anonymous":
        return False
    me = current().id
    return any(str(r.summary.get("owner_name", "")).casefold() == wanted and r.summary.get("owner") not in (None, me)
               for r in _runs_named(str(runs_root())))


@st.cache_data(ttl=10, show_spinner=False, max_entries=2)
def _runs_named(root: str):
    from mnist_core.runs.folders import list_runs

    return list_runs(root, curves=False)


def remember() -> None:
    """Write the visitor's token and name into browser cookies, so a reload or a second tab is
    the same visitor. Streamlit reads cookies but cannot set them; a zero-height component's
    script sets them on the page's own origin."""
    visitor = current()
    if visitor.login:
        return
    wanted = (visitor.secret, quote(visitor.name))
    if _cookie(TOKEN_COOKIE) == wanted[0] and _cookie(NAME_COOKIE) == wanted[1]:
        return
    if st.session_state.get("_cookie_written") == wanted:
        return
    st.session_state["_cookie_written"] = wanted
    age = COOKIE_DAYS * 86400
    script = "".join(
        f"parent.document.cookie = {json.dumps(f'{k}={v}; path=/; max-age={age}; SameSite=Lax')};"
        for k, v in ((TOKEN_COOKIE, wanted[0]), (NAME_COOKIE, wanted[1])))
    st.iframe(f"<script>{script}</script>", height=1)  # the name is URL-encoded, then JSON-quoted


def owner_password() -> str:
    """The server owner's password: MNIST_ADMIN_PASSWORD, else `admin_password` in Streamlit's
    secrets; empty when neither is set (then nobody has the owner's rights in the browser)."""
    if settings.current().admin_password:
        return settings.current().admin_password
    try:
        return str(st.secrets.get(PASSWORD_SECRET, "") or "")
    except Exception:  # no secrets file
        return ""


def shared_server() -> bool:
    """A server with an owner password is shared: runs made outside the app are the owner's."""
    return bool(owner_password())


def is_admin() -> bool:
    """The server owner's rights: unlocked in this session, or in this browser within the
    owner cookie's hours (studio.owner), unless locked again here."""
    if not owner_password():
        return False
    if st.session_state.get(state.ADMIN):
        return True
    from . import owner

    if not st.session_state.get("_owner_locked") and owner.from_cookie():
        st.session_state[state.ADMIN] = True
        return True
    return False


def sees_server_details() -> bool:
    """Whether this visitor is shown the server's folders, variables and shell commands: on a
    laptop (no owner password) visitor and owner are one; on a class's server, the owner only."""
    return not shared_server() or is_admin()


def unlock(given: str) -> bool:
    from . import owner

    st.session_state.pop("_owner_locked", None)
    return owner.unlock(given)


def recover_job() -> None:
    """After a reload or in a second tab, find this visitor's running Train job again. Only
    once some job has been started in this server (the jobs module is loaded by then), so that
    Home stays torch-free."""
    if st.session_state.get(state.TRAIN_JOB) is not None or "mnist_core.jobs.runner" not in sys.modules:
        return
    from mnist_core.jobs.runner import default_runner

    try:
        job = default_runner().owned_by(current().id, "train")
    except Exception:  # noqa: BLE001 - finding a lost view again must never break a page
        return
    if job is not None:
        st.session_state[state.TRAIN_JOB] = job


def who() -> str:
    """This visitor as the audit log names them: their name and a short id, "as owner" when
    acting with the owner's rights."""
    visitor = current()
    return f"{visitor.name or 'anonymous'} ({visitor.id[:8]})" + (" as owner" if is_admin() else "")


def audit(action: str, target: str = "") -> None:
    from mnist_core.runs import audit as log
    from mnist_core.runs.folders import runs_root

    log.record(runs_root(), who(), action, target)


def handwriting_folder():
    """This visitor's handwriting set: their own folder on a class's server (one student's
    digits never reach another's Draw, Evaluate or training), the handwriting folder itself on
    a laptop."""
    from mnist_core.data import handwriting_sets

    base = settings.current().handwriting_dir
    return handwriting_sets.visitor_folder(base, current().id) if shared_server() else base


def visitor_settings():
    """The settings a job of this visitor trains with: the server's, with their handwriting set."""
    import dataclasses

    return dataclasses.replace(settings.current(), handwriting_dir=handwriting_folder())
