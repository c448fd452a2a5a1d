"""The user's own labelled digits: 28x28 PNGs plus labels.csv (file,label) in one folder.

Images are stored already preprocessed (the "centred 28x28" step scaled to uint8), so the set
reads exactly like MNIST and needs no further preprocessing to evaluate or train on.

Folder: the `folder` argument, else MNIST_HANDWRITING_DIR, else ./data/handwriting.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import uuid
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mnist_core import settings, storage
from mnist_core.data.preprocessing import ImageInputError, image_size, load_image, pil_to_array, to_grayscale
from mnist_core.errors import ConfigError, HandwritingError  # noqa: F401  (defined there, torch-free)
from mnist_core.limits import MAX_CSV_FIELD, MAX_HANDWRITING_SET, MAX_ZIP_BYTES, MAX_ZIP_ENTRIES, MAX_ZIP_ENTRY_BYTES

LABELS = "labels.csv"
SIDE = 28
# Only names this module generates are ever read or written, so no user text reaches a path.
_NAME = re.compile(r"^[0-9a-f]{32}\.png$")


def folder_path(folder=None) -> Path:
    storage.refresh()  # sets saved on other servers of the same database
    if folder is not None:
        return Path(folder)
    return settings.current().handwriting_dir


def _label(value) -> int:
    try:
        text = str(value).strip()
        label = int(text)
    except (TypeError, ValueError):
        raise HandwritingError(f"the label must be a digit 0-9, got {value!r}") from None
    if text not in {str(d) for d in range(10)} and not isinstance(value, (int, np.integer)):
        raise HandwritingError(f"the label must be a digit 0-9, got {value!r}")
    if not 0 <= label <= 9:
        raise HandwritingError(f"the label must be a digit 0-9, got {value!r}")
    return label


def _read_rows(root: Path) -> list[tuple[str, str]]:
    path = root / LABELS
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = [r for r in csv.reader(fh) if r]
    if rows and rows[0][:2] == ["file", "label"]:
        rows = rows[1:]
    return [(r[0], r[1] if len(r) > 1 else "") for r in rows]


def _write_rows(root: Path, rows: list[tuple[str, int | str]]) -> None:
    # Written beside and renamed over, so a crash never leaves a half-written labels.csv.
    tmp = root / (LABELS + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label"])
        w.writerows(rows)
    os.replace(tmp, root / LABELS)


def _to_uint8(image) -> np.ndarray:
    a = np.asarray(image, dtype=np.float64)
    if a.shape != (SIDE, SIDE):
        raise HandwritingError(f"a sample must be a 28x28 image, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise HandwritingError("the image contains non-finite values")
    return (np.clip(a, 0.0, 1.0) * 255).round().astype(np.uint8)


def _add_all(root: Path, samples: list[tuple[np.ndarray, int]]) -> list[str]:
    """Write the samples' PNGs and list them in labels.csv, all or nothing: when the disk fills
    part way, the PNGs already written are removed and the OSError goes on, so the set stays
    as it was (else a full disk would leave an empty PNG behind for every try)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = _read_rows(root)
    if len(rows) + len(samples) > MAX_HANDWRITING_SET:
        raise HandwritingError(f"the set holds {len(rows):,} digits, and {len(samples):,} more would pass its "
                               f"limit of {MAX_HANDWRITING_SET:,}: delete some, or set MNIST_HANDWRITING_DIR "
                               "to another folder")
    written = []
    try:
        for pixels, label in samples:
            name = f"{uuid.uuid4().hex}.png"
            written.append(name)
            Image.fromarray(pixels, mode="L").save(root / name, format="PNG")
            rows.append((name, label))
        _write_rows(root, rows)
    except OSError:
        for name in written:
            (root / name).unlink(missing_ok=True)
        (root / (LABELS + ".tmp")).unlink(missing_ok=True)
        raise
    return written


def save_sample(image, label, folder=None) -> Path:
    """Store one preprocessed (28,28) float image in [0, 1] with its label; returns its path."""
    root = folder_path(folder)
    return root / _add_all(root, [(_to_uint8(image), _label(label))])[0]


