"""What you see is what trains: the Train form (studio.train_form) and its link (studio.train_link)."""
from __future__ import annotations

import dataclasses

import pytest
from streamlit.testing.v1 import AppTest

from mnist_core.models.registry import MODELS
from mnist_core.train.config import PRESETS, TrainConfig, preset_config
from tests.support import assert_no_crash, open_page, set_form, start_job, texts


def shown(at) -> dict:
    """Every cfg_ widget's value on the page, by key."""
    return {k: v for k, v in at.session_state.items() if isinstance(k, str) and k.startswith("cfg_")}


def carried(at, model: str) -> dict:
    """The form's values a link carries: every setting, and the chosen model's options only."""
    others = tuple(f"cfg_{m}_" for m in MODELS if m != model)
    return {k: v for k, v in shown(at).items() if not k.startswith(others)}


def started(at):
    job = start_job(at)
    job.stop()
    return job.config


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_survives_form_link_new_session_and_trains_as_shown(app_env, runner, preset):
    at = open_page("train")
    at.selectbox(key="train_preset").set_value(preset).run()
    assert_no_crash(at)
    expected = preset_config(preset)
    link = dict(at.query_params)
    assert TrainConfig.from_dict(link) == expected
    again = open_page("train", link)  # the link, opened by someone else
    assert_no_crash(again)
    assert not again.error
    assert carried(again, expected.model) == carried(at, expected.model)
    assert again.selectbox(key="train_preset").value == preset  # it is that preset, not "custom"
    assert started(again) == expected


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_and_its_arguments_survive_the_link(app_env, runner, model):
    at = open_page("train")
    set_form(at, model=model)
    spec = MODELS[model]
    changed = {}
    for arg, a in spec.args.items():  # a value other than the default for every argument
        default = spec.defaults[arg]
        if a.kind == "choice":
            value = next(c for c in a.choices if c != default)
        elif a.kind == "int":
            value = 64 if a.high >= 64 else int(a.high)  # within the form's range
        else:
            value = {"ints": "24, 12" if arg == "hidden" else "4, 8", "bool": not default, "float": 0.3}[a.kind]
        changed[arg] = value
        set_form(at, **{f"{model}_{arg}": value})
    assert_no_crash(at)
    assert not at.error, texts(at.error)
    expected = started(at)
    assert expected.model == model
    for arg, value in changed.items():
        got = expected.model_kwargs[arg]
        assert got == ([int(v) for v in value.split(",")] if isinstance(value, str) else value), arg
    again = open_page("train", dict(at.query_params))
    assert_no_crash(again)
    assert {k: v for k, v in shown(again).items() if k.startswith(f"cfg_{model}_")} == \
        {k: v for k, v in shown(at).items() if k.startswith(f"cfg_{model}_")}
    assert started(again) == expected


def test_the_config_that_starts_is_every_field_on_screen(app_env, runner):
    at = open_page("train")
    set_form(at, model="mlp", optimizer="sgd", schedule="step")
    set_form(at, lr="0.0301", momentum=0.8, weight_decay="2e-05", label_smoothing=0.05,
             step_size=2, gamma=0.7, epochs=3, batch_size=96, train_subset=300, seed=7, device="cpu",
             log_every=3, augment=True, mlp_hidden="40", mlp_dropout=0.1)
    assert not at.error, texts(at.error)
    config = started(at)
    for f in dataclasses.fields(TrainConfig):
        if f.name == "model_kwargs":
            assert config.model_kwargs == {"hidden": [40], "dropout": 0.1}
            continue
        on_screen = at.session_state[f"cfg_{f.name}"]
        assert getattr(config, f.name) == type(getattr(config, f.name))(on_screen), f.name


@pytest.mark.parametrize("field, typed, words", [
    ("lr", "abc", "must be a number, got 'abc'"),
    ("lr", "1000", "must be above 0 and at most 100, got 1000"),
    ("epochs", 0, "must be between 1 and 500, got 0"),
    ("batch_size", 1_000_000, "must be between 1 and 8192, got 1000000"),
])
def test_an_invalid_value_stays_as_typed_beside_its_reason_and_blocks_start(app_env, runner, field, typed,
                                                                             words):
    at = open_page("train")
    set_form(at, **{field: typed})
    assert_no_crash(at)
    assert at.session_state[f"cfg_{field}"] == typed  # not replaced by a valid value
    assert any(words in m.value for m in at.markdown), [m.value for m in at.markdown]  # beside it
    assert words in texts(at.error)
    assert at.button(key="train_start").disabled and at.button(key="train_estimate").disabled
    assert "train_job" not in at.session_state and not runner.active()


def test_choosing_the_shown_preset_again_resets_the_form(app_env, runner):
    at = open_page("train")
    assert at.selectbox(key="train_preset").value == "quick"
    set_form(at, epochs=7, train_subset=500)
    assert at.selectbox(key="train_preset").value == "custom"
    at.selectbox(key="train_preset").set_value("quick").run()
    assert at.number_input(key="cfg_epochs").value == 1
    assert at.number_input(key="cfg_train_subset").value == 10000


