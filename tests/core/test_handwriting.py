"""My handwriting: the local labelled set, its zip import/export, training and the Draw panel."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_core.data import handwriting
from mnist_core.data.handwriting import HandwritingError
from mnist_core.train.config import HANDWRITING_REPEAT, ConfigError, TrainConfig
from mnist_core.train.trainer import Trainer


def digit(seed: int = 0) -> np.ndarray:
    img = np.zeros((28, 28))
    img[6:22, 12 + seed % 4:16 + seed % 4] = 1.0
    return img


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(entries: dict[str, bytes], labels: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        zf.writestr("labels.csv", labels)
    return buf.getvalue()


def test_save_and_load_round_trip(tmp_path):
    paths = [handwriting.save_sample(digit(i), i % 10, tmp_path) for i in range(3)]
    assert all(p.parent == tmp_path and p.suffix == ".png" for p in paths)
    x, y = handwriting.load_set(tmp_path)
    assert x.dtype == torch.uint8 and x.shape == (3, 28, 28)
    assert y.dtype == torch.int64 and y.tolist() == [0, 1, 2]
    assert torch.equal(x[0], torch.from_numpy((digit(0) * 255).astype(np.uint8)))
    assert handwriting.delete_sample(paths[1].name, tmp_path)
    assert handwriting.load_set(tmp_path)[1].tolist() == [0, 2]
    with pytest.raises(HandwritingError, match="0-9"):
        handwriting.save_sample(digit(), 10, tmp_path)
    with pytest.raises(HandwritingError, match="28x28"):
        handwriting.save_sample(np.zeros((20, 20)), 1, tmp_path)


def test_folder_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path / "hw"))
    handwriting.save_sample(digit(), 7)
    assert handwriting.load_set()[1].tolist() == [7]


def test_bad_rows_are_skipped_and_counted(tmp_path):
    handwriting.save_sample(digit(), 4, tmp_path)
    good = (tmp_path / "labels.csv").read_text()
    (tmp_path / ("a" * 32 + ".png")).write_bytes(b"not a png")
    with open(tmp_path / "labels.csv", "a") as fh:
        fh.write("b" * 32 + ".png,3\n")  # missing file
        fh.write("a" * 32 + ".png,3\n")  # corrupt file
        fh.write("../etc/passwd,1\n")  # not a sample name
        fh.write(good.splitlines()[1].split(",")[0] + ",eleven\n")  # bad label
    _, y, skipped = handwriting.load_set(tmp_path, with_skipped=True)
    assert y.tolist() == [4] and skipped == 4


def test_count_set_matches_load_set_without_decoding_on_every_call(tmp_path, monkeypatch):
    saved = [handwriting.save_sample(digit(i), label, tmp_path) for i, label in enumerate([4, 4, 7])]
    (tmp_path / ("a" * 32 + ".png")).write_bytes(b"not a png")
    with open(tmp_path / "labels.csv", "a") as fh:
        fh.write("b" * 32 + ".png,3\n")  # missing file
        fh.write("a" * 32 + ".png,3\n")  # corrupt file
        fh.write("../etc/passwd,1\n")  # not a sample name
        fh.write(saved[0].name + ",eleven\n")  # bad label

    def expected():
        _, y, skipped = handwriting.load_set(tmp_path, with_skipped=True)
        return handwriting.class_counts(y), skipped

    assert handwriting.count_set(tmp_path) == expected() == ([0, 0, 0, 0, 2, 0, 0, 1, 0, 0], 4)
    assert handwriting.count_set(tmp_path / "none") == ([0] * 10, 0)

    decoded = []
    real_decode = handwriting._decode
    monkeypatch.setattr(handwriting, "_decode", lambda data: decoded.append(1) or real_decode(data))
    handwriting.count_set(tmp_path)
    assert decoded == [], "unchanged files were decoded again"

    # A sample that changes, disappears or arrives is seen at once.
    saved[0].write_bytes(b"broken now")
    saved[1].unlink()
    handwriting.save_sample(digit(), 9, tmp_path)
    counts = handwriting.count_set(tmp_path)
    assert len(decoded) == 2, "only the changed file and the new one are decoded"
    assert counts == expected() == ([0, 0, 0, 0, 0, 0, 0, 1, 0, 1], 6)


def test_export_import_round_trip(tmp_path):
    for i in range(4):
        handwriting.save_sample(digit(i), i, tmp_path / "a")
    data = handwriting.export_zip(tmp_path / "a")
    assert handwriting.import_zip(data, tmp_path / "b") == (4, 0)
    xa, ya = handwriting.load_set(tmp_path / "a")
    xb, yb = handwriting.load_set(tmp_path / "b")
    assert torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.parametrize("entries, labels, message", [
    ({"../evil.png": png(np.zeros((28, 28), np.uint8))}, "file,label\n../evil.png,1\n", "not a PNG entry"),
    ({"a.txt": b"hello"}, "file,label\na.txt,1\n", "not a PNG entry"),
    ({"a.png": b"not really a png"}, "file,label\na.png,1\n", "valid 28x28 PNG"),
    ({"a.png": png(np.zeros((30, 30), np.uint8))}, "file,label\na.png,1\n", "valid 28x28 PNG"),
    ({"a.png": png(np.zeros((28, 28), np.uint8))}, "file,label\na.png,12\n", "label 0-9"),
    ({}, None, "no labels.csv"),
])
def test_import_rejects_bad_zips(tmp_path, entries, labels, message):
    target = tmp_path / "sub" / "hw"
    data = make_zip(entries, labels) if labels is not None else make_zip(entries, "")
    if labels is None:  # a zip without labels.csv at all
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("x.png", png(np.zeros((28, 28), np.uint8)))
        data = buf.getvalue()
    with pytest.raises(HandwritingError, match=message):
        handwriting.import_zip(data, target)
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_import_rejects_too_many_entries_and_non_zips(tmp_path, monkeypatch):
    monkeypatch.setattr(handwriting, "MAX_ZIP_ENTRIES", 3)
    one = png(np.zeros((28, 28), np.uint8))
    data = make_zip({f"{i}.png": one for i in range(5)},
                    "file,label\n" + "".join(f"{i}.png,1\n" for i in range(5)))
    with pytest.raises(HandwritingError, match="limit is 3"):
        handwriting.import_zip(data, tmp_path / "hw")
    with pytest.raises(HandwritingError, match="not a zip"):
        handwriting.import_zip(b"PK nonsense", tmp_path / "hw")
    assert not (tmp_path / "hw").exists()


def test_import_keeps_good_entries_and_counts_bad_ones(tmp_path):
    one = png((digit() * 255).astype(np.uint8))
    data = make_zip({"a.png": one, "b.png": one}, "file,label\na.png,2\nb.png,x\nmissing.png,3\n")
    assert handwriting.import_zip(data, tmp_path) == (1, 2)
    assert handwriting.load_set(tmp_path)[1].tolist() == [2]


def test_import_reads_dark_ink_on_light_paper_in_every_image_mode(tmp_path):
    ink = (digit() * 255).astype(np.uint8)  # bright on dark, as stored
    paper = 255 - ink  # a dark digit on white
    rgb = np.repeat(paper[..., None], 3, axis=2)
    data = make_zip({"gray.png": png(paper), "rgb.png": png(rgb)}, "file,label\ngray.png,1\nrgb.png,1\n")
    assert handwriting.import_zip(data, tmp_path) == (2, 0)
    images = handwriting.load_set(tmp_path)[0].numpy()
    assert images[:, 0, 0].tolist() == [0, 0], "the white paper became the dark background"
    assert np.array_equal(images[0], images[1]), "a grayscale PNG reads as its RGB twin"
    assert np.abs(images[0].astype(int) - ink).max() <= 2


def test_import_on_a_full_disk_leaves_the_set_as_it_was(tmp_path, monkeypatch):
    handwriting.save_sample(digit(), 3, tmp_path)
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir())
    one = png((digit(1) * 255).astype(np.uint8))
    data = make_zip({f"{i}.png": one for i in range(3)}, "file,label\n" + "".join(f"{i}.png,1\n" for i in range(3)))
    real_save, calls = Image.Image.save, {"n": 0}

    def filling(self, fp, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second PNG finds the disk full, part written
            open(fp, "wb").write(b"\x89PNG")
            raise OSError(28, "No space left on device")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", filling)
    with pytest.raises(OSError):
        handwriting.import_zip(data, tmp_path)
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.iterdir()) == before


def test_import_reads_a_spreadsheets_labels_and_refuses_an_empty_list(tmp_path):
    one = png((digit() * 255).astype(np.uint8))
    with_bom = make_zip({"a.png": one}, "\ufefffile,label\na.png,4\n")
    assert handwriting.import_zip(with_bom, tmp_path) == (1, 0), "the header is not an invalid entry"
    with pytest.raises(HandwritingError, match="lists no samples"):
        handwriting.import_zip(make_zip({"a.png": one}, "file,label\n"), tmp_path / "empty")


def test_import_keeps_one_label_a_picture_and_the_set_within_its_limit(tmp_path, monkeypatch):
    one = png((digit() * 255).astype(np.uint8))
    twice = make_zip({"a.png": one}, "file,label\na.png,1\na.png,7\n")
    assert handwriting.import_zip(twice, tmp_path) == (1, 1)
    assert handwriting.load_set(tmp_path)[1].tolist() == [1]
    monkeypatch.setattr(handwriting, "MAX_HANDWRITING_SET", 2)
    three = make_zip({f"{i}.png": one for i in range(2)}, "file,label\n0.png,2\n1.png,3\n")
    with pytest.raises(HandwritingError, match="limit of 2"):
        handwriting.import_zip(three, tmp_path)  # 1 + 2 > 2
    with pytest.raises(HandwritingError, match="limit of 2"):
        [handwriting.save_sample(digit(), 4, tmp_path) for _ in range(2)]
    assert handwriting.load_set(tmp_path)[1].tolist() == [1, 4]


def test_training_with_handwriting_adds_oversampled_samples(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path))
    cfg = TrainConfig(model="logreg", epochs=1, batch_size=64, device="cpu", handwriting=True)
    with pytest.raises(ConfigError, match="empty"):
        Trainer(cfg, data=tiny_data)._training_set()
    for i in range(3):
        handwriting.save_sample(digit(i), i, tmp_path)
    images, labels = Trainer(cfg, data=tiny_data)._training_set()
    base = len(tiny_data.train_images)
    assert len(images) == base + HANDWRITING_REPEAT * 3
    assert labels[base:].bincount(minlength=3)[:3].tolist() == [HANDWRITING_REPEAT] * 3
    assert TrainConfig.from_dict({"handwriting": "true"}).handwriting is True
    with pytest.raises(ConfigError, match="handwriting"):
        TrainConfig(dataset="fashion", handwriting=True)












def test_huge_pngs_in_a_zip_are_refused_from_their_header_without_decoding(tmp_path, monkeypatch):
    from tests.support import png_bomb

    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path / "hw"))
    decoded = []
    real_load = handwriting.load_image
    monkeypatch.setattr(handwriting, "load_image", lambda data: decoded.append(len(data)) or real_load(data))
    bomb = png_bomb(4096)  # blank, 4096x4096: a few kB in the zip, seconds to decode
    good = io.BytesIO()
    Image.new("L", (28, 28)).save(good, "PNG")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("labels.csv", "file,label\nok.png,3\n" + "".join(f"b{i}.png,{i % 10}\n" for i in range(40))
                    + ("x" * 300) + ".png,1\n")
        zf.writestr("ok.png", good.getvalue())
        for i in range(40):
            zf.writestr(f"b{i}.png", bomb)
    assert handwriting.import_zip(buf.getvalue()) == (1, 41)
    assert decoded == [len(good.getvalue())]  # only the 28x28 sample was decoded


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_a_job_trains_on_the_set_of_whoever_queued_it(tiny_data, tmp_path, monkeypatch, mode):
    """A class's server queues each visitor's job with their own handwriting folder: the
    worker (a process, or a thread of the server) trains on that set, not the server's."""
    import dataclasses

    from mnist_core import settings
    from mnist_core.jobs.runner import JobRunner

    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path / "servers"))
    theirs = tmp_path / "visitors" / "alice"
    for i in range(3):
        handwriting.save_sample(digit(i), i, theirs)
    runner = JobRunner(max_running=1, max_jobs=2, mode=mode)
    cfg = TrainConfig(model="logreg", epochs=1, batch_size=64, device="cpu", handwriting=True)
    job = runner.submit(cfg, tiny_data, tmp_path / "runs",
                        server_settings=dataclasses.replace(settings.read(), handwriting_dir=theirs))
    assert job.wait(120) and job.status == "completed", job.message
    summary = json.loads((tmp_path / "runs" / job.run_id / "summary.json").read_text())
    assert summary["handwriting_set"]["samples"] == 3  # the server's own folder is empty
