"""Work that is the same for everyone is done once per server: two sessions opening Evaluate on
the bundled model cost one evaluation of the test set."""
import streamlit as st

from mnist_core import evaluation
from tests.support import assert_clean, goto, open_app


def test_two_sessions_share_one_evaluation(real_env, monkeypatch):
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
    assert calls == [10000]  # the test split, classified once for both
    second.radio(key="eval_split").set_value("train").run()
    assert_clean(second)
    assert calls == [10000, 60000]
    goto(first, "evaluate")
    first.radio(key="eval_split").set_value("train").run()
    assert calls == [10000, 60000]
