"""What the CLI prints: a self-rewriting progress line, and plain aligned tables."""
from __future__ import annotations

import sys
import time


class ProgressLine:
    """One self-rewriting status line on stderr."""

    def __init__(self, stream=sys.stderr, width: int = 24):
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self.last_print = 0.0

    def show(self, e: dict) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last_print < 2.0:
            return  # a log file gets a line every 2 s, not hundreds of \r updates
        self.last_print = now
        done = int(e["progress"] * self.width)
        eta = e["elapsed"] * (1 - e["progress"]) / max(e["progress"], 1e-9)
        line = (f"epoch {e['epoch']} [{'#' * done}{'.' * (self.width - done)}] {e['progress']:4.0%} "
                f"loss {e['loss']:.4f} acc {e['acc']:.2%} {e['images_per_s']:,.0f} img/s ETA {eta:4.0f}s")
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def end_line(self) -> None:
        if self.tty:
            self.stream.write("\n")


def print_table(header: list[str], rows: list[list]) -> None:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for i, r in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
