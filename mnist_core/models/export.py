"""A model as a self-describing zip: weights, a manifest with the preprocessing, and ONNX.

model_state.pt is a bare state_dict, so any program with the model's code (build_model and the
manifest's config) can load it with torch.load(weights_only=True). model.onnx, written only when
the `onnx` package is importable, needs no Python code at all.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import torch

from mnist_core.data.preprocessing import BOX, SIDE
from mnist_core.data.tensors import get_spec
from mnist_core.runs.checkpoints import BUNDLED_DIR, load_checkpoint, model_from_checkpoint
from mnist_core.runs.folders import RunError, read_json, read_metrics
from mnist_core.versions import versions

OPSET = 17


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def manifest(run_dir: Path, state: dict, config, onnx_note: str) -> dict:
    spec = get_spec(config.dataset)
    summary = read_json(run_dir / "summary.json") if (run_dir / "summary.json").is_file() else {}
    metrics = read_metrics(run_dir / "metrics.jsonl")  # [] when missing
    return {
        "format": "mnist-studio-export/1",
        "run_id": summary.get("run_id"),
        "label": summary.get("label"),
        "config": config.to_dict(),
        "final_metrics": {k: summary.get(k) for k in
                          ("status", "epochs_done", "final_test_acc", "final_test_loss", "best_test_acc")},
        "last_epoch": metrics[-1] if metrics else None,
        # The exporting library's versions; the training run's are in trained_with.
        "versions": versions(),
        "trained_with": state.get("versions") or summary.get("versions"),
        "preprocessing": {
            "image_size": [SIDE, SIDE],
            "digit_box": [BOX, BOX],
            "steps": ("crop the digit's bounding box, scale it to fit the box keeping its aspect ratio, "
                      "paste into the image and shift its centre of mass to the centre"),
            "centering": "centre of mass",
            "foreground": "white digit on black, pixel values scaled to [0, 1]",
            "normalise": {"mean": spec.mean, "std": spec.std, "formula": "(x - mean) / std"},
            "input_shape": ["N", 1, SIDE, SIDE],
            "input_dtype": "float32",
        },
        "outputs": "logits (N, classes); softmax gives probabilities",
        "class_names": list(spec.classes),
        "onnx": onnx_note,
    }


def _onnx_bytes(model, tmp: Path) -> bytes:
    model = model.eval()
    path = tmp / "model.onnx"
    # dynamo=False: the TorchScript exporter needs no onnxscript and gives one self-contained file.
    torch.onnx.export(model, torch.zeros(1, 1, SIDE, SIDE), str(path), input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=OPSET, dynamo=False)
    return path.read_bytes()


def export_bundle(source: str | os.PathLike = BUNDLED_DIR, out: str | os.PathLike | None = None,
                  with_onnx: bool | None = None) -> bytes | Path:
    """Zip a run folder (or the bundled model). Returns the zip's bytes, or its path when `out` is set."""
    run_dir = Path(source)
    state = load_checkpoint(run_dir)
    if run_dir.is_file():
        run_dir = run_dir.parent
    model, config = model_from_checkpoint(state, str(source))
    if with_onnx is None:
        with_onnx = onnx_available()
    onnx_blob, note = None, "not available (install the onnx package to include model.onnx)"
    if with_onnx:
        with tempfile.TemporaryDirectory(prefix="mnist-export-") as tmp:
            try:
                onnx_blob = _onnx_bytes(model, Path(tmp))
                note = f"model.onnx, opset {OPSET}, input 'image' (N,1,{SIDE},{SIDE}), output 'logits'"
            except Exception as exc:  # an exporter failure should still leave the weights exportable
                note = f"export failed: {type(exc).__name__}: {str(exc)[:200]}"
    weights = io.BytesIO()
    torch.save(model.state_dict(), weights)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model_state.pt", weights.getvalue())
        z.writestr("manifest.json", json.dumps(manifest(run_dir, state, config, note), indent=2))
        if onnx_blob is not None:
            z.writestr("model.onnx", onnx_blob)
    data = buf.getvalue()
    if out is None:
        return data
    out = Path(out)
    if out.parent and not out.parent.is_dir():
        raise RunError(f"{out.parent} is not a folder")
    out.write_bytes(data)
    return out
