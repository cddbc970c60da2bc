"""The keep rule: weak or noisy evidence keeps a range, and says why."""

from __future__ import annotations

import numpy as np
import pytest

import refine
from refine.space import FloatParam, IntParam
from tests.conftest import _decision, _replicated, _space


def test_irrelevant_param_is_kept(study_factory):
    space = _space(x=FloatParam(low=0, high=1), junk=FloatParam(low=-5, high=5))
    rng = np.random.default_rng(2)
    path = study_factory(space, lambda c: -((c["x"] - 0.5) ** 2) + rng.normal(0, 0.01), 120)
    result = refine.next_space(path, config=False)
    assert _decision(result, "junk").action == "keep"
    assert result.space.params["junk"] == space.params["junk"]
    assert "rho=" in _decision(result, "junk").reason


def test_evidence_within_measured_noise_keeps_every_range(study_factory):
    space = _space(x=FloatParam(low=0, high=1), depth=IntParam(low=1, high=8))
    rng = np.random.default_rng(11)
    configs = _replicated(space, 60, 11)
    path = study_factory(space, lambda c: 0.05 * c["x"] + rng.normal(0, 1.0), len(configs), configs=configs)
    result = refine.next_space(path, config=False)
    assert result.evidence.noise_sd == pytest.approx(1.0, rel=0.35)
    assert result.evidence.near_noise
    assert all(d.action == "keep" for d in result.decisions)
    assert "within noise" in _decision(result, "x").reason
    assert any(f.startswith("near noise") for f in result.rationale["red_flags"])
