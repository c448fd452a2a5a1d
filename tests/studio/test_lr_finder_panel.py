"""Train's learning-rate finder (studio.lr_finder_panel) in AppTest: its button does what its words say."""
import pytest
from streamlit.testing.v1 import AppTest

from tests.support import TIMEOUT, assert_clean, texts


def _finder_app(schedule: str):
    import streamlit as st

    from mnist_core.train.config import TrainConfig, preset_config
    from studio import lr_finder_panel, state

    config = preset_config("default", schedule=schedule)
    st.session_state.setdefault("cfg_schedule", schedule)
    key = TrainConfig.from_dict({**config.to_dict(), "lr": 1e-3, "schedule": "constant"}).to_json()
    # A finished sweep, as the default preset's CNN gives (docs/benchmarks.md: 0.0022).
    lrs = [1e-6 * 10 ** (k / 10) for k in range(50)]
    smoothed = [2.3 - 2.0 / (1 + (2.2e-3 / lr) ** 2) for lr in lrs]
    state.store(state.LR_FINDS, key, {"lrs": lrs, "losses": smoothed, "smoothed": smoothed,
                                      "suggestion": 2.2e-3, "optimizer": "adam", "model": "cnn"})
    lr_finder_panel.finder(config, data=None)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
def test_the_finders_button_trains_at_the_constant_rate_its_words_recommend(schedule):
    at = AppTest.from_function(_finder_app, args=(schedule,), default_timeout=TIMEOUT).run()
    assert_clean(at)
    use = at.button(key="lr_use")
    said = texts(at.caption)
    assert "a safe constant rate" in said
    assert "10x what this finder suggests" not in said  # the advice that contradicted the button
    if schedule != "constant":
        assert use.label == "Use 0.0022 as a constant rate"
        assert f"*{use.label}* also sets the schedule to constant" in said
    else:
        assert use.label == "Use 0.0022" and "also sets the schedule" not in said
    use.click().run()
    assert_clean(at)
    # The run then trains at exactly the rate found, held steady as the finder held it.
    assert at.session_state["cfg_lr"] == "0.0022" and at.session_state["cfg_schedule"] == "constant"
