"""What a run folder's files must hold, checked when they are read.

A hand-edited or damaged summary.json (a string where a number belongs) must not take the Runs
page or `runs list` down for every run: each field is checked against its type, a wrong one is
reported and replaced by "unknown", and text is cleaned before it reaches a terminal or a page.
"""
from __future__ import annotations

from mnist_core.limits import TEXT_LIMIT

NUMBER = (int, float)
# field -> the types it may hold (None is always allowed: "not known yet").
SUMMARY_FIELDS: dict[str, tuple[type, ...]] = {
    "run_id": (str,), "label": (str,), "status": (str,), "message": (str,), "model": (str,),
    "dataset": (str,), "params": (int,), "epochs": (int,), "epochs_done": NUMBER,
    "best_test_acc": NUMBER, "final_test_acc": NUMBER, "final_test_loss": NUMBER,
    "final_test_acc_tta": NUMBER, "duration_s": NUMBER, "device": (str,), "started": (str,), "updated": (str,),
    "heartbeat": NUMBER, "pid": (int,), "owner": (str,), "owner_name": (str,),
    "published": (str,), "challenge_acc": NUMBER,
}
METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")


def clean_text(text, limit: int = TEXT_LIMIT) -> str:
    """Text from disk made safe to print or show: no control characters (terminal escape
    codes), bounded length."""
    return "".join(ch for ch in str(text) if ch.isprintable()).strip()[:limit]


def _fits(value, types: tuple[type, ...]) -> bool:
    return value is None or (isinstance(value, types) and not isinstance(value, bool))


def check_summary(summary: dict) -> list[str]:
    """Fix summary in place (wrong types become None, text is cleaned); returns the problems."""
    problems = []
    for name, types in SUMMARY_FIELDS.items():
        value = summary.get(name)
        if not _fits(value, types):
            kind = "text" if types == (str,) else "a number"
            problems.append(f"summary.json: {name} should be {kind}, not {clean_text(repr(value), 40)}")
            summary[name] = None
        elif isinstance(value, str):
            summary[name] = clean_text(value)
    return problems


def check_metrics(rows: list[dict]) -> tuple[list[dict], int]:
    """The epoch rows whose numbers are numbers, and how many were dropped."""
    good = [r for r in rows if all(isinstance(r.get(k), NUMBER) and not isinstance(r.get(k), bool)
                                   for k in METRIC_FIELDS)]
    return good, len(rows) - len(good)
