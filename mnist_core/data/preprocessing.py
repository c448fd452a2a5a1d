"""Drawn or uploaded digits made the way MNIST digits were made.

MNIST's recipe: the digit's bounding box is scaled to fit 20x20 keeping its aspect ratio
(anti-aliased), then placed in 28x28 so that its centre of mass is at the centre. Naively
resizing a whole canvas to 28x28 gives thin, off-centre digits the model reads badly.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from mnist_core.data.tensors import DATASETS, DatasetSpec, normalise
from mnist_core.device import one_thread
from mnist_core.errors import ImageInputError  # noqa: F401  (defined there, torch-free)
from mnist_core.limits import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS

BOX = 20
SIDE = 28
INK_THRESHOLD = 0.15  # of full intensity, above the background
MIN_INK_PIXELS = 0.0005  # of the image area: fewer inked pixels than this is "blank"


@dataclass
class Preprocessed:
    blank: bool
    tensor: torch.Tensor | None  # normalised (1, 28, 28), None when blank
    steps: dict[str, np.ndarray] = field(default_factory=dict)  # name -> float image in [0, 1]
    message: str = ""


def to_grayscale(image) -> np.ndarray:
    """Any canvas array or PIL image -> float ink intensity in [0, 1], digit bright on dark."""
    if isinstance(image, Image.Image):
        image = pil_to_array(image)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageInputError(f"expected a grayscale, RGB or RGBA image, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ImageInputError("the image is empty")
    scale = np.float32(1 / 255) if arr.dtype == np.uint8 or arr.max() > 1.0 else np.float32(1)
    if arr.ndim == 3 and arr.shape[2] == 4:
        alpha = arr[..., 3].astype(np.float32) * scale
        if alpha.min() < 0.98:
            # Strokes on a transparent canvas: coverage is the ink, whatever its colour.
            # Checked first, since it spares converting the colour channels (the hot path).
            return _fix_polarity_alpha(alpha)
    if arr.ndim == 2:
        gray = arr.astype(np.float32) * scale
    else:
        gray = arr[..., :3].astype(np.float32) @ (np.array([0.299, 0.587, 0.114], np.float32) * scale)
    return fix_polarity(gray)


def _fix_polarity_alpha(alpha: np.ndarray) -> np.ndarray:
    # Where the transparent part is the digit (an opaque background with a cut-out), flip it.
    border = _border(alpha)
    return 1.0 - alpha if np.median(border) > 0.5 else alpha


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])


def fix_polarity(gray: np.ndarray) -> np.ndarray:
    """Make the background dark: a bright border means dark ink on paper, so invert."""
    if np.median(_border(gray)) > 0.5:
        gray = 1.0 - gray
    background = float(np.median(_border(gray)))
    # Paper is rarely pure black after inversion; remove its level so only ink remains.
    span = max(1.0 - background, 1e-6)
    return np.clip((gray - background) / span, 0.0, 1.0)


def crop_to_ink(gray: np.ndarray) -> np.ndarray | None:
    mask = gray > INK_THRESHOLD
    if mask.sum() < max(1, MIN_INK_PIXELS * gray.size):
        return None
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    return gray[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def fit_box(crop: np.ndarray, box: int = BOX) -> np.ndarray:
    """Scale so the longer side is `box` pixels, keeping the aspect ratio, anti-aliased."""
    h, w = crop.shape
    scale = box / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    # Float mode: no rounding to 8 bits, so ink polarity or source format cannot change the result.
    img = Image.fromarray(crop.astype(np.float32))
    # reducing_gap: box-reduce large crops first, then Lanczos the last 3x (same look, faster).
    resized = np.asarray(img.resize((new_w, new_h), Image.Resampling.LANCZOS, reducing_gap=3.0),
                         dtype=np.float32)
    return np.clip(resized, 0.0, 1.0)  # Lanczos overshoots slightly at hard edges


def center_by_mass(fitted: np.ndarray, side: int = SIDE) -> tuple[np.ndarray, np.ndarray]:
    """Paste into the middle of a side x side field, then shift the centre of mass to the centre."""
    h, w = fitted.shape
    pasted = np.zeros((side, side), dtype=np.float32)
    top, left = (side - h) // 2, (side - w) // 2
    pasted[top:top + h, left:left + w] = fitted
    total = pasted.sum()
    if total <= 0:
        return pasted, pasted
    ys, xs = np.indices(pasted.shape)
    cy, cx = (ys * pasted).sum() / total, (xs * pasted).sum() / total
    dy, dx = int(round((side - 1) / 2 - cy)), int(round((side - 1) / 2 - cx))
    # Limit the shift so no ink leaves the field.
    dy = int(np.clip(dy, -top, side - (top + h)))
    dx = int(np.clip(dx, -left, side - (left + w)))
    centred = np.zeros_like(pasted)
    centred[top + dy:top + dy + h, left + dx:left + dx + w] = fitted
    return pasted, centred


def preprocess(image, spec: DatasetSpec = DATASETS["mnist"]) -> Preprocessed:
    """Canvas RGBA array, any array or PIL image -> the model's input, with every step kept."""
    gray = to_grayscale(image)
    steps = {"grayscale": gray}
    crop = crop_to_ink(gray)
    if crop is None:
        return Preprocessed(True, None, steps, "The image looks blank: draw or upload a digit.")
    steps["cropped"] = crop
    fitted = fit_box(crop)
    steps["fit 20x20"] = fitted
    pasted, centred = center_by_mass(fitted)
    steps["centred 28x28"] = centred
    tensor = normalise(torch.from_numpy(centred)[None], spec)[0]  # (1, 28, 28)
    return Preprocessed(False, tensor, steps, "")


