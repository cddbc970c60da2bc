"""Generate large Optuna SQLite studies quickly, for the speed benchmark.

``study.add_trials`` costs 15-21 ms a trial (about half an hour for 100k), so
this script lets Optuna create the empty study -- and with it the exact
schema, ``version_info`` and ``alembic_version`` rows -- and then writes the
trial rows itself, in bulk, inside one transaction, the way Optuna's RDB
storage lays them out:

- ``trials``: state ``COMPLETE``, datetimes as naive UTC in SQLAlchemy's
  SQLite format (``YYYY-MM-DD HH:MM:SS.ffffff``);
- ``trial_params``: the internal representation (a float; a categorical's
  choice index) and ``distribution_to_json`` of the distribution;
- ``trial_values`` / ``trial_intermediate_values``: value and ``FINITE``;
- ``trial_user_attributes``: ``json.dumps`` of each value.

The trials come from a seeded synthetic objective (an image-classifier-like
space of 12 parameters, one of them conditional), so a given ``--trials`` and
``--seed`` always give the same study. ``tests/test_bench_generator.py``
proves the layout right by comparing Optuna's own reading of a bulk-written
study with one built through ``study.add_trials``.

With ``--drift`` the later trials crowd near good values, as an adaptive
sampler's do (:func:`_drift`), so that ``refine next-space`` fits its model of
the objective; without it the study is the same, byte for byte.

Usage::

    python benchmarks/speed/make_study.py OUT.db --trials 100000 --seed 0
    python benchmarks/speed/make_study.py OUT.db --trials 1000 --drift
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)

#: Bump when the synthetic content changes, so that cached studies are rebuilt.
GENERATOR_VERSION = 1

DEFAULT_STUDY_NAME = "bench"

#: The space the synthetic trials are drawn from, in Optuna's own terms.
DISTRIBUTIONS: dict[str, BaseDistribution] = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
    "dropout": FloatDistribution(0.0, 0.7),
    "label_smoothing": FloatDistribution(0.0, 0.3),
    "warmup_frac": FloatDistribution(0.0, 0.2, step=0.02),
    "depth": IntDistribution(2, 8),
    "width": IntDistribution(64, 512, step=64),
    "batch_size": CategoricalDistribution([16, 32, 64, 128]),
    "optimizer": CategoricalDistribution(["adam", "adamw", "sgd"]),
    "activation": CategoricalDistribution(["relu", "gelu", "silu"]),
    "use_bn": CategoricalDistribution([True, False]),
    # Conditional: only sampled when optimizer == "sgd".
    "momentum": FloatDistribution(0.5, 0.99),
}
_SGD = 2  # index of "sgd" in optimizer's choices
N_STEPS = 4  # intermediate values (epochs) per trial
_TRIALS_PER_CHUNK = 20_000  # bounds the memory of the row lists
_BASE_TIME = np.datetime64("2024-01-01T00:00:00", "us")


def synthesize(n_trials: int, seed: int, drift: bool = False) -> dict[str, np.ndarray]:
    """Draw the trials' content as columns, one array per quantity.

    Parameters are in Optuna's internal representation (a categorical is the
    index of its choice); ``momentum`` is NaN where it is absent.

    Args:
        n_trials: How many trials.
        seed: Seed of the random generator; the same seed gives the same trials.
        drift: Let later trials crowd around good values, as an adaptive
            sampler's do (see :func:`_drift`); off, the trials are uniform.

    Returns:
        Columns keyed by parameter name, plus ``value``, ``precision``,
        ``recall``, ``train_time_s``, ``intermediate`` (n_trials x N_STEPS),
        ``start_us`` and ``duration_us``.
    """
    rng = np.random.default_rng(seed)
    n = n_trials
    col: dict[str, np.ndarray] = {}
    col["lr"] = 10.0 ** rng.uniform(-5.0, -1.0, n)
    col["weight_decay"] = 10.0 ** rng.uniform(-6.0, -2.0, n)
    col["dropout"] = rng.uniform(0.0, 0.7, n)
    col["label_smoothing"] = rng.uniform(0.0, 0.3, n)
    col["warmup_frac"] = np.round(rng.integers(0, 11, n) * 0.02, 10)
    col["depth"] = rng.integers(2, 9, n).astype(float)
    col["width"] = (64 * rng.integers(1, 9, n)).astype(float)
    for name in ("batch_size", "optimizer", "activation", "use_bn"):
        k = len(DISTRIBUTIONS[name].choices)  # type: ignore[attr-defined]
        col[name] = rng.integers(0, k, n).astype(float)
    if drift:
        _drift(col, np.random.default_rng([seed, 1]))
    sgd = col["optimizer"] == _SGD
    col["momentum"] = np.where(sgd, rng.uniform(0.5, 0.99, n), np.nan)

    # An accuracy-like objective: a few parameters matter (lr most), some not at all.
    acc = (
        0.92
        - 0.06 * (np.log10(col["lr"]) + 3.0) ** 2
        - 0.01 * (np.log10(col["weight_decay"]) + 4.0) ** 2
        - 0.30 * (col["dropout"] - 0.2) ** 2
        - 0.50 * (col["warmup_frac"] - 0.06) ** 2
        - 0.006 * (col["depth"] - 5.0) ** 2
        + 0.01 * np.log2(col["width"] / 64.0) / 3.0
        + np.array([0.0, 0.01, 0.008, -0.01])[col["batch_size"].astype(int)]
        + np.array([0.01, 0.02, -0.03])[col["optimizer"].astype(int)]
        + np.where(sgd, 0.06 * (np.nan_to_num(col["momentum"]) > 0.85), 0.0)
        + np.array([0.0, 0.005, 0.004])[col["activation"].astype(int)]
        + np.where(col["use_bn"] == 0, 0.01, 0.0)
        + rng.normal(0.0, 0.01, n)
    )
    col["value"] = np.clip(acc, 0.01, 0.999)
    col["precision"] = np.clip(col["value"] + rng.normal(0.0, 0.02, n), 0.0, 1.0)
    col["recall"] = np.clip(col["value"] + rng.normal(0.0, 0.02, n), 0.0, 1.0)
    col["train_time_s"] = np.round(rng.uniform(30.0, 600.0, n), 3)
    epochs = np.arange(1, N_STEPS + 1) / N_STEPS
    curve = col["value"][:, None] * (1.0 - 0.5 * np.exp(-4.0 * epochs))[None, :]
    col["intermediate"] = curve + rng.normal(0.0, 0.005, (n, N_STEPS))
    col["duration_us"] = (col["train_time_s"] * 1e6).astype(np.int64)
    col["start_us"] = np.arange(n, dtype=np.int64) * 60_000_000 + rng.integers(0, 10**6, n)
    return col


#: Where a drifting study's later trials crowd: the centre and spread of each number on its own scale (log10 for a
#: log float), the favoured choice of each categorical. Mostly near the objective's optimum; ``label_smoothing`` (no
#: effect) crowds too, as TPE's trials crowd on an irrelevant parameter.
_DRIFT_NUMBERS = {
    "lr": (-3.0, 0.4, True),
    "weight_decay": (-4.0, 0.8, True),
    "dropout": (0.2, 0.08, False),
    "label_smoothing": (0.1, 0.05, False),
    "warmup_frac": (0.06, 0.03, False),
    "depth": (5.0, 1.0, False),
    "width": (448.0, 64.0, False),
}
_DRIFT_CHOICES = {"batch_size": 1, "optimizer": 1, "activation": 1, "use_bn": 0}


def _drift(col: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """Redraw a share of each parameter's values near good ones, the share growing from 0 to 80 % over the trials.

    This mimics an adaptive sampler (TPE) whose later trials crowd where the
    early ones did well, so that refine's drift test fires and its model of
    the objective is fitted. It draws from its own generator, so a study
    without drift is unchanged.
    """
    n = len(col["lr"])
    share = 0.8 * np.arange(n) / max(1, n - 1)
    for name, (centre, spread, log) in _DRIFT_NUMBERS.items():
        dist = DISTRIBUTIONS[name]
        lo, hi = dist.low, dist.high  # type: ignore[attr-defined]
        near = centre + spread * rng.standard_normal(n)
        near = 10.0**near if log else near
        near = np.clip(near, lo, hi)
        step = getattr(dist, "step", None)
        if step is not None:
            near = np.round(lo + np.round((near - lo) / step) * step, 10)
        moved = rng.random(n) < share
        col[name] = np.where(moved, near, col[name])
    for name, favoured in _DRIFT_CHOICES.items():
        moved = rng.random(n) < share
        col[name] = np.where(moved, float(favoured), col[name])


def trial_contents(n_trials: int, seed: int) -> list[dict[str, Any]]:
    """The same trials as keyword arguments of ``optuna.trial.create_trial``.

    Args:
        n_trials: How many trials.
        seed: Seed of the random generator.

    Returns:
        One dict per trial with ``params``, ``distributions``, ``value``,
        ``user_attrs`` and ``intermediate_values``.
    """
    col = synthesize(n_trials, seed)
    trials = []
    for i in range(n_trials):
        params, dists = {}, {}
        for name, dist in DISTRIBUTIONS.items():
            internal = float(col[name][i])
            if np.isnan(internal):
                continue
            params[name] = dist.to_external_repr(internal)
            dists[name] = dist
        trials.append(
            {
                "params": params,
                "distributions": dists,
                "value": float(col["value"][i]),
                "user_attrs": _user_attrs(col, i),
                "intermediate_values": {s: float(v) for s, v in enumerate(col["intermediate"][i].tolist())},
            }
        )
    return trials


def _user_attrs(col: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    return {
        "precision": float(col["precision"][i]),
        "recall": float(col["recall"][i]),
        "train_time_s": float(col["train_time_s"][i]),
    }


def _datetimes(us: np.ndarray) -> list[str]:
    # SQLAlchemy's SQLite DATETIME format: a space, always six microsecond digits.
    stamps = np.datetime_as_string(_BASE_TIME + us.astype("timedelta64[us]"), unit="us")
    return [s.replace("T", " ") for s in stamps.tolist()]


def _chunk_rows(
    col: dict[str, np.ndarray], lo: int, hi: int, study_id: int, first_trial_id: int
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    ids = list(range(first_trial_id + lo, first_trial_id + hi))
    numbers = range(lo, hi)
    starts = _datetimes(col["start_us"][lo:hi])
    completes = _datetimes(col["start_us"][lo:hi] + col["duration_us"][lo:hi])
    yield "trials", [(tid, num, study_id, "COMPLETE", s, c) for tid, num, s, c in zip(ids, numbers, starts, completes)]

    params: list[tuple[Any, ...]] = []
    per_trial = [(name, col[name][lo:hi].tolist(), distribution_to_json(dist)) for name, dist in DISTRIBUTIONS.items()]
    for j, tid in enumerate(ids):
        for name, values, dist_json in per_trial:
            v = values[j]
            if v == v:  # NaN marks an absent (conditional) parameter
                params.append((tid, name, v, dist_json))
    yield "trial_params", params

    yield "trial_values", [(tid, 0, v, "FINITE") for tid, v in zip(ids, col["value"][lo:hi].tolist())]
    yield (
        "trial_intermediate_values",
        [
            (tid, step, v, "FINITE")
            for tid, row in zip(ids, col["intermediate"][lo:hi].tolist())
            for step, v in enumerate(row)
        ],
    )
    yield (
        "trial_user_attributes",
        [(tid, key, json.dumps(value)) for j, tid in enumerate(ids) for key, value in _user_attrs(col, lo + j).items()],
    )


_INSERTS = {
    "trials": "INSERT INTO trials (trial_id, number, study_id, state, datetime_start, "
    "datetime_complete) VALUES (?, ?, ?, ?, ?, ?)",
    "trial_params": "INSERT INTO trial_params (trial_id, param_name, param_value, "
    "distribution_json) VALUES (?, ?, ?, ?)",
    "trial_values": "INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES (?, ?, ?, ?)",
    "trial_intermediate_values": "INSERT INTO trial_intermediate_values (trial_id, step, "
    "intermediate_value, intermediate_value_type) VALUES (?, ?, ?, ?)",
    "trial_user_attributes": 'INSERT INTO trial_user_attributes (trial_id, "key", value_json) VALUES (?, ?, ?)',
}


def write_study(
    path: str | Path,
    n_trials: int,
    seed: int = 0,
    study_name: str = DEFAULT_STUDY_NAME,
    drift: bool = False,
) -> None:
    """Create a study of ``n_trials`` complete synthetic trials in an SQLite file.

    Optuna creates the study (schema, version rows, the direction); the trial
    rows are then inserted in bulk, in one transaction.

    Args:
        path: The SQLite file; a study named ``study_name`` must not exist in it.
        n_trials: How many trials.
        seed: Seed of the synthetic objective.
        study_name: Name of the study to create.
        drift: Let later trials crowd around good values, as an adaptive sampler's do.
    """
    path = Path(path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(storage=f"sqlite:///{path}", study_name=study_name, direction="maximize")
    col = synthesize(n_trials, seed, drift)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        # Per-connection settings only: the file keeps Optuna's default journal mode.
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA journal_mode = MEMORY")
        con.execute("BEGIN")
        (study_id,) = con.execute("SELECT study_id FROM studies WHERE study_name = ?", (study_name,)).fetchone()
        (max_id,) = con.execute("SELECT MAX(trial_id) FROM trials").fetchone()
        first_trial_id = (max_id or 0) + 1
        for lo in range(0, n_trials, _TRIALS_PER_CHUNK):
            hi = min(lo + _TRIALS_PER_CHUNK, n_trials)
            for table, rows in _chunk_rows(col, lo, hi, study_id, first_trial_id):
                con.executemany(_INSERTS[table], rows)
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="SQLite file to write")
    parser.add_argument("--trials", type=int, default=1000, help="number of trials")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic objective")
    parser.add_argument("--study-name", default=DEFAULT_STUDY_NAME)
    parser.add_argument(
        "--drift", action="store_true", help="later trials crowd near good values, as an adaptive sampler's do"
    )
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args(argv)
    if args.out.exists():
        if not args.force:
            parser.error(f"{args.out} exists; pass --force to replace it")
        args.out.unlink()
    t0 = time.perf_counter()
    write_study(args.out, args.trials, args.seed, args.study_name, drift=args.drift)
    print(
        f"wrote {args.trials} trials to {args.out} (study {args.study_name!r}) in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
