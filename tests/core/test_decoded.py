"""Decoded copies of gzipped image files: mapped where a copy can be written, decoded into memory
where it cannot, and never wrong either way."""
import numpy as np
import pytest

from mnist_core.data import decoded
from mnist_core.data.idx import DatasetError, read_idx_array, write_idx


@pytest.fixture
def gz_images(tmp_path, monkeypatch):
    """A gzipped IDX file of 2,000 random digits (1.5 MB decoded: over MIN_BYTES)."""
    monkeypatch.setenv(decoded.CACHE_ENV, str(tmp_path / "cache"))
    images = np.random.default_rng(0).integers(0, 256, (2000, 28, 28), dtype=np.uint8)
    path = tmp_path / "data" / "train-images-idx3-ubyte.gz"
    path.parent.mkdir()
    write_idx(path, images)
    return path, images


def test_a_gzipped_file_is_mapped_from_one_decoded_copy(gz_images):
    path, images = gz_images
    first = decoded.read_images(path)
    assert isinstance(first, np.memmap) and np.array_equal(first, images)
    copies = list(decoded.cache_dir().iterdir())
    assert [p.name for p in copies] == [decoded.copy_path(path).name]
    stamp = copies[0].stat().st_mtime_ns
    again = decoded.read_images(path)  # maps the copy, does not decode or write again
    assert isinstance(again, np.memmap) and np.array_equal(again, images)
    assert copies[0].stat().st_mtime_ns == stamp
    # Copy-on-write: a write stays in this mapping, neither in the copy on disk nor in others.
    again[0, 0, 0] = images[0, 0, 0] ^ 0xFF
    assert np.array_equal(decoded.read_images(path), images)


def test_an_edited_source_gets_a_new_copy(gz_images):
    path, images = gz_images
    decoded.read_images(path)
    write_idx(path, images[::-1].copy())
    assert np.array_equal(decoded.read_images(path), images[::-1])
    assert len(list(decoded.cache_dir().iterdir())) == 2


def test_a_damaged_copy_is_decoded_again_and_replaced(gz_images):
    path, images = gz_images
    decoded.read_images(path)
    copy = decoded.copy_path(path)
    copy.write_bytes(copy.read_bytes()[:1000])  # truncated
    with pytest.raises(DatasetError, match="truncated"):
        decoded.map_idx_images(copy)
    assert np.array_equal(decoded.read_images(path), images)
    assert copy.stat().st_size == 16 + images.size


def test_without_a_writable_cache_the_digits_are_decoded_into_memory(gz_images, monkeypatch, tmp_path):
    path, images = gz_images
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(decoded.CACHE_ENV, str(blocker / "cache"))  # mkdir fails: NotADirectoryError
    out = decoded.read_images(path)
    assert not isinstance(out, np.memmap) and np.array_equal(out, images)


def test_a_full_disk_leaves_no_partial_copy(gz_images, monkeypatch):
    path, images = gz_images

    def full(target, array):
        with open(target, "wb") as fh:
            fh.write(b"\0" * 100)
        raise OSError(28, "No space left on device", str(target))

    monkeypatch.setattr(decoded, "write_idx", full)
    out = decoded.read_images(path)
    assert not isinstance(out, np.memmap) and np.array_equal(out, images)
    assert list(decoded.cache_dir().iterdir()) == []


def test_the_same_file_elsewhere_shares_its_copy(gz_images, tmp_path):
    path, images = gz_images
    decoded.read_images(path)
    elsewhere = tmp_path / "elsewhere.gz"
    elsewhere.write_bytes(path.read_bytes())
    assert np.array_equal(decoded.read_images(elsewhere), images)
    assert len(list(decoded.cache_dir().iterdir())) == 1


def test_small_and_uncompressed_files_are_read_into_memory(tmp_path, monkeypatch):
    monkeypatch.setenv(decoded.CACHE_ENV, str(tmp_path / "cache"))
    small = np.zeros((10, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "small.gz", small)
    write_idx(tmp_path / "raw", np.ones((2000, 28, 28), dtype=np.uint8))
    # A user's own raw file is never mapped: truncated in place, it would kill the reader.
    for name in ("small.gz", "raw"):
        out = decoded.read_images(tmp_path / name)
        assert not isinstance(out, np.memmap)
        assert np.array_equal(out, read_idx_array(tmp_path / name, "images"))
    assert not (tmp_path / "cache").exists()


def test_a_bad_source_is_still_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(decoded.CACHE_ENV, str(tmp_path / "cache"))
    write_idx(tmp_path / "labels.gz", np.zeros(2_000_000, dtype=np.uint8))  # labels, not images
    with pytest.raises(DatasetError, match="magic number"):
        decoded.read_images(tmp_path / "labels.gz")
