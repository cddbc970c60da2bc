"""coverage() reads a study's columns as arrays: the same gaps as untested() on every trial's config."""

from __future__ import annotations

import math

import numpy as np
import pytest

from refine.coverage import coverage, untested
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Space
from refine.study import RUNNING, read_study
from tests.conftest import write_study


def _space() -> Space:
    return Space(
        name="cov",
        version=1,
        params={
            "lr": FloatParam(low=1e-5, high=1e-1, log=True),
            "drop": FloatParam(low=0.0, high=0.7),
            "warm": FloatParam(low=0.0, high=0.2, step=0.02),
            "depth": IntParam(low=2, high=30),
            "width": IntParam(low=64, high=512, step=64),
            "k": IntParam(low=1, high=20, log=True),
            "opt": CategoricalParam(choices=("adam", "sgd", "rmsprop")),
            "bs": CategoricalParam(choices=(16, 32, 64, 128)),
            "mom": FloatParam(low=0.5, high=0.99, when=Condition(parent="opt", values=("sgd",))),
        },
    )


def _configs(rng: np.random.Generator, n: int) -> list[dict]:
    # values crowd in parts of each range, so that some bins, grid points and choices stay empty
    out = []
    for _ in range(n):
        c = {
            "lr": float(10 ** rng.uniform(-5, -3.2)),
            "drop": float(rng.choice([0.0, 0.07, 0.7, rng.uniform(0.2, 0.4)])),
            "warm": round(0.02 * int(rng.integers(0, 4)), 2),
            "depth": int(rng.integers(2, 12)),
            "width": int(64 * rng.integers(1, 4)),
            "k": int(rng.choice([1, 2, 20])),
            "opt": str(rng.choice(["adam", "sgd"])),
            "bs": int(rng.choice([16, 128])),
        }
        if c["opt"] == "sgd":
            c["mom"] = float(rng.uniform(0.9, 0.99))
        out.append(c)
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    configs = _configs(np.random.default_rng(3), 150)
    path = write_study(tmp_path_factory.mktemp("cov") / "s.db", _space(), lambda c: c["drop"], 150, configs=configs)
    return read_study(path, None)


@pytest.mark.parametrize("bins", [3, 10, 37])
def test_coverage_reads_the_columns_as_untested_reads_the_configs(data, bins):
    space = _space()
    rows = np.flatnonzero(data.states != RUNNING)
    expected = untested(space, [data.config(int(r)) for r in rows], bins)
    got = coverage(data, space, bins)
    as_items: dict[str, list] = {}
    for g in expected:
        item = (
            g.choice if g.is_choice else g.low if g.low == g.high else [float(f"{g.low:.4g}"), float(f"{g.high:.4g}")]
        )
        as_items.setdefault(g.param, []).append(item)
    assert repr(got) == repr(as_items)
    assert {"opt", "bs", "lr", "k"} <= set(got)  # the study left gaps of every kind to compare


def test_grid_high_is_optunas():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        step = float(rng.choice([0.1, 0.02, 1 / 3, 0.25, 0.7, 2.5]))
        low = round(float(rng.uniform(-5, 5)), int(rng.integers(0, 4)))
        high = low + int(rng.integers(0, 40)) * step
        try:
            p = FloatParam(low=low, high=high, step=step)
        except Exception:
            continue
        assert p.grid_high() == p.to_distribution().high
    for low, high, step in [(0, 20, 3), (-7, 50, 4), (64, 512, 64)]:
        q = IntParam(low=low, high=high - (high - low) % step, step=step)
        assert q.grid_high() == q.to_distribution().high and isinstance(q.grid_high(), int)
    assert math.isclose(FloatParam(low=0.0, high=1.0).grid_high(), 1.0)
