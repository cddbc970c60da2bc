"""Mid-sweep advice (continue / stop / extend by N) in next-space's rationale and --json, on real studies."""

from __future__ import annotations

import json

import numpy as np

import refine
from refine.space import CategoricalParam, FloatParam, Space
from tests.conftest import run_cli as cli


def _space(**params) -> Space:
    return Space(name="s", version=1, directions=("maximize",), params=params)


def test_a_study_still_improving_is_told_to_continue(study_factory):
    configs = [{"x": i / 40} for i in range(40)]  # every trial better than the last
    path = study_factory(_space(x=FloatParam(low=0, high=1)), lambda c: c["x"], 40, configs=configs)
    advice = refine.next_space(path, config=False).rationale["advice"]
    assert advice["action"] == "continue" and "improved 0 ranked trial(s) ago" in advice["reason"]


def test_a_stalled_study_with_fairly_tried_choices_is_told_to_stop(study_factory, capsys):
    rng = np.random.default_rng(0)
    xs = [0.5] + list(rng.uniform(0, 0.4, 59))  # the best came first; nothing since beat it
    configs = [{"x": float(x), "c": ("a", "b")[i % 2]} for i, x in enumerate(xs)]
    path = study_factory(
        _space(x=FloatParam(low=0, high=1), c=CategoricalParam(choices=("a", "b"))),
        lambda c: c["x"],
        60,
        configs=configs,
    )
    advice = refine.next_space(path, config=False).rationale["advice"]
    assert advice["action"] == "stop" and advice["reason"].startswith("converged")
    code, out, _ = cli(capsys, "next-space", path, "--dry-run", "--json")
    assert code == 0 and json.loads(out)["advice"]["action"] == "stop"


def test_a_stalled_study_with_an_under_tried_choice_is_told_to_extend(study_factory):
    rng = np.random.default_rng(0)
    xs = [0.5] + list(rng.uniform(0, 0.4, 39))
    configs = [{"x": float(x), "c": "b" if i % 8 == 3 else "a"} for i, x in enumerate(xs)]  # 'b': 5 trials of 40
    path = study_factory(
        _space(x=FloatParam(low=0, high=1), c=CategoricalParam(choices=("a", "b"))),
        lambda c: c["x"],
        40,
        configs=configs,
    )
    result = refine.next_space(path, config=False)
    advice = result.rationale["advice"]
    assert advice["action"] == "extend" and advice["trials"] == 15 and "'b' (5)" in advice["reason"]
    from refine.rationale import to_markdown

    assert "**extend** 15 more trials" in to_markdown(result.rationale)
