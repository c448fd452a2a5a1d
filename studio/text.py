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


# Every character Markdown (and Streamlit's :color[...] directives) can read as syntax inside a
# sentence. Visitors' text is never at the start of a line, so "1." and "-" (lists) stay as
# they are, and "mine.zip" reads as itself in a message's source too.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|<>~:$@])")  # "@": an e-mail address becomes a link
_WWW = re.compile(r"(?i)\b(www)\.")  # and so does "www.example.com", scheme or not


def plain(text) -> str:
    """Text a visitor typed (a label, a name), escaped for an element that reads Markdown, so it
    shows as typed: a label "**best** [run](http://...)" stays those characters, not a bold link."""
    return _WWW.sub(r"\1\\.", _MARKDOWN.sub(r"\\\1", str(text)))
