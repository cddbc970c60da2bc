"""The drop rule: parameters whose condition can no longer hold leave the space."""

from __future__ import annotations

import numpy as np

import refine
from refine.space import CategoricalParam, Condition, FloatParam, IntParam
from tests.conftest import _decision, _space


def test_conditional_params_of_a_fixed_away_branch_are_dropped(study_factory):
    space = _space(
        enc=CategoricalParam(choices=("cnn", "context")),
        ctx_layers=IntParam(low=1, high=5, when=Condition("enc", "context")),
        x=FloatParam(low=0, high=1),
    )
    rng = np.random.default_rng(5)
    path = study_factory(space, lambda c: (2.0 if c["enc"] == "cnn" else 1.0) + 0.1 * c["x"] + rng.normal(0, 0.05), 120)
    result = refine.next_space(path, config=False)
    assert result.space.fixed == {"enc": "cnn"}
    assert "ctx_layers" not in result.space.params
    assert _decision(result, "ctx_layers").action == "drop"


def test_removing_a_parent_choice_drops_the_params_that_needed_it(study_factory):
    space = _space(
        opt=CategoricalParam(choices=("adam", "sgd", "rms")),
        mom=FloatParam(low=0.0, high=0.99, when=Condition("opt", "sgd")),
        x=FloatParam(low=0, high=1),
    )
    rng = np.random.default_rng(14)
    value = {"adam": 2.0, "rms": 1.9, "sgd": 0.5}
    path = study_factory(space, lambda c: value[c["opt"]] + 0.1 * c["x"] + rng.normal(0, 0.05), 150)
    result = refine.next_space(path, config=False)
    assert _decision(result, "opt").action == "narrow" and "sgd" not in result.space.params["opt"].choices
    assert "mom" not in result.space.params
    d = _decision(result, "mom")
    assert d.action == "drop" and d.rule == "drop" and "no longer offers" in d.reason
