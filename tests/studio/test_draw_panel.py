"""Draw's panel (studio.draw_panel) in AppTest: the prediction, abstaining and the activation maps."""
import numpy as np
from streamlit.testing.v1 import AppTest

from tests.support import TIMEOUT, assert_clean, canvas_from_digit, draw_digit_app, mnist_dir, texts


def test_draw_abstains_below_the_threshold():
    from studio.draw_panel import unsure_text

    p = np.array([0.05, 0.0, 0.0, 0.0, 0.45, 0.0, 0.0, 0.0, 0.0, 0.5])
    classes = [str(d) for d in range(10)]
    assert unsure_text(p, classes, 0.0) is None and unsure_text(p, classes, 0.5) is None
    assert unsure_text(p, classes, 0.6).startswith("Not sure — maybe 9 or 4")


def _draw_activations_app():
    import numpy as np

    from mnist_core.data.tensors import DATASETS
    from mnist_core.runs.checkpoints import load_model
    from studio import draw_panel

    stroke = np.zeros((280, 280, 4), np.uint8)
    stroke[60:220, 130:150] = 255  # a "1"
    model = load_model()[0]
    draw_panel.activation_maps_panel(model, draw_panel.read(model, stroke, DATASETS["mnist"]), key="draw")


def test_activation_maps_panel_shows_each_conv_block_when_toggled():
    at = AppTest.from_function(_draw_activations_app, default_timeout=60).run()
    assert not at.exception and not at.markdown  # nothing computed until asked
    at.toggle(key="draw-activations").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    from mnist_core.train.config import preset_config

    first, second = preset_config("bundled").model_kwargs["channels"]  # the bundled model's blocks
    assert [m.value for m in at.markdown] == [f"**Layer 1**: {first} maps of 14x14",
                                              f"**Layer 2**: {second} maps of 7x7"]


def _ensemble_activations_app():
    import numpy as np
    import torch

    from mnist_core.data.tensors import DATASETS
    from mnist_core.models.registry import build_model
    from studio import draw_panel

    torch.manual_seed(0)
    model = build_model("ensemble", members=2, channels=[4, 8], hidden=16).eval()
    stroke = np.zeros((280, 280, 4), np.uint8)
    stroke[60:220, 130:150] = 255
    draw_panel.activation_maps_panel(model, draw_panel.read(model, stroke, DATASETS["mnist"]), key="draw")


def test_an_ensembles_activation_maps_say_whose_they_are():
    at = AppTest.from_function(_ensemble_activations_app, default_timeout=60).run()
    at.toggle(key="draw-activations").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    assert "first of this ensemble's 2 CNNs" in texts(at.caption)
    assert [m.value for m in at.markdown] == ["**Layer 1**: 4 maps of 14x14",
                                              "**Layer 2**: 8 maps of 7x7"]


def _two_convs_activations_app():
    import numpy as np
    import torch

    from mnist_core.data.tensors import DATASETS
    from mnist_core.models.registry import build_model
    from studio import draw_panel

    torch.manual_seed(0)
    model = build_model("cnn", channels=[4, 8], convs=2, hidden=16).eval()
    stroke = np.zeros((280, 280, 4), np.uint8)
    stroke[60:220, 130:150] = 255
    draw_panel.activation_maps_panel(model, draw_panel.read(model, stroke, DATASETS["mnist"]), key="draw")


def test_two_convs_a_block_show_each_conv_layer_in_order():
    """Each conv layer's maps, numbered as layers: two of them per block here, the first at full
    size and the second pooled (they were all called "Conv block")."""
    at = AppTest.from_function(_two_convs_activations_app, default_timeout=60).run()
    at.toggle(key="draw-activations").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    assert [m.value for m in at.markdown] == ["**Layer 1**: 4 maps of 28x28", "**Layer 2**: 4 maps of 14x14",
                                              "**Layer 3**: 8 maps of 14x14", "**Layer 4**: 8 maps of 7x7"]


def test_draw_logic_reads_real_digits_and_guards_blank_canvases(real_env):
    from mnist_core.data.tensors import load_dataset

    data = load_dataset("mnist", mnist_dir(), allow_download=False)
    for i in range(4):
        digit, label = data.test_images[i].numpy(), int(data.test_labels[i])
        at = AppTest.from_function(draw_digit_app, args=(canvas_from_digit(digit),),
                                   default_timeout=TIMEOUT).run()
        assert_clean(at)
        assert not at.info
        assert at.metric[0].label == "Prediction" and at.metric[0].value == str(label)
        assert len(at.get("image")) == 4  # grayscale, cropped, fit 20x20, centred 28x28

    for blank in (None, np.zeros((280, 280, 4), dtype=np.uint8)):
        at = AppTest.from_function(draw_digit_app, args=(blank,), default_timeout=TIMEOUT).run()
        assert_clean(at)
        assert not at.metric
        assert "Draw a digit" in texts(at.info)


def test_what_is_not_one_digit_says_so_with_its_best_guess(real_env):
    from benchmarks.guard import dots, pairs
    from mnist_core.data.tensors import load_dataset

    rng = np.random.default_rng(3)
    digits = load_dataset("mnist", mnist_dir(), allow_download=False).test_images.numpy()
    for image, words in ((next(dots(rng, 1)), "too little ink"), (next(pairs(rng, digits, 1)), "2 separate shapes")):
        at = AppTest.from_function(draw_digit_app, args=(image,), default_timeout=TIMEOUT).run()
        assert_clean(at)
        assert at.metric[0].value == "?"
        caption = texts(at.caption)
        assert "This doesn't look like one digit" in caption and words in caption and "Best guess: " in caption


def _fool_app(image):
    from mnist_core.data.tensors import DATASETS
    from mnist_core.runs.checkpoints import load_model
    from studio import draw_panel, fool_panel

    model = load_model()[0]
    fool_panel.fool_panel(model, draw_panel.read(model, image, DATASETS["mnist"]), DATASETS["mnist"], key="draw")


def test_fool_it_changes_a_real_drawn_digit_into_the_chosen_one(real_env):
    from mnist_core.data.tensors import load_dataset

    data = load_dataset("mnist", mnist_dir(), allow_download=False)
    digit, label = data.test_images[0].numpy(), int(data.test_labels[0])  # a 7
    at = AppTest.from_function(_fool_app, args=(canvas_from_digit(digit),), default_timeout=TIMEOUT).run()
    assert not at.toggle[0].value and not at.get("image")  # nothing computed until asked
    at.toggle(key="draw-fool").set_value(True).run()
    at.selectbox(key="draw-fool-target").set_value(1).run()
    at.slider(key="draw-fool-strength").set_value(0.3).run()
    assert_clean(at)
    images = at.get("image")
    assert len(images) == 3  # yours, the change, the changed digit
    captions = str([e.proto for e in images])
    assert f"yours: read as {label}" in captions and "changed: read as 1" in captions, captions
    assert "the model reads 1" in texts(at.success)
