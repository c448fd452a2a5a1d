"""Whose run it is: who may delete or change a run folder.

A visitor is known by a secret token (a browser cookie, or the login's email); a run keeps only
the token's hash (`owner`) and the name the visitor chose (`owner_name`), so the runs folder
never holds anything that would let one visitor act as another. Runs made outside the app (the
CLI, older versions) have no owner. On a server with an owner password (a shared one) only the
owner, with it, may change those from the browser; without one (a laptop) whoever uses the app
may, as before runs had owners.
"""
from __future__ import annotations

import hashlib
import hmac
import re

from mnist_core.errors import RunError
from mnist_core.limits import NAME_LIMIT
from mnist_core.runs.schema import clean_text

TOKEN = re.compile(r"^[0-9a-f]{32}$")


def owner_id(secret: str) -> str:
    """The public id of a visitor's secret (a token or "login:<email>")."""
    return hashlib.sha256(f"mnist-studio-owner:{secret}".encode()).hexdigest()[:32]


def clean_name(name: str | None) -> str:
    return clean_text(name or "", NAME_LIMIT)


def owner_fields(secret: str | None, name: str | None) -> dict:
    """What a run's summary records of who started it (nothing for an anonymous caller)."""
    if not secret:
        return {}
    return {"owner": owner_id(secret), "owner_name": clean_name(name) or "anonymous"}


def made_by(summary: dict) -> str:
    """Who made a run, as the Runs page and the class board show it."""
    if not summary.get("owner"):
        return "outside the app"
    return summary.get("owner_name") or "anonymous"


def may_change(summary: dict, visitor: str | None, admin: bool = False,
               shared: bool = True) -> bool:
    """Whether the visitor (an owner id, or None) may delete or change the run. `shared`: the
    server has an owner password, so runs without an owner are the owner's alone."""
    if admin:
        return True
    owner = summary.get("owner")
    if not owner:
        return not shared
    return bool(visitor and hmac.compare_digest(str(owner), str(visitor)))


def require_change(summary: dict, visitor: str | None, admin: bool, action: str,
                   shared: bool = True) -> None:
    """Raise RunError, saying whose run it is, unless the visitor may change it."""
    if may_change(summary, visitor, admin, shared):
        return
    if summary.get("owner"):
        raise RunError(f"this run was started by {made_by(summary)}: only they, or the server's "
                       f"owner with the password, can {action} it")
    raise RunError(f"this run was made outside the app (from the command line or an older "
                   f"version): only the server's owner, with the password, can {action} it here")


def password_matches(given: str | None, expected: str | None) -> bool:
    """A constant-time check; no password is configured when `expected` is empty."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(given).encode(), str(expected).encode())
