"""Plotly figures whose geometry a user relies on (studio.charts, studio.train_charts)."""
from __future__ import annotations

import numpy as np

from studio import charts, train_charts


def test_live_curves_before_the_first_point_start_at_zero():
    # Plotly's empty axes ran from epoch -0.5 and accuracy -50% while a run started.
    loss, acc = train_charts.training_curves([], [], steps_per_epoch=100)
    assert list(acc.layout.xaxis.range) == [0, 1] and list(acc.layout.yaxis.range) == [0, 1]
    assert list(loss.layout.xaxis.range) == [0, 1] and loss.layout.yaxis.range[0] == 0
    batches = [{"step": 10, "loss": 0.5, "acc": 0.9, "lr": 0.01}]
    loss, acc = train_charts.training_curves(batches, [], steps_per_epoch=100)
    assert acc.layout.yaxis.range is None and acc.layout.xaxis.rangemode == "tozero"  # then the data decides


def test_confusion_cells_fill_the_plot_so_a_click_lands_in_its_cell():
    # Autorange padded the axes for the click markers, so a cell's square sat off the plot's grid
    # and a tap near a cell's edge read the neighbour.
    fig = charts.confusion(np.arange(100).reshape(10, 10), [str(i) for i in range(10)], False)
    assert list(fig.layout.xaxis.range) == [-0.5, 9.5] and list(fig.layout.yaxis.range) == [9.5, -0.5]
    assert fig.layout.hoverdistance >= fig.data[1].marker.size  # a click anywhere in a cell finds it
