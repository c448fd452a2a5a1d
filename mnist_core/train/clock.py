"""A stopwatch for training time: it runs while the trainer works, not while its caller does."""
from __future__ import annotations

import time


class Clock:
    """Seconds of training, not counting the time a caller spends between events."""

    def __init__(self):
        self.spent = 0.0
        self._since: float | None = None

    def start(self) -> None:
        self._since = time.perf_counter()

    def stop(self) -> None:
        if self._since is not None:
            self.spent += time.perf_counter() - self._since
            self._since = None

    def seconds(self) -> float:
        return self.spent + (time.perf_counter() - self._since if self._since is not None else 0.0)
