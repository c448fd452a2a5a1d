"""Plotly figures for the pages. Pure functions of numbers: no Streamlit, no torch state."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

BLUE, ORANGE, GREEN, GREY = "#3b5bdb", "#f08c00", "#2f9e44", "#adb5bd"
MARGIN = dict(l=10, r=10, t=56, b=10)
# One colour per class, told apart with the common colour-vision deficiencies: Paul Tol's
# "muted" scheme, with its pale grey darkened so the tenth class shows on white. Each class
# also gets its own marker shape, for readers who cannot use colour at all.
CLASS_COLORS = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933",
                "#DDCC77", "#CC6677", "#882255", "#AA4499", "#777777")
CLASS_SYMBOLS = ("circle", "square", "diamond", "cross", "x", "triangle-up", "triangle-down",
                 "star", "hexagon", "pentagon")


def as_text(text) -> str:
    """Text a visitor typed, for a figure: Plotly reads <a href=...>, <b> and <br> in names and
    titles as markup; escaped, they show as typed."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def layout(fig: go.Figure, title: str, height: int = 320, **kw) -> go.Figure:
    kw.setdefault("margin", MARGIN)
    # The title sits on the plot's top edge, below the toolbar Plotly keeps at the figure's top
    # right: a touch screen always shows that toolbar, and it covered long titles on a tablet.
    fig.update_layout(title=dict(text=title, x=0, xref="paper", xanchor="left", y=1, yref="paper",
                                 yanchor="bottom", pad=dict(b=8)), height=height, **kw)
    return fig


def pixel_heatmap(image: np.ndarray, title: str = "") -> go.Figure:
    """A 28x28 uint8 image, each pixel's value on hover (written in the cells, 784 numbers came
    out about 4 pixels tall in a page's column), with a scale from 0 (paper) to 255 (ink)."""
    fig = go.Figure(go.Heatmap(z=image, colorscale="gray", zmin=0, zmax=255,
                               colorbar=dict(title="value", thickness=12, len=0.8),
                               hovertemplate="row %{y}, column %{x}: %{z}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", visible=False)
    fig.update_xaxes(constrain="domain", visible=False)
    return layout(fig, title, height=460)


def class_balance(counts: list[int], classes: list[str]) -> go.Figure:
    fig = go.Figure(go.Bar(x=list(classes), y=counts, marker_color=BLUE, text=counts,
                           textposition="outside"))
    fig.update_xaxes(type="category")
    return layout(fig, "Images per class", yaxis_title="images")


def mean_images(means: np.ndarray, classes: list[str]) -> go.Figure:
    """All class means side by side in one heatmap, so they share one scale and stay square."""
    gap = 3
    side = means.shape[-1]
    strip = np.full((side, len(means) * (side + gap) - gap), np.nan)
    for i, img in enumerate(means):
        strip[:, i * (side + gap): i * (side + gap) + side] = img
    fig = go.Figure(go.Heatmap(z=strip, colorscale="gray", showscale=False, zmin=0, zmax=1,
                               hovertemplate="%{z:.2f}<extra></extra>"))
    fig.update_xaxes(tickvals=[i * (side + gap) + side / 2 for i in range(len(means))],
                     ticktext=list(classes), showgrid=False, zeroline=False)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    return layout(fig, "Mean image per class", height=220, plot_bgcolor="rgba(0,0,0,0)")


def intensity_histogram(hist: np.ndarray, bins: int = 32) -> go.Figure:
    """The 256-level histogram, grouped into `bins` bars on a log scale (0 dominates)."""
    grouped = hist.reshape(bins, -1).sum(1)
    width = 256 // bins
    fig = go.Figure(go.Bar(x=np.arange(bins) * width + width / 2, y=grouped, width=width * 0.9,
                           marker_color=BLUE,
                           hovertemplate="%{x}: %{y:,.0f} pixels<extra></extra>"))
    return layout(fig, "Pixel intensities", xaxis_title="value (0-255)",
                   yaxis_title="pixels (log)", yaxis_type="log")


def probability_bars(probs: np.ndarray, classes: list[str]) -> go.Figure:
    top = int(np.argmax(probs))
    colors = [BLUE if i == top else GREY for i in range(len(probs))]
    fig = go.Figure(go.Bar(x=list(classes), y=probs, marker_color=colors,
                           text=[f"{p:.0%}" for p in probs], textposition="outside",
                           hovertemplate="%{x}: %{y:.2%}<extra></extra>"))
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1.1], tickformat=".0%")
    return layout(fig, "Class probabilities", height=300)


