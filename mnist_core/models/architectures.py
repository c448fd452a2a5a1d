"""The networks themselves: one builder function per architecture, and the layers they share.

What the app knows about each (title, arguments, parts) is in the registry, mnist_core.models.registry.
"""
from __future__ import annotations

import torch
from torch import nn

from mnist_core.errors import ModelError  # noqa: F401  (defined there, torch-free)
from mnist_core.limits import MAX_MEMBERS


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
        dropout: float = 0.0, batch_norm: bool = True, hidden: int = 128, convs: int = 1,
        padding: bool = True) -> nn.Module:
    """conv-maxpool(-BN)-ReLU blocks, then an optional hidden layer and the classifier. With
    `convs` > 1 a block has that many conv layers: convs - 1 conv(-BN)-ReLU layers at full size,
    then the pooled one. Without `padding` each convolution trims kernel_size // 2 pixels a
    side: MNIST's digits sit in the middle 20x20, so the trimmed outputs would mostly have read
    blank margins. An unpadded 32-64 network's step is much cheaper, but it reads lower after
    10 epochs (its last maps are 4x4, not 7x7; docs/benchmarks.md, the best preset's table)."""
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
    trim = 0 if padding else kernel_size - 1
    for c in channels:
        for _ in range(convs - 1):
            layers += _conv_layer(c_in, c, kernel_size, batch_norm, pool=False, padding=padding)
            c_in = c
        layers += _conv_layer(c_in, c, kernel_size, batch_norm, pool=True, padding=padding)
        c_in, side = c, (side - convs * trim) // 2
        if side < 1:
            raise ModelError(f"without padding, {len(channels)} blocks of {kernel_size}x{kernel_size} convolutions "
                             f"({convs} a block) shrink a 28x28 image to nothing: use fewer blocks or "
                             "convs, smaller kernels, or padding")
    layers += [nn.Flatten(), SeededDropout(dropout)]
    width = c_in * side * side
    if hidden:
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True), SeededDropout(dropout)]
        width = hidden
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def _conv_layer(c_in: int, c_out: int, kernel_size: int, batch_norm: bool, pool: bool,
                padding: bool = True) -> list[nn.Module]:
    """conv(-maxpool)(-BN)-ReLU at the input's size. Pooling comes straight after the conv:
    max-pooling commutes with ReLU (and with BN's per-channel map while its scale is positive;
    the network is defined this way round either way), so BN and ReLU then touch 4x fewer
    values (`python -m benchmarks --levers` times both block orders)."""
    layers = [nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2 if padding else 0,
                        bias=not batch_norm)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU(inplace=True))
    return layers


class Ensemble(nn.Module):
    """Networks that read each digit side by side; the prediction is their mean probability.

    The output is that mean's logarithm, so softmax, argmax and cross-entropy read it as they
    read any model's logits. Training gives each member its own loss on the same batch, and its
    own augmented copy of it when augmenting (`member_logits`, used by step.forward_batch):
    members trained on their mean's loss instead learn to lean on each other and miss the same
    digits, which is what an ensemble is for avoiding."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def member_logits(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """(members, N, 10): each member's own logits, on x, or on its own view of the batch
        (a list, one per member)."""
        views = x if isinstance(x, (list, tuple)) else [x] * len(self.members)
        return torch.stack([m(v) for m, v in zip(self.members, views, strict=True)])

    @staticmethod
    def combine(member_logits: torch.Tensor) -> torch.Tensor:
        """(members, N, 10) logits -> (N, 10) log of the mean probability."""
        log_probs = torch.log_softmax(member_logits, dim=-1)
        # log(mean(exp(.))) around the largest member: finite however sure the members are
        # (the plain mean underflows to log(0) for a digit every member rules out).
        top = log_probs.amax(dim=0)
        return top + (log_probs - top).exp().mean(dim=0).log()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine(self.member_logits(x))


def ensemble(members: int = 3, channels: tuple[int, ...] | list[int] = (8, 16), kernel_size: int = 5,
             dropout: float = 0.0, batch_norm: bool = True, hidden: int = 128, convs: int = 1,
             padding: bool = True) -> nn.Module:
    """`members` CNNs of one shape (see cnn, whose defaults these are: picking the ensemble in
    the form compares three default CNNs with one), each starting from its own random weights."""
    if not 2 <= members <= MAX_MEMBERS:
        raise ModelError(f"an ensemble has 2 to {MAX_MEMBERS} members, got {members}")
    return Ensemble([cnn(channels, kernel_size, dropout, batch_norm, hidden, convs, padding)
                     for _ in range(members)])




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
