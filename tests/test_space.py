"""The space model: its invariants, its Optuna constructors, and which points it contains."""

from __future__ import annotations

import attrs
import numpy as np
import optuna.distributions as od
import pytest
from hypothesis import HealthCheck, given, settings

from refine.errors import RefineError, SpaceError
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, InvalidParam, Space
from tests.conftest import sample_config
from tests.strategies import spaces

_settings = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    "build, invariant",
    [
        (lambda: FloatParam(low=1.0, high=0.5), "`low < high`"),
        (lambda: FloatParam(low=1.0, high=1.0), "`low < high`"),
        (lambda: FloatParam(low=0.0, high=1.0, log=True), "`log: true` needs low > 0"),
        (lambda: FloatParam(low=1e-3, high=1.0, log=True, step=0.1), "exclusive"),
        (lambda: FloatParam(low=0.0, high=1.0, step=0.0), "`step` must be > 0"),
        (lambda: FloatParam(low=0.0, high=float("inf")), "finite"),
        (lambda: FloatParam(low=0.0, high=2.0, limits=(0.0, 1.0)), "inside `limits`"),
        (lambda: FloatParam(low=0.0, high=1.0, limits=(1.0, 0.0)), "lo < hi"),
        (lambda: IntParam(low=3, high=2), "`low < high`"),
        (lambda: IntParam(low=0, high=8, log=True), "`log: true` needs low > 0"),
        (lambda: IntParam(low=1, high=8, log=True, step=2), "exclusive"),
        (lambda: IntParam(low=1, high=8, step=0), "integer >= 1"),
        (lambda: IntParam(low=1.5, high=8), "must be an integer"),
        (lambda: IntParam(low=True, high=8), "must be an integer"),
        (lambda: CategoricalParam(choices=()), "must not be empty"),
        (lambda: CategoricalParam(choices=("a", "a")), "distinct"),
        (lambda: CategoricalParam(choices=(1, 1.0)), "distinct"),
        (lambda: CategoricalParam(choices=([1, 2],)), "strings, numbers, booleans or null"),
        (lambda: CategoricalParam(choices=("a", "b"), weights=(1,)), "one weight per choice"),
        (lambda: CategoricalParam(choices=("a", "b"), weights=(0, 0)), "not all be zero"),
        (lambda: CategoricalParam(choices=("a", "b"), weights=(1, -1)), "non-negative"),
        (lambda: CategoricalParam(choices=("a", "b"), weights=(1, float("nan"))), "finite"),
        (lambda: Condition("a", []), "at least one value"),
        (lambda: Space(name="has space", version=1), "`name`"),
        (lambda: Space(name="s", version=0), "`version`"),
        (lambda: Space(name="s", version=True), "`version`"),
        (lambda: Space(name="s", version=2, parent=2), "`parent`"),
        (lambda: Space(name="s", version=1, directions=("max",)), "direction"),
        (lambda: Space(name="s", version=1, directions=()), "direction"),
        (lambda: Space(name="s", version=1, params={"x": FloatParam(low=0, high=1)}, fixed={"x": 0.5}), "never both"),
    ],
)
def test_invalid_values_are_refused(build, invariant: str) -> None:
    with pytest.raises(InvalidParam) as info:
        build()
    assert invariant in str(info.value)
    assert isinstance(info.value, SpaceError) and isinstance(info.value, RefineError)


def test_true_and_one_are_distinct_choices() -> None:
    p = CategoricalParam(choices=(True, 1, 1.5, None, "1"))
    assert p.index(1) == 1 and p.index(True) == 0 and p.index("1") == 4
    assert p.contains(None) and not p.contains(False)


def test_when_on_unknown_parent_names_the_param() -> None:
    with pytest.raises(InvalidParam) as info:
        Space(name="s", version=1, params={"m": FloatParam(low=0, high=1, when=Condition("opt", "sgd"))})
    assert info.value.param == "m" and "'opt'" in str(info.value)


def test_when_on_itself_is_refused() -> None:
    with pytest.raises(InvalidParam, match="another parameter"):
        Space(name="s", version=1, params={"a": CategoricalParam(choices=("x", "y"), when=Condition("a", "x"))})


def test_when_value_must_be_a_choice_of_the_parent() -> None:
    params = {
        "opt": CategoricalParam(choices=("sgd", "adam")),
        "m": FloatParam(low=0, high=1, when=Condition("opt", "rmsprop")),
    }
    with pytest.raises(InvalidParam, match="choices of the parent"):
        Space(name="s", version=1, params=params)


def test_when_cycle_is_refused() -> None:
    params = {
        "a": CategoricalParam(choices=("x", "y"), when=Condition("c", "u")),
        "b": CategoricalParam(choices=("p", "q"), when=Condition("a", "x")),
        "c": CategoricalParam(choices=("u", "v"), when=Condition("b", "p")),
    }
    with pytest.raises(InvalidParam, match="cycle"):
        Space(name="s", version=1, params=params)


def test_when_on_a_fixed_value_is_allowed() -> None:
    space = Space(
        name="s",
        version=1,
        fixed={"encoder": "cnn"},
        params={"k": IntParam(low=1, high=3, when=Condition("encoder", "cnn"))},
    )
    assert space.is_active("k", {})