def _decode(data: bytes) -> np.ndarray:
    """PNG bytes -> uint8 (28,28) ink image, or HandwritingError."""
    try:
        # From the header first: a 4096x4096 blank PNG is a few kB, but seconds to decode.
        size = image_size(data)
        if size != (SIDE, SIDE):
            raise HandwritingError(f"the image is {size[0]}x{size[1]}, not 28x28")
        img = load_image(data)
    except ImageInputError as exc:
        raise HandwritingError(str(exc)) from None
    # Every mode is reduced to ink intensity, bright on dark: a dark "1" on white in a grayscale
    # PNG was stored as it came, inverted, while the same picture in RGB was turned round.
    # Stored samples (bright on a dark border) come back unchanged.
    return (to_grayscale(pil_to_array(img)) * 255).round().astype(np.uint8)


def _listed(root: Path):
    """labels.csv's rows as (file name, label), or None for a row with a bad name or label."""
    for name, label in _read_rows(root):
        try:
            if not _NAME.match(name):
                raise HandwritingError(f"bad file name {name!r}")
            yield name, _label(label)
        except HandwritingError:
            yield None


def load_set(folder=None, with_skipped: bool = False):
    """(images uint8 (N,28,28), labels int64 (N,)); missing or corrupt entries are skipped.

    With with_skipped=True, returns (images, labels, skipped count).
    """
    root = folder_path(folder)
    images, labels, skipped = [], [], 0
    for entry in _listed(root):
        try:
            image = _decode((root / entry[0]).read_bytes()) if entry else None
        except (HandwritingError, OSError):
            image = None
        if image is None:
            skipped += 1
        else:
            images.append(image)
            labels.append(entry[1])
    x = torch.from_numpy(np.stack(images)) if images else torch.zeros((0, SIDE, SIDE), dtype=torch.uint8)
    y = torch.tensor(labels, dtype=torch.int64)
    return (x, y, skipped) if with_skipped else (x, y)


# (path, size, mtime) -> whether the PNG decodes as a sample; see count_set.
_READABLE: dict[tuple[str, int, int], bool] = {}
_READABLE_MAX = 100_000


def _readable(path: Path) -> bool:
    """Whether load_set would read this file, decoding it only when it is new or has changed."""
    try:
        st = path.stat()
    except OSError:
        return False
    key = (str(path), st.st_size, st.st_mtime_ns)
    ok = _READABLE.get(key)
    if ok is None:
        try:
            _decode(path.read_bytes())
            ok = True
        except (HandwritingError, OSError):
            ok = False
        if len(_READABLE) >= _READABLE_MAX:
            _READABLE.clear()
        _READABLE[key] = ok
    return ok


def count_set(folder=None) -> tuple[list[int], int]:
    """(samples per class 0-9, skipped entries): the counts load_set's labels would give.

    Reads labels.csv and stats each listed file; a PNG is decoded only the first time it is
    seen (or after it changes), so a page can show the counts on every rerun without decoding
    the whole set each time.
    """
    root = folder_path(folder)
    counts, skipped = [0] * 10, 0
    for entry in _listed(root):
        if entry is not None and _readable(root / entry[0]):
            counts[entry[1]] += 1
        else:
            skipped += 1
    return counts, skipped


def class_counts(labels: torch.Tensor) -> list[int]:
    return torch.bincount(labels, minlength=10).tolist() if len(labels) else [0] * 10


def delete_sample(name: str, folder=None) -> bool:
    """Remove one sample by its file name; False if it was not in the set."""
    root = folder_path(folder)
    rows = _read_rows(root)
    kept = [r for r in rows if r[0] != name]
    if len(kept) == len(rows) or not _NAME.match(name):
        return False
    _write_rows(root, kept)
    (root / name).unlink(missing_ok=True)
    return True


def export_zip(folder=None) -> bytes:
    """The readable samples and their labels.csv as a zip."""
    root = folder_path(folder)
    buf = io.BytesIO()
    rows = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, label in _read_rows(root):
            try:
                if not _NAME.match(name):
                    continue
                value = _label(label)
                data = (root / name).read_bytes()
                _decode(data)
            except (HandwritingError, OSError):
                continue
            zf.writestr(name, data)
            rows.append((name, value))
        text = io.StringIO()
        w = csv.writer(text)
        w.writerow(["file", "label"])
        w.writerows(rows)
        zf.writestr(LABELS, text.getvalue())
    return buf.getvalue()


