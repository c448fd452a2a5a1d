"""Draw's "Fool it": the smallest change to the drawing that makes the model read another digit."""
from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from .images import image_grid


def _visible(change: torch.Tensor) -> np.ndarray:
    """The change magnified to the full grey range: mid-grey is no change, white added ink,
    black removed ink."""
    scale = float(change.abs().max()) or 1.0
    return ((change / scale + 1) / 2).clamp(0, 1).numpy()


def fool_panel(model, reading, spec, key: str) -> None:
    """A toggle, then the target and strength, and the original, change and result side by side."""
    from mnist_core.analysis.attack import fool

    if reading is None or reading.probs is None:
        return
    if not st.toggle("Fool it: the smallest change that makes the model read another digit", key=f"{key}-fool"):
        return
    classes = list(spec.classes)
    second = int(np.argsort(reading.probs)[-2])
    c = st.columns(2)
    target = c[0].selectbox("Make it read", range(len(classes)), index=second, key=f"{key}-fool-target",
                            format_func=lambda i: classes[i])
    strength = c[1].slider("Strength: the most any pixel may change", 0.05, 0.5, 0.25, 0.05,
                           key=f"{key}-fool-strength",
                           help="Of the full range from black (0) to white (1). The attack stops at the "
                                "first step where the model reads your target, so it usually needs less.")
    x01 = torch.from_numpy(np.ascontiguousarray(reading.prep.steps["centred 28x28"])).float()
    attack = fool(model, x01, target, spec, strength)
    before, after = int(attack.before.argmax()), int(attack.after.argmax())
    image_grid([attack.original.numpy(), _visible(attack.change), attack.fooled.clamp(0, 1).numpy()],
               [f"yours: read as {classes[before]} ({attack.before[before]:.0%})",
                f"the change, magnified (at most {attack.largest_change:.2f} a pixel)",
                f"changed: read as {classes[after]} ({attack.after[after]:.0%})"], width=140)
    if target == before:
        st.info(f"The model already reads {classes[target]}: pick another digit.")
    elif attack.success:
        st.success(f"{attack.steps} gradient-sign steps, no pixel moved more than {attack.largest_change:.2f}, "
                   f"and the model reads {classes[target]}: a change a person would hardly call a "
                   f"different digit. Models that read digits well can still be this brittle.")
    else:
        st.warning(f"Within a strength of {strength:.2f} the model still reads {classes[after]}: "
                   "raise the strength, or pick a digit that looks closer.")
    st.caption("A targeted gradient-sign attack (the basic iterative method, Kurakin et al. 2016): "
               "each step nudges every pixel the way that raises the target's score.")
