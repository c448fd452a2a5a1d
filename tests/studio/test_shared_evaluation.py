"""Work that is the same for everyone is done once per server: two sessions opening Evaluate on
the same model cost one evaluation of each split."""
import streamlit as st

from mnist_core.analysis import evaluation
from mnist_core.runs.checkpoints import load_model
from tests.support import assert_clean, goto, open_app, tiny_run


def test_two_sessions_share_one_evaluation(real_env, real_mnist, monkeypatch):
    calls = []
    real = evaluation.evaluate_split

    def counted(model, images, labels, spec, *args, **kwargs):
        calls.append(len(labels))
        return real(model, images, labels, spec, *args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate_split", counted)
    st.cache_resource.clear()
    first = goto(open_app(), "evaluate")
    second = goto(open_app(), "evaluate")
    for at in (first, second):
        assert_clean(at)
    accuracies = [{m.label: m.value for m in at.metric}["Accuracy"] for at in (first, second)]
    assert accuracies[0] == accuracies[1]
    assert calls == [10000]  # the bundled model's test split, classified once for both
    # The split is part of what is shared: a small run's training split (the bundled model's
    # takes many seconds on 60,000 digits) is classified once for the two sessions, and not mistaken
    # for its test split.
    _, path = tiny_run(real_mnist, real_env, label="shared", epochs=1, train_subset=2000)
    for at in (second, first):
        goto(at, "evaluate")
        at.selectbox(key="eval_model").set_value(str(path)).run()
        at.radio(key="eval_split").set_value("train").run()
        assert_clean(at)
    assert calls == [10000, 10000, 60000]
    readings = [{m.label: m.value for m in at.metric}["Accuracy"] for at in (first, second)]
    expected = real(load_model(path)[0], *real_mnist.split("train"), real_mnist.spec)
    assert readings[0] == readings[1] == f"{expected['accuracy']:.2%}"
