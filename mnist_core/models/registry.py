"""The model registry: each entry carries its own facts, so nothing else lists models.

An entry has a title and a one-line description (shown by Train and Head to head), its
arguments (label, kind, range, help: the Train form and the link checks are drawn from them)
`parts`, which tells the analysis features (saliency, embeddings, activation maps) where
its feature extractor ends and its classifier begins, `unit_blocks`, the blocks that hold a layer
of units of their own (health readings and Break it find every other unit layer as a ReLU after a
Conv2d or Linear), and `member_losses`, for a model that trains each member on its own loss.
Adding a model means a builder in `architectures` and one entry here; tests/core/test_registry.py
puts every entry through every feature.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from mnist_core.models import architectures as arch
from mnist_core.models.architectures import ModelError, set_dropout_generator  # noqa: F401  (part of this API)

# The attribute build_model stamps on each model, so analysis code can find its entry.
REGISTRY_NAME = "registry_name"


@dataclass(frozen=True)
class Arg:
    """One builder argument as the form shows it. kind: int, float, bool, ints (a list) or choice."""
    label: str
    kind: str
    help: str = ""
    low: float | None = None  # int and float kinds: the form's range, also checked in links
    high: float | None = None
    step: float | None = None
    choices: tuple = ()


@dataclass(frozen=True)
class Parts:
    """The pieces the analysis features need, as views of one built model (shared weights)."""
    embedding: nn.Module  # image -> the penultimate features (the classifier's input)
    features: nn.Module | None  # image -> the last conv block's maps (Grad-CAM); None without convs
    head: nn.Module | None  # those maps -> logits
    blocks: tuple[nn.Module, ...]  # the module ending each conv block (activation maps)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    description: str
    build: Callable[..., nn.Module]
    args: dict[str, Arg]
    parts: Callable[[nn.Module], Parts]
    # (block type, its number of units): blocks whose ReLU is inside them, read as one layer.
    unit_blocks: tuple[tuple[type[nn.Module], Callable[[nn.Module], int]], ...] = ()
    # Each member learns on its own loss: the model has member_logits(x) and combine(logits).
    member_losses: bool = False

    @property
    def defaults(self) -> dict[str, object]:
        return {p.name: p.default for p in inspect.signature(self.build).parameters.values()}


def sequential_parts(model: nn.Sequential) -> Parts:
    """Parts of a flat Sequential: conv blocks end at the first ReLU after each Conv2d."""
    blocks, pending = [], False
    for m in model:
        if isinstance(m, nn.Conv2d):
            pending = True
        elif isinstance(m, nn.ReLU) and pending:
            blocks.append(m)
            pending = False
        elif isinstance(m, (nn.Flatten, nn.Linear)):
            break
    features = head = None
    if blocks:
        cut = max(i for i, m in enumerate(model) if m is blocks[-1])
        features, head = model[:cut + 1], model[cut + 1:]
    return Parts(embedding=model[:-1], features=features, head=head, blocks=tuple(blocks))


def residual_parts(model: nn.Sequential) -> Parts:
    """The stem's ReLU and each residual block end a block; Grad-CAM reads the last block."""
    last = max(i for i, m in enumerate(model) if isinstance(m, arch.ResidualBlock))
    blocks = (model[2],) + tuple(m for m in model if isinstance(m, arch.ResidualBlock))
    return Parts(embedding=model[:-1], features=model[:last + 1], head=model[last + 1:], blocks=blocks)


class _SideBySide(nn.Module):
    """One part of each ensemble member, their outputs joined along dimension 1."""

    def __init__(self, parts: list[nn.Module]):
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([p(x) for p in self.parts], 1)


class _MemberHeads(nn.Module):
    """Joined maps -> each member's head on its own share -> the ensemble's output."""

    def __init__(self, heads: list[nn.Module]):
        super().__init__()
        self.heads = nn.ModuleList(heads)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        shares = maps.chunk(len(self.heads), 1)
        return arch.Ensemble.combine(torch.stack([h(s) for h, s in zip(self.heads, shares)]))


def ensemble_parts(model: arch.Ensemble) -> Parts:
    """The members' embeddings side by side; Grad-CAM reads every member's last maps together;
    activation maps are the first member's (the others' differ only by their starting weights)."""
    members = [sequential_parts(m) for m in model.members]
    return Parts(embedding=_SideBySide([p.embedding for p in members]),
                 features=_SideBySide([p.features for p in members]),
                 head=_MemberHeads([p.head for p in members]), blocks=members[0].blocks)


WIDTHS = "Comma-separated layer widths, e.g. 256, 128"
DROPOUT = Arg("Dropout", "float", "Share of units zeroed at random while training; 0 turns it off.",
              0.0, 0.9, 0.05)

