"""Loading torch in the background once Home is on screen, so that the first page that needs it
(Draw, Train, Evaluate) opens without the wait; then the bundled model's evaluation, which every
visitor's first look at Evaluate reads.

Home itself never imports torch: the import is the largest part of a cold start, in time and
in memory (benchmarks.browser measures the cold start), and a visitor reading Home should not
wait for it.
"""
from __future__ import annotations

import threading

_started = False
_lock = threading.Lock()
# Home's script has finished when this is called; the pause lets the browser receive and draw
# the page before the import (which holds the interpreter for long stretches) begins.
DELAY_S = 1.0


def _load() -> None:
    try:
        import pandas  # noqa: F401  (tables and plotly's pandas checks on the next page)

        from mnist_core.data import preprocessing  # noqa: F401  (torch and the engine)
        from mnist_core.device import configure_threads
        from mnist_core.train import trainer  # noqa: F401

        configure_threads()
    except Exception:  # a page that needs torch reports its own import error, with context
        return
    try:
        from . import evaluate_panel

        evaluate_panel.warm_bundled()  # Evaluate's first render then reads it
    except Exception:  # noqa: BLE001 - Evaluate computes and reports it itself
        pass


def start() -> None:
    """Once per server: import torch and the engine in a daemon thread, after a short pause."""
    global _started
    with _lock:
        if _started:
            return
        _started = True
    timer = threading.Timer(DELAY_S, _load)
    timer.daemon = True
    timer.start()
