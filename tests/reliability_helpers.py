"""Builders shared by the reliability tests: images, bombs, run folders and AppTest sessions."""
from __future__ import annotations

import functools
import io
import json
import struct
import zlib
from pathlib import Path

import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from mnist_core.config import TrainConfig
from mnist_core.models import build_model
from mnist_core.runs import save_checkpoint, write_json

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
TIMEOUT = 120
PAGE_FILES = {"home": "app.py", "data": "pages/1_Data.py", "train": "pages/2_Train.py",
              "evaluate": "pages/3_Evaluate.py", "draw": "pages/4_Draw.py", "runs": "pages/5_Runs.py"}


# ---------------------------------------------------------------- AppTest

def open_page(page: str, query: dict | None = None) -> AppTest:
    """A new browser session landing on `page`, with the address's query parameters."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.switch_page(PAGE_FILES[page])
    return at.run()


def goto(at: AppTest, page: str) -> AppTest:
    at.switch_page(PAGE_FILES[page])
    return at.run()


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def assert_no_crash(at: AppTest) -> None:
    """No traceback, and not the page frame's last-resort message either."""
    assert not at.exception, [e.message for e in at.exception]
    assert "Something went wrong" not in texts(at.error), texts(at.error)


def set_form(at: AppTest, **fields) -> AppTest:
    """Set Train form widgets by TrainConfig field (or model option) name, then rerun."""
    for name, value in fields.items():
        key = name if name == "train_label" else f"cfg_{name}"
        for kind in ("number_input", "selectbox", "slider", "text_input", "checkbox", "radio"):
            try:
                getattr(at, kind)(key=key).set_value(value)
                break
            except KeyError:
                continue
        else:
            raise KeyError(f"no widget {key}")
    return at.run()


# ---------------------------------------------------------------- images

def png(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@functools.cache
def png_bomb(side: int = 20000) -> bytes:
    """A valid 1-bit PNG of side x side pixels: about 60 KB as a file, 400 MB once decoded.

    Written chunk by chunk, so making it never holds the decoded image in memory.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (side + 7) // 8)  # filter byte, then the packed bits
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


# ---------------------------------------------------------------- run folders

class Exploit:
    """Unpickling this calls open(marker, "w"): proof that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def small_config() -> TrainConfig:
    return TrainConfig.from_dict({"model": "mlp", "model_kwargs": {"hidden": [16], "dropout": 0.0},
                                  "epochs": 1, "device": "cpu"})


def fake_run(root: Path, kind: str, marker: Path | None = None) -> Path:
    """A run folder that looks complete, whose checkpoint is `kind`: good, exploit, other-arch, truncated."""
    config = small_config()
    path = root / "20260101-120000-mlp-abc123"
    path.mkdir(parents=True)
    epoch = {"kind": "epoch", "epoch": 1, "epochs": 1, "train_loss": 1.0, "train_acc": 0.5,
             "test_loss": 1.0, "test_acc": 0.5, "lr": 0.01, "epoch_time": 0.1, "elapsed": 0.1}
    write_json(path / "config.json", config.to_dict())
    write_json(path / "summary.json", {
        "run_id": path.name, "label": f"{kind} checkpoint", "status": "completed", "message": "",
        "model": "mlp", "dataset": "mnist", "params": 1, "epochs": 1, "epochs_done": 1,
        "best_test_acc": 0.5, "final_test_acc": 0.5, "final_test_loss": 1.0, "duration_s": 0.1})
    (path / "metrics.jsonl").write_text(json.dumps(epoch) + "\n")
    torch.manual_seed(0)
    arch = {"hidden": [32]} if kind == "other-arch" else config.model_kwargs
    state = {"format": 1, "model_state": build_model("mlp", **arch).state_dict(), "epoch": 1,
             "config": config.to_dict(), "history": [epoch], "versions": {}}
    if kind == "exploit":
        state["extra"] = Exploit(str(marker))
    save_checkpoint(path / "checkpoint.pt", state)
    if kind == "truncated":
        raw = (path / "checkpoint.pt").read_bytes()
        (path / "checkpoint.pt").write_bytes(raw[: len(raw) // 2])
    return path
