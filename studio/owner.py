"""The server owner's session: the password's tries slowed and logged, and the owner's rights
kept across a reload by a signed cookie that expires.

A wrong password costs a delay that doubles with each failure, counted for the session and for
the whole server (a guesser opens new sessions), and leaves one line in the server's log. The
cookie holds an expiry and an HMAC of it and the visitor's id under the password: it proves the
password was given in this browser without holding it, and changing the password voids it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import deque

import streamlit as st

from mnist_core.runs.ownership import password_matches

from . import identity, state

log = logging.getLogger("mnist_studio.owner")
OWNER_COOKIE = "mnist_owner"
OWNER_HOURS = 12  # a teaching day: the owner unlocks again the next day
FAILURE_WINDOW_S = 600.0  # server-wide failures counted over the last ten minutes
MAX_DELAY_S = 30.0
_failures: deque[float] = deque(maxlen=1000)
_sleep = time.sleep  # the wait; a test replaces it
_failures_lock = threading.Lock()


def delay_for(session_failures: int, server_failures: int) -> float:
    """Seconds to wait before checking a try: none at first, then 0.5 s doubling with each
    failure of this session (or each three failures across the server), at most 30 s."""
    n = max(session_failures, server_failures // 3)
    return 0.0 if n == 0 else min(MAX_DELAY_S, 0.5 * 2 ** (n - 1))


def _recent_failures() -> int:
    cutoff = time.monotonic() - FAILURE_WINDOW_S
    with _failures_lock:
        return sum(1 for t in _failures if t >= cutoff)


def unlock(given: str) -> bool:
    """Check the owner password, slowly after failures; a right one is kept in a signed cookie."""
    session_failures = int(st.session_state.get("_owner_failures", 0))
    _sleep(delay_for(session_failures, _recent_failures()))
    ok = password_matches(given, identity.owner_password())
    st.session_state[state.ADMIN] = ok
    if ok:
        st.session_state["_owner_failures"] = 0
        _remember(identity.current().id)
        log.warning("owner rights unlocked by visitor %s", identity.current().id[:8])
        identity.audit("unlocked the owner's rights")
        return True
    st.session_state["_owner_failures"] = session_failures + 1
    with _failures_lock:
        _failures.append(time.monotonic())
    log.warning("wrong owner password from visitor %s (%d failure(s) in this session, %d on the "
                "server in ten minutes)", identity.current().id[:8], session_failures + 1, _recent_failures())
    return False


def _signature(visitor_id: str, expiry: int) -> str:
    key = identity.owner_password().encode()
    return hmac.new(key, f"{visitor_id}:{expiry}".encode(), hashlib.sha256).hexdigest()[:40]


def _remember(visitor_id: str) -> None:
    # Written by the next page run (write_pending, from the sidebar): the unlock reruns the
    # page at once, and a script drawn in the run it ends never reaches the browser.
    value = cookie_value(visitor_id)
    st.session_state["_owner_cookie"] = (f"{OWNER_COOKIE}={value}; path=/; max-age={OWNER_HOURS * 3600}; "
                                         "SameSite=Strict")


def write_pending() -> None:
    """Set the owner cookie an unlock asked for (once)."""
    cookie = st.session_state.pop("_owner_cookie", None)
    if cookie:
        st.iframe(f"<script>parent.document.cookie = {json.dumps(cookie)};</script>", height=1)


def forget() -> None:
    """Lock again: the session's rights and the cookie both go."""
    st.session_state[state.ADMIN] = False
    st.session_state["_owner_locked"] = True  # until the browser has dropped the cookie
    cookie = f"{OWNER_COOKIE}=; path=/; max-age=0; SameSite=Strict"
    st.iframe(f"<script>parent.document.cookie = {json.dumps(cookie)};</script>", height=1)


def from_cookie() -> bool:
    """Whether this browser holds a valid, unexpired owner cookie for this visitor."""
    if not identity.owner_password():
        return False
    try:
        value = str(st.context.cookies.get(OWNER_COOKIE) or "")
    except Exception:  # noqa: BLE001 - no browser (a script): no cookie
        return False
    return valid(value, identity.current().id)


def valid(value: str, visitor_id: str) -> bool:
    """Whether a cookie's value is this password's signature of this visitor, unexpired."""
    expiry, _, signature = value.partition(".")
    if not expiry.isdigit() or int(expiry) < time.time():
        return False
    return hmac.compare_digest(signature, _signature(visitor_id, int(expiry)))


def cookie_value(visitor_id: str, hours: float = OWNER_HOURS) -> str:
    expiry = int(time.time() + hours * 3600)
    return f"{expiry}.{_signature(visitor_id, expiry)}"
