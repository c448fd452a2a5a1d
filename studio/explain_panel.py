"""The "Why?" panel (Draw and Evaluate): a saliency map for any class, and the closest
training digits in pixel space and in the model's own embedding."""
from __future__ import annotations

import streamlit as st
import torch

from mnist_core.analysis.evaluation import predict_proba
from mnist_core.analysis.explain import (
    embed,
    grad_cam,
    integrated_gradients,
    nearest_embedding,
    nearest_pixels,
    occlusion,
)
from mnist_core.data.tensors import Dataset, dataset_status, normalise

from . import charts, state
from .images import image_grid
from .shared_data import cached_dataset

EXPLAIN_METHODS = ("Integrated gradients", "Occlusion", "Grad-CAM (CNN only)")
EMBED_SUBSETS = (10_000, 20_000, 60_000)  # the smallest first: it embeds in seconds on 2 cores


def train_embeddings(model, data: Dataset, model_id, n: int):
    """The first n training digits' embeddings, kept in this session for one model at a time.

    Session state rather than cache_resource: users' models are theirs, and a model still
    training changes its weights (model_id carries the checkpoint's time).
    """
    def compute():
        with st.spinner(f"Embedding {n:,} training digits with this model..."):
            return embed(model, data.train_images[:n], data.spec)

    return state.cached(state.TRAIN_EMBEDDINGS, (model_id, data.source, n), compute)


def show_why(model, x_norm, spec, key: str, model_id, top: int | None = None,
                  subsets: tuple[int, ...] | None = None) -> None:
    """'Why?': a saliency map for a chosen class, and the closest training digits.

    x_norm is the normalised (1,28,28) image the model reads, or a uint8 (28,28) dataset image;
    model_id changes when its weights do.
    """
    if x_norm.dtype == torch.uint8:
        x_norm = normalise(x_norm.unsqueeze(0), spec)[0]
    classes = list(spec.classes)
    if top is None:
        top = int(predict_proba(model, x_norm.unsqueeze(0), spec)[0].argmax())
    left, right = st.columns([1, 2])
    # The key holds the top class, so a new drawing starts again from its own prediction.
    target = left.selectbox("Explain class", range(len(classes)), index=top, key=f"{key}-class-{top}",
                            format_func=lambda i: classes[i] if i == top else f"why not {classes[i]}?")
    method = left.radio("Method", EXPLAIN_METHODS, key=f"{key}-method")
    if method == EXPLAIN_METHODS[0]:
        attr = integrated_gradients(model, x_norm, target, spec=spec)
        left.caption("Per-pixel contributions to the class's score, against a black image; they sum to the "
                     "difference in score. Red supports the class, blue argues against it.")
    elif method == EXPLAIN_METHODS[1]:
        attr = occlusion(model, x_norm, target, spec=spec)
        left.caption("How much the class's probability falls when a 4x4 patch around each pixel is blacked out.")
    else:
        try:
            attr = grad_cam(model, x_norm, target)
        except ValueError as exc:
            left.warning(str(exc))
            attr = None
        left.caption("Where the last convolutional layer's features support the class (a coarse grid, upsampled to 28x28).")
    x01 = (x_norm[0] * spec.std + spec.mean).clamp(0, 1).cpu().numpy()
    if attr is not None:
        right.plotly_chart(charts.saliency_overlay(x01, attr.numpy(), f"{method}: {classes[target]}"),
                           key=f"{key}-saliency")
    st.markdown("**Closest training digits**")
    status = dataset_status(spec.name)
    if not status["found"]:
        st.caption("Needs the training images: " + status["message"])
        return
    data = cached_dataset(spec.name, status["folder"])
    def neighbours(idx, dist) -> None:
        image_grid([data.train_images[i].numpy() for i in idx],
                   [f"{classes[int(data.train_labels[i])]} ({d:.1f})" for i, d in zip(idx, dist)])

    st.caption(f"In pixel space (straight-line distance between the images), among all "
               f"{len(data.train_images):,} training digits:")
    neighbours(*nearest_pixels(data.train_images, x01, 8))
    n = st.selectbox("Embedding search among the first", subsets or EMBED_SUBSETS, key=f"{key}-subset",
                     format_func=lambda v: f"{v:,} training digits")
    bank = train_embeddings(model, data, model_id, n)
    st.caption("In the model's embedding (its last hidden layer), where digits it reads alike sit close; "
               "fewer digits are searched because embedding them all takes a while on a small CPU:")
    neighbours(*nearest_embedding(model, bank, x_norm, 8))
