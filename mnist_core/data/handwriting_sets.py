"""Handwriting on a class's server: each visitor's own set, in a folder of its own under the
handwriting folder, so one student's digits (or a junk zip) never reach another's Draw,
Evaluate or training. The owner sees every set by its maker and may delete any; a visitor may
delete their own. Limits per visitor and for the whole server are checked before anything is
written. On a laptop there is one user and one set: the handwriting folder itself.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from mnist_core import storage
from mnist_core.data.handwriting import LABELS, HandwritingError, _read_rows
from mnist_core.limits import MAX_HANDWRITING_SET, MAX_VISITOR_HANDWRITING

VISITORS = "visitors"
MAKER = "maker.json"
_ID = re.compile(r"^[0-9a-f]{16}$")


def visitor_folder(base: Path, visitor_id: str) -> Path:
    """A visitor's own set, named by the start of their id (a hash, never their name)."""
    return Path(base) / VISITORS / visitor_id[:16]


def name_maker(folder: Path, name: str) -> None:
    """Record who makes this set, for the owner's list (the name is the visitor's text)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MAKER).write_text(json.dumps({"name": str(name)[:40]}))


def _count(folder: Path) -> int:
    try:
        return len(_read_rows(folder))
    except (OSError, HandwritingError):
        return 0


def list_sets(base: Path) -> list[dict]:
    """Every visitor's set: its id, its maker's name and how many digits it lists."""
    storage.refresh()  # sets saved on other servers of the same database
    root = Path(base) / VISITORS
    out = []
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if folder.is_dir() and _ID.match(folder.name):
            try:
                maker = json.loads((folder / MAKER).read_text()).get("name", "")
            except (OSError, ValueError, AttributeError):
                maker = ""
            out.append({"set": folder.name, "maker": str(maker) or "anonymous", "digits": _count(folder)})
    return out


def room_for(base: Path, folder: Path, adding: int) -> None:
    """HandwritingError, before anything is written, when `adding` digits would pass the
    visitor's limit or the server's."""
    mine = _count(folder)
    if mine + adding > MAX_VISITOR_HANDWRITING:
        raise HandwritingError(f"your set holds {mine:,} digits, and {adding:,} more would pass the limit of "
                               f"{MAX_VISITOR_HANDWRITING:,} for one person: delete your set first")
    total = sum(s["digits"] for s in list_sets(base))
    if total + adding > MAX_HANDWRITING_SET:
        raise HandwritingError(f"this server's handwriting sets hold {total:,} digits, and {adding:,} more would "
                               f"pass its limit of {MAX_HANDWRITING_SET:,}: ask the server's owner to delete some")


def delete_set(base: Path, set_id: str) -> int:
    """Remove one visitor's set; returns how many digits it listed (0 if there was none)."""
    if not _ID.match(set_id):
        raise HandwritingError(f"{set_id!r} is not a handwriting set")
    folder = Path(base) / VISITORS / set_id
    digits = _count(folder)
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)
    return digits


def clear(folder: Path) -> int:
    """Empty one set (a visitor's own, or the laptop's): its digits and their list."""
    digits = _count(folder)
    for entry in folder.glob("*.png") if folder.is_dir() else ():
        entry.unlink(missing_ok=True)
    (folder / LABELS).unlink(missing_ok=True)
    return digits
