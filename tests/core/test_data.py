import gzip

import pytest
import torch

from mnist_core.data import tensors as data_mod
from mnist_core.data.tensors import (
    DATASETS,
    DatasetError,
    augment,
    dataset_status,
    iterate_batches,
    load_dataset,
    normalise,
    read_idx,
)
from tests.support import make_synthetic, mnist_dir, write_dataset

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_real_mnist_loads(real_mnist):
    d = real_mnist
    assert d.train_images.shape == (60000, 28, 28) and d.train_images.dtype == torch.uint8
    assert d.test_images.shape == (10000, 28, 28)
    assert d.train_labels.shape == (60000,) and d.test_labels.shape == (10000,)
    pixels = d.train_images.float() / 255
    assert pixels.mean().item() == pytest.approx(0.1307, abs=5e-4)
    assert pixels.std().item() == pytest.approx(0.3081, abs=5e-4)
    assert torch.bincount(d.train_labels).tolist() == MNIST_TRAIN_COUNTS
    assert d.classes == tuple("0123456789")


def test_load_is_shared_between_calls(real_mnist):
    again = load_dataset("mnist", mnist_dir(), allow_download=False)
    assert again.train_images is real_mnist.train_images


def test_fashion_constants_match_its_data():
    try:
        d = load_dataset("fashion", allow_download=False)
    except DatasetError:
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    pixels = d.train_images.float() / 255
    assert pixels.mean().item() == pytest.approx(DATASETS["fashion"].mean, abs=5e-4)
    assert pixels.std().item() == pytest.approx(DATASETS["fashion"].std, abs=5e-4)
    assert len(d.classes) == 10 and d.train_images.shape == (60000, 28, 28)


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_gz_raw_and_torchvision_layouts_load(tmp_path, gz, layout):
    tensors = make_synthetic(50, 20)
    folder = tmp_path / "d" if layout == "flat" else tmp_path / "d" / "MNIST" / "raw"
    write_dataset(folder, tensors, gz=gz)
    d = load_dataset("mnist", tmp_path / "d", allow_download=False)
    assert torch.equal(d.train_images, tensors["train_images"])
    assert torch.equal(d.test_labels, tensors["test_labels"])
    assert d.source == str(folder)


def test_env_var_is_used(tmp_path, monkeypatch):
    write_dataset(tmp_path / "env", make_synthetic(30, 10))
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "env"))
    assert dataset_status("mnist")["found"]
    assert len(load_dataset("mnist", allow_download=False).train_images) == 30


def test_missing_files_say_where_we_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", tmp_path / "empty")
    text = str(info.value)
    assert str(tmp_path / "empty") in text and "MNIST_DATA_DIR" in text
    assert not dataset_status("mnist", tmp_path / "empty")["found"]


def _corrupt(folder, name, transform):
    path = folder / name
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(transform(raw)))
    return path


CORRUPTIONS = {
    "wrong magic": ("train-images-idx3-ubyte.gz", lambda b: (1234).to_bytes(4, "big") + b[4:], "magic"),
    "truncated": ("train-images-idx3-ubyte.gz", lambda b: b[:-100], "truncated"),
    "trailing bytes": ("t10k-labels-idx1-ubyte.gz", lambda b: b + b"\0\0", "trailing"),
    "garbage": ("t10k-images-idx3-ubyte.gz", lambda b: b"\x89PNG garbage" * 3, "magic"),
    "empty": ("train-labels-idx1-ubyte.gz", lambda b: b"", "too short"),
    "bad dims": ("t10k-images-idx3-ubyte.gz",
                 lambda b: b[:8] + (27).to_bytes(4, "big") + b[12:], "expected 28x28"),
    "label out of range": ("t10k-labels-idx1-ubyte.gz", lambda b: b[:8] + b"\x0c" + b[9:], "outside 0-9"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_files_raise_dataset_error_naming_the_file(tmp_path, case):
    name, transform, words = CORRUPTIONS[case]
    folder = write_dataset(tmp_path / case.replace(" ", "_"), make_synthetic(40, 20))
    _corrupt(folder, name, transform)
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", folder, allow_download=False)
    assert name in str(info.value) and words in str(info.value)


def test_mismatched_counts(tmp_path):
    tensors = make_synthetic(40, 20)
    tensors["train_labels"] = tensors["train_labels"][:39]
    folder = write_dataset(tmp_path / "mismatch", tensors)
    with pytest.raises(DatasetError, match="39 labels but .*train-images.* has 40 images"):
        load_dataset("mnist", folder, allow_download=False)


def test_not_gzip_but_named_gz(tmp_path):
    folder = write_dataset(tmp_path / "notgz", make_synthetic(20, 10))
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"this is not gzip data at all")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz"):
        read_idx(folder / "train-images-idx3-ubyte.gz", "images")


def test_normalise_and_batches():
    spec = DATASETS["mnist"]
    imgs = torch.full((5, 28, 28), 255, dtype=torch.uint8)
    x = normalise(imgs, spec)
    assert x.shape == (5, 1, 28, 28)
    assert x[0, 0, 0, 0].item() == pytest.approx((1 - 0.1307) / 0.3081)
    labels = torch.arange(10)
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1).expand(10, 28, 28)
    g = torch.Generator().manual_seed(3)
    got = [y for _, y in iterate_batches(images, labels, 4, g)]
    assert [len(y) for y in got] == [4, 4, 2]
    assert sorted(torch.cat(got).tolist()) == list(range(10))
    assert torch.cat(got).tolist() != list(range(10))  # shuffled
    again = [y for _, y in iterate_batches(images, labels, 4, torch.Generator().manual_seed(3))]
    assert torch.equal(torch.cat(got), torch.cat(again))


