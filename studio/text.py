"""Numbers and visitors' text as people read them."""
from __future__ import annotations

import re

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


# Every character Markdown (and Streamlit's :color[...] directives) can read as syntax.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=])")


def plain(text) -> str:
    """Text a visitor typed (a label, a name), escaped for an element that reads Markdown, so it
    shows as typed: a label "**best** [run](http://...)" stays those characters, not a bold link."""
    return _MARKDOWN.sub(r"\\\1", str(text))