def pil_to_array(img: Image.Image) -> np.ndarray:
    """First frame of any PIL image as uint8 L, RGB or RGBA (16-bit and palette included)."""
    if getattr(img, "is_animated", False):
        img = next(iter(ImageSequence.Iterator(img)))
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        return (arr * 255).astype(np.uint8)
    if img.mode == "P":
        img = img.convert("RGBA")
    elif img.mode not in ("L", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    return np.asarray(img)


def read_capped(path) -> bytes:
    """A file's bytes, refusing it once it passes MAX_UPLOAD_BYTES: a stream (/dev/zero) is
    never read to its end."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageInputError(f"the file is over the {MAX_UPLOAD_BYTES / 1e6:.0f} MB limit")
    return data


def _unreadable(exc: Exception) -> str:
    # Pillow's class names ("UnidentifiedImageError") mean nothing to a person; what it found does.
    if isinstance(exc, UnidentifiedImageError):
        return "this file is not a readable image: use a PNG, JPEG, GIF, BMP or WebP file"
    return "this file is not a readable image: it is cut short or damaged"


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from an image's header, without decoding its pixels."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageInputError(_unreadable(exc)) from None


def load_image(data: bytes) -> Image.Image:
    """Uploaded bytes as an 8-bit L, RGB or RGBA image (the first frame of an animation).

    Non-images and oversized ones are refused before decoding.
    """
    if not data:
        raise ImageInputError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageInputError(f"the file is {len(data) / 1e6:.1f} MB; the limit is "
                              f"{MAX_UPLOAD_BYTES / 1e6:.0f} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_UPLOAD_PIXELS:
                raise ImageInputError(f"the image is {w}x{h} pixels; the limit is "
                                      f"{MAX_UPLOAD_PIXELS:,} pixels (for example 4096x4096)")
            img.load()
            # A phone stores "rotate me" in EXIF rather than rotating the pixels: an upright 7
            # photographed in portrait otherwise reads as a 7 lying on its side.
            img = ImageOps.exif_transpose(img)
            # Browsers, and so st.image, cannot show 16-bit images; the first 8-bit frame is
            # also exactly what the model reads, so every caller gets that.
            img = Image.fromarray(pil_to_array(img))
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError(f"the image is too large to decode safely (limit "
                              f"{MAX_UPLOAD_PIXELS:,} pixels, for example 4096x4096)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageInputError(_unreadable(exc)) from None
    return img


@torch.inference_mode()
def classify(model: torch.nn.Module, image, spec: DatasetSpec = DATASETS["mnist"]
             ) -> tuple[Preprocessed, torch.Tensor | None]:
    """Preprocess one image and return (steps, class probabilities), probabilities None if blank."""
    prep = preprocess(image, spec)
    if prep.blank:
        return prep, None
    if model.training:
        model.eval()
    device = next(model.parameters()).device
    with one_thread():
        logits = model(prep.tensor.unsqueeze(0).to(device))
    return prep, torch.softmax(logits.float(), 1)[0].cpu()
