"""Draw's panels: the prediction for a drawing or upload, and its activation maps.

A drawing is preprocessed once per rerun (`read`); the prediction, the Why? panel, saving and
the activation maps all take that one Reading.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from mnist_core.analysis.guard import read_one_digit
from mnist_core.data.preprocessing import Preprocessed

from . import charts, state
from .images import enlarge, image_grid, pad_square

BLANK_CANVAS = "Draw a digit in the box: the prediction appears as soon as you lift the pen."


@dataclass(frozen=True)
class Reading:
    """One image as the model saw it: its preprocessing, its probabilities unless blank, and
    why it does not look like one digit (None when it does)."""
    prep: Preprocessed
    probs: np.ndarray | None
    problem: str | None = None

    @property
    def top(self) -> int | None:
        return None if self.probs is None else int(self.probs.argmax())


def read(model, image, spec) -> Reading | None:
    """Preprocess and classify an image; None for no image (the canvas before its first stroke)."""
    if image is None:
        return None
    prep, probs, problem = read_one_digit(model, image, spec)
    return Reading(prep, probs, problem)


def unsure_text(probs: np.ndarray, classes: list[str], threshold: float) -> str | None:
    """The abstention message when the top probability is below the threshold, else None."""
    order = np.argsort(probs)[::-1]
    if probs[order[0]] >= threshold:
        return None
    return (f"Not sure — maybe {classes[order[0]]} or {classes[order[1]]} "
            f"({probs[order[0]]:.0%} is below the {threshold:.0%} threshold set on Evaluate)")


def show_prediction(reading: Reading | None, spec, blank_message: str = BLANK_CANVAS,
                    key: str = "draw") -> int | None:
    """Show what the model read, with the preprocessing steps; None (and a hint) when blank."""
    if reading is None or reading.probs is None:
        st.info(blank_message, icon=":material/draw:")
        return None
    p, top = reading.probs, reading.top
    left, right = st.columns([1, 2])
    unsure = unsure_text(p, list(spec.classes), float(st.session_state.get(state.ABSTAIN, 0.0)))
    if reading.problem:
        left.metric("Prediction", "?")  # a longer word is cut short in this narrow column
        left.caption(f"**This doesn't look like one digit:** {reading.problem}. "
                     f"Best guess: {spec.classes[top]} ({p[top]:.0%}).")
    elif unsure:
        left.metric("Prediction", "Not sure")
        left.caption(unsure)
    else:
        left.metric("Prediction", spec.classes[top])
        left.caption(f"{p[top]:.1%} confidence")
    right.plotly_chart(charts.probability_bars(p, list(spec.classes)), key=f"{key}-probabilities")
    st.markdown("**Preprocessing steps** (what the model sees is the last one)")
    cols = st.columns(len(reading.prep.steps))
    for col, (name, step) in zip(cols, reading.prep.steps.items()):
        col.image(
            # Fills its column: a fixed 140 px overflowed the four narrow columns beside the canvas.
            enlarge(pad_square(step), 140),
            width="stretch",
            caption=f"{name} ({step.shape[1]}x{step.shape[0]})",
        )
    return top


def activation_maps_panel(model, reading: Reading | None, key: str) -> None:
    """Behind a toggle: the feature maps of each conv layer (of a residual network: of each
    block) for the current drawing."""
    from mnist_core.analysis.internals import activation_maps

    if reading is None or reading.prep.tensor is None:
        return
    if not st.toggle("Activation maps", key=f"{key}-activations", persist_state="session", bind="query-params"):
        return
    maps = activation_maps(model, reading.prep.tensor)
    if not maps:
        st.info("This model has no conv layers, so there are no activation maps to show.")
        return
    members = getattr(model, "members", None)
    if members is not None:
        st.caption(f"The maps of the first of this ensemble's {len(members)} CNNs; the others "
                   "differ only in the random weights they started from.")
    for i, m in enumerate(maps, 1):
        a = m.numpy()
        st.markdown(f"**Layer {i}**: {a.shape[0]} maps of {a.shape[1]}x{a.shape[2]}")
        peak = float(a.max()) or 1.0  # one scale per layer, so weak maps look weak
        image_grid([a_i / peak for a_i in a[:32]], [str(j) for j in range(min(32, len(a)))],
                   width=56)
