"""Sampling (refine/executor/sampling.py): the samplers, categorical weights, each weighted choice's share."""

from __future__ import annotations

import collections

import attrs
import pytest

from refine.executor import load_study, run
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from tests.executor.conftest import OBJ, space_v1, trials_of


def test_categorical_weights_honoured_while_exploring(tmp_path):
    db = str(tmp_path / "s.db")
    run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=20, startup=20, quiet=True)
    explored = trials_of(db, "a")[:20]
    share = sum(t.params["encoder"] == "cnn" for t in explored) / len(explored)
    assert abs(share - 0.75) <= 0.10


def test_categorical_weights_with_three_choices_over_ten_trials(tmp_path):
    space = Space(
        name="w",
        version=1,
        params={
            "x": FloatParam(low=0, high=1),
            "c": CategoricalParam(choices=("a", "b", "c"), weights=(0.5, 0.3, 0.2)),
        },
    )
    db = str(tmp_path / "s.db")
    run(space, f"{OBJ}:quadratic", storage=db, study="a", trials=10, quiet=True)
    counts = collections.Counter(t.params["c"] for t in trials_of(db, "a"))
    for choice, w in zip("abc", (0.5, 0.3, 0.2)):
        assert abs(counts[choice] / 10 - w) <= 0.10


@pytest.mark.parametrize("sampler", ["random", "qmc"])
def test_other_samplers_run(tmp_path, sampler):
    db = str(tmp_path / "s.db")
    [r] = run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=5, sampler=sampler, quiet=True)
    assert r.complete == 5


@pytest.mark.parametrize("sampler", ["cmaes", pytest.param("gp", marks=pytest.mark.slow)])
def test_model_based_samplers_keep_to_the_space_past_their_startup(tmp_path, sampler):
    pytest.importorskip({"cmaes": "cmaes", "gp": "torch"}[sampler])  # gp needs PyTorch: the examples extra
    space = attrs.evolve(
        space_v1(),
        params={
            **space_v1().params,
            "lr": FloatParam(low=1e-4, high=1e-1, log=True),
            "w": IntParam(low=8, high=64, step=8),
        },
    )
    db = str(tmp_path / "s.db")
    [r] = run(space, f"{OBJ}:quadratic", storage=db, study="a", trials=14, sampler=sampler, startup=6, quiet=True)
    done = trials_of(db, "a")
    assert r.complete == 14 and len(done) == 14
    for t in done:
        assert space.contains(t.params), t.params
        assert ("ctx" in t.params) == (t.params["encoder"] == "context")
        assert (t.params["w"] - 8) % 8 == 0 and isinstance(t.params["w"], int)
    assert len({round(t.params["lr"], 12) for t in done[6:]}) > 1  # the model proposed, not one point repeated


def test_a_weighted_choice_gets_its_share_after_a_warm_start(tmp_path):
    # the history outnumbers --startup, so the model chooses; each weighted choice still gets
    # min(fair_trial, weight x trials) trials, 'mlp' (no history at all) included
    db = str(tmp_path / "s.db")
    v1 = attrs.evolve(space_v1(), params={**space_v1().params, "encoder": CategoricalParam(choices=("cnn", "context"))})
    run(v1, f"{OBJ}:quadratic", storage=db, study="v1", trials=30, quiet=True)
    v2 = attrs.evolve(
        space_v1(),
        version=2,
        parent=1,
        params={
            **space_v1().params,
            "encoder": CategoricalParam(choices=("cnn", "context", "mlp"), weights=(0.7, 0.2, 0.1)),
        },
    )
    [r] = run(v2, f"{OBJ}:quadratic", storage=db, study="v2", trials=20, from_=f"{db}:v1", warm=0, quiet=True)
    assert r.history > 10
    own = collections.Counter(
        t.params["encoder"] for t in load_study(db, "v2").trials if "refine:history_from" not in t.user_attrs
    )
    assert own["mlp"] >= 2, own  # no trial in the history: its share, 10 % of 20, comes from the stage itself
    total = collections.Counter(t.params["encoder"] for t in load_study(db, "v2").trials)
    assert total["context"] >= 4  # the history's trials count toward it: the next stage's evidence reads both
    assert not r.warnings


def test_a_weighted_choice_share_is_capped_at_the_fair_trial(tmp_path):
    db = str(tmp_path / "s.db")
    space = Space(
        name="w",
        version=1,
        params={
            "x": FloatParam(low=0, high=1),
            "c": CategoricalParam(choices=("a", "b"), weights=(0.5, 0.5)),
        },
    )
    run(space, f"{OBJ}:quadratic", storage=db, study="a", trials=16, startup=4, fair_trial=3, quiet=True)
    assert load_study(db, "a").user_attrs["refine:fair_share"] == {"target": 16, "quota": {"c": [3, 3]}}
    counts = collections.Counter(t.params["c"] for t in trials_of(db, "a"))
    assert counts["a"] >= 3 and counts["b"] >= 3


def test_the_reserved_share_is_forced_at_the_end_of_a_cold_stage():
    from refine.executor.sampling import _due

    # cold: the model chooses while enough trials are left for what is owed
    assert _due([4, 4], [6, 0], own=10, target=16, paced=False) is None
    assert _due([4, 4], [8, 0], own=12, target=16, paced=False) == 1
    # warm: a choice behind an even spread of its share is forced early
    assert _due([4, 4], [3, 0], own=3, target=16, paced=True) == 1
    assert _due([4, 4], [4, 4], own=8, target=16, paced=True) is None
