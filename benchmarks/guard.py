"""How often the one-digit guard refuses: `python -m benchmarks.guard [--n 2000]`.

Real MNIST test digits redrawn on the 280x280 canvas should almost never be refused; single
dots, scribbles, two digits side by side and tiny digits in a corner should be. Prints the
refusal rate of each set, and of each of the guard's three reasons, for the bundled model.
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

from mnist_core.analysis import guard
from mnist_core.data.preprocessing import classify, to_grayscale
from mnist_core.data.tensors import load_dataset
from mnist_core.runs.checkpoints import load_model
from tests.support import canvas_from_digit

SIZE = 280


def _rgba(img: Image.Image) -> np.ndarray:
    out = np.zeros((SIZE, SIZE, 4), np.uint8)
    out[..., :3] = np.asarray(img)[..., None]
    out[..., 3] = 255
    return out


def dots(rng, n):
    for _ in range(n):
        img = Image.new("L", (SIZE, SIZE))
        r = int(rng.integers(4, 20))
        x, y = rng.integers(r, SIZE - r, 2)
        ImageDraw.Draw(img).ellipse([x - r, y - r, x + r, y + r], fill=255)
        yield _rgba(img)


def scribbles(rng, n):
    for _ in range(n):
        img = Image.new("L", (SIZE, SIZE))
        pts = [tuple(int(v) for v in rng.integers(30, SIZE - 30, 2)) for _ in range(int(rng.integers(6, 16)))]
        ImageDraw.Draw(img).line(pts, fill=255, width=int(rng.integers(8, 30)), joint="curve")
        yield _rgba(img)


def pairs(rng, digits, n):
    for _ in range(n):
        img = Image.new("L", (SIZE, SIZE))
        side = int(rng.integers(100, 135))
        gap = int(rng.integers(5, 30))
        left = (SIZE - 2 * side - gap) // 2
        top = int(rng.integers(20, SIZE - side - 20))
        for k in range(2):
            d = Image.fromarray(digits[int(rng.integers(len(digits)))]).resize((side, side), Image.Resampling.BILINEAR)
            img.paste(d, (left + k * (side + gap), top))
        yield _rgba(img)


def tiny(rng, digits, n):
    for _ in range(n):
        img = Image.new("L", (SIZE, SIZE))
        side = int(rng.integers(24, 40))
        d = Image.fromarray(digits[int(rng.integers(len(digits)))]).resize((side, side), Image.Resampling.BILINEAR)
        corner = [(5, 5), (SIZE - side - 5, 5), (5, SIZE - side - 5), (SIZE - side - 5, SIZE - side - 5)]
        img.paste(d, corner[int(rng.integers(4))])
        yield _rgba(img)


def refusals(model, spec, images) -> dict:
    counts = {"n": 0, "refused": 0, "ink": 0, "shapes": 0, "unsure": 0, "top_probs": []}
    for image in images:
        prep, probs = classify(model, image, spec)
        p = None if probs is None else probs.numpy()
        problem = guard.one_digit_problem(to_grayscale(image), p)
        counts["n"] += 1
        counts["top_probs"].append(float(p.max()) if p is not None else 0.0)
        if problem:
            counts["refused"] += 1
            key = "ink" if "little ink" in problem or "no ink" in problem else (
                "shapes" if "shapes" in problem else "unsure")
            counts[key] += 1
    return counts


def measure(n: int = 2000, seed: int = 0) -> dict[str, dict]:
    model, config = load_model()
    data = load_dataset(config.dataset, allow_download=False)
    rng = np.random.default_rng(seed)
    test = data.test_images.numpy()
    pick = rng.choice(len(test), size=min(n, len(test)), replace=False)
    small = max(100, n // 10)
    return {
        "MNIST test digits, redrawn": refusals(model, data.spec, (canvas_from_digit(test[i]) for i in pick)),
        "single dots": refusals(model, data.spec, dots(rng, small)),
        "scribbles": refusals(model, data.spec, scribbles(rng, small)),
        "two digits side by side": refusals(model, data.spec, pairs(rng, test, small)),
        "a small digit in a corner": refusals(model, data.spec, tiny(rng, test, small)),
    }


def table(results: dict[str, dict]) -> str:
    lines = ["| set | images | refused | too little ink | two shapes | unsure |", "|---|---|---|---|---|---|"]
    for name, c in results.items():
        n = c["n"]
        lines.append(f"| {name} | {n:,} | {c['refused'] / n:.1%} | {c['ink'] / n:.1%} | {c['shapes'] / n:.1%} "
                     f"| {c['unsure'] / n:.1%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.guard", description=__doc__)
    p.add_argument("--n", type=int, default=2000, help="MNIST test digits to redraw (the other sets get a tenth)")
    args = p.parse_args(argv)
    results = measure(args.n)
    print(table(results))
    probs = np.array(results["MNIST test digits, redrawn"]["top_probs"])
    print("\nTop probability on redrawn MNIST digits, percentiles 0.5/1/2/5:",
          " ".join(f"{np.percentile(probs, q):.3f}" for q in (0.5, 1, 2, 5)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
