"""Plotly figures of training: live curves with the learning rate, the schedule beside the form,
and a head to head's overlaid curves. Pure functions of numbers, like charts."""
from __future__ import annotations

import math

import plotly.graph_objects as go

from .charts import BLUE, GREEN, GREY, ORANGE, layout

# Small numbers on a linear axis: ".0e" rounded 0.015 and 0.02 to the same "2e-2" side by side.
RATE = ".2~e"


def training_curves(batches: list[dict], epochs: list[dict], steps_per_epoch: float,
                    probes: list[dict] = (), lr_changes: list[dict] = ()) -> tuple[go.Figure, go.Figure]:
    """Loss and accuracy against epochs: per-batch lines, per-epoch train/test markers, a
    budgeted run's test checks between epochs, and each move of the live learning-rate knob."""
    spe = max(steps_per_epoch, 1)
    batches = thin(batches)
    bx = [b["step"] / spe for b in batches]
    ex = [e["epoch"] for e in epochs]
    figs = []
    # "~" trims the zeros a loss of 50 came out with ("50.000").
    for metric, title, fmt in (("loss", "Loss", ".3~f"), ("acc", "Accuracy", ".1%")):
        fig = go.Figure()
        fig.add_trace(go.Scatter(x=bx, y=[b[metric] for b in batches], mode="lines",
                                 name="train (batches)", line=dict(color=GREY, width=1.5)))
        fig.add_trace(go.Scatter(x=ex, y=[e[f"train_{metric}"] for e in epochs],
                                 mode="lines+markers", name="train (epoch)",
                                 line=dict(color=BLUE), marker=dict(size=9)))
        fig.add_trace(go.Scatter(x=ex, y=[e[f"test_{metric}"] for e in epochs],
                                 mode="lines+markers", name="test (epoch)",
                                 line=dict(color=ORANGE), marker=dict(size=9, symbol="diamond")))
        if probes:
            fig.add_trace(go.Scatter(x=[p["epoch"] for p in probes], y=[p[f"test_{metric}"] for p in probes],
                                     mode="markers", name="test (checks)",
                                     marker={"color": ORANGE, "size": 6, "symbol": "circle-open"}))
        if metric == "loss" and batches:  # the learning rate the loss was made with, on its own axis
            fig.add_trace(go.Scatter(x=bx, y=[b["lr"] for b in batches], mode="lines", name="learning rate",
                                     yaxis="y2", line=dict(color=GREEN, width=1.5, dash="dot")))
            fig.update_layout(yaxis2=dict(overlaying="y", side="right", tickformat=RATE, showgrid=False,
                                          title="learning rate", rangemode="tozero"))
        for change in lr_changes:
            fig.add_vline(x=change["step"] / spe, line=dict(color=GREEN, dash="dash", width=1),
                          annotation_text=f"lr x{change['lr_scale']:g}", annotation_font_color=GREEN)
        fig.update_layout(yaxis=dict(tickformat=fmt))
        fig.update_xaxes(rangemode="tozero")
        if not batches and not epochs:  # before the first point Plotly's empty axes ran from -0.5 (-50%)
            fig.update_xaxes(range=[0, 1])
            fig.update_yaxes(range=[0, 1] if metric == "acc" else [0, math.log(10)])
        layout(fig, title, xaxis_title="epoch", legend=dict(orientation="h", y=-0.25))
        figs.append(fig)
    return figs[0], figs[1]


# Points per batch line. The live view redraws every second for each watching session, and a
# 20-epoch run logs about 1,000 batches: every point costs time to build and bytes to send on
# each redraw, while a 280-pixel-wide line cannot show more than a few hundred anyway.
MAX_LINE_POINTS = 300


def thin(batches: list[dict], limit: int = MAX_LINE_POINTS) -> list[dict]:
    """At most `limit` batch events, evenly spaced, always keeping the latest."""
    if len(batches) <= limit:
        return batches
    stride = len(batches) / limit
    picked = [batches[int(i * stride)] for i in range(limit - 1)]
    return picked + [batches[-1]]


def head_to_head_curves(series: dict[str, dict], budget: float) -> tuple[go.Figure, go.Figure]:
    """Test accuracy and loss against seconds of training for each contender, on shared axes.

    `series` maps a contender to {"batches", "probes", "epochs"} training events. Seconds, not
    epochs, are the x axis: that is what the contenders share. Test points come from the checks
    at each tenth of the budget and from the ends of epochs; diamonds mark the epoch ends.
    """
    colours = [BLUE, ORANGE, GREEN, GREY]
    acc, loss = go.Figure(), go.Figure()
    for i, (name, s) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        points = sorted(s.get("probes", []) + s["epochs"], key=lambda e: e["train_seconds"])
        x = [p["train_seconds"] for p in points]
        symbols = ["diamond" if p["kind"] == "epoch" else "circle" for p in points]
        sizes = [11 if p["kind"] == "epoch" else 6 for p in points]
        epochs = [f"epoch {p['epoch']:g}" for p in points]
        loss.add_trace(go.Scatter(x=[b["train_seconds"] for b in s["batches"]], y=[b["loss"] for b in s["batches"]],
                                  mode="lines", name=f"{name} train", opacity=0.5,
                                  line={"color": colour, "width": 1}))
        for fig, metric, fmt in ((acc, "test_acc", ".2%"), (loss, "test_loss", ".4f")):
            fig.add_trace(go.Scatter(x=x, y=[p[metric] for p in points], mode="lines+markers",
                                     name=f"{name} test", line={"color": colour, "width": 3},
                                     marker={"symbol": symbols, "size": sizes}, customdata=epochs,
                                     hovertemplate=f"%{{y:{fmt}}} after %{{x:.1f}} s (%{{customdata}})"
                                                   f"<extra>{name}</extra>"))
    tests = [p["test_acc"] for s in series.values() for p in s.get("probes", []) + s["epochs"]]
    acc.update_yaxes(tickformat=".1%", range=[max(0.0, min(tests, default=0.9) - 0.01), 1.0])
    for fig in (acc, loss):
        fig.update_xaxes(range=[0, budget * 1.04])
    legend = {"orientation": "h", "y": -0.3}
    return (layout(acc, "Test accuracy", xaxis_title="seconds of training", legend=legend),
            layout(loss, "Loss", xaxis_title="seconds of training", legend=legend))


