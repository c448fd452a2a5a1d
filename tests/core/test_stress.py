"""The drawn-digit stress benchmark's redrawing (benchmarks/stress.py): real widths and shapes."""
import pytest
import torch

from benchmarks.stress import CANVAS, pen, skeletons, slices


def _bar(width: int) -> torch.Tensor:
    """A vertical bar `width` pixels wide in a 28x28 uint8 image."""
    img = torch.zeros(1, 28, 28, dtype=torch.uint8)
    img[0, 4:24, 14 - width // 2:14 - width // 2 + width] = 255
    return img


def test_a_thick_bar_thins_to_a_one_pixel_line():
    skel = skeletons(_bar(4), up=4)[0]
    middle = skel[40:72]  # rows well inside the bar, 4x upscaled
    assert (middle.sum(dim=1) == 1).all()


def test_the_pen_draws_strokes_of_its_width():
    skel = skeletons(_bar(4), up=4)
    for width in (8, 20, 30):
        ink = pen(skel, width)[0, 0]
        row = ink[CANVAS // 2]
        drawn = (row > 0.5).sum().item()
        assert abs(drawn - width) <= 4, (width, drawn)


def test_every_slice_keeps_the_digit_on_the_canvas(real_mnist):
    digits = real_mnist.test_images[5000:5008]
    for name, canvases in slices(digits).items():
        assert canvases.shape == (8, 1, CANVAS, CANVAS), name
        ink = canvases.sum(dim=(1, 2, 3))
        assert (ink > 200).all(), name  # at least a short stroke's worth of white pixels
        # Nothing is cut off at the canvas's edge.
        edge = torch.cat([canvases[..., 0, :], canvases[..., -1, :], canvases[..., :, 0], canvases[..., :, -1]], -1)
        assert edge.amax().item() < 0.5, name


def test_independent_writers_are_read_from_the_canvas_like_drawings():
    """UCI optdigits (43 writers outside MNIST): the bundled model must read 600 of them above
    93%, with room below its reading of all 1,797 (benchmarks.stress)."""
    pytest.importorskip("sklearn")
    from benchmarks.stress import CANVAS, independent_writers, read_all
    from mnist_core.data.tensors import DATASETS
    from mnist_core.runs.checkpoints import load_model

    canvases, labels = independent_writers()
    assert canvases.shape == (1797, 1, CANVAS, CANVAS) and set(labels.tolist()) == set(range(10))
    assert 0 <= canvases.min() and canvases.max() <= 1 and canvases[..., :60, :].max() == 0
    model, _ = load_model()
    preds = read_all(model.eval(), canvases[:600], DATASETS["mnist"])
    assert (preds == labels[:600].numpy()).mean() > 0.93
