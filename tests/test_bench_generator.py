"""The speed benchmark's bulk study writer lays rows out exactly as Optuna does.

``benchmarks/speed/make_study.py`` writes trial rows straight into Optuna's
SQLite schema. These tests read a bulk-written study back through Optuna and
compare it, trial by trial, with the same content stored by
``study.add_trials``.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

N_TRIALS = 30
SEED = 7
_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "speed" / "make_study.py"


def _load_make_study() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_bench_make_study", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_study = _load_make_study()


class _Studies:
    def __init__(self, tmp: Path) -> None:
        reference_url = f"sqlite:///{tmp / 'reference.db'}"
        reference = optuna.create_study(storage=reference_url, study_name="bench", direction="maximize")
        reference.add_trials(
            [optuna.trial.create_trial(**content) for content in make_study.trial_contents(N_TRIALS, SEED)]
        )
        bulk_path = tmp / "bulk.db"
        make_study.write_study(bulk_path, N_TRIALS, SEED, study_name="bench")

        self.reference = optuna.load_study(study_name="bench", storage=reference_url)
        self.bulk = optuna.load_study(study_name="bench", storage=f"sqlite:///{bulk_path}")


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> _Studies:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return _Studies(tmp_path_factory.mktemp("bench_generator"))


def test_bulk_trials_read_back_like_add_trials(studies: _Studies) -> None:
    actual_trials = studies.bulk.get_trials()
    expected_trials = studies.reference.get_trials()
    assert len(actual_trials) == len(expected_trials) == N_TRIALS
    for actual, expected in zip(actual_trials, expected_trials):
        assert actual.number == expected.number
        assert actual.state == expected.state == TrialState.COMPLETE
        assert actual.params == expected.params
        assert _types(actual.params) == _types(expected.params)
        assert actual.distributions == expected.distributions
        assert actual.values == expected.values
        assert actual.user_attrs == expected.user_attrs
        assert actual.intermediate_values == expected.intermediate_values
        assert actual.system_attrs == expected.system_attrs


def test_bulk_study_keeps_direction_and_best_trial(studies: _Studies) -> None:
    assert studies.bulk.directions == studies.reference.directions
    assert studies.bulk.best_trial.number == studies.reference.best_trial.number


def test_bulk_trials_have_ordered_datetimes(studies: _Studies) -> None:
    trials = studies.bulk.get_trials()
    for trial in trials:
        assert trial.datetime_start is not None and trial.datetime_complete is not None
        assert trial.datetime_start <= trial.datetime_complete
    starts = [t.datetime_start for t in trials]
    assert starts == sorted(starts)


def test_generated_content_covers_every_parameter_kind(studies: _Studies) -> None:
    trials = studies.bulk.get_trials()
    with_momentum = [t for t in trials if "momentum" in t.params]
    assert 0 < len(with_momentum) < len(trials)
    assert all(t.params["optimizer"] == "sgd" for t in with_momentum)
    assert all(t.params["optimizer"] != "sgd" for t in trials if "momentum" not in t.params)
    assert all(len(t.intermediate_values) == make_study.N_STEPS for t in trials)
    assert all(math.isfinite(t.value) for t in trials)


def _types(params: dict) -> dict:
    return {name: type(value) for name, value in params.items()}


def test_a_drifting_study_drifts_and_leaves_the_plain_one_alone(tmp_path: Path) -> None:
    # --drift must make refine's drift test fire (so that next-space fits its model), draw from its own generator
    # (a study without it unchanged) and keep every value a value of its distribution
    from refine.evidence import gather_evidence
    from refine.settings import load_settings
    from refine.study import read_study
    from refine.surrogate import drift_test

    plain, drifting = make_study.synthesize(300, SEED), make_study.synthesize(300, SEED, drift=True)
    assert all(
        np.array_equal(plain[k], make_study.synthesize(300, SEED, drift=False)[k], equal_nan=True) for k in plain
    )
    assert not np.array_equal(plain["lr"], drifting["lr"])
    assert np.array_equal(plain["train_time_s"], drifting["train_time_s"])  # the objective's own draws are untouched
    for name, dist in make_study.DISTRIBUTIONS.items():
        values = drifting[name][~np.isnan(drifting[name])]
        assert all(dist._contains(float(v)) for v in values), name
    p = {}
    for drift in (False, True):
        path = tmp_path / f"drift{drift}.db"
        make_study.write_study(path, 300, SEED, drift=drift)
        data = read_study(str(path), "bench")
        evidence = gather_evidence(data, data.space, load_settings({}, config=False))
        p[drift] = drift_test(data, data.space, evidence.ranked).p
    assert p[True] < 1e-6 and p[False] > 0.05, p
