"""The training digits as a run will show them to the network, redrawn as the augmentation
settings change (Data's Augmentation tab, and below Train's form)."""
from __future__ import annotations

import streamlit as st

from mnist_core.data.tensors import Dataset, augmentation_preview

from .images import image_grid

COPIES = 3  # rows of augmented copies under the originals


def examples(data: Dataset, per_class: int = 1):
    """The first training digit(s) of each class, so every class shows."""
    labels = data.train_labels
    picks = [int(i) for c in range(len(data.classes)) for i in (labels == c).nonzero()[:per_class, 0]]
    return data.train_images[picks], [data.classes[int(labels[i])] for i in picks]


def show(data: Dataset, augment_on: bool, distort: bool) -> None:
    images, names = examples(data)
    per_row = len(names)
    st.caption("As stored")
    image_grid(list(images.numpy()), names, width=56)
    if not (augment_on or distort):
        st.caption("Augmentation is off: the network sees each digit as stored, every epoch.")
        return
    what = "rotated, shifted and scaled" + (", and on half of them slanted, bent and re-stroked" if distort else "")
    st.caption(f"As the network may see them in {COPIES} different batches ({what}); each epoch draws anew")
    for seed in range(COPIES):
        image_grid(list(augmentation_preview(images, augment_on, distort, seed).numpy()), [""] * per_row, width=56)
