"""Every registered model through every feature: the registry's facts are checked here, at test
time, instead of breaking a page at run time."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch

from mnist_core.analysis import explain, internals
from mnist_core.analysis.evaluation import evaluate_tensors
from mnist_core.data.tensors import normalise
from mnist_core.models.export import export_bundle, onnx_available
from mnist_core.models.registry import MODELS, build_model, model_parts, parameter_count
from mnist_core.runs.checkpoints import load_model
from mnist_core.runs.recorder import record
from mnist_core.train.config import TrainConfig
from mnist_core.train.trainer import Trainer

NAMES = sorted(MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_entry_describes_every_argument_of_its_builder(name):
    spec = MODELS[name]
    assert spec.title and spec.description and spec.description.endswith(".")
    assert list(spec.args) == list(spec.defaults), "each builder argument needs an Arg, in order"
    for arg, a in spec.args.items():
        default = spec.defaults[arg]
        assert a.label and a.kind in ("int", "float", "bool", "ints", "choice"), arg
        if a.kind in ("int", "float"):
            assert a.low <= default <= a.high, f"{arg}'s default lies outside the form's range"
        if a.kind == "choice":
            assert default in a.choices
        if a.kind == "bool":
            assert isinstance(default, bool)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_on_the_meta_device_matches_a_real_model(name):
    assert parameter_count(name, {}) == sum(p.numel() for p in build_model(name).parameters())


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    """Each model trained for one epoch (8 steps) on 400 tiny digits and saved as a run."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name in NAMES:
        config = TrainConfig(model=name, epochs=1, train_subset=400, batch_size=50, device="cpu", lr=0.003)
        trainer = Trainer(config, tiny_data)
        events = list(record(trainer, root, label=name))
        out[name] = (trainer, root / events[-1]["run_id"], events)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_trains_evaluates_and_reloads_from_its_run_folder(name, trained, tiny_data):
    trainer, path, events = trained[name]
    assert events[-1]["kind"] == "end" and events[-1]["status"] == "completed"
    model, config = load_model(path)
    assert config == trainer.config
    x = normalise(tiny_data.test_images[:16], tiny_data.spec)
    trainer.model.eval()
    with torch.inference_mode():
        assert torch.allclose(model(x), trainer.model(x.contiguous(memory_format=torch.channels_last)), atol=1e-5)
    score = evaluate_tensors(model, tiny_data.test_images, tiny_data.test_labels, tiny_data.spec)
    assert score["accuracy"] == pytest.approx(events[-2]["test_acc"])


@pytest.mark.parametrize("name", NAMES)
def test_saliency_embeddings_and_maps(name, trained, tiny_data):
    model, _ = load_model(trained[name][1])
    x = normalise(tiny_data.test_images[:1], tiny_data.spec)[0]
    for attribution in (explain.integrated_gradients(model, x, 3, steps=8), explain.occlusion(model, x, 3)):
        assert attribution.shape == (28, 28) and torch.isfinite(attribution).all()
    parts = model_parts(model)
    if parts.features is None:
        with pytest.raises(ValueError, match="convolutional"):  # a clear "not available"
            explain.grad_cam(model, x, 3)
        assert internals.activation_maps(model, x) == []
    else:
        cam = explain.grad_cam(model, x, 3)
        assert cam.shape == (28, 28) and (cam >= 0).all()
        maps = internals.activation_maps(model, x)
        assert len(maps) == len(parts.blocks) >= 1 and all(m.dim() == 3 for m in maps)
        with torch.inference_mode():  # features then head is the whole model
            assert torch.allclose(parts.head(parts.features(x[None].clone())), model(x[None]), atol=1e-5)
    bank = explain.embed(model, tiny_data.train_images[:64], tiny_data.spec)
    assert bank.shape[0] == 64 and bank.dim() == 2
    with torch.inference_mode():  # the classifier's input is the embedding
        logits = model(x[None])
    assert bank.shape[1] == model_parts(model).embedding(x[None]).flatten(1).shape[1]
    idx, dist = explain.nearest_embedding(model, bank, x, 3)
    assert len(idx) == 3 and logits.shape == (1, 10)
    assert internals.first_layer_filters(model).dim() == 3


@pytest.mark.parametrize("name", NAMES)
def test_exports_to_onnx_with_the_same_outputs(name, trained, tiny_data):
    if not onnx_available():
        pytest.skip("the onnx package is not installed")
    import onnxruntime as ort

    path = trained[name][1]
    bundle = zipfile.ZipFile(io.BytesIO(export_bundle(path)))
    assert {"model_state.pt", "manifest.json", "model.onnx"} <= set(bundle.namelist())
    session = ort.InferenceSession(bundle.read("model.onnx"), providers=["CPUExecutionProvider"])
    model, _ = load_model(path)
    x = normalise(tiny_data.test_images[:4], tiny_data.spec)
    (onnx_logits,) = session.run(None, {"image": x.numpy()})
    with torch.inference_mode():
        np.testing.assert_allclose(onnx_logits, model(x).numpy(), rtol=1e-3, atol=1e-4)
