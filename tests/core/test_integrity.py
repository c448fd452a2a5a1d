"""Dataset files checked without loading them (mnist_core.data.integrity), as Home shows them."""
from __future__ import annotations

import gzip

import pytest

from mnist_core.data.integrity import check_files
from tests.support import make_synthetic, write_dataset


@pytest.mark.parametrize("gz", [True, False])
def test_whole_files_pass(tmp_path, gz):
    assert check_files("mnist", write_dataset(tmp_path, make_synthetic(30, 20), gz=gz)) is None


def test_real_files_pass_quickly(real_mnist):
    assert check_files("mnist", real_mnist.source) is None


@pytest.mark.parametrize("damage, words", [
    (lambda raw: raw[:-100], "truncated"),
    (lambda raw: raw + b"\0" * 10, "has trailing bytes"),
    (lambda raw: (7).to_bytes(4, "big") + raw[4:], "wrong magic number 7"),
    (lambda raw: raw[:10], "too short"),
])
def test_a_damaged_gzipped_images_file_is_named(tmp_path, damage, words):
    folder = write_dataset(tmp_path, make_synthetic(30, 20), gz=True)
    path = folder / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(damage(raw)))
    problem = check_files("mnist", folder)
    assert problem is not None and words in problem and path.name in problem


def test_labels_out_of_range_or_a_missing_file(tmp_path):
    folder = write_dataset(tmp_path, make_synthetic(30, 20), gz=False)
    path = folder / "train-labels-idx1-ubyte"
    raw = bytearray(path.read_bytes())
    raw[-1] = 42
    path.write_bytes(bytes(raw))
    assert "label 42 is outside 0-9" in check_files("mnist", folder)
    path.unlink()
    assert check_files("mnist", folder) == "the files are missing"
