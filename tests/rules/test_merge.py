"""The merge rule: accepted proposals on one parameter combine into the winner."""

from __future__ import annotations

import math

import numpy as np
import pytest

import refine
from refine.space import CategoricalParam, FloatParam
from tests.conftest import _decision, _space


def test_bias_and_expansion_of_an_ordered_categorical_combine(study_factory):
    space = _space(batch=CategoricalParam(choices=(32, 64, 128), weights=(0.8, 0.1, 0.1)), x=FloatParam(low=0, high=1))
    rng = np.random.default_rng(13)
    path = study_factory(space, lambda c: -math.log2(c["batch"]) + 0.2 * c["x"] + rng.normal(0, 0.05), 60)
    result = refine.next_space(path, config=False)
    batch = result.space.params["batch"]
    d = _decision(result, "batch")
    assert d.action == "bias" and 16 in batch.choices and set(batch.choices) >= {32, 64, 128}
    w = dict(zip(batch.choices, batch.normalized_weights()))
    assert w[16] == pytest.approx(w[32]) and w[32] > w[64]
