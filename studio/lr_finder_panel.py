"""Train's learning-rate finder: sweep the form's model, show loss against the rate, and put the
suggested rate into the form with one click.

The finder holds the rate steady at each step, so what it finds is a constant rate, and its
button trains at exactly that: with another schedule in the form it sets the schedule to
constant too, and says so. (It once put the rate in as a one-cycle peak while its caption said
one-cycle peaks belong about ten times higher: the advice and the button disagreed.)"""
from __future__ import annotations

import streamlit as st

from mnist_core.train.config import TrainConfig, preset_settings

from . import frame, state, train_charts


def _use(value: float, constant: bool) -> None:
    st.session_state["cfg_lr"] = f"{value:.2g}"  # a callback: before the field is drawn again
    if constant:
        st.session_state["cfg_schedule"] = "constant"


def use_label(value: float, schedule: str) -> str:
    return f"Use {value:.2g}" if schedule == "constant" else f"Use {value:.2g} as a constant rate"


def advice(value: float, optimizer: str, schedule: str) -> str:
    """What the suggestion means for the form's schedule, in the words of the button beside it."""
    found = f"The loss fell fastest at **{value:.2g}** with {optimizer}, the rate held steady: a safe constant rate."
    if schedule == "constant":
        return found
    if schedule == "onecycle":
        keep = ("One-cycle treats the form's rate as a peak it holds only briefly, so its peak is usually set "
                f"higher (the default preset's is {preset_settings('default')['lr']:g}): to keep one-cycle, "
                "type a peak yourself.")
    else:
        keep = f"To keep the {schedule} schedule, which starts at its rate and lowers it, type the rate in yourself."
    return (f"{found} *{use_label(value, schedule)}* also sets the schedule to constant, so the run trains "
            f"at exactly this rate. {keep}")


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
        schedule = config.schedule  # a result is only found for a valid form
        c = st.columns([2, 3])
        c[0].button(use_label(value, schedule), key="lr_use", type="primary", on_click=_use,
                    args=(value, schedule != "constant"), icon=":material/check:")
        c[1].caption(advice(value, result["optimizer"], schedule))