def confusion(cm: np.ndarray, classes: list[str], normalise: bool) -> go.Figure:
    """Rows are true classes, columns predictions.

    Invisible square markers sit on every cell: Plotly reports clicks on scatter points
    reliably, but not on heatmap cells, so they carry the selection.
    """
    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(1, keepdims=True)
    shown = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0) if normalise else cm
    text = [[f"{v:.1%}" if normalise else f"{int(v)}" for v in row] for row in shown]
    n = len(classes)
    # Colour by the log so a strong diagonal does not wash out the errors.
    fig = go.Figure(go.Heatmap(z=np.log1p(shown * (1000 if normalise else 1)), text=text,
                               texttemplate="%{text}", colorscale="Blues", showscale=False,
                               x=list(range(n)), y=list(range(n)), hoverinfo="skip"))
    xs, ys = np.meshgrid(np.arange(n), np.arange(n))
    fig.add_trace(go.Scatter(
        x=xs.ravel(), y=ys.ravel(), mode="markers", showlegend=False,
        customdata=[[classes[t], classes[p], int(cm[t, p])] for t, p in zip(ys.ravel(), xs.ravel())],
        hovertemplate="true %{customdata[0]}, predicted %{customdata[1]}: "
                      "%{customdata[2]} image(s)<extra></extra>",
        marker=dict(symbol="square", size=24, color="rgba(0,0,0,0)"),
        selected=dict(marker=dict(color="rgba(240,140,0,0.35)")),
        unselected=dict(marker=dict(opacity=0))))
    ticks = dict(tickmode="array", tickvals=list(range(n)), ticktext=list(classes))
    # Fixed ranges: autorange pads for the markers, which moved the cells off the plot's grid.
    fig.update_xaxes(title="predicted", side="top", range=[-0.5, n - 0.5], **ticks)
    fig.update_yaxes(title="true", range=[n - 0.5, -0.5], **ticks)
    return layout(fig, "", height=520, clickmode="event+select", dragmode=False, hoverdistance=30,
                   margin=dict(l=10, r=10, t=60, b=10))


def epoch_overlay(series: dict[str, list[dict]], by_time: bool = False) -> tuple[go.Figure, go.Figure]:
    """Test accuracy and loss for several runs, one line each, against epochs or seconds.

    With `by_time`, x is seconds of training (`train_seconds`, or `elapsed` for runs saved
    before evaluation time was told apart), which puts runs of different speeds on one scale.
    """
    acc, loss = go.Figure(), go.Figure()
    for label, rows in series.items():
        name = as_text(label)  # a run's label is its maker's text
        x = [r.get("train_seconds", r.get("elapsed")) if by_time else r["epoch"] for r in rows]
        acc.add_trace(go.Scatter(x=x, y=[r["test_acc"] for r in rows], mode="lines+markers", name=name))
        loss.add_trace(go.Scatter(x=x, y=[r["test_loss"] for r in rows], mode="lines+markers", name=name))
    accs = [r["test_acc"] for rows in series.values() for r in rows]
    acc.update_yaxes(tickformat=".1%", range=[max(0.0, min(accs, default=0) - 0.02), 1.005])
    # A loss is never negative: plotly centres a lone point's axis on it (-0.5 to 1 for 0.3).
    loss.update_yaxes(rangemode="tozero")
    legend = dict(orientation="h", y=-0.3)
    x_title = "seconds of training" if by_time else "epoch"
    return (layout(acc, "Test accuracy", xaxis_title=x_title, legend=legend),
            layout(loss, "Test loss", xaxis_title=x_title, legend=legend))


