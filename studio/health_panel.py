"""Inside the network while it trains: one piece of advice first, with the facts per layer it
rests on, then per layer the update ratio and dead units over the run, and the latest histograms
of weights and gradients."""
from __future__ import annotations

import streamlit as st

from . import train_charts


def show(reading: dict | None, history: list[dict], key: str) -> None:
    if not reading:
        st.caption("The first reading comes after 50 training steps.")
        return
    # One warning, not one per layer: the layers' signs share a cause, and advice per layer
    # contradicted itself ("raise the rate" for vanished gradients beside "lower it" for dead units).
    if reading["advice"]:
        st.warning(reading["advice"], icon=":material/stethoscope:")
        st.caption("What each layer shows: " + " ".join(reading["findings"]))
    else:
        st.success(f"At step {reading['step']:,} every layer looks healthy: updates are a sensible size "
                   "against the weights, gradients flow, and most units fire.", icon=":material/favorite:")
    ratio, dead = train_charts.health_history(history)
    c = st.columns(2)
    c[0].plotly_chart(ratio, key=f"{key}-ratio", config={"displayModeBar": False})
    c[1].plotly_chart(dead, key=f"{key}-dead", config={"displayModeBar": False})
    st.caption("The update ratio is how much one step changes a layer, against the layer's size; about "
               "1e-3 is the classic healthy value for SGD (the shaded band is what trains well here, Adam "
               "included). A unit is dead on a batch when no image of it made the unit fire: many dead "
               "units mean a learning rate too high, or a bad start.")
    st.plotly_chart(train_charts.health_histograms(reading), key=f"{key}-hist", config={"displayModeBar": False})
