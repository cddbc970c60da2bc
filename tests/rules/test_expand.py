"""The expand rule: a range or an ordered categorical grows past the edge the elites crowd."""

from __future__ import annotations

import math

import numpy as np
import pytest

import refine
from refine.space import CategoricalParam, FloatParam, IntParam
from tests.conftest import _decision, _space


def test_optimum_past_boundary_expands(study_factory):
    space = _space(depth=IntParam(low=2, high=6), width=FloatParam(low=0.5, high=3.0), noise=FloatParam(low=0, high=1))
    rng = np.random.default_rng(1)
    path = study_factory(space, lambda c: c["depth"] * 0.5 + c["width"] + rng.normal(0, 0.05), 150)
    result = refine.next_space(path, config=False)
    depth, width = result.space.params["depth"], result.space.params["width"]
    assert _decision(result, "depth").action == "expand" and depth.high > 6
    assert _decision(result, "width").action == "expand" and width.high > 3.0
    assert isinstance(depth, IntParam)


def test_an_edge_crowd_within_chance_is_not_expanded(study_factory):
    # an adaptive sampler leaves 5 of 8 elites, the best among them, at junk's edge; but a third of the
    # trials around them sit there too and junk has no trend: chance, so its range is kept
    zs = {f"z{i}": FloatParam(low=0, high=1) for i in range(4)}
    space = _space(x=FloatParam(low=0, high=1), junk=FloatParam(low=0, high=1), **zs)
    rng = np.random.default_rng(6)
    xs = rng.permutation(np.linspace(0.02, 0.98, 40))
    by_closeness = np.argsort(np.abs(xs - 0.5))
    junk = np.empty(40)
    junk[by_closeness[:8]] = [0.95, 0.2, 0.93, 0.5, 0.97, 0.7, 0.92, 0.96]
    junk[by_closeness[8:]] = rng.permutation(np.r_[rng.uniform(0.9, 1.0, 12), rng.uniform(0.0, 0.9, 20)])
    configs = [{"x": float(xs[i]), "junk": float(junk[i]), **{k: float(rng.uniform()) for k in zs}} for i in range(40)]
    path = study_factory(space, lambda c: -((c["x"] - 0.5) ** 2), 40, configs=configs)
    result = refine.next_space(path, config=False)
    ev, level = result.evidence.params["junk"], 0.2 / 6
    assert ev.edge_high_share >= 0.6 and ev.best_value >= 0.9  # the old shortcut: best at the edge, twice the crowd
    assert min(ev.p, ev.trend_high_p) > level < ev.edge_high_p  # but neither a trend nor a crowd beyond chance
    assert _decision(result, "junk").action != "expand"
    assert result.space.params["junk"].high == 1.0


def test_ordered_categorical_gains_the_next_value(study_factory):
    space = _space(batch=CategoricalParam(choices=(16, 32, 64)), x=FloatParam(low=0, high=1))
    rng = np.random.default_rng(6)
    path = study_factory(space, lambda c: -math.log2(c["batch"]) + 0.3 * c["x"] + rng.normal(0, 0.05), 120)
    result = refine.next_space(path, config=False)
    batch = result.space.params["batch"]
    assert _decision(result, "batch").action == "expand"
    assert 8 in batch.choices and all(isinstance(c, int) for c in batch.choices)


@pytest.mark.parametrize(
    "limits, low, says",
    [
        (None, 1, "an int range from 1 stays >= 1"),  # 0 layers is another model: not without the user's word
        ((0, 8), 0, None),
    ],
)
def test_an_int_range_from_one_reaches_zero_only_within_limits(study_factory, limits, low, says):
    space = _space(k=IntParam(low=1, high=8, limits=limits), x=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: -c["k"] + 0.1 * c["x"], 60)
    d = _decision(refine.next_space(path, space=space, config=False, entry_points=False), "k")
    assert d.new.low == low, d
    if says:  # the rationale says why it did not move (here beside the narrowing of the other side)
        blocked = [p for p in (d, *d.overridden) if p.rule == "expand"]
        assert blocked and says in blocked[0].reason and "low edge zone at 1" in blocked[0].reason, d
    else:
        assert d.action == "expand"


def test_an_int_range_from_two_expands_to_one_not_zero(study_factory):
    space = _space(k=IntParam(low=2, high=4), x=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: -c["k"] + 0.1 * c["x"], 60)
    d = _decision(refine.next_space(path, space=space, config=False, entry_points=False), "k")
    assert d.action == "expand" and d.new.low == 1, d
