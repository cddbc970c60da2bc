"""The bias rule: a categorical's weights move toward the choice that wins, every choice kept."""

from __future__ import annotations

import numpy as np
import pytest

import refine
from refine.space import CategoricalParam, FloatParam
from tests.conftest import _decision, _space


def test_dominant_choice_with_undertried_rival_is_biased_not_removed(study_factory):
    space = _space(enc=CategoricalParam(choices=("cnn", "context"), weights=(0.9, 0.1)), x=FloatParam(low=0, high=1))
    rng = np.random.default_rng(3)
    path = study_factory(space, lambda c: (1.0 if c["enc"] == "cnn" else 0.7) + 0.1 * c["x"] + rng.normal(0, 0.02), 60)
    result = refine.next_space(path, config=False)
    enc = result.space.params["enc"]
    assert _decision(result, "enc").action == "bias"
    assert enc.choices == ("cnn", "context")
    assert enc.normalized_weights()[0] == pytest.approx(0.75)
    assert any("without a fair trial" in f for f in result.rationale["red_flags"])


def test_an_underweighted_choice_that_wins_on_its_values_gains_weight(study_factory):
    # v1 starved 'context' (15 %); the sampler still gave it 24 of 40 trials and every elite, so the
    # elite count alone is no surprise (binomial), but its values beat cnn's (Kruskal-Wallis)
    extra = {f"z{i}": FloatParam(low=0, high=1) for i in range(6)}
    space = _space(enc=CategoricalParam(choices=("cnn", "context"), weights=(0.85, 0.15)), **extra)
    rng = np.random.default_rng(5)
    configs = [
        {"enc": "context" if i % 5 < 3 else "cnn", **{k: float(rng.uniform()) for k in extra}} for i in range(40)
    ]
    noise = iter(rng.normal(0, 0.05, 40))
    path = study_factory(space, lambda c: (1.0 if c["enc"] == "context" else 0.8) + next(noise), 40, configs=configs)
    result = refine.next_space(path, config=False)
    ev = result.evidence.params["enc"]
    assert ev.dominance_p > 0.1 / 7 > ev.p  # the binomial alone would not move it; the values do
    d = _decision(result, "enc")
    assert d.action == "bias" and "Kruskal-Wallis" in d.reason
    assert result.space.params["enc"].normalized_weights() == pytest.approx((0.25, 0.75))