def test_augment_moves_ink_but_keeps_it(real_mnist):
    x = real_mnist.test_images[:64].float().div(255).unsqueeze(1)
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert not torch.allclose(out, x)
    ratio = out.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))
    assert ratio.min() > 0.7 and ratio.max() < 1.4  # scale 0.9-1.1 changes area by ~20% at most


def test_distort_slants_bends_and_restrokes_but_keeps_the_digit(real_mnist):
    x = real_mnist.test_images[:64].float().div(255).unsqueeze(1)
    plain = augment(x, torch.Generator().manual_seed(0))
    out = augment(x, torch.Generator().manual_seed(0), distort=True)
    again = augment(x, torch.Generator().manual_seed(0), distort=True)
    assert out.shape == x.shape and torch.equal(out, again)  # seeded: the same draw twice
    assert not torch.allclose(out, plain)
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    ratio = out.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))
    assert ratio.min() > 0.25 and ratio.max() < 2.5  # thinner or thicker strokes, never gone
    assert out.amax(dim=(1, 2, 3)).min() > 0.4  # and never faded to nothing (a thin 1 eroded: 0.46)


def test_restroke_is_a_dilation_or_an_erosion_by_amount():
    x = torch.zeros(3, 1, 9, 9)
    x[:, :, 3:6, 4] = 1.0  # a vertical stroke one pixel wide
    one = torch.tensor([1.0, -1.0, 0.0]).view(3, 1, 1, 1)
    out = data_mod._restroke(x, one)
    assert out[0].sum() == 15  # dilated by 3x3: 5 rows by 3 columns
    assert out[1].sum() == 0  # a 1-pixel stroke erodes away entirely
    assert torch.equal(out[2], x[2])


def test_elastic_field_has_simards_scale():
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(256, 2, 28, 28, generator=g) * 2 - 1
    field = data_mod.elastic_field(noise, 28)
    pixels = field * 28 / 2  # back from grid units to pixels of the 28-pixel image
    # Uniform noise smoothed by a Gaussian of sigma 4 has an std of about 0.577 / (2 sqrt(pi) 4)
    # = 0.041; times alpha 34 that is 1.4 pixels.
    assert 1.0 < pixels.std().item() < 1.8
    assert field.shape == (256, 28, 28, 2)


def test_an_empty_split_is_refused_naming_the_file(tmp_path):
    tensors = make_synthetic(20, 10)
    tensors["test_images"], tensors["test_labels"] = tensors["test_images"][:0], tensors["test_labels"][:0]
    folder = write_dataset(tmp_path, tensors, gz=False)
    with pytest.raises(DatasetError, match="t10k-.*holds no .*header counts 0"):
        load_dataset("mnist", folder, allow_download=False)


def test_the_augmentation_preview_is_what_training_shows_the_network(real_mnist):
    from mnist_core.data.tensors import augmentation_preview, training_view

    digits = real_mnist.train_images[:10]
    assert torch.equal(augmentation_preview(digits, False, False), digits)  # off: as stored
    seen = augmentation_preview(digits, True, False, seed=3)
    assert seen.dtype == torch.uint8 and seen.shape == digits.shape and not torch.equal(seen, digits)
    # The same transform, seed for seed, as a training step's (step.forward_batch's) view of them.
    x = digits.float().div(255).unsqueeze(1)
    expected = training_view(x, True, False, torch.Generator().manual_seed(3)).squeeze(1)
    assert (seen.float() / 255 - expected).abs().max() <= 0.5 / 255 + 1e-6
    assert not torch.equal(augmentation_preview(digits, True, True, seed=3), seen)  # distort adds to it


def test_a_worker_naming_the_folder_gets_the_preloaded_digits(tmp_path, monkeypatch):
    """The workers' fork server preloads the dataset it finds (mnist_core.jobs.preload); a worker is
    then handed the folder the server's copy came from, and must get that copy, not re-read."""
    folder = write_dataset(tmp_path / "digits", make_synthetic(n_train=50, n_test=20, seed=3))
    monkeypatch.setenv("MNIST_DATA_DIR", str(folder))
    first = data_mod.preload("mnist")
    assert first is not None and first.source
    assert data_mod.load_dataset("mnist", first.source, allow_download=False) is first
    assert torch.get_num_threads() >= 1
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    assert data_mod.preload("mnist") is None  # no files yet: nothing loaded, nothing raised