def test_values_are_frozen() -> None:
    p = FloatParam(low=0, high=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        p.low = 0.5  # type: ignore[misc]


def test_evolve_checks_the_invariants_again() -> None:
    p = FloatParam(low=0.1, high=1.0, log=True)
    assert attrs.evolve(p, high=2.0) == FloatParam(low=0.1, high=2.0, log=True)
    with pytest.raises(InvalidParam):
        attrs.evolve(p, low=0.0)


def test_space_does_not_share_the_callers_dicts() -> None:
    params = {"x": FloatParam(low=0, high=1)}
    space = Space(name="s", version=1, params=params)
    params["y"] = FloatParam(low=0, high=1)
    assert list(space.params) == ["x"]


@pytest.mark.parametrize(
    "distribution, expected",
    [
        (od.FloatDistribution(1e-5, 1e-1, log=True), FloatParam(low=1e-5, high=1e-1, log=True)),
        (od.FloatDistribution(0.0, 1.0, step=0.25), FloatParam(low=0.0, high=1.0, step=0.25)),
        (od.IntDistribution(8, 128, step=8), IntParam(low=8, high=128, step=8)),
        (od.IntDistribution(1, 1024, log=True), IntParam(low=1, high=1024, log=True)),
        (od.CategoricalDistribution(["a", None, True, 2]), CategoricalParam(choices=("a", None, True, 2))),
    ],
)
def test_from_distribution(distribution, expected) -> None:
    param = type(expected).from_distribution(distribution)
    assert param == expected
    assert param.to_distribution() == distribution


def test_from_distribution_keeps_the_condition() -> None:
    when = Condition("encoder", "context")
    assert IntParam.from_distribution(od.IntDistribution(1, 5), when=when).when == when


@_settings
@given(spaces())
def test_params_survive_optuna_distributions(space: Space) -> None:
    for p in space.params.values():
        back = type(p).from_distribution(p.to_distribution())
        assert back.when is None
        if isinstance(p, CategoricalParam):
            assert back.choices == p.choices and back.weights is None
        elif isinstance(p, FloatParam) and p.step is not None:
            # Optuna re-derives high on its decimal grid; it may move by a rounding error.
            assert (back.low, back.step, back.log) == (p.low, p.step, p.log)
            assert back.high == pytest.approx(p.high, rel=1e-9, abs=1e-9 * p.step)
        else:
            assert (back.low, back.high, back.step, back.log) == (p.low, p.high, p.step, p.log)


@_settings
@given(spaces())
def test_sampled_points_are_contained(space: Space) -> None:
    config = sample_config(space, np.random.default_rng(0))
    assert space.contains(config)
    for name in space.params:
        assert (name in config) == space.is_active(name, config)


def test_nested_conditions() -> None:
    space = Space(
        name="s",
        version=1,
        params={
            "model": CategoricalParam(choices=("tree", "net")),
            "opt": CategoricalParam(choices=("sgd", "adam"), when=Condition("model", "net")),
            "momentum": FloatParam(low=0.0, high=0.99, when=Condition("opt", ["sgd"])),
        },
    )
    assert space.is_active("momentum", {"model": "net", "opt": "sgd"})
    assert not space.is_active("momentum", {"model": "tree", "opt": "sgd"})
    assert not space.is_active("momentum", {"model": "net", "opt": "adam"})
    assert space.contains({"model": "tree"})
    assert not space.contains({"model": "net", "opt": "sgd"})
    assert space.contains({"model": "net", "opt": "sgd", "momentum": 0.5})
    assert not space.contains({"model": "net", "opt": "sgd", "momentum": 1.5})


def test_int_contains_only_integers_in_range() -> None:
    p = IntParam(low=1, high=5)
    assert p.contains(3) and p.contains(3.0)
    assert not p.contains(3.5) and not p.contains(6) and not p.contains(True)


def test_normalized_weights() -> None:
    assert CategoricalParam(choices=("a", "b"), weights=(3, 1)).normalized_weights() == (0.75, 0.25)
    assert CategoricalParam(choices=("a", "b", "c", "d")).normalized_weights() == (0.25,) * 4


def test_single_and_multi_objective() -> None:
    assert Space(name="s", version=1).direction == "minimize"
    multi = Space(name="s", version=1, directions=["maximize", "minimize"])
    assert multi.multi_objective and multi.directions == ("maximize", "minimize")


def test_a_condition_compares_exactly_except_on_a_grid_float_parent():
    from refine.space import Condition

    cond = Condition("p", (0.0, 0.3))
    assert not cond.allows(5.6e-223) and not cond.allows(0.30000000000000004)  # a categorical's distinct choices
    assert cond.allows(0.30000000000000004, step=0.1) and not cond.allows(0.4, step=0.1)  # a 0.1 grid's sample of 0.3


def test_a_nan_choice_is_one_choice_matched_by_any_nan():
    # nan != nan, yet Optuna stores a NaN choice and matches it: so does refine, wherever a choice is looked up.
    p = CategoricalParam(choices=(float("nan"), 0.5, 1.0))
    other_nan = float("nan")  # another object: `in` would match by identity alone
    assert p.contains(other_nan) and p.index(other_nan) == 0 and not p.contains(0.25)
    assert not p.ordered  # NaN has no place in an order
    assert CategoricalParam.same(other_nan, float("nan")) and not CategoricalParam.same(other_nan, None)
    assert not CategoricalParam.same(1, 1.0) and not CategoricalParam.same(True, 1)
    with pytest.raises(InvalidParam, match="distinct"):
        CategoricalParam(choices=(float("nan"), 1.0, other_nan))
