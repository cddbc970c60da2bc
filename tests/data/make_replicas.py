"""Build the replica studies the verdict suite (tests/test_verdicts.py) judges refine on without the real files.

The real files (``scripts/fetch_real_studies.py``) are studies people committed
to their own repositories; they are not ours to commit, and CI cannot fetch
them. Each replica here is a study written through Optuna's own API with the
same study names, parameter names, distributions (ranges, log, steps, choices),
trial states and trial counts of the same order as its original, and the
structure its verdict depends on: where the elites sit, which edge they crowd,
which choice holds them, which trials were pruned, failed or left running,
when a parameter joined the study. The values are not copied: every trial is
drawn from a seeded NumPy generator (stable across releases, no Optuna sampler
involved), scored by a made-up objective with that structure.

    python tests/data/make_replicas.py DEST        # write every replica into DEST
    python tests/data/make_replicas.py DEST rvfl.db

The tests build them on first use into ``tests/data/replica/<hash of this
file>/`` (ignored by git), read-only like the fetched files.
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

optuna.logging.set_verbosity(optuna.logging.WARNING)

Params = dict[str, Any]


def F(low: float, high: float, *, log: bool = False) -> FloatDistribution:
    return FloatDistribution(low, high, log=log)


def I(low: int, high: int, *, log: bool = False, step: int = 1) -> IntDistribution:  # noqa: E743
    return IntDistribution(low, high, log=log, step=step)


def C(*choices: Any) -> CategoricalDistribution:
    return CategoricalDistribution(choices)


class Sampler:
    """TPE-like draws: ``warmup`` uniform trials, then most trials near a focus, the rest uniform.

    ``focus`` maps a numeric parameter to the value its draws gather around
    (``sd`` in units of its range, log ranges in log units) and a categorical
    one to the choice drawn with probability ``stick``.
    """

    def __init__(self, seed: int, focus: Params, *, warmup: int = 10, explore: float = 0.25, sd: float = 0.08):
        self.rng = np.random.default_rng(seed)
        self.focus, self.warmup, self.explore, self.sd = focus, warmup, explore, sd

    def _unit(self, d: BaseDistribution, x: float) -> float:
        lo, hi, log = d.low, d.high, d.log  # type: ignore[attr-defined]
        return (math.log(x) - math.log(lo)) / (math.log(hi) - math.log(lo)) if log else (x - lo) / (hi - lo)

    def _from_unit(self, d: BaseDistribution, u: float) -> float | int:
        lo, hi, log = d.low, d.high, d.log  # type: ignore[attr-defined]
        u = min(max(u, 0.0), 1.0)
        x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if log else lo + u * (hi - lo)
        if isinstance(d, IntDistribution):
            return int(min(max(d.low + d.step * round((x - d.low) / d.step), d.low), d.high))
        return float(min(max(x, lo), hi))

    def draw(self, i: int, name: str, d: BaseDistribution, sd: float | None = None) -> Any:
        near = i >= self.warmup and name in self.focus and self.rng.uniform() > self.explore
        if isinstance(d, CategoricalDistribution):
            if near and self.rng.uniform() < 0.85:
                return self.focus[name]
            return d.choices[int(self.rng.integers(len(d.choices)))]
        if near:
            u = self._unit(d, self.focus[name]) + self.rng.normal(0, sd or self.sd)
            u = -u if u < 0 else 2 - u if u > 1 else u  # reflected at the edges
            return self._from_unit(d, u)
        return self._from_unit(d, float(self.rng.uniform()))

    def params(self, i: int, dists: dict[str, BaseDistribution], sds: dict[str, float] | None = None) -> Params:
        return {k: self.draw(i, k, d, (sds or {}).get(k)) for k, d in dists.items()}


def _fast(dbfile: Path) -> optuna.storages.RDBStorage:
    class _Connection(sqlite3.Connection):  # the bytes of the file are the same; writing it is quicker
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.execute("PRAGMA synchronous=OFF")

    return optuna.storages.RDBStorage(f"sqlite:///{dbfile}", engine_kwargs={"connect_args": {"factory": _Connection}})


class Writer:
    def __init__(self, storage: optuna.storages.RDBStorage, name: str, directions: list[str]):
        self.study = optuna.create_study(storage=storage, study_name=name, directions=directions)
        self.trials: list[optuna.trial.FrozenTrial] = []

    def add(
        self,
        params: Params,
        dists: dict[str, BaseDistribution],
        state: str = "COMPLETE",
        values: float | list[float] | None = None,
        steps: list[float] | None = None,
    ) -> None:
        state_ = TrialState[state]
        vals = None if values is None or state_ != TrialState.COMPLETE else values
        vals = [vals] if isinstance(vals, (int, float)) else vals
        self.trials.append(
            optuna.trial.create_trial(
                state=state_,
                params=params,
                distributions={k: dists[k] for k in params},
                values=vals,
                intermediate_values=dict(enumerate(steps or [])),
            )
        )

    def close(self) -> None:
        self.study.add_trials(self.trials)


# --------------------------------------------------------------------------- the replicas


def rvfl(storage: optuna.storages.RDBStorage) -> None:
    """annabelkner/RVFL: a random-vector functional-link net, an MLP with define-by-run layers, a one-layer MLP."""
    # study_rvfl: 50 trials (35 complete, 15 pruned), minimize. Every elite has scale 0.08-0.2 and alpha
    # 3e-4-7e-4 (log ranges of three and seven decades) and relu; sigmoid ran once, tanh 8 times.
    dists = {
        "n_hidden": I(10, 2500),
        "activation": C("relu", "sigmoid", "tanh"),
        "scale": F(0.01, 10.0, log=True),
        "direct_linkage": C(True, False),
        "weight_distribution": C("uniform", "normal"),
        "bias_scale": F(1e-4, 1.0, log=True),
        "alpha": F(1e-5, 100.0, log=True),
    }
    s = Sampler(1, {"scale": 0.125, "alpha": 4.5e-4, "n_hidden": 2000}, warmup=12, explore=0.3, sd=0.1)
    w = Writer(storage, "study_rvfl", ["minimize"])
    acts = ["relu"] * 41 + ["sigmoid"] + ["tanh"] * 8
    s.rng.shuffle(acts)
    pruned = 0
    for i in range(50):
        p = s.params(i, dists, {"alpha": 0.05})
        p["activation"] = acts[i]
        loss = (
            0.15
            + 0.12 * abs(math.log10(p["scale"] / 0.125))
            + 0.06 * abs(math.log10(p["alpha"] / 4.5e-4))
            + 0.04 * (p["activation"] != "relu")
            + 0.00002 * abs(p["n_hidden"] - 2000)
            + s.rng.normal(0, 0.003)
        )
        if loss > 0.25 and pruned < 15 and i > 3 and p["activation"] == "relu":
            pruned += 1
            w.add(p, dists, "PRUNED", steps=[loss * 1.3, loss * 1.1])
        else:
            w.add(p, dists, values=loss)
    w.close()

    # study_mlp: 50 trials, 13 complete, 37 pruned; n_units_l{i} for i < n_layers in [2, 5]; no complete
    # trial has 5 layers, so n_units_l4 shows only in pruned ones.
    base = {
        "n_layers": I(2, 5),
        "activation": C("relu", "tanh"),
        "alpha": F(1e-5, 0.1, log=True),
        "learning_rate_init": F(1e-3, 1e-2, log=True),
        "n_iter_no_change": I(10, 50),
    }
    units = I(10, 300)
    s = Sampler(2, {"n_layers": 4, "activation": "relu", "alpha": 1e-3, "learning_rate_init": 1.5e-3}, sd=0.1)
    w = Writer(storage, "study_mlp", ["minimize"])
    completes = 0
    for i in range(50):
        p = {"n_layers": s.draw(i, "n_layers", base["n_layers"])}
        dists = dict(base)
        for j in range(p["n_layers"]):
            dists[f"n_units_l{j}"] = units
            p[f"n_units_l{j}"] = s.draw(i, f"n_units_l{j}", units)
        for k in ("activation", "alpha", "learning_rate_init", "n_iter_no_change"):
            p[k] = s.draw(i, k, base[k])
        loss = 0.206 + 0.002 * abs(p["n_layers"] - 4) + 0.05 * (p["activation"] != "relu") + s.rng.normal(0, 0.002)
        # a quarter of the runs finish; five-layer networks never do (the pruner stops them all)
        if p["n_layers"] < 5 and completes < 13 and (s.rng.uniform() < 0.3 or i > 40):
            completes += 1
            w.add(p, dists, values=loss)
        else:
            w.add(p, dists, "PRUNED", steps=[loss + 0.2, loss + 0.1])
    w.close()

    # study_mlp_single: 50 trials (41 complete, 9 pruned): learning_rate_init's elites at the top of
    # [0.001, 0.01], the value falling steadily as it rises.
    dists = {
        "hidden_layer_sizes": I(10, 800),
        "activation": C("relu", "tanh"),
        "alpha": F(1e-5, 0.1, log=True),
        "learning_rate_init": F(1e-3, 1e-2, log=True),
    }
    s = Sampler(3, {"hidden_layer_sizes": 520, "activation": "relu", "alpha": 1e-4, "learning_rate_init": 8e-3})
    w = Writer(storage, "study_mlp_single", ["minimize"])
    pruned = 0
    for i in range(50):
        p = s.params(i, dists)
        loss = (
            0.53
            + 0.12 * (1 - math.log10(p["learning_rate_init"] / 1e-3))
            + 0.03 * (p["activation"] != "relu")
            + 0.00005 * abs(p["hidden_layer_sizes"] - 520)
            + s.rng.normal(0, 0.004)
        )
        state = "PRUNED" if loss > 0.62 and pruned < 9 else "COMPLETE"
        pruned += state == "PRUNED"
        w.add(p, dists, state, values=loss, steps=[loss + 0.1])
    w.close()


REPLICAS: dict[str, Callable[[optuna.storages.RDBStorage], None]] = {"rvfl.db": rvfl}


def build(name: str, dest: Path) -> Path:
    """Write replica ``name`` into ``dest`` (atomically, read-only); an existing file is kept."""
    target = dest / name
    if target.exists():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".part", dir=dest)
    os.close(fd)
    os.unlink(tmp)
    try:
        storage = _fast(Path(tmp))
        REPLICAS[name](storage)
        storage.engine.dispose()
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("names", nargs="*", help=f"which (default: all of {', '.join(REPLICAS)})")
    args = parser.parse_args()
    for name in args.names or REPLICAS:
        print(build(name, args.dest))


if __name__ == "__main__":
    sys.exit(main())
