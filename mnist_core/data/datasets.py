"""Where each dataset's files are, and what it is (classes, pixel statistics), without loading
it: no torch here, so Home can check the files before torch has loaded."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mnist_core import settings
from mnist_core.errors import DatasetError


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    classes: tuple[str, ...]
    mean: float  # of training pixels scaled to [0, 1]
    std: float
    env_var: str
    torchvision_folder: str  # torchvision's <root>/<folder>/raw layout
    system_dirs: tuple[str, ...] = ()


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        "mnist", "MNIST", tuple(str(d) for d in range(10)), 0.1307, 0.3081,
        "MNIST_DATA_DIR", "MNIST"),
    "fashion": DatasetSpec(
        "fashion", "Fashion-MNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        # Computed from the training images (tests/test_data.py re-checks them).
        0.2860, 0.3530, "FASHION_MNIST_DATA_DIR", "FashionMNIST",
        ("/usr/share/datasets/fashion-mnist",)),
}

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}") from None


# ---------------------------------------------------------------- locating files

def candidate_dirs(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched in order: the argument, else the env var, else ./data; plus system dirs."""
    configured = settings.current()
    if data_dir is not None:
        roots = [Path(data_dir)]
    elif configured.data_dir(spec.env_var):
        roots = [Path(configured.data_dir(spec.env_var))]
    else:
        roots = [Path("data")]
        # Fashion-MNIST may sit next to MNIST when only MNIST_DATA_DIR is set.
        if spec.name != "mnist" and configured.data_dir("MNIST_DATA_DIR"):
            roots.append(Path(configured.data_dir("MNIST_DATA_DIR")))
        roots += [Path(d) for d in spec.system_dirs]
    own = {Path(d) for d in spec.system_dirs}
    if spec.name == "mnist" or data_dir is not None or configured.data_dir(spec.env_var):
        own.add(roots[0])
    dirs = []
    for root in roots:
        # A shared folder holds MNIST under the very same file names at its top level, so
        # another dataset is only looked for in its own subfolders there.
        dirs += ([root] if root in own else []) + [root / spec.torchvision_folder / "raw", root / spec.name]
    return dirs


def _find_file(folder: Path, stem: str) -> Path | None:
    # Some mirrors spell the stem with a dot (train-images.idx3-ubyte).
    stems = (stem, stem.replace("-idx", ".idx"))
    for s in stems:
        for suffix in (".gz", ""):
            p = folder / (s + suffix)
            if p.is_file():
                return p
    return None


def locate(spec: DatasetSpec, data_dir=None) -> tuple[Path, dict[str, Path]] | None:
    for folder in candidate_dirs(spec, data_dir):
        found = {key: _find_file(folder, stem) for key, stem in FILES.items()}
        if all(found.values()):
            return folder, found  # type: ignore[return-value]
    return None


def describe_missing(spec: DatasetSpec, data_dir=None) -> str:
    looked = ", ".join(str(d) for d in candidate_dirs(spec, data_dir))
    return (f"{spec.title} files not found. Looked in: {looked}. "
            f"Put the four IDX files ({', '.join(FILES.values())}, .gz or raw) in a folder and "
            f"set {spec.env_var}=/that/folder (or pass --data-dir); with internet access they "
            "are downloaded into ./data automatically.")


def dataset_status(name: str = "mnist", data_dir=None) -> dict:
    """Where the files are (or where we looked), without loading them."""
    spec = get_spec(name)
    hit = locate(spec, data_dir)
    if hit:
        return {"found": True, "folder": str(hit[0]), "message": f"{spec.title} found in {hit[0]}"}
    return {"found": False, "folder": None, "message": describe_missing(spec, data_dir)}
