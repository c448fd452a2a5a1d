"""Train's learning-rate finder: sweep the form's model, show loss against the rate, and put the
suggested rate into the form with one click."""
from __future__ import annotations

import streamlit as st

from mnist_core.train.config import TrainConfig

from . import frame, state, train_charts


def _use(value: float) -> None:
    st.session_state["cfg_lr"] = f"{value:.2g}"  # a callback: before the field is drawn again


def finder(config: TrainConfig | None, data) -> None:
    """The button, and the last sweep of this form's settings (the rate aside) with its chart."""
    from mnist_core.train.lr_finder import find_lr

    key = None
    if config is not None:
        key = TrainConfig.from_dict({**config.to_dict(), "lr": 1e-3, "schedule": "constant"}).to_json()
    with st.expander("Find a learning rate", icon=":material/search_insights:"):
        st.caption("Trains this model from scratch for 100 batches while the learning rate rises from "
                   "1e-6 to 1, then suggests the rate where the loss falls fastest (Smith 2015; fast.ai's "
                   "lr_find). Too small a rate barely moves the loss; too large a rate makes it blow up.")
        if st.button("Find a learning rate", key="lr_find", disabled=config is None or data is None,
                     icon=":material/search:"):
            with st.spinner("Sweeping the learning rate over 100 batches..."), frame.shown_errors():
                state.store(state.LR_FINDS, key, find_lr(config, data))
        result = state.cached(state.LR_FINDS, key) if key else None
        if result is None:
            return
        st.plotly_chart(train_charts.lr_finder(result), key="lr_find_chart", config={"displayModeBar": False})
        value = result["suggestion"]
        if value is None:
            st.warning("The loss never fell in this sweep, so there is no suggestion: check the model's "
                       "settings, or the data.")
            return
        c = st.columns([2, 3])
        c[0].button(f"Use {value:.2g}", key="lr_use", type="primary", on_click=_use, args=(value,),
                    icon=":material/check:")
        c[1].caption(f"The loss fell fastest at **{value:.2g}** with {result['optimizer']}, a safe constant "
                     "rate. A one-cycle schedule peaks only briefly and takes more: the default preset "
                     "peaks at 0.02, about 10x what this finder suggests for it.")
