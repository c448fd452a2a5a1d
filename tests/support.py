"""Helpers shared by the tests: data, run folders, images and AppTest sessions.

The one module test files import from (conftest.py holds fixtures only, and no test file imports
another). Page files come from the app's own page list, studio.nav.
"""
from __future__ import annotations

import functools
import io
import json
import os
import socket
import struct
import time
import zlib
from pathlib import Path

import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from mnist_core.data.idx import write_idx
from mnist_core.data.tensors import FILES
from mnist_core.models.registry import build_model
from mnist_core.runs.folders import save_checkpoint, write_json
from mnist_core.runs.recorder import record
from mnist_core.train.config import TrainConfig
from mnist_core.train.trainer import Trainer
from studio.nav import PAGES

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
TIMEOUT = 120  # seconds per script run; the machine is small and shared
# "home", "data", "train", "head_to_head", ... -> the page's file, in the sidebar's order.
PAGE_FILES = {p.title.lower().replace(" ", "_"): p.file for p in PAGES}


SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"  # the project's machines and CI


def free_port() -> int:
    """A port nothing listens on now (an app server's, a database's, or one that stays dead)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mnist_dir() -> Path:
    return Path(os.environ.get("MNIST_DATA_DIR") or SHARED_MNIST)


class MnistMissing(Exception):
    """MNIST is not on this machine and could not be fetched; the message says how to add it."""


def prepare_mnist(env: str | None, shared: Path = SHARED_MNIST, fetch_into: Path = REPO / "data",
                  offline: bool = False) -> Path:
    """The folder the tests read MNIST from, found the way the app finds it.

    MNIST_DATA_DIR when set, else the project's shared copy, else ./data, where the files are
    downloaded (through torchvision, as the app does) when missing and the network is reachable.
    """
    from mnist_core.data.tensors import DATASETS, DatasetError, describe_missing, load_dataset, locate

    spec = DATASETS["mnist"]
    if env:
        hit = locate(spec, env)
        if hit is None:
            raise MnistMissing(f"MNIST_DATA_DIR={env}, but " + describe_missing(spec, env))
        return hit[0]
    for folder in (shared, fetch_into):
        hit = locate(spec, folder)
        if hit is not None:
            return hit[0]
    if offline:
        raise MnistMissing("offline (MNIST_OFFLINE=1), and " + describe_missing(spec, fetch_into))
    try:
        load_dataset("mnist", fetch_into, allow_download=True)
    except DatasetError as exc:
        raise MnistMissing(str(exc)) from None
    return locate(spec, fetch_into)[0]


# ---------------------------------------------------------------- data and runs

def make_synthetic(n_train: int = 600, n_test: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    """Digit-like blobs: class k draws a bright 6x6 square at one of ten grid spots, plus noise."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = torch.arange(n) % 10
        images = (torch.rand(n, 28, 28, generator=g) * 40).to(torch.uint8)
        for i, k in enumerate(labels.tolist()):
            r, c = 3 + (k // 5) * 13, 2 + (k % 5) * 5
            images[i, r:r + 8, c:c + 5] = 255
        out[f"{split}_images"], out[f"{split}_labels"] = images, labels
    return out


def write_dataset(folder: Path, tensors: dict[str, torch.Tensor], gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in FILES.items():
        write_idx(folder / (stem + (".gz" if gz else "")), tensors[key])
    return folder


def tiny_run(data, runs_dir, label="t", **kw):
    """A 2-epoch MLP run recorded in runs_dir: (trainer, run folder)."""
    c = TrainConfig.from_dict({"model": "mlp", "model_kwargs": {"hidden": [32]}, "epochs": 2,
                               "batch_size": 64, "device": "cpu", **kw})
    trainer = Trainer(c, data)
    events = list(record(trainer, runs_dir, label=label))
    return trainer, runs_dir / events[-1]["run_id"]


def stopped_part_way(data, runs_dir, after_steps: int) -> tuple[str, list[dict]]:
    """A 2-epoch MLP run (batches of 32) stopped `after_steps` steps into its second epoch, as
    Stop does (closing its events keeps the part-epoch): (its folder, the events it sent)."""
    c = TrainConfig.from_dict({"model": "mlp", "model_kwargs": {"hidden": [32], "dropout": 0.0}, "epochs": 2,
                               "batch_size": 32, "log_every": 2, "device": "cpu", "lr": 3e-3})
    events, sent = record(Trainer(c, data), runs_dir, label="first"), []
    for event in events:
        sent.append(event)
        if event["kind"] == "batch" and event["step"] >= sent[0]["steps_per_epoch"] + after_steps:
            break
    events.close()
    return str(runs_dir / sent[0]["run_id"]), sent


def wait_for(pred, timeout: float = 60.0) -> bool:
    """Poll pred() until it holds or the timeout passes (for background jobs)."""
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


class _FillingFile:
    """A file whose disk fills after `room` bytes: writes past it raise ENOSPC, as on a real disk."""

    def __init__(self, fh, room: int = 64):
        self.fh, self.room = fh, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(28, "No space left on device")
        self.room -= len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


def fill_disk_after(monkeypatch, saves: int):
    """Make checkpoint writes fail with ENOSPC from the given save on, after a partial write.

    The real torch.save meets the full disk, so the error is what a real one gives: torch's
    writer raises its own RuntimeError ("unexpected pos ..."), the OSError only its context.
    Returns a function that frees the disk again."""
    real_save = torch.save  # runs.save_checkpoint looks it up on torch at each call
    calls = {"n": 0}

    def full_disk(obj, fh, *args, **kwargs):
        calls["n"] += 1
        return real_save(obj, _FillingFile(fh) if calls["n"] >= saves else fh, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    return lambda: monkeypatch.setattr(torch, "save", real_save)


def canvas_from_digit(digit, size: int = 280):
    """A 28x28 MNIST digit drawn large: white strokes on the black canvas, as RGBA."""
    import numpy as np

    big = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR))
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    rgba[..., :3] = big[..., None]
    rgba[..., 3] = 255
    return rgba


# ---------------------------------------------------------------- AppTest

N_TRAIN, N_TEST = 600, 200  # the generated dataset AppTest sessions train on (tests/studio/conftest.py)


def start_job(at, **fields):
    if fields:
        set_form(at, **fields)
    at.button(key="train_start").click().run()
    assert_no_crash(at)
    return at.session_state["train_job"]


def open_page(page: str, query: dict | None = None) -> AppTest:
    """A new browser session landing on `page`, with the address's query parameters."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    at.switch_page(PAGE_FILES[page])
    return at.run()


def open_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def goto(at: AppTest, page: str) -> AppTest:
    at.switch_page(PAGE_FILES[page])
    return at.run()


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def assert_clean(at: AppTest, errors_allowed: bool = False) -> None:
    assert not at.exception, [e.message for e in at.exception]
    if not errors_allowed:
        assert not at.error, [e.value for e in at.error]


def assert_no_crash(at: AppTest) -> None:
    """No traceback, and not the page frame's last-resort message either."""
    assert not at.exception, [e.message for e in at.exception]
    assert "Something went wrong" not in texts(at.error), texts(at.error)


def browser_sends(at: AppTest, key: str, shown: str) -> None:
    """On the next run, the select widget `key` sends its choice as a browser does: as the text
    it showed, `shown`, which may no longer be one of its options (AppTest sends the current
    title of the chosen value instead, so it never meets a title that changed under it)."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    node = at.selectbox(key=key)  # the tree's own node: the next run reads its state from it

    class AsTheBrowserHasIt(type(node)):
        @property
        def _widget_state(self) -> WidgetState:
            state = WidgetState(id=self.id)
            state.string_value = shown
            return state

    node.__class__ = AsTheBrowserHasIt


def set_form(at: AppTest, **fields) -> AppTest:
    """Set Train form widgets by TrainConfig field (or model option) name, then rerun."""
    for name, value in fields.items():
        key = name if name == "train_label" else f"cfg_{name}"
        for kind in ("number_input", "selectbox", "slider", "text_input", "checkbox", "radio"):
            try:
                widget = getattr(at, kind)(key=key)
            except KeyError:
                continue
            # A number typed into a text box (the learning rate) is typed as text.
            widget.set_value(str(value) if kind == "text_input" and not isinstance(value, str) else value)
            break
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


# ---------------------------------------------------------------- app scripts for AppTest.from_function

def draw_digit_app(image):
    """Draw's reading of one image with the bundled model, as the page shows it."""
    from mnist_core.data.tensors import DATASETS
    from studio import draw_panel, picker

    model, config = picker.load_choice(picker.BUNDLED)
    spec = DATASETS[config.dataset]
    draw_panel.show_prediction(draw_panel.read(model, image, spec), spec)


def unlock_owner(at: AppTest, password: str) -> AppTest:
    """Give the owner password in the page's Server owner panel."""
    next(t for t in at.text_input if t.label == "Owner password").set_value(password)
    next(b for b in at.button if b.label == "Unlock").click().run()
    return at
