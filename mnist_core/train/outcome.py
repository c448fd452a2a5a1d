"""What a finished run's numbers mean for the person who started it."""
from __future__ import annotations

from mnist_core.train.config import TrainConfig


def chance_verdict(accuracy: float, n_classes: int, config: TrainConfig) -> str | None:
    """'did not learn: ...' with a likely cause when a run ends near chance (at most 1.5 times
    1/classes: 15% for digits), else None. A green "completed" would hide that nothing was learned."""
    if accuracy > 1.5 / n_classes:
        return None
    if config.lr <= 1e-4:
        hint = f"the learning rate {config.lr:g} is probably too low"
    elif config.lr >= (1.0 if config.optimizer == "sgd" else 0.1):
        hint = f"the learning rate {config.lr:g} is probably too high"
    else:
        hint = "try a learning rate between 1e-3 and 1e-2, or more epochs"
    return f"did not learn: accuracy {accuracy:.1%} is chance for {n_classes} classes; {hint}"
