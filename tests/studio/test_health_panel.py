"""Inside the network (studio.health_panel) in AppTest: one piece of advice, with its facts."""
from streamlit.testing.v1 import AppTest

from tests.support import TIMEOUT, assert_clean, texts


def _dead_network_app():
    import torch
    from torch import nn

    from mnist_core.jobs.job import compact_health
    from mnist_core.train.health import HealthWatch
    from studio import health_panel

    # Hidden units that can never fire: what a rate far too high leaves behind. They pass no
    # gradient back, so both layers' gradients vanish too.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    with torch.no_grad():
        model[0].bias[:] = -1e3
    watch = HealthWatch(model)
    watch.arm()
    model(torch.randn(32, 4)).sum().backward()
    reading = {"kind": "health", "step": 50, "epoch": 0.1, **watch.read()}
    health_panel.show(reading, [compact_health(reading)], key="health")


def test_a_dead_network_gets_one_diagnosis_not_advice_per_layer():
    at = AppTest.from_function(_dead_network_app, default_timeout=TIMEOUT).run()
    assert_clean(at)
    assert len(at.warning) == 1, texts(at.warning)  # was one per layer, and they disagreed
    said = at.warning[0].value
    assert said.startswith("The learning rate is too high") and said.endswith("Lower the learning rate.")
    assert "higher" not in said and "raise" not in said.lower()
    facts = texts(at.caption)
    assert "The gradients of linear 1 vanished" in facts and "100% of the units after linear 1 are dead" in facts
