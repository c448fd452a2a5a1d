"""Fuzzing the config and link parsers: random and boundary strings for every field, and random
model arguments. Each either validates or raises the project's own ConfigError, quickly and
without allocating a model (hypothesis)."""
from __future__ import annotations

import dataclasses
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_core.models.registry import MODELS
from mnist_core.train.config import ConfigError, TrainConfig
from studio.train_link import checked_config

FIELDS = [f.name for f in dataclasses.fields(TrainConfig) if f.name != "model_kwargs"]
BOUNDARIES = ["", " ", "0", "-0", "1", "-1", "0.5", "1e-6", "1e309", "-1e309", "nan", "inf", "-inf",
              "1e3", "100", "8192", "8193", "60000", "60001", "3600", "3601", str(2**31), str(2**63),
              str(10**400), "true", "false", "yes", "no", "0x10", "1_000", "٣", "½", "None", "null",
              "[]", "{}", "cnn", "mlp", "adam", "onecycle", "cuda", "auto", "\x00", "a" * 10_000]
values = st.one_of(st.sampled_from(BOUNDARIES), st.text(max_size=40), st.integers(-2**70, 2**70).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none())
# FUZZ_EXAMPLES=3000 for a longer hunt.
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 300)), deadline=2000, suppress_health_check=[HealthCheck.too_slow])


def _on_parameter(_module, _name, param) -> None:
    if param is not None:
        key = "meta" if param.device.type == "meta" else "real"
        BUILT[key] += param.numel()


# Parameters created while this file's examples ran, counted by where they live. Not the
# process's peak memory (ru_maxrss): that only rises, so after a heavier test it could not move.
BUILT = {"meta": 0, "real": 0}


@pytest.fixture(scope="module", autouse=True)
def _count_parameters():
    from torch.nn.modules.module import register_module_parameter_registration_hook

    handle = register_module_parameter_registration_hook(_on_parameter)
    yield
    handle.remove()


def _parse(values: dict) -> None:
    for parser in (TrainConfig.from_dict, checked_config):
        try:
            parser(values)
        except ConfigError:
            pass  # the project's own error, naming the field: what a bad value should get


@FUZZ
@given(field=st.sampled_from(FIELDS), value=values)
def test_any_value_for_any_field_validates_or_is_a_config_error(field, value):
    _parse({field: value})


@FUZZ
@given(query=st.dictionaries(st.sampled_from(FIELDS + ["model_kwargs", "colour", ""]), values, max_size=6))
def test_any_link_query_validates_or_is_a_config_error(query):
    _parse(query)


arg_values = st.recursive(
    st.one_of(values, st.lists(st.integers(-10, 10**6), max_size=70)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


@FUZZ
@given(model=st.sampled_from(sorted(MODELS) + ["nope"]),
       kwargs=st.dictionaries(st.sampled_from(["hidden", "channels", "dropout", "batch_norm", "kernel_size",
                                               "convs", "padding", "members", "wings"]), arg_values, max_size=4),
       as_text=st.booleans())
def test_any_model_arguments_validate_or_are_a_config_error(model, kwargs, as_text):
    try:
        text = json.dumps(kwargs) if as_text else kwargs
    except (TypeError, ValueError):
        return
    _parse({"model": model, "model_kwargs": text})


def test_fuzzing_kept_memory_bounded():
    # Run last in this file: every oversized model above was refused from its estimate, on the
    # meta device. Built for real, the largest would have added gigabytes to the peak.
    assert BUILT["meta"] > 0, BUILT  # the estimates were seen...
    assert BUILT["real"] < 1_000_000, BUILT  # ...and nothing the size of a model was allocated
