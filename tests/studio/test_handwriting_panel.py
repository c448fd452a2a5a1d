"""The My handwriting panels (studio.handwriting_panel) and the Train link that asks for the set."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from mnist_core.data import handwriting


def save_panel_app(image):
    from mnist_core.data.tensors import DATASETS
    from studio import draw_panel, handwriting_panel, picker

    model, config = picker.load_choice(picker.BUNDLED)
    spec = DATASETS[config.dataset]
    reading = draw_panel.read(model, image, spec)
    draw_panel.show_prediction(reading, spec, key="draw")
    handwriting_panel.save_panel(reading, spec, key="draw")


def test_draw_panel_saves_a_real_digit(tmp_path, monkeypatch):
    from mnist_core.data.tensors import load_dataset
    from tests.support import TIMEOUT, canvas_from_digit, mnist_dir

    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path / "hw"))
    data = load_dataset("mnist", mnist_dir(), allow_download=False)
    image, label = data.test_images[0].numpy(), int(data.test_labels[0])
    at = AppTest.from_function(save_panel_app, args=(canvas_from_digit(image),), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox[0].value == label  # defaults to the prediction
    at.button(key="draw-hw-save").click().run()
    assert not at.exception and not at.error
    x, y = handwriting.load_set(tmp_path / "hw")
    assert y.tolist() == [label] and x.shape == (1, 28, 28) and int(x.sum()) > 0
    assert "1 saved digit in" in "\n".join(c.value for c in at.caption)


def test_train_link_with_handwriting_validates(tmp_path, monkeypatch):
    from tests.support import mnist_dir, open_page

    monkeypatch.setenv("MNIST_DATA_DIR", str(mnist_dir()))
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path / "hw"))
    at = open_page("train", {"handwriting": "true"})
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.checkbox(key="cfg_handwriting").value is True
    assert "empty" in "\n".join(w.value for w in at.warning)


def evaluate_block_app():
    from mnist_core.data.tensors import DATASETS
    from studio import handwriting_panel, picker

    model, config = picker.load_choice(picker.BUNDLED)
    handwriting_panel.evaluate_block(model, DATASETS[config.dataset], 0.99)


def test_evaluate_block_scores_the_set(tmp_path, monkeypatch):
    from mnist_core.data.tensors import load_dataset
    from tests.support import TIMEOUT, mnist_dir

    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path))
    data = load_dataset("mnist", mnist_dir(), allow_download=False)
    for i in range(5):
        handwriting.save_sample(data.test_images[i].numpy() / 255.0, int(data.test_labels[i]), tmp_path)
    at = AppTest.from_function(evaluate_block_app, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.metric[0].label == "Accuracy on your 5 digits" and at.metric[0].value == "100.0%"
    assert at.metric[1].value == "99.00%"


def summary_app():
    from studio import handwriting_panel

    handwriting_panel.summary("draw")


def test_importing_onto_a_full_disk_is_one_message_tried_once(tmp_path, monkeypatch):
    import errno
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    from tests.support import TIMEOUT

    monkeypatch.setenv("MNIST_HANDWRITING_DIR", str(tmp_path / "hw"))
    tries = []

    def full(data, folder=None, **_kwargs):
        tries.append(1)
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "hw" / "x.png"))

    monkeypatch.setattr(handwriting, "import_zip", full)
    png = io.BytesIO()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(png, format="PNG")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.png", png.getvalue())
        zf.writestr("labels.csv", "file,label\na.png,1\n")
    at = AppTest.from_function(summary_app, default_timeout=TIMEOUT).run()
    at.file_uploader[0].set_value(("mine.zip", buf.getvalue(), "application/zip")).run()
    assert not at.exception, [e.message for e in at.exception]
    [message] = [e.value for e in at.error]
    assert "Could not import mine.zip" in message and "the disk is full: free some space" in message, message
    at.run()  # a stroke or any click later: the same file is not imported again
    assert len(tries) == 1 and [e.value for e in at.error] == [message]
