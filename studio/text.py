"""Numbers as people read them."""
from __future__ import annotations

# What a table shows for a number it does not have: a running run's accuracy, a run without
# test-time augmentation's TTA figure. Streamlit's own default is the word "None".
MISSING = "-"


def class_label(index: int, classes) -> str:
    """A class as a picker shows it: "3" for MNIST's digit 3, "3: Dress" for Fashion-MNIST's."""
    name = classes[index]
    return name if name == str(index) else f"{index}: {name}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return MISSING
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
