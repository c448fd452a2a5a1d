"""The Runs page's panels and Evaluate's internals, on tiny runs, in AppTest."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.support import APP, PAGE_FILES, make_synthetic, tiny_run, write_dataset


def test_runs_page_diff_table_and_evaluate_internals_render(tiny_data, runs_dir, tmp_path, monkeypatch):
    tiny_run(tiny_data, runs_dir, label="a", epochs=1)
    tiny_run(tiny_data, runs_dir, label="b", epochs=1, lr=0.001)
    # Tiny generated files keep Evaluate (whole-split scoring, calibration, embeddings) fast.
    data = write_dataset(tmp_path / "mnist", make_synthetic(n_train=300, n_test=100))
    monkeypatch.setenv("MNIST_DATA_DIR", str(data))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(PAGE_FILES["runs"])
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert "Compare settings" in [s.value for s in at.subheader]
    tables = [df.value for df in at.dataframe]
    diff = next(t for t in tables if "setting" in t.columns)
    # Both runs may start in the same second, so which one is A is not fixed.
    assert sorted(diff.set_index("setting").loc["lr"].tolist()) == ["0.001", "0.01"]
    assert "label" not in set(diff["setting"])  # labels live in the summary, not the config
    at.switch_page(PAGE_FILES["evaluate"])
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    charts_before = len(at.get("plotly_chart"))
    at.button(key="eval_robustness_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("plotly_chart")) == charts_before + 3  # shift, rotation, thickness
    at.toggle(key="eval_internals").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("plotly_chart")) == charts_before + 5  # filters grid and embedding map


def test_one_damaged_run_does_not_hide_the_others(tiny_data, runs_dir, monkeypatch):
    import json

    from mnist_core.runs.folders import write_json

    _, good = tiny_run(tiny_data, runs_dir, label="good", epochs=1)
    _, bad = tiny_run(tiny_data, runs_dir, label="bad", epochs=1)
    summary = json.loads((bad / "summary.json").read_text())
    summary.update(final_test_acc="99%", epochs_done="one")
    write_json(bad / "summary.json", summary)
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(PAGE_FILES["runs"]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert set(table["run"]) == {good.name, bad.name}
    assert dict(zip(table["run"], table["status"]))[bad.name] == "damaged"
    assert any(f"Run {bad.name} is damaged: summary.json: epochs_done should be a number" in w.value
               for w in at.warning)
    at.switch_page(PAGE_FILES["evaluate"]).run()  # the model picker offers the healthy run only
    assert not at.exception
    options = at.selectbox(key="eval_model").options
    assert any("good" in o for o in options) and not any("bad" in o for o in options)


def test_runs_of_one_title_are_told_apart_in_the_model_picker(tiny_data, runs_dir, monkeypatch):
    # Two students call their runs alike, with the same settings and so the same accuracy.
    first = tiny_run(tiny_data, runs_dir, label="my run", epochs=1)[1]
    second = tiny_run(tiny_data, runs_dir, label="my run", epochs=1)[1]
    data = write_dataset(runs_dir.parent / "mnist", make_synthetic(n_train=300, n_test=100))
    monkeypatch.setenv("MNIST_DATA_DIR", str(data))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(PAGE_FILES["evaluate"]).run()
    picker = at.selectbox(key="eval_model")
    shown = [o for o in picker.options if "my run" in o]
    assert len(shown) == 2 and len(set(shown)) == 2, shown
    assert any(first.name in o for o in shown) and any(second.name in o for o in shown), shown
    picker.set_value(str(second)).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["eval_model"] == str(second)


def test_a_relabelled_run_stays_chosen_and_delete_names_it_in_plain_text(tiny_data, app_env):
    from mnist_core.runs.folders import read_json, write_json
    from mnist_core.runs.ownership import owner_fields
    from studio.identity import Visitor
    from tests.support import TIMEOUT, assert_no_crash, browser_sends, texts

    secret, name = "a" * 32, "Ada *the* [great](http://x.example)"
    runs = [tiny_run(tiny_data, app_env, label=f"run {i}", epochs=1)[1] for i in range(3)]
    for path in runs:
        write_json(path / "summary.json", {**read_json(path / "summary.json"), **owner_fields(secret, name)})
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["visitor"] = Visitor(secret, name)
    at.switch_page(PAGE_FILES["runs"]).run()
    manage = at.selectbox(key="runs_selected")
    target_id = next(p.name for p in runs if p.name != manage.value)  # not the first run
    manage.set_value(target_id).run()
    shown = at.selectbox(key="runs_selected").options[at.selectbox(key="runs_selected").index]

    label = "**best** [run](http://x.example) :red[yes]"
    next(t for t in at.text_input if t.label == "Label").set_value(label)
    next(b for b in at.button if b.label == "Save label").click().run()
    assert_no_crash(at)
    assert label not in texts(at.success)  # the message quotes the label, escaped, not as Markdown
    # The browser still holds the title it showed before the relabel, and sends it with the next click.
    browser_sends(at, "runs_selected", shown)
    at.button(key="runs_delete").click().run()
    assert_no_crash(at)
    assert at.selectbox(key="runs_selected").value == target_id
    assert "for good" in texts(at.warning)
    # The confirmation names the run by its label, its maker and its id, as plain text.
    assert f"Label: {label}\nMade by: {name}\nRun id: {target_id}" in texts(at.text)
    assert label not in texts(at.markdown) + texts(at.warning) + texts(at.caption)
    at.button(key="runs_delete_yes").click().run()
    assert_no_crash(at)
    assert [p.exists() for p in runs] == [p.name != target_id for p in runs]