def saliency_overlay(image01: np.ndarray, attribution: np.ndarray, title: str = "") -> go.Figure:
    """A 28x28 attribution map, red for evidence for the class and blue against, over the input.

    The colour range is symmetric about zero so that a map's sign reads the same in every figure,
    whatever its largest value.
    """
    attribution = np.asarray(attribution, dtype=float)
    limit = float(np.abs(attribution).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=np.asarray(image01, dtype=float), colorscale="gray", zmin=0, zmax=1,
                               showscale=False, hoverinfo="skip"))
    fig.add_trace(go.Heatmap(z=attribution, colorscale="RdBu", reversescale=True, zmin=-limit,
                             zmax=limit, opacity=0.6, colorbar=dict(thickness=10),
                             hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", visible=False)
    fig.update_xaxes(constrain="domain", visible=False)
    return layout(fig, title, height=340)


def reliability(confidence: np.ndarray, accuracy: np.ndarray, count: np.ndarray, edges: np.ndarray,
                title: str = "Reliability diagram") -> go.Figure:
    """Accuracy per confidence bin against the diagonal a calibrated model would follow."""
    centres = (edges[:-1] + edges[1:]) / 2
    width = float(edges[1] - edges[0])
    fig = go.Figure(go.Bar(x=centres, y=np.nan_to_num(accuracy), width=width * 0.95, marker_color=BLUE,
                           name="accuracy", customdata=np.stack([np.nan_to_num(confidence), count], 1),
                           hovertemplate="accuracy %{y:.1%}<br>mean confidence %{customdata[0]:.1%}"
                                         "<br>%{customdata[1]:,} images<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line=dict(color=GREY, dash="dash")))
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="confidence (top probability)")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", title="accuracy")
    return layout(fig, title, height=340, legend=dict(orientation="h", y=-0.3))


def coverage_accuracy(threshold: np.ndarray, coverage: np.ndarray, accuracy: np.ndarray,
                      t: float, t_coverage: float, t_accuracy: float) -> go.Figure:
    """Accuracy on the images kept against the share kept, as the confidence threshold rises."""
    fig = go.Figure(go.Scatter(x=coverage, y=accuracy, mode="lines", line=dict(color=BLUE),
                               customdata=threshold, name="threshold sweep",
                               hovertemplate="threshold %{customdata:.2f}: keeps %{x:.1%}, "
                                             "accuracy %{y:.2%}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[t_coverage], y=[t_accuracy], mode="markers", name=f"t = {t:.2f}",
                             marker=dict(color=ORANGE, size=11)))
    fig.update_xaxes(tickformat=".0%", title="coverage (share answered)", autorange="reversed")
    fig.update_yaxes(tickformat=".1%", title="accuracy on answered")
    return layout(fig, "Coverage vs accuracy", height=340, legend=dict(orientation="h", y=-0.3))


def robustness_lines(results: dict[str, dict]) -> list[go.Figure]:
    """One accuracy line per distortion family (shift, rotation, thickness)."""
    axis = {"shift": "shift (pixels, diagonal)", "rotation": "rotation (degrees)",
            "thickness": "stroke"}
    figs = []
    for family, points in results.items():
        x = [str(k) for k in points] if family == "thickness" else list(points)
        fig = go.Figure(go.Scatter(x=x, y=list(points.values()), mode="lines+markers",
                                   line_color=BLUE,
                                   hovertemplate="%{x}: %{y:.2%}<extra></extra>"))
        fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
        figs.append(layout(fig, f"Accuracy vs {family}", height=280, xaxis_title=axis.get(family, family)))
    return figs


def weight_grid(weights: np.ndarray, per_row: int = 8, title: str = "") -> go.Figure:
    """K small weight images tiled in one heatmap, each scaled to its own max |w|, red + / blue -."""
    k, h, w = weights.shape
    rows = -(-k // per_row)
    pad = 1
    canvas = np.full((rows * (h + pad) - pad, per_row * (w + pad) - pad), np.nan)
    for i, f in enumerate(weights):
        r, c = divmod(i, per_row)
        scale = float(np.abs(f).max()) or 1.0
        canvas[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = f / scale
    fig = go.Figure(go.Heatmap(z=canvas, colorscale="RdBu", reversescale=True, zmin=-1, zmax=1,
                               showscale=False, hoverinfo="skip"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", visible=False)
    fig.update_xaxes(constrain="domain", visible=False)
    return layout(fig, title, height=max(160, 70 * rows + 40))


def embedding_scatter(coords: np.ndarray, labels: np.ndarray, preds: np.ndarray,
                      classes: list[str], index: np.ndarray) -> go.Figure:
    """2-D projection, one trace per true class; customdata carries each point's image index."""
    fig = go.Figure()
    for c, name in enumerate(classes):
        m = labels == c
        if not m.any():
            continue
        fig.add_trace(go.Scattergl(
            x=coords[m, 0], y=coords[m, 1], mode="markers", name=name,
            marker=dict(size=6, opacity=0.75, color=CLASS_COLORS[c % len(CLASS_COLORS)],
                        symbol=CLASS_SYMBOLS[c % len(CLASS_SYMBOLS)]),
            # Plain lists: a numpy array reaches the browser as typed arrays, and a clicked
            # point's customdata then comes back as {"0": ..., "1": ...} instead of a list.
            customdata=np.stack([index[m], preds[m]], 1).tolist(),
            text=[f"label {name}, predicted {classes[p]}" for p in preds[m]],
            hovertemplate="#%{customdata[0]}: %{text}<extra></extra>"))
    fig.update_xaxes(title="PC 1", zeroline=False)
    fig.update_yaxes(title="PC 2", zeroline=False)
    return layout(fig, "Test embeddings (PCA of the penultimate layer)", height=480,
                   clickmode="event+select", dragmode="zoom")


def ablation_lines(curves: dict[str, list[float]], shares) -> go.Figure:
    """Test accuracy against the share of one layer's units silenced, a line per layer."""
    fig = go.Figure()
    for i, (layer, accs) in enumerate(curves.items()):
        fig.add_trace(go.Scatter(x=list(shares), y=accs, mode="lines+markers", name=layer,
                                 line=dict(color=CLASS_COLORS[i % len(CLASS_COLORS)]),
                                 hovertemplate="%{x:.0%} silenced: %{y:.2%}<extra></extra>"))
    fig.update_xaxes(tickformat=".0%")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    return layout(fig, "Accuracy as a layer loses units", xaxis_title="share of the layer's units silenced",
                  legend=dict(orientation="h", y=-0.3))
