"""The server settings the app depends on, read as Streamlit itself reads .streamlit/config.toml
(a misspelt option would be ignored, and the server would quietly behave otherwise)."""
from pathlib import Path

from streamlit import config

REPO = Path(__file__).resolve().parents[2]


def test_streamlit_reads_the_repos_server_settings(monkeypatch):
    monkeypatch.chdir(REPO)
    try:
        config.get_config_options(force_reparse=True)
        # torch's lazy modules trip the file watcher (and it costs a thread per server).
        assert config.get_option("server.fileWatcherType") == "none"
        # A full garbage collection after every script run holds the interpreter on every
        # click (benchmarks.load measures it; docs/benchmarks.md, "A class on one server").
        assert config.get_option("runner.postScriptGC") is False
        assert config.get_option("server.maxUploadSize") == 2
    finally:
        monkeypatch.undo()
        config.get_config_options(force_reparse=True)
