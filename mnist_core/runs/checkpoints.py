"""Reading a run's checkpoint back: always torch.load(weights_only=True), so a checkpoint cannot
run code, and every way a file can be wrong (missing, torn, foreign, mismatched weights) is a
RunError that says which. A model is rebuilt from its run folder or checkpoint file alone."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_core.errors import ConfigError, ModelError, RunError

if TYPE_CHECKING:
    from torch import nn

    from mnist_core.train.config import TrainConfig

# The model shipped with the app, read when no run is chosen.
BUNDLED_DIR = Path(__file__).parents[1] / "bundled"


TORN_CHECKPOINT = "the file is truncated or corrupt (not a complete checkpoint)"


def checkpoint_intact(path: Path) -> bool:
    """Whether the run's checkpoint.pt ends as a whole torch checkpoint (a zip) does: a cut-short
    copy is caught from its last bytes, without loading it. Checkpoints are written whole
    (written beside and renamed over), so a torn one was damaged after the run wrote it."""
    return zipfile.is_zipfile(path / "checkpoint.pt")


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path} is missing: there is no such run folder or checkpoint file")
    if path.is_dir():
        folder, path = path, path / "checkpoint.pt"
        if not (folder / "summary.json").is_file() and not path.exists():
            raise RunError(f"{folder} is not a run folder (it has no summary.json or checkpoint.pt)")
        if path.is_dir():
            raise RunError(f"{path} is a folder, not a checkpoint file")
        if not path.is_file():
            raise RunError(f"{path} is missing: the run has no completed epoch yet")
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle refusals, truncation and zip errors all land here
        raise RunError(f"{path} could not be loaded safely: {_why_not_loaded(exc)}") from None
    if not isinstance(state, dict) or "model_state" not in state or "config" not in state:
        raise RunError(f"{path} is not an MNIST Studio checkpoint (no model_state/config)")
    return state


def model_from_checkpoint(state: dict, source: str = "checkpoint") -> tuple[nn.Module, TrainConfig]:
    from mnist_core.models.registry import build_model
    from mnist_core.train.config import TrainConfig

    try:
        config = TrainConfig.from_dict(state["config"])
    except (ConfigError, ModelError, TypeError) as exc:
        raise RunError(f"{source}: its config is invalid: {exc}") from None
    model = build_model(config.model, **config.model_kwargs)
    try:
        model.load_state_dict(state["model_state"], strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise RunError(f"{source}: weights do not match model {config.model!r} "
                       f"{config.model_kwargs}: {_squash(exc, 400)}") from None
    model.eval()
    return model, config


def load_model(path: str | os.PathLike = BUNDLED_DIR) -> tuple[nn.Module, TrainConfig]:
    """A model and its config, rebuilt from a run folder or checkpoint file alone."""
    return model_from_checkpoint(load_checkpoint(path), str(path))


def _why_not_loaded(exc: Exception) -> str:
    """What a failed torch.load means for a person: a cut-short file says "[Errno 22] Invalid
    argument" or "failed finding central directory", which point the wrong way."""
    text = str(exc)
    if "weights_only" in text or "Unsupported global" in text or "Unpickler" in text:
        return f"it holds objects a checkpoint never has, so it was not unpickled ({_first_line(exc)})"
    if isinstance(exc, (OSError, EOFError)) or "central directory" in text or "zip archive" in text:
        return TORN_CHECKPOINT
    return _first_line(exc)


def _first_line(exc: Exception, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


def _squash(exc: Exception, limit: int) -> str:
    # state_dict errors put the useful part (which tensor, which sizes) on later lines.
    return " ".join(str(exc).split())[:limit]
