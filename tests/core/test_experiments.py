"""Guided experiments: each one's settings, and each one's answer borne out by a real run."""
import pytest

from mnist_core.runs.folders import list_runs
from mnist_core.runs.recorder import record
from mnist_core.studies.experiments import BY_SLUG, EXPERIMENTS, numbers, runs_of
from mnist_core.train.config import TrainConfig
from mnist_core.train.trainer import Trainer


def test_each_experiment_is_one_valid_question_with_its_own_settings():
    assert len(EXPERIMENTS) == len(BY_SLUG) == 8
    for e in EXPERIMENTS:
        assert isinstance(e.config, TrainConfig)
        assert 0 <= e.answer < len(e.choices) and len(set(e.choices)) == len(e.choices)
        assert e.matches(e.config.replace(seed=7, log_every=5).to_dict())  # a seed is no other experiment
        assert not e.matches(e.config.replace(lr=e.config.lr * 2).to_dict())
        others = [o.slug for o in EXPERIMENTS if o is not e and o.matches(e.config.to_dict())]
        assert not others, (e.slug, others)
    assert not EXPERIMENTS[0].matches({"model": "no such model"})


@pytest.mark.parametrize("slug", list(BY_SLUG))
def test_a_real_run_of_each_experiment_bears_out_its_answer(slug, real_mnist, tmp_path):
    """The question's answer is not asserted by the page: a run from the experiment's own settings
    on the real digits must show it, and the explanation must quote that run's numbers."""
    e = BY_SLUG[slug]
    list(record(Trainer(e.config, real_mnist), tmp_path, label=f"experiment {slug}"))
    runs = runs_of(e, list_runs(tmp_path))
    assert len(runs) == 1
    n = numbers(runs[0])
    assert e.verdict(n) == e.answer, (slug, {k: n[k] for k in ("status", "test_acc", "train_acc", "most_dead")})
    text = e.explain(n)
    assert "%" in text and "-" not in text.split("%")[0][-6:], text  # a measured percentage, not a blank