def import_zip(data: bytes, folder=None, before_write=None) -> tuple[int, int]:
    """Add the valid samples of a zip made by export_zip; returns (added, skipped).

    Entries are looked up by the base names listed in labels.csv, never extracted by path,
    and each is re-encoded under a fresh name, so no entry can write outside the folder.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        raise HandwritingError("this file is not a zip archive") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_ENTRIES + 1:
            raise HandwritingError(f"the zip has {len(infos)} entries; the limit is {MAX_ZIP_ENTRIES} samples")
        if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            raise HandwritingError(f"the zip unpacks to more than {MAX_ZIP_BYTES // 2**20} MB")
        # Only top-level entries count: "../evil.png" or "a/b.png" are not samples of this set.
        by_name = {i.filename: i for i in infos if "/" not in i.filename and "\\" not in i.filename}
        if LABELS not in by_name:
            raise HandwritingError("the zip has no labels.csv (file,label) at its top level")
        if by_name[LABELS].file_size > MAX_ZIP_ENTRY_BYTES * 4:
            raise HandwritingError("labels.csv is too large")
        try:
            text = zf.read(by_name[LABELS]).decode("utf-8-sig")  # a spreadsheet's byte-order mark is not a name
        except (UnicodeDecodeError, zipfile.BadZipFile, OSError, RuntimeError):
            raise HandwritingError("labels.csv is not readable UTF-8 text") from None
        rows = [r for r in csv.reader(io.StringIO(text)) if r]
        if rows and rows[0][:2] == ["file", "label"]:
            rows = rows[1:]
        if len(rows) > MAX_ZIP_ENTRIES:
            raise HandwritingError(f"labels.csv lists {len(rows)} samples; the limit is {MAX_ZIP_ENTRIES}")
        good = []
        skipped = 0
        first_problem = ""
        listed = set()
        for row in rows:
            try:
                if any(len(f) > MAX_CSV_FIELD for f in row):
                    raise HandwritingError(f"a labels.csv field is over {MAX_CSV_FIELD} characters")
                name = row[0]
                if name in listed:  # one picture, one label: a second row (maybe another label) is skipped
                    raise HandwritingError(f"{name!r} is listed more than once")
                listed.add(name)
                if not name.lower().endswith(".png") or name not in by_name:
                    raise HandwritingError(f"{name!r} is not a PNG entry of this zip")
                info = by_name[name]
                if info.file_size > MAX_ZIP_ENTRY_BYTES:
                    raise HandwritingError(f"{name!r} is too large")
                label = _label(row[1] if len(row) > 1 else "")
                good.append((_decode(zf.read(info)), label))
            except (HandwritingError, zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                skipped += 1
                first_problem = first_problem or str(exc)
    if not good:
        if skipped:
            raise HandwritingError(f"none of the {skipped} samples in the zip is a valid 28x28 PNG "
                                   f"with a label 0-9 (first problem: {first_problem})")
        raise HandwritingError("labels.csv lists no samples")
    if before_write is not None:  # a class's server checks its limits on the count, before writing
        before_write(len(good))
    _add_all(folder_path(folder), good)
    return len(good), skipped


def added_to(images: torch.Tensor, labels: torch.Tensor, repeat: int) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """A training set with the set's digits appended, each `repeat` times, and what was used."""
    own_x, own_y = load_set()
    if len(own_y) == 0:
        raise ConfigError("handwriting", f"the set is empty ({folder_path()}): "
                                         "save some digits on the Draw page first")
    digest = hashlib.sha256(own_x.to(torch.uint8).numpy().tobytes() + own_y.to(torch.int64).numpy().tobytes())
    used = {"samples": len(own_y), "per_class": class_counts(own_y),
            "repeat": repeat, "sha256": digest.hexdigest()}
    own_x = own_x.repeat(repeat, 1, 1)
    own_y = own_y.repeat(repeat)
    return (torch.cat([images, own_x.to(images.dtype)]), torch.cat([labels, own_y.to(labels.dtype)]), used)