CNN_ARGS = {
    "channels": Arg("Conv channels", "ints", WIDTHS),
    "kernel_size": Arg("Kernel size", "choice", "Side of each convolution's square window.",
                       choices=(3, 5, 7)),
    "dropout": DROPOUT,
    "batch_norm": Arg("Batch norm", "bool", "Normalise each block's outputs: trains faster."),
    "hidden": Arg("Hidden units", "int", "0 removes the hidden layer", 0, 4096, 16),
    "convs": Arg("Convs per block", "int", "Conv layers in each block before it halves the "
                 "image: 2 or 3 make a deeper, slower network (as in VGG).", 1, 3, 1),
    "padding": Arg("Pad the borders", "bool", "Pad each convolution so the image keeps its "
                   "size. Off, each convolution trims its border instead of reading MNIST's "
                   "blank margins: a 32-64 network trains 2.3x faster and reads a little worse."),
}

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ModelSpec("logreg", "Logistic regression", "One linear layer on the 784 pixels: the classic baseline.",
              arch.logreg, {}, sequential_parts),
    ModelSpec("mlp", "MLP", "Fully connected layers with ReLU and dropout: sees pixels, not shapes.",
              arch.mlp, {"hidden": Arg("Hidden units", "ints", WIDTHS), "dropout": DROPOUT},
              sequential_parts),
    ModelSpec("cnn", "CNN", "Convolution blocks that learn strokes and shapes, then a small classifier.",
              arch.cnn, CNN_ARGS, sequential_parts),
    ModelSpec("ensemble", "Ensemble of CNNs", "Several CNNs of one shape, each from its own random start, "
              "trained side by side on the same batches, each on its own loss (and, with "
              "augmentation, its own augmented copy); the ensemble predicts "
              "their mean probability, at one CNN's time per member. On the default recipe three "
              "CNNs read 99.2% where one reads 99.1%, but one CNN trained three times as long reads "
              "99.3%: for a fixed time, a longer run usually beats more members.",
              arch.ensemble, {"members": Arg("Members", "int", "How many CNNs read each digit.",
                                             2, arch.MAX_MEMBERS, 1), **CNN_ARGS}, ensemble_parts,
              member_losses=True),
    ModelSpec("resnet", "Residual CNN", "Residual blocks with shortcut connections, as in ResNet, then "
              "global average pooling: deeper, and slower than the CNN on a small CPU.",
              arch.resnet, {"channels": Arg("Block widths", "ints", "Channels of each residual block, e.g. 8, 16, 32"),
                            "dropout": DROPOUT}, residual_parts,
              unit_blocks=((arch.ResidualBlock, lambda block: block.conv2.out_channels),)),
    ModelSpec("tutorial_cnn", "Tutorial CNN", "The conv10-conv20-fc500 network of the PyTorch tutorial.",
              arch.tutorial_cnn, {}, sequential_parts),
)}


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None


def model_arguments(name: str) -> dict[str, object]:
    """The keyword arguments a registered model accepts, with their defaults."""
    return model_spec(name).defaults


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _coerce_arg(arg: str, a: Arg, value):
    """One argument as its declared kind: "no" is False, "5" is 5, "256, 128" is [256, 128]."""
    def bad(kind: str):
        return ModelError(f"{arg} must be {kind}, got {value!r}")

    def finite(kind: str) -> float:
        try:
            number = float(str(value).strip()) if not isinstance(value, bool) else math.nan
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise bad(kind)
        return number

    if a.kind == "bool":
        text = str(value).strip().lower()
        if isinstance(value, bool) or text in _TRUE or text in _FALSE:
            return value if isinstance(value, bool) else text in _TRUE
        raise bad("true or false")
    if a.kind == "float":
        return finite("a number")
    if a.kind in ("int", "choice") or not isinstance(value, (list, tuple, str)):
        number = finite("a whole number")
        if number != int(number):
            raise bad("a whole number")
        return int(number) if a.kind != "ints" else [int(number)]
    if isinstance(value, str):  # ints as text
        value = value.replace(",", " ").split()
    return [_coerce_arg(arg, Arg("", "int"), v) for v in value]


def coerce_arguments(name: str, kwargs: dict) -> dict:
    """A model's arguments as their declared kinds (from a link, a CLI or a JSON file);
    arguments it does not declare are left for build_model to refuse by name."""
    args = model_spec(name).args
    return {k: _coerce_arg(k, args[k], v) if k in args else v for k, v in kwargs.items()}


def build_model(name: str, **kwargs) -> nn.Module:
    spec = model_spec(name)
    allowed = spec.defaults
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ModelError(f"model {name!r} takes no argument(s) {unknown}; it takes {sorted(allowed)}")
    try:
        model = spec.build(**kwargs)
    except ModelError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise ModelError(f"bad arguments for model {name!r}: {exc}") from exc
    except RuntimeError as exc:  # torch refusing a layer's size ("Storage size calculation overflowed")
        first = (str(exc).splitlines() or [""])[0][:120]
        raise ModelError(f"model {name!r} cannot be built that large: {first}") from exc
    setattr(model, REGISTRY_NAME, name)
    return model


def spec_of(model: nn.Module) -> ModelSpec | None:
    """The registry entry a model was built from, or None for a model built some other way."""
    return MODELS.get(getattr(model, REGISTRY_NAME, None))


def model_parts(model: nn.Module) -> Parts:
    """The analysis parts of a model built by build_model (a bare Sequential is read as one)."""
    name = getattr(model, REGISTRY_NAME, None)
    if name in MODELS:
        return MODELS[name].parts(model)
    if isinstance(model, nn.Sequential):
        return sequential_parts(model)
    raise ModelError(f"{type(model).__name__} is not a registered model, so its parts are unknown")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def penultimate(model: nn.Module) -> nn.Module:
    """Everything before the final classifier layer (for embeddings)."""
    return model_parts(model).embedding


def parameter_count(name: str, kwargs: dict) -> int:
    """Parameters of a config's model, counted on the meta device (no memory is allocated)."""
    with torch.device("meta"):
        return count_parameters(build_model(name, **kwargs))
