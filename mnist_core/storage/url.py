"""Storage URLs: which driver a database URL gets, and how a URL is shown without its password."""
from __future__ import annotations

import importlib.util

LOCAL_WORDS = ("", "local")


def is_database(url: str | None) -> bool:
    """Whether `url` names a database (anything with a scheme) rather than local folders."""
    return bool(url) and "://" in str(url)


def engine_url(url: str) -> str:
    """The URL SQLAlchemy is given. `postgresql://`, as people write it, means psycopg 3 to
    SQLAlchemy 2.1; where only psycopg2 is installed it gets that driver instead, so the URL
    works with whichever driver the machine has."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres") and sep:
        if importlib.util.find_spec("psycopg") is not None:
            return f"postgresql+psycopg://{rest}"
        if importlib.util.find_spec("psycopg2") is not None:
            return f"postgresql+psycopg2://{rest}"
        return f"postgresql://{rest}"
    return url


def shown(url: str) -> str:
    """A storage URL fit for a message: its password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL SQLAlchemy reads: show nothing of it
        return url.split("://", 1)[0] + "://..." if "://" in url else "(the storage URL given)"


def first_line(exc: BaseException, limit: int = 200) -> str:
    """What a database error says, on one line: the driver's own words when it has them."""
    cause = getattr(exc, "orig", None) or exc
    text = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return text[:limit]
