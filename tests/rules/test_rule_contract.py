"""The contract every rule keeps, parametrized over every registered rule (built-ins and installed plugins).

Each rule runs alone (with `keep` as the fallback) on real SQLite studies of
generated spaces: it never emits an invalid space, never crosses `limits`,
keeps the best trial inside the next space, changes nothing without evidence,
and gives the same output for the same study.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import refine
from refine.engine import refine_study
from refine.plugins import BUILTIN_RULES, get_plugin_manager
from refine.settings import load_settings
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Space
from refine.spacefile import dump_space
from refine.study import read_study
from tests.conftest import write_study

RULES = sorted(
    {name for name, plugin in get_plugin_manager().list_name_plugin() if plugin is not None} | set(BUILTIN_RULES)
)


def _only(rule: str):
    others = [r for r in RULES if r not in (rule, "keep")]
    return get_plugin_manager(disabled=others)


@st.composite
def study_spaces(draw):
    params = {
        "a": FloatParam(low=0.0, high=1.0, limits=(0.0, 1.0)),
        "lr": FloatParam(low=1e-5, high=1e-1, log=True),
        "depth": IntParam(low=2, high=6, limits=(1, 8)),
        "opt": CategoricalParam(choices=("adam", "sgd", "rms")),
        "batch": CategoricalParam(choices=(16, 32, 64)),
        "mom": FloatParam(low=0.0, high=0.99, when=Condition("opt", "sgd")),
    }
    names = draw(st.lists(st.sampled_from(sorted(params)), min_size=2, max_size=6, unique=True))
    if "mom" in names and "opt" not in names:
        names.append("opt")
    space = Space(
        name="c",
        version=1,
        directions=(draw(st.sampled_from(["minimize", "maximize"])),),
        params={n: params[n] for n in names},
    )
    weights = {n: draw(st.floats(-2, 2)) for n in names}
    centers = {n: draw(st.floats(-0.3, 1.3)) for n in names}
    noise = draw(st.sampled_from([0.0, 0.05, 1.0]))
    return space, weights, centers, noise


def _objective(space, weights, centers, noise, seed):
    rng = np.random.default_rng(seed)

    def f(c):
        total = 0.0
        for name, value in c.items():
            p = space.params[name]
            if isinstance(p, CategoricalParam):
                u = p.index(value) / max(1, len(p.choices) - 1)
            elif p.log:
                u = (math.log(value) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
            else:
                u = (value - p.low) / (p.high - p.low)
            total += weights[name] * (u - centers[name]) ** 2
        return total + noise * rng.normal()

    return f


def _inside_limits(p):
    if isinstance(p, CategoricalParam) or p.limits is None:
        return True
    return p.limits[0] <= p.low and p.high <= p.limits[1]


@pytest.mark.parametrize("rule", RULES)
@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(case=study_spaces(), n=st.sampled_from([40, 80]), seed=st.integers(0, 1000))
def test_rule_keeps_the_contract(rule, case, n, seed, tmp_path_factory):
    space, weights, centers, noise = case
    path = tmp_path_factory.mktemp("contract") / "s.db"
    write_study(path, space, _objective(space, weights, centers, noise, seed), n, seed=seed)
    data = read_study(str(path))
    cfg = load_settings(config=False)
    result = refine_study(data, space, cfg, _only(rule))
    new = result.space
    # a valid space that reads back from its own file
    assert refine.spacefile.space_from_dict(__import__("yaml").safe_load(dump_space(new))) == new
    # never past limits; a log range stays > 0; an int stays int
    for name, p in new.params.items():
        assert _inside_limits(p), (rule, name, p)
        if not isinstance(p, CategoricalParam) and p.log:
            assert p.low > 0
        if isinstance(space.params.get(name), IntParam):
            assert isinstance(p, IntParam)
    # the best trial stays inside the next space
    best = result.evidence.best_config
    for name, value in best.items():
        if name in new.fixed:
            assert new.fixed[name] == value, (rule, name)
        elif name in new.params and new.is_active(name, best):
            assert new.params[name].contains(value), (rule, name, value, new.params[name])
    # deterministic: the same study gives the same space
    again = refine_study(read_study(str(path)), space, cfg, _only(rule))
    assert dump_space(again.space) == dump_space(new)


@pytest.mark.parametrize("rule", RULES)
def test_no_evidence_means_no_change(rule, tmp_path):
    space = Space(
        name="c",
        version=1,
        params={
            "a": FloatParam(low=0, high=1, limits=(0, 1)),
            "opt": CategoricalParam(choices=("x", "y")),
            "d": IntParam(low=1, high=4),
        },
    )
    path = write_study(tmp_path / "s.db", space, lambda c: c["a"], 4)
    result = refine_study(read_study(path), space, load_settings(config=False), _only(rule))
    assert result.space.params == space.params and result.space.fixed == space.fixed
    assert all(d.action in ("keep", "protect") for d in result.decisions)
