"""Small images shown crisp: digits are 28x28, so the browser must not blur them."""
from __future__ import annotations

import numpy as np
import streamlit as st


def enlarge(image: np.ndarray, target: int = 112) -> np.ndarray:
    """Nearest-neighbour upscaling, so small images stay crisp instead of browser-blurred."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    factor = max(1, target // max(image.shape[:2]))
    return image.repeat(factor, 0).repeat(factor, 1)


def pad_square(image: np.ndarray) -> np.ndarray:
    """Centre on a black square, so thin crops keep their shape when shown at a fixed width."""
    h, w = image.shape[:2]
    side = max(h, w)
    out = np.zeros((side, side), dtype=image.dtype)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = image
    return out


def image_grid(images, captions: list[str], width: int = 64) -> None:
    """Images `width` pixels wide, as many a row as fit: Data's 48 samples read 4 a row on a
    390-px phone and 6 a row in their column at 1280 px. (Columns would stack on a phone, one
    digit a row, and make that page several times longer.)"""
    with st.container(horizontal=True, gap="small"):
        for img, cap in zip(images, captions):
            st.image(enlarge(np.asarray(img), max(width, 84)), caption=cap, width=width)