def lr_schedule(points: list[tuple[float, float]], x_title: str) -> go.Figure:
    """The learning rate a config will train with, for beside the form."""
    fig = go.Figure(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines",
                               line=dict(color=GREEN, width=2), hovertemplate="%{x:.2f}: %{y:.2e}<extra></extra>"))
    fig.update_yaxes(tickformat=RATE, rangemode="tozero")
    return layout(fig, "Learning rate over the run", height=216, xaxis_title=x_title)


def lr_finder(result: dict) -> go.Figure:
    """The learning-rate finder's sweep: loss against the rate on a log axis, the suggestion marked."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=result["lrs"], y=result["losses"], mode="lines", name="loss (each batch)",
                             line=dict(color=GREY, width=1)))
    fig.add_trace(go.Scatter(x=result["lrs"], y=result["smoothed"], mode="lines", name="loss (smoothed)",
                             line=dict(color=BLUE, width=2.5),
                             hovertemplate="lr %{x:.2e}: loss %{y:.3f}<extra></extra>"))
    if result["suggestion"] is not None:
        fig.add_vline(x=result["suggestion"], line=dict(color=ORANGE, dash="dash"))
        # Annotations on a log axis take log10 of the value (add_vline's own label lands elsewhere).
        fig.add_annotation(x=math.log10(result["suggestion"]), y=1, yref="paper", showarrow=False,
                           text=f"suggested {result['suggestion']:.2g}", xanchor="right", font=dict(color=ORANGE))
    top = min(max(result["smoothed"]) * 1.3, max(result["losses"]))
    fig.update_xaxes(type="log", tickformat=".0e", dtick=1)  # one tick a decade: 1e-6 ... 1
    fig.update_yaxes(range=[0, top])
    return layout(fig, "Loss as the learning rate rises", height=300, xaxis_title="learning rate (log scale)",
                  legend=dict(orientation="h", y=-0.3))


def health_histograms(reading: dict) -> go.Figure:
    """One row per weighted layer: the histogram of its weights, then of its gradients."""
    from plotly.subplots import make_subplots

    layers = reading["layers"]
    fig = make_subplots(rows=len(layers), cols=2, horizontal_spacing=0.08, vertical_spacing=0.5 / max(len(layers), 1),
                        subplot_titles=[f"{layer['name']}: {what}" for layer in layers for what in ("weights", "gradients")])
    for row, layer in enumerate(layers, start=1):
        for col, (what, color) in enumerate((("weights", BLUE), ("grads", ORANGE)), start=1):
            h = layer[what]
            n = len(h["counts"])
            width = (h["hi"] - h["lo"]) / n
            centres = [h["lo"] + width * (i + 0.5) for i in range(n)]
            fig.add_trace(go.Bar(x=centres, y=h["counts"], width=width, marker_color=color, showlegend=False,
                                 hovertemplate="%{x:.2e}: %{y}<extra></extra>"), row=row, col=col)
    fig.update_xaxes(tickformat=RATE, nticks=5)
    fig.update_yaxes(showticklabels=False)
    fig.update_annotations(font_size=12)
    fig = layout(fig, f"Weights and gradients at step {reading['step']:,}", height=130 * len(layers) + 90)
    # The first row's own titles sit on the plot's top edge, where the figure's title goes: it
    # rises above them into a wider margin.
    fig.update_layout(title=dict(y=1, yref="container", yanchor="top", pad=dict(t=10)),
                      margin=dict(l=10, r=10, t=86, b=10))
    return fig


def health_history(history: list[dict]) -> tuple[go.Figure, go.Figure]:
    """The update ratio of each layer (log scale, with the healthy band) and the share of dead
    units after each layer, over the run."""
    x = [h["epoch"] for h in history]
    colours = [BLUE, ORANGE, GREEN, GREY, "#7048e8", "#d6336c", "#0c8599", "#5c940d"]
    ratio, dead = go.Figure(), go.Figure()
    for i, name in enumerate(history[-1]["update_ratio"] if history else ()):
        ratio.add_trace(go.Scatter(x=x, y=[h["update_ratio"].get(name) for h in history], mode="lines+markers",
                                   name=name, line=dict(color=colours[i % len(colours)])))
    for i, name in enumerate(history[-1]["dead"] if history else ()):
        dead.add_trace(go.Scatter(x=x, y=[h["dead"].get(name) for h in history], mode="lines+markers",
                                  name=name, line=dict(color=colours[i % len(colours)])))
    ratio.add_hrect(y0=1e-4, y1=3e-2, fillcolor=GREEN, opacity=0.08, line_width=0)
    ratio.update_yaxes(type="log", tickformat=".0e", dtick=1)
    dead.update_yaxes(tickformat=".0%", range=[0, 1])
    legend = dict(orientation="h", y=-0.3)
    return (layout(ratio, "Update size / weight size, per step", xaxis_title="epoch", legend=legend),
            layout(dead, "Units that never fired on the batch", xaxis_title="epoch", legend=legend))
