import io

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_core.data.preprocessing import ImageInputError, classify, load_image, pil_to_array, preprocess
from mnist_core.runs.checkpoints import load_model


def canvas_with(digit: np.ndarray, size=280, top=0, left=0, scale=1, white_on_black=True,
                rgba_transparent=True) -> np.ndarray:
    """Put a uint8 28x28 digit (bright ink) onto a canvas, like the drawing widget returns."""
    big = np.asarray(Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.Resampling.BILINEAR))
    ink = np.zeros((size, size), np.uint8)
    ink[top:top + big.shape[0], left:left + big.shape[1]] = big
    if rgba_transparent:
        # Streamlit canvas: white strokes, transparent background: the ink lives in alpha.
        rgba = np.zeros((size, size, 4), np.uint8)
        rgba[..., :3] = 255
        rgba[..., 3] = ink
        return rgba
    gray = ink if white_on_black else 255 - ink
    return np.stack([gray] * 3 + [np.full_like(gray, 255)], -1)


def square_digit():
    d = np.zeros((28, 28), np.uint8)
    d[4:24, 10:18] = 255  # a tall bar, like a "1"
    return d


def test_small_digit_in_a_corner_comes_out_centred_in_20x20():
    canvas = canvas_with(square_digit(), top=0, left=0, scale=1)  # 28x28 ink in a 280 canvas corner
    p = preprocess(canvas)
    assert not p.blank and p.tensor.shape == (1, 28, 28)
    out = p.steps["centred 28x28"]
    rows, cols = np.nonzero(out.max(1) > 0.1)[0], np.nonzero(out.max(0) > 0.1)[0]
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert height == 20 and width <= 10  # longer side fills 20, aspect ratio kept (20:8)
    ys, xs = np.indices(out.shape)
    cy, cx = (ys * out).sum() / out.sum(), (xs * out).sum() / out.sum()
    assert abs(cy - 13.5) <= 0.6 and abs(cx - 13.5) <= 0.6


def test_polarity_black_on_white_equals_white_on_black(real_mnist):
    digit = real_mnist.test_images[0].numpy()
    a = preprocess(canvas_with(digit, top=40, left=70, scale=6, rgba_transparent=False))
    b = preprocess(canvas_with(digit, top=40, left=70, scale=6, white_on_black=False, rgba_transparent=False))
    c = preprocess(canvas_with(digit, top=40, left=70, scale=6))
    assert torch.allclose(a.tensor, b.tensor, atol=1e-4)
    assert torch.allclose(a.tensor, c.tensor, atol=1e-4)


@pytest.mark.parametrize("canvas", [
    np.zeros((280, 280, 4), np.uint8),
    np.full((280, 280, 3), 255, np.uint8),
    np.full((100, 100), 30, np.uint8),
])
def test_blank_is_reported_and_never_classified(canvas):
    model, _ = load_model()
    prep, probs = classify(model, canvas)
    assert prep.blank and probs is None and "blank" in prep.message


def test_single_stray_pixel_is_blank():
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[100, 100] = 255
    assert preprocess(canvas).blank


def test_bundled_model_reads_real_test_digits_redrawn_on_canvas(real_mnist):
    model, config = load_model()
    correct, n = 0, 60
    rng = np.random.default_rng(0)
    for i in range(n):
        digit = real_mnist.test_images[i].numpy()
        scale = int(rng.integers(3, 10))
        room = 280 - 28 * scale
        top, left = (int(v) for v in rng.integers(0, room + 1, 2))
        _, probs = classify(model, canvas_with(digit, top=top, left=left, scale=scale))
        correct += int(probs.argmax()) == int(real_mnist.test_labels[i])
    assert correct / n >= 0.95, f"{correct}/{n}"


def _png(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_upload_modes_all_work(real_mnist):
    digit = Image.fromarray(real_mnist.test_images[0].numpy()).resize((112, 112))
    label = int(real_mnist.test_labels[0])
    model, _ = load_model()
    inverted = Image.fromarray(255 - np.asarray(digit))
    sixteen = Image.fromarray(np.asarray(digit).astype(np.uint16) * 257)
    assert sixteen.mode == "I;16"
    for img in (digit, digit.convert("RGB"), digit.convert("RGBA"), digit.convert("P"), inverted, sixteen):
        _, probs = classify(model, load_image(_png(img)))
        assert int(probs.argmax()) == label, img.mode
    frames = [digit, Image.new("L", digit.size)]
    gif = _png(frames[0], "GIF", save_all=True, append_images=frames[1:])
    _, probs = classify(model, load_image(gif))
    assert int(probs.argmax()) == label


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"%PDF-1.4 definitely not an image", "not a readable image"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "not a readable image"),
])
def test_bad_uploads_get_clear_messages(data, words):
    with pytest.raises(ImageInputError, match=words):
        load_image(data)


def test_decompression_bomb_is_refused_before_decoding():
    bomb = _png(Image.new("1", (20000, 20000)))  # tiny file, 400 MP when decoded
    assert len(bomb) < 200_000
    with pytest.raises(ImageInputError, match="too large"):
        load_image(bomb)


def test_one_pixel_image_is_blank_not_a_crash():
    p = preprocess(pil_to_array(load_image(_png(Image.new("L", (1, 1), 255)))))
    assert p.blank


def test_large_but_not_bomb_image_gets_size_message():
    big = _png(Image.new("L", (5000, 5000)))
    with pytest.raises(ImageInputError, match="5000x5000"):
        load_image(big)


def test_a_photos_exif_rotation_is_applied():
    # A phone keeps the sensor's pixels and records "rotate 90 degrees" in EXIF: a digit that
    # stands upright in the photo is stored lying on its side.
    upright = np.zeros((280, 280), np.uint8)
    upright[40:240, 130:150] = 255  # a "1", tall and thin
    stored = Image.fromarray(255 - upright).rotate(90, expand=True)  # how the sensor kept it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    buf = io.BytesIO()
    stored.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    img = np.asarray(load_image(buf.getvalue()).convert("L"))
    rows, cols = np.nonzero(img < 128)
    assert np.ptp(rows) > 3 * np.ptp(cols), "the 1 is still lying on its side"


def test_one_drawing_is_read_on_one_thread_in_any_thread_and_the_count_comes_back(real_mnist):
    """Streamlit reruns a page in a new thread; one image's forward pass there runs alone, and
    the thread count of the process is left as it was."""
    import threading

    from tests.support import canvas_from_digit

    model, _ = load_model()
    seen = []
    hook = model.register_forward_pre_hook(lambda m, args: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        image = canvas_from_digit(real_mnist.test_images[0].numpy())
        results = []
        worker = threading.Thread(target=lambda: results.append(
            (classify(model, image)[1], torch.get_num_threads())))
        worker.start()
        worker.join()
        probs, after_in_thread = results[0]
        assert seen == [1] and after_in_thread == 2
        assert int(probs.argmax()) == int(real_mnist.test_labels[0])
        assert torch.get_num_threads() == 2
    finally:
        hook.remove()
        torch.set_num_threads(before)