def test_the_default_presets_link_opens_the_default_not_the_start_page(app_env, runner):
    at = open_page("train")
    at.selectbox(key="train_preset").set_value("default").run()
    assert dict(at.query_params) == {"model": "cnn", "lr": "0.02", "train_subset": "40000"}
    again = open_page("train", dict(at.query_params))
    assert again.number_input(key="cfg_train_subset").value == 40000  # not quick's 10,000
    assert again.selectbox(key="train_preset").value == "default"


def test_the_lr_finder_sweeps_the_form_model_and_one_click_puts_its_rate_in_the_form(app_env, runner):
    at = open_page("train")
    at.selectbox(key="train_preset").set_value("logistic").run()
    at.button(key="lr_find").click().run()
    assert_no_crash(at)
    assert not at.error, texts(at.error)
    result = next(iter(at.session_state["train_lr_finds"].values()))
    assert result["model"] == "logreg" and result["suggestion"] is not None
    assert len(result["lrs"]) >= 10 and min(result["smoothed"]) < result["smoothed"][0] / 2
    use = at.button(key="lr_use")
    assert use.label == f"Use {result['suggestion']:.2g} as a constant rate"  # the preset's one-cycle is replaced
    use.click().run()
    assert at.text_input(key="cfg_lr").value == f"{result['suggestion']:.2g}"
    assert at.session_state["cfg_schedule"] == "constant"
    assert float(at.text_input(key="cfg_lr").value) == pytest.approx(result["suggestion"], rel=0.05)
    assert at.selectbox(key="train_preset").value == "custom"  # the form was edited
    assert started(at).lr == pytest.approx(result["suggestion"], rel=0.05)  # and it trains with it


def test_the_live_run_shows_inside_the_network_and_its_knob_turns_the_rate(app_env, runner):
    from tests.support import wait_for

    at = open_page("train")
    job = start_job(at, model="mlp", epochs=200, batch_size=16, schedule="constant", lr="1e-3")
    try:
        assert wait_for(lambda: len(job.snapshot()["health_history"]) >= 2, timeout=120)
        at.run()
        at.toggle(key="job_health").set_value(True).run()
        assert_no_crash(at)
        shown = texts(at.warning) + texts(at.success)
        assert "every layer looks healthy" in shown or "units after" in shown, shown
        charts = [c for c in at.get("plotly_chart")]
        assert len(charts) >= 5  # loss, accuracy, update ratio, dead units, histograms
        knob_key = f"job_lr_knob-{job.snapshot()['run_id']}"
        at.select_slider(key=knob_key).set_value(0.1).run()
        assert job.knob.value == 0.1
        assert wait_for(lambda: job.snapshot()["lr_changes"], timeout=60)
        assert job.snapshot()["lr_changes"][0]["lr"] == pytest.approx(1e-4)
    finally:
        job.stop()
        job.wait(60)


def test_a_finished_run_continues_for_more_epochs_in_the_same_folder(app_env, runner):
    from mnist_core.runs.folders import load_run

    at = open_page("train")
    first = start_job(at, model="mlp", epochs=2, batch_size=32, train_subset=1000)
    assert first.wait(120) and first.snapshot()["status"] == "completed"
    at.run()
    at.number_input(key="job_more_epochs").set_value(2).run()
    at.button(key="job_continue").click().run()
    assert_no_crash(at)
    job = at.session_state["train_job"]
    assert job is not first and job.continuing == first.snapshot()["run_path"]
    assert job.wait(120) and job.snapshot()["status"] == "completed", job.snapshot()["message"]
    assert [e["epoch"] for e in job.snapshot()["epochs"]] == [1, 2, 3, 4]  # the curves go on
    assert [m["epoch"] for m in load_run(job.continuing).metrics] == [1, 2, 3, 4]
    at.run()
    assert_no_crash(at)
    assert "completed 4 epoch(s)" in texts(at.success)


def _marked_reason():
    from studio import train_form

    train_form._mark({"leave_out": "give indices like [3, 17], got x]"}, "leave_out")


def test_a_reason_with_brackets_is_shown_whole():
    # Streamlit's :red[...] ends at the first "]": "must be in (0, 100], got 0" read
    # "must be in (0, 100, got 0]" on the page.
    at = AppTest.from_function(_marked_reason).run()
    assert at.markdown[0].value == r":red[:material/error: give indices like \[3, 17\], got x\]]"


def test_train_opens_valid_in_many_fresh_sessions_at_once(app_env, runner):
    """A class arriving together: a review saw the form come up with every number 0 twice in
    about 40 fresh visits. Eight sessions open Train at the same moment; each form is valid."""
    import threading

    results, go = {}, threading.Event()

    def visit(i: int) -> None:
        go.wait(10)
        try:
            at = open_page("train")
            results[i] = (list(at.exception), [e.value for e in at.error], at.button(key="train_start").disabled,
                          at.session_state["cfg_lr"], at.session_state["cfg_schedule"])
        except Exception as exc:  # noqa: BLE001 - reported below, with the others
            results[i] = (repr(exc),)

    threads = [threading.Thread(target=visit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(240)
    assert len(results) == 8
    quick = preset_config("quick")
    for i, r in results.items():
        assert r[:3] == ([], [], False), (i, r)
        assert float(r[3]) == quick.lr and r[4] == quick.schedule, (i, r)
