"""The one list of pages: the sidebar, the home page and the tests all read PAGES.

Pages are Streamlit's pages/ scripts, in their files' order; a file's name gives its title and
address (3_Head_to_head.py is "Head to head" at /Head_to_head). Adding a page is one new file,
plus one line in ABOUT for its icon and description.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = "app.py"

# Page title -> (icon, what it is for). A page missing here still shows, with a plain icon.
ABOUT = {
    "Home": (":material/home:", "start here"),
    "Data": (":material/grid_on:", "browse samples, class balance, pixels"),
    "Train": (":material/model_training:", "configure and watch a training run"),
    "Head to head": (":material/compare_arrows:", "MLP vs CNN, same data, seed and seconds"),
    "Evaluate": (":material/fact_check:", "confusion matrix, scores, errors"),
    "Draw": (":material/draw:", "draw or upload a digit and classify it"),
    "Runs": (":material/folder_open:", "compare, download and delete saved runs"),
    "Class board": (":material/leaderboard:", "everyone's published runs, side by side"),
    "Experiments": (":material/science:", "eight guided questions, answered by your own runs"),
    "Sweep": (":material/tune:", "many runs at once on Optuna: which settings matter"),
}


@dataclass(frozen=True)
class Page:
    file: str  # relative to the repository root, as st.page_link and AppTest.switch_page take it
    title: str
    icon: str
    description: str

    @property
    def url_path(self) -> str:
        """The address after the host: "/" for home, "/Head_to_head" for 3_Head_to_head.py."""
        return "/" if self.file == HOME else "/" + re.sub(r"^\d+_", "", Path(self.file).stem)


def _page(file: str, title: str) -> Page:
    icon, description = ABOUT.get(title, (":material/article:", ""))
    return Page(file, title, icon, description)


def _number(path: Path) -> tuple[float, str]:
    # Streamlit's own order: the number prefix, then the name.
    match = re.match(r"^(\d+)_", path.name)
    return (int(match.group(1)) if match else float("inf"), path.name)


def discover(root: Path = ROOT) -> list[Page]:
    found = [_page(HOME, "Home")]
    for path in sorted((root / "pages").glob("*.py"), key=_number):
        title = re.sub(r"^\d+_", "", path.stem).replace("_", " ")
        found.append(_page(f"pages/{path.name}", title))
    return found


PAGES = discover()
BY_TITLE = {p.title: p for p in PAGES}


def page_file(title: str) -> str:
    return BY_TITLE[title].file
