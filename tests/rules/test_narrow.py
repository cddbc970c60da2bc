"""The narrow rule: a range shrinks around the elites, keeping their grid, modes and noise."""

from __future__ import annotations

import math

import numpy as np

import refine
from refine.space import FloatParam, IntParam
from tests.conftest import _decision, _replicated, _space


def test_sharp_interior_optimum_narrows_and_contains_it(study_factory):
    space = _space(lr=FloatParam(low=1e-6, high=1.0, log=True), other=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: -abs(math.log10(c["lr"]) + 3.0), 150)
    result = refine.next_space(path, config=False)
    lr = result.space.params["lr"]
    assert _decision(result, "lr").action == "narrow"
    assert lr.low < 1e-3 < lr.high
    assert lr.log and (math.log(lr.high) - math.log(lr.low)) < 0.8 * (math.log(1.0) - math.log(1e-6))
    best = result.rationale["best"]["params"]["lr"]
    assert lr.low <= best <= lr.high


def test_narrowing_a_grid_coarser_than_the_elites_halves_its_step(study_factory):
    # the elites sit on 0.3 and 0.4 of a 0.1 grid: the next stage may try 0.35 (as seed 001 proposed)
    space = _space(dropout=FloatParam(low=0.0, high=1.0, step=0.1), other=FloatParam(low=0, high=1))
    rng = np.random.default_rng(3)
    path = study_factory(space, lambda c: -abs(c["dropout"] - 0.35) + rng.normal(0, 0.001), 120)
    result = refine.next_space(path, config=False)
    dropout = result.space.params["dropout"]
    assert _decision(result, "dropout").action == "narrow"
    assert dropout.step == 0.05 and dropout.low <= 0.3 and dropout.high >= 0.4
    assert "step 0.1 -> 0.05" in _decision(result, "dropout").reason


def test_narrowing_keeps_a_grid_finer_than_the_elites(study_factory):
    space = _space(dropout=FloatParam(low=0.0, high=1.0, step=0.01), other=FloatParam(low=0, high=1))
    rng = np.random.default_rng(3)
    path = study_factory(space, lambda c: -abs(c["dropout"] - 0.35) + rng.normal(0, 0.001), 120)
    result = refine.next_space(path, config=False)
    assert _decision(result, "dropout").action == "narrow" and result.space.params["dropout"].step == 0.01


def test_a_bimodal_sweet_spot_is_reported_and_narrowing_keeps_both_modes(study_factory):
    # n_layers good at 2 and at 6-7 (seed 001): one interval would hide that the middle is bad
    space = _space(n_layers=IntParam(low=1, high=12), other=FloatParam(low=0, high=1))
    rng = np.random.default_rng(4)
    score = {2: 1.0, 6: 0.97, 7: 0.98}
    path = study_factory(
        space, lambda c: score.get(c["n_layers"], 0.5 - 0.02 * c["n_layers"]) + rng.normal(0, 0.005), 150
    )
    result = refine.next_space(path, config=False, narrow_keep_elites=False)
    spot = result.rationale["evidence"]["n_layers"]["sweet_spot"]
    assert [(m["low"], m["high"]) for m in spot["modes"]] == [(2, 2), (6, 7)]
    n_layers = result.space.params["n_layers"]
    assert n_layers.low <= 2 and n_layers.high >= 7
    from refine.rationale import to_markdown

    assert "bimodal: elites good in [2, 2]" in to_markdown(result.rationale)


def test_narrowing_keeps_every_trial_within_noise_of_the_best(study_factory):
    space = _space(lr=FloatParam(low=1e-6, high=1.0, log=True))
    rng = np.random.default_rng(12)
    configs = _replicated(space, 80, 12)
    path = study_factory(
        space, lambda c: -abs(math.log10(c["lr"]) + 3.0) + rng.normal(0, 0.3), len(configs), configs=configs
    )
    result = refine.next_space(path, config=False)
    ev = result.evidence
    assert ev.noise_sd and not ev.near_noise
    lr = result.space.params["lr"]
    near = ev.ranked & (ev.scores >= ev.scores[ev.best_row] - 2 * ev.noise_sd)
    values = ev.study.columns["lr"][near]
    assert _decision(result, "lr").action == "narrow"
    assert (values >= lr.low).all() and (values <= lr.high).all()
