"""The networks themselves: one builder function per architecture, and the layers they share.

What the app knows about each (title, arguments, parts) is in the registry, mnist_core.models.
"""
from __future__ import annotations

import torch
from torch import nn
from .errors import ModelError  # noqa: F401  (defined there, torch-free)




class SeededDropout(nn.Module):
    """Dropout drawing its mask from a generator the trainer owns.

    nn.Dropout uses the global RNG, which concurrent training threads share, so two jobs
    with the same seed would not reproduce each other. With its own generator each run is
    deterministic whatever else the process is doing.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ModelError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        g = self.generator
        if g is not None and g.device != x.device:
            g = None
        keep = torch.rand(x.shape, generator=g, device=x.device) >= self.p
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def logreg() -> nn.Module:
    """Softmax regression: one linear layer on the 784 pixels."""
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))


def mlp(hidden: tuple[int, ...] | list[int] = (256, 128), dropout: float = 0.2) -> nn.Module:
    """Fully connected network with ReLU and dropout between layers."""
    hidden = _positive_ints("hidden", hidden, allow_empty=True)
    layers: list[nn.Module] = [nn.Flatten()]
    width = 28 * 28
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True), SeededDropout(dropout)]
        width = h
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def cnn(channels: tuple[int, ...] | list[int] = (8, 16), kernel_size: int = 5,
        dropout: float = 0.0, batch_norm: bool = True, hidden: int = 128, convs: int = 1) -> nn.Module:
    """conv-maxpool(-BN)-ReLU blocks, then an optional hidden layer and the classifier. With
    `convs` > 1 a block has that many conv layers: convs - 1 conv(-BN)-ReLU layers at full size,
    then the pooled one."""
    channels = _positive_ints("channels", channels)
    if len(channels) > 4:
        raise ModelError("at most 4 conv blocks fit a 28x28 input (each halves the size)")
    if kernel_size not in (3, 5, 7):
        raise ModelError(f"kernel_size must be 3, 5 or 7, got {kernel_size}")
    if hidden < 0:
        raise ModelError(f"hidden must be >= 0, got {hidden}")
    if not 1 <= convs <= 3:
        raise ModelError(f"convs must be 1, 2 or 3, got {convs}")
    layers: list[nn.Module] = []
    c_in, side = 1, 28
    for c in channels:
        for _ in range(convs - 1):
            layers += _conv_layer(c_in, c, kernel_size, batch_norm, pool=False)
            c_in = c
        layers += _conv_layer(c_in, c, kernel_size, batch_norm, pool=True)
        c_in, side = c, side // 2
    layers += [nn.Flatten(), SeededDropout(dropout)]
    width = c_in * side * side
    if hidden:
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True), SeededDropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def _conv_layer(c_in: int, c_out: int, kernel_size: int, batch_norm: bool, pool: bool) -> list[nn.Module]:
    """conv(-maxpool)(-BN)-ReLU at the input's size. Pooling comes straight after the conv:
    max-pooling commutes with ReLU (and with BN's monotone per-channel map), so BN and ReLU then
    touch 4x fewer values. 1.5x faster on 2 CPU cores."""
    layers = [nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=not batch_norm)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU(inplace=True))
    return layers


def tutorial_cnn() -> nn.Module:
    """The conv10-conv20-fc500 network of the seed tutorial, kept as a benchmark baseline."""
    return nn.Sequential(
        nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(320, 500), nn.ReLU(), nn.Linear(500, 10))


class ResidualBlock(nn.Module):
    """He et al.'s basic block: two 3x3 convolutions with batch norm, added to a shortcut (a 1x1
    convolution where the shape changes), then ReLU. The shortcut lets gradients skip the block."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet(channels: tuple[int, ...] | list[int] = (8, 16, 32), dropout: float = 0.0) -> nn.Module:
    """A small residual network: a 3x3 stem, one residual block per width (each after the first
    halves the size), global average pooling and the classifier."""
    channels = _positive_ints("channels", channels)
    if len(channels) > 4:
        raise ModelError("at most 4 residual blocks fit a 28x28 input (each after the first halves the size)")
    layers: list[nn.Module] = [nn.Conv2d(1, channels[0], 3, padding=1, bias=False),
                               nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True)]
    for i, c in enumerate(channels):
        layers.append(ResidualBlock(channels[max(i - 1, 0)], c, stride=1 if i == 0 else 2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), SeededDropout(dropout), nn.Linear(channels[-1], 10)]
    return nn.Sequential(*layers)


def _positive_ints(name, values, allow_empty=False) -> tuple[int, ...]:
    if isinstance(values, int):
        values = (values,)
    try:
        out = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ModelError(f"{name} must be a list of positive integers, got {values!r}") from None
    if (not out and not allow_empty) or any(v <= 0 or v > 4096 for v in out):
        raise ModelError(f"{name} must be positive integers up to 4096, got {list(out)}")
    return out


def set_dropout_generator(model: nn.Module, generator: torch.Generator | None) -> None:
    for m in model.modules():
        if isinstance(m, SeededDropout):
            m.generator = generator
