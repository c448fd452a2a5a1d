"""The one list of pages: the app's navigation, the sidebar, Home and the tests all read PAGES.

Each page is a script in pages/; its address is its file's name without the number
(3_Head_to_head.py is at /Head_to_head), which Streamlit gives it and links keep. Adding a page
is one new file and one line below.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Page:
    file: str  # relative to the repository root, as st.Page, st.page_link and AppTest take it
    title: str
    icon: str
    description: str  # what it is for, on Home

    @property
    def url_path(self) -> str:
        """The address after the host: "/" for home, "/Head_to_head" for 3_Head_to_head.py."""
        return "/" if self is HOME else "/" + re.sub(r"^\d+_", "", Path(self.file).stem)


PAGES: tuple[Page, ...] = (
    Page("pages/0_Home.py", "Home", ":material/home:", "start here"),
    Page("pages/1_Data.py", "Data", ":material/grid_on:", "browse samples, class balance, pixels"),
    Page("pages/2_Train.py", "Train", ":material/model_training:", "configure and watch a training run"),
    Page("pages/3_Head_to_head.py", "Head to head", ":material/compare_arrows:",
         "MLP vs CNN, same data, seed and seconds"),
    Page("pages/4_Evaluate.py", "Evaluate", ":material/fact_check:", "confusion matrix, scores, errors"),
    Page("pages/5_Draw.py", "Draw", ":material/draw:", "draw or upload a digit and classify it"),
    Page("pages/6_Runs.py", "Runs", ":material/folder_open:", "compare, download and delete saved runs"),
    Page("pages/7_Class_board.py", "Class board", ":material/leaderboard:",
         "everyone's published runs, side by side"),
    Page("pages/8_Experiments.py", "Experiments", ":material/science:",
         "eight guided questions, answered by your own runs"),
    Page("pages/9_Sweep.py", "Sweep", ":material/tune:", "many runs at once on Optuna: which settings matter"),
)
HOME = PAGES[0]
BY_TITLE = {p.title: p for p in PAGES}
