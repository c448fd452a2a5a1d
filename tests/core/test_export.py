"""The model zip: contents, manifest, weights that reload, ONNX parity, and the CLI."""
import io
import json
import zipfile

import pytest
import torch

from mnist_core.cli.main import main
from mnist_core.models.export import export_bundle, onnx_available
from mnist_core.models.registry import build_model
from mnist_core.runs.checkpoints import BUNDLED_DIR, load_model
from mnist_core.train.config import TrainConfig


@pytest.fixture(scope="module")
def bundle():
    return zipfile.ZipFile(io.BytesIO(export_bundle(BUNDLED_DIR)))


def test_zip_contents_and_manifest(bundle):
    names = set(bundle.namelist())
    assert {"model_state.pt", "manifest.json"} <= names
    assert ("model.onnx" in names) == onnx_available()
    m = json.loads(bundle.read("manifest.json"))
    assert m["config"]["model"] == "cnn" and m["class_names"] == [str(d) for d in range(10)]
    p = m["preprocessing"]
    assert p["normalise"]["mean"] == pytest.approx(0.1307) and p["normalise"]["std"] == pytest.approx(0.3081)
    assert p["image_size"] == [28, 28] and p["digit_box"] == [20, 20]
    assert p["input_shape"] == ["N", 1, 28, 28] and p["centering"] == "centre of mass"
    assert m["final_metrics"]["final_test_acc"] > 0.98
    assert {"torch", "mnist_core", "python"} <= set(m["versions"])


def test_state_dict_reloads_with_identical_outputs(bundle):
    m = json.loads(bundle.read("manifest.json"))
    config = TrainConfig.from_dict(m["config"])
    model = build_model(config.model, **config.model_kwargs)
    model.load_state_dict(torch.load(io.BytesIO(bundle.read("model_state.pt")), weights_only=True))
    model.eval()
    original, _ = load_model(BUNDLED_DIR)
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(model(x), original(x))


def test_onnx_matches_torch(bundle):
    ort = pytest.importorskip("onnxruntime")
    if "model.onnx" not in bundle.namelist():
        pytest.skip("onnx is not installed, so the zip has no model.onnx")
    session = ort.InferenceSession(bundle.read("model.onnx"), providers=["CPUExecutionProvider"])
    model, _ = load_model(BUNDLED_DIR)
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))  # batch 5: dynamic axis
    (onnx_logits,) = session.run(None, {"image": x.numpy()})
    with torch.inference_mode():
        expected = model(x).numpy()
    assert onnx_logits.shape == (5, 10)
    assert abs(onnx_logits - expected).max() < 1e-4


def test_without_onnx_the_manifest_says_so():
    z = zipfile.ZipFile(io.BytesIO(export_bundle(BUNDLED_DIR, with_onnx=False)))
    assert "model.onnx" not in z.namelist()
    assert json.loads(z.read("manifest.json"))["onnx"].startswith("not available")


def test_cli_export(tmp_path, capsys):
    out = tmp_path / "m.zip"
    assert main(["export", "--run", str(BUNDLED_DIR), "--out", str(out)]) == 0
    assert "model_state.pt" in capsys.readouterr().out
    assert "manifest.json" in zipfile.ZipFile(out).namelist()
    assert main(["--runs-dir", str(tmp_path), "export", "--run", "no-such-run"]) == 2
    assert "missing" in capsys.readouterr().err
