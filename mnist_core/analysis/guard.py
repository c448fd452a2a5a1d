"""Is this one digit? A drawing or upload is refused, with the reason and the model's best guess,
when it has too little ink to be a digit, when its ink falls in two separate shapes (two digits
side by side, a digit and a stray mark), or when the model is unsure.

`read_one_digit()` is how an image is read wherever a person hands one in (Draw, the CLI's
predict): the model's answer and the guard's verdict together, so no reader can give the one
without the other.

The thresholds were chosen by measurement (`python -m benchmarks.guard`, docs/benchmarks.md):
on 10,000 MNIST test digits redrawn on the canvas the guard refuses under 1%, while it refuses
nearly all single dots and digit pairs.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from mnist_core.data.preprocessing import Preprocessed, classify

# The ink's larger side, as a share of the image's larger side: a dot or a tiny digit in a
# corner is below it; MNIST digits redrawn on the canvas span about 70%.
MIN_EXTENT = 0.15
# Shapes are found on a grid this size; ink within a cell or two of a shape belongs to it, so
# the strokes of one digit (a 4, a 5 with its bar apart) stay one shape.
GRID = 28
INK = 0.2  # a cell with at least this much ink is ink
BRIDGE = 1  # cells of dilation before shapes are told apart
MIN_SHARE = 0.12  # a shape smaller than this share of the ink is a stray speck, not a second digit
# Below this top probability the model is too unsure to answer. The bundled model is
# underconfident (label smoothing), so the useful range is low: see docs/benchmarks.md.
UNSURE_BELOW = 0.4


def _grid(gray: np.ndarray) -> np.ndarray:
    """Mean ink per cell of a GRID x GRID grid over the image's square frame."""
    h, w = gray.shape
    side = max(h, w)
    square = np.zeros((side, side), np.float32)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = gray
    cell = max(1, side // GRID)
    n = side // cell
    return square[:n * cell, :n * cell].reshape(n, cell, n, cell).mean((1, 3))


def _shapes(mask: np.ndarray) -> list[np.ndarray]:
    """Connected groups of True cells (8-neighbours), as arrays of (row, col)."""
    seen = np.zeros_like(mask, dtype=bool)
    out = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        cells, queue = [], deque([start])
        while queue:
            r, c = queue.popleft()
            cells.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < mask.shape[0] and 0 <= cc < mask.shape[1] and mask[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        queue.append((rr, cc))
        out.append(np.array(cells))
    return out


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    for _ in range(steps):
        grown = mask.copy()
        grown[1:] |= mask[:-1]
        grown[:-1] |= mask[1:]
        grown[:, 1:] |= mask[:, :-1]
        grown[:, :-1] |= mask[:, 1:]
        mask = grown
    return mask


def ink_problem(gray: np.ndarray) -> str | None:
    """Why the ink is not one digit (too little, or two shapes apart), or None."""
    rows, cols = np.nonzero(gray > INK)
    if len(rows) == 0:
        return "there is no ink"
    extent = max(np.ptp(rows) + 1, np.ptp(cols) + 1) / max(gray.shape)
    if extent < MIN_EXTENT:
        return f"there is too little ink (it spans {extent:.0%} of the box): draw the digit larger"
    grid = _grid(gray)
    ink = grid > INK
    shapes = [s for s in _shapes(_dilate(ink, BRIDGE)) if s.size]
    weights = [float(grid[tuple(s.T)][ink[tuple(s.T)]].sum()) for s in shapes]
    total = sum(weights) or 1.0
    big = [s for s, wt in zip(shapes, weights) if wt / total >= MIN_SHARE]
    if len(big) >= 2:
        return f"the ink falls in {len(big)} separate shapes: draw one digit at a time"
    return None


def one_digit_problem(gray: np.ndarray, probs: np.ndarray | None, unsure_below: float = UNSURE_BELOW
                      ) -> str | None:
    """The reason an image does not read as one digit, or None when it does."""
    problem = ink_problem(gray)
    if problem is None and probs is not None and float(np.max(probs)) < unsure_below:
        problem = f"the model is unsure ({float(np.max(probs)):.0%} at most)"
    return problem


def read_one_digit(model, image, spec) -> tuple[Preprocessed, np.ndarray | None, str | None]:
    """(the preprocessing steps, the class probabilities, why it is not one digit): the
    probabilities are None for a blank image, the reason None for one digit."""
    prep, probs = classify(model, image, spec)
    if probs is None:
        return prep, None, None
    p = probs.numpy()
    return prep, p, one_digit_problem(prep.steps["grayscale"], p)
