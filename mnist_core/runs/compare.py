"""Side-by-side comparison of two runs' settings."""
from __future__ import annotations

from typing import Any

_MISSING = object()


def _flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    # Nested dicts (model_kwargs) become dotted keys so one architecture argument that differs
    # shows as its own row instead of the whole dict.
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def config_diff(a: dict, b: dict) -> list[tuple[str, Any, Any]]:
    """(key, a_value, b_value) for every setting that differs, sorted by key.

    A key present in only one config reads as None on the other side.
    """
    fa, fb = _flatten(a or {}), _flatten(b or {})
    rows = []
    for key in sorted(set(fa) | set(fb)):
        va, vb = fa.get(key, _MISSING), fb.get(key, _MISSING)
        if va != vb:
            rows.append((key, None if va is _MISSING else va, None if vb is _MISSING else vb))
    return rows
