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


def sailboat(storage: optuna.storages.RDBStorage) -> None:
    """lucasmrdt/sailboat-drl: 40 studies of PID gains and an SB3 PPO agent, many tiny, some with failures."""
    gains = {k: F(2e-4, 2.0, log=True) for k in ("Kp", "Ki", "Kd")}
    headings = (270, 135, 225, 45, 90, 315, 180)
    for heading in headings:  # 286 trials for 135 degrees (4 left RUNNING), fewer for the other headings
        dists = {**gains, "los_radius": F(0.1, 400.0)}
        s = Sampler(10 + heading, {"Kp": 0.27, "Ki": 2.5e-4, "Kd": 0.007, "los_radius": 260.0}, sd=0.05)
        w = Writer(storage, f"pid-coeffs-tuning-upnquick-4-trials-{heading}deg", ["maximize"])
        n = 290 if heading == 135 else 8
        for i in range(n):
            p = s.params(i, dists, {"Ki": 0.03})
            score = (
                89.3
                - 4.0 * abs(math.log10(p["Kp"] / 0.27))
                - 1.5 * abs(math.log10(p["Kd"] / 0.007))
                - 1.0 * math.log10(p["Ki"] / 2e-4)
                - 0.01 * abs(p["los_radius"] - 260.0)
                + s.rng.normal(0, 0.05)
            )
            w.add(p, dists, "RUNNING" if i >= n - 4 else "COMPLETE", values=max(score, 1.3))
        w.close()
    tiny = {  # name -> (complete, failed, the searched params)
        "pid-shared-coeffs-tuning-ourasi-4-trials": (10, 1, gains),
        "08-31-pid-xte-shared": (6, 3, gains),
        "08-31-reward-tuning": (12, 12, {k: F(0.01, 1.0, log=True) for k in ("rudder_coef", "vmc_coef", "xte_coef")}),
        "08-31-reward-tuning-new-custom": (8, 2, {k: F(0.01, 1.0, log=True) for k in ("rudder_coef", "vmc_coef")}),
        "09-01-reward-tuning": (15, 3, {k: F(0.01, 1.0, log=True) for k in ("rudder_coef", "vmc_coef", "xte_coef")}),
        "09-01-pid-xte-shared": (5, 1, gains),
        "09-01-reward-tuning-A": (12, 2, {k: F(0.01, 1.0, log=True) for k in ("rudder_coef", "vmc_coef", "xte_coef")}),
    }
    for kind in ("xte", "los"):
        for scenario in (1, 2):
            tiny[f"09-01-pid-{kind}-scenario-{scenario}"] = (10, 2, gains)
            if (kind, scenario) != ("los", 2):
                for heading in (45, 315, 225, 270, 135, 180, 90):
                    tiny[f"09-01-pid-{kind}-scenario-{scenario}-indiv-{heading}deg"] = (2 + heading % 3, 1, gains)
    for k, (name, (complete, failed, dists)) in enumerate(tiny.items()):
        s = Sampler(200 + k, {})
        w = Writer(storage, name, ["maximize"])
        states = ["COMPLETE"] * complete + ["FAIL"] * failed
        s.rng.shuffle(states)
        for i, state in enumerate(states):
            p = s.params(i, dists)
            w.add(p, dists, state, values=float(150 + 60 * s.rng.standard_normal()))
        w.close()

    # the PPO agent: 356 complete, 7 failed, 1 left RUNNING. n_epochs 10 holds the elites and wins on its
    # own; the learning rate's elites sit below 1e-3; gamma, n_steps, gae_lambda: one value leads, but
    # some rivals ran only a few times.
    dists = {
        "batch_size": C(8, 16, 32, 64, 128, 256, 512),
        "n_steps": C(8, 16, 32, 64, 128, 256, 512, 1024, 2048),
        "gamma": C(0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999),
        "learning_rate": F(1e-5, 1.0, log=True),
        "ent_coef": F(1e-8, 0.1, log=True),
        "clip_range": C(0.1, 0.2, 0.3, 0.4),
        "n_epochs": C(1, 5, 10, 20),
        "gae_lambda": C(0.8, 0.9, 0.92, 0.95, 0.98, 0.99, 1.0),
        "max_grad_norm": C(0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 2, 5),
        "vf_coef": F(0.0, 1.0),
        "net_arch": C("small", "medium"),
        "activation_fn": C("tanh", "relu"),
    }
    focus = {"batch_size": 8, "n_steps": 1024, "gamma": 0.999, "learning_rate": 6e-5, "n_epochs": 10}
    focus |= {"gae_lambda": 0.95, "net_arch": "medium", "activation_fn": "relu", "ent_coef": 1e-6}
    s = Sampler(7, focus, warmup=20, explore=0.2, sd=0.06)
    w = Writer(storage, "sb3-tuning-coktailjet-7-trials", ["maximize"])
    for i in range(364):
        p = s.params(i, dists)
        score = (
            80
            - 25 * abs(math.log10(p["learning_rate"] / 6e-5))
            - 30 * (p["n_epochs"] != 10)
            - 10 * (p["gamma"] != 0.999)
            - 8 * (p["n_steps"] != 1024)
            - 5 * (p["gae_lambda"] != 0.95)
            + s.rng.normal(0, 3)
        )
        state = "RUNNING" if i == 363 else "FAIL" if i % 50 == 7 else "COMPLETE"
        w.add(p, dists, state, values=max(score, -99.3))
    w.close()


def crypto_xgb(storage: optuna.storages.RDBStorage) -> None:
    """txuglassop/crypto_xgb: XGBoost with 15 complete trials, 24 pruned and 17 left RUNNING."""
    dists = {
        "max_depth": I(2, 30),
        "min_child_weight": F(1e-10, 1e10, log=True),
        "subsample": F(0.0, 1.0),
        "colsample_bytree": F(0.0, 1.0),
        "num_boost_round": I(100, 400),
        "learning_rate": F(0.005, 0.1),
    }
    s = Sampler(4, {"max_depth": 15, "subsample": 0.97, "colsample_bytree": 0.95, "learning_rate": 0.05})
    w = Writer(storage, "xgboost", ["maximize"])
    states = ["COMPLETE"] * 15 + ["PRUNED"] * 24
    s.rng.shuffle(states)
    for i, state in enumerate(states + ["RUNNING"] * 17):
        p = s.params(i, dists)
        score = 0.43 - 0.1 * (1 - p["subsample"]) - 0.05 * (1 - p["colsample_bytree"]) + s.rng.normal(0, 0.003)
        w.add(p, dists, state, values=score, steps=[score - 0.05])
    w.close()


def flow_matching(storage: optuna.storages.RDBStorage) -> None:
    """LukeCPadmore/flow-matching-mnist: a UNet, mostly pruned (79 of 106), stepped ints; the base width's
    name changed after the first (failed) trial."""
    dists = {
        "unet.n_layers": I(2, 5),
        "unet.base": I(16, 64, step=16),
        "unet.base_channels": I(16, 64, step=16),
        "unet.d_time": C(32, 64, 128),
        "unet.activation_name": C("silu", "relu", "gelu"),
        "unet.max_time_period": C(1000.0, 10000.0),
        "optim.lr": F(1e-4, 5e-4),
    }
    focus = {"unet.n_layers": 3, "unet.base_channels": 64, "unet.d_time": 32, "unet.max_time_period": 1000.0}
    s = Sampler(5, focus | {"unet.activation_name": "silu", "optim.lr": 3.5e-4}, warmup=6)
    w = Writer(storage, "smoke-test", ["minimize"])
    states = ["COMPLETE"] * 20 + ["PRUNED"] * 79
    s.rng.shuffle(states)
    states = ["FAIL", "FAIL", "FAIL", "FAIL", "COMPLETE", "FAIL", "COMPLETE", *states]
    for i, state in enumerate(states):
        p = s.params(i, dists)
        del p["unet.base" if i else "unet.base_channels"]
        if i < 3:
            del p["optim.lr"]
        width = p.get("unet.base_channels", p.get("unet.base"))
        loss = (
            0.142
            + 0.004 * (64 - width) / 16
            + 0.002 * abs(p["unet.n_layers"] - 3)
            + 0.002 * (p["unet.d_time"] != 32)
            + s.rng.normal(0, 0.0005)
        )
        w.add(p, dists, state, values=loss, steps=[loss + 0.02, loss + 0.01])
    w.close()


def slotted_channels(storage: optuna.storages.RDBStorage) -> None:
    """Simwanda/Local-buckling-of-slotted-channels-using-ML: a random forest, 80 complete trials."""
    dists = {
        "n_estimators": I(100, 1000),
        "max_depth": I(5, 30),
        "min_samples_split": I(2, 20),
        "min_samples_leaf": I(1, 10),
        "max_features": C("sqrt", "log2"),
        "bootstrap": C(True, False),
    }
    focus = {"n_estimators": 650, "max_depth": 12, "min_samples_split": 2, "min_samples_leaf": 1}
    s = Sampler(6, focus | {"max_features": "sqrt", "bootstrap": False}, sd=0.06)
    w = Writer(storage, "my_study", ["maximize"])
    for i in range(80):
        p = s.params(i, dists)
        score = (
            0.971
            - 0.002 * abs(p["max_depth"] - 12)
            - 0.004 * (p["min_samples_split"] - 2)
            - 0.006 * (p["min_samples_leaf"] - 1)
            - 0.02 * (p["max_features"] != "sqrt")
            - 0.015 * p["bootstrap"]
            + s.rng.normal(0, 0.001)
        )
        w.add(p, dists, values=score)
    w.close()


def toxic_comment(storage: optuna.storages.RDBStorage) -> None:
    """Jaejun02/ToxicComment: DistilBERT fine-tuning, 79 complete: the learning rate (log) and dropout."""
    dists = {
        "max_length": C(128),
        "lr": F(1e-5, 5e-5, log=True),
        "batch_size": C(64),
        "num_epochs": C(2),
        "dropout": F(0.1, 0.4),
        "hidden_units": C(512),
    }
    s = Sampler(8, {"lr": 4.8e-5, "dropout": 0.14}, sd=0.1)
    w = Writer(storage, "distilbert_study", ["maximize"])
    for i in range(79):
        p = s.params(i, dists)
        score = 0.69 + 0.07 * s._unit(dists["lr"], p["lr"]) - 0.08 * (p["dropout"] - 0.1) + s.rng.normal(0, 0.004)
        w.add(p, dists, values=score)
    w.close()


def als(storage: optuna.storages.RDBStorage) -> None:
    """johnsutor/DSGA-Big-Data-Final-Project: Spark ALS (48 complete) and unnamed studies of a few trials."""
    dists = {"rank": I(1, 50), "alpha": F(1e-3, 1e3, log=True), "regParam": F(0.01, 1e5, log=True)}
    for k, n in enumerate((1, 14, 1)):
        w = Writer(storage, f"no-name-{k:08x}-c0e4-4f5f-b36e-a34462e49cde", ["maximize"])
        s = Sampler(20 + k, {})
        for i in range(n):
            w.add(s.params(i, dists), dists, values=float(s.rng.uniform(0, 0.1)))
        w.close()
    s = Sampler(9, {"rank": 50, "regParam": 0.012, "alpha": 1.0}, sd=0.06)
    w = Writer(storage, "als_search", ["maximize"])
    for i in range(52):
        p = s.params(i, dists)
        score = 0.2 - 0.02 * math.log10(p["regParam"] / 0.01) + 0.001 * p["rank"] + s.rng.normal(0, 0.002)
        state = "RUNNING" if i == 51 else "FAIL" if i in (5, 17, 33) else "COMPLETE"
        w.add(p, dists, state, values=score)
    w.close()


def bank_boosting(storage: optuna.storages.RDBStorage) -> None:
    """alvarog2491/bank-client-subscription-classifier: LightGBM, CatBoost and XGBoost; the XGBoost study
    gained scale_pos_weight after 127 trials."""
    s = Sampler(16, {})
    dists = {
        "n_estimators": I(100, 1000),
        "learning_rate": F(0.01, 0.3),
        "max_depth": I(3, 10),
        "num_leaves": I(10, 300),
        "min_child_samples": I(5, 100),
    }
    w = Writer(storage, "lightgbm_optimization", ["maximize"])
    for i in range(36):
        p = s.params(i, dists)
        w.add(p, dists, values=0.966 + 0.001 * (p["max_depth"] > 6) + s.rng.normal(0, 0.001))
    w.close()
    dists = {"iterations": I(100, 1000), "learning_rate": F(0.01, 0.3), "depth": I(3, 10)}
    s = Sampler(11, {})
    w = Writer(storage, "catboost_optimization", ["maximize"])
    for i in range(22):
        w.add(s.params(i, dists), dists, values=0.966 + s.rng.normal(0, 0.001))
    w.close()

    dists = {
        "n_estimators": I(100, 1000),
        "learning_rate": F(0.01, 0.3),
        "max_depth": I(3, 10),
        "min_child_weight": I(1, 10),
        "subsample": F(0.5, 1.0),
        "colsample_bytree": F(0.5, 1.0),
        "reg_alpha": F(0.0, 10.0),
        "reg_lambda": F(0.0, 10.0),
        "scale_pos_weight": F(1.0, 15.0),
    }
    focus = {"n_estimators": 870, "learning_rate": 0.05, "max_depth": 10, "min_child_weight": 8, "subsample": 0.97}
    focus |= {"colsample_bytree": 0.62, "reg_alpha": 8.5, "reg_lambda": 4.0, "scale_pos_weight": 1.1}
    s = Sampler(12, focus, warmup=20, explore=0.3, sd=0.07)
    w = Writer(storage, "xgboost_optimization", ["maximize"])
    for i in range(359):
        p = s.params(i, dists)
        if i < 127:  # the first experiment did not weigh the classes
            del p["scale_pos_weight"]
        score = (
            0.9685
            - 0.0002 * (10 - p["max_depth"])
            - 0.0010 * (1 - p["subsample"])
            + (0.0004 - 0.0004 * (p["scale_pos_weight"] - 1.0) if "scale_pos_weight" in p else 0.0)
            - 0.0005 * abs(p["colsample_bytree"] - 0.62)
            + s.rng.normal(0, 0.00005)
        )
        w.add(p, dists, "FAIL" if i in (127, 200, 301) else "COMPLETE", values=score)
    w.close()


FEATURES = (
    "Holiday Hour Month Season Weekday Weekend Temperature Humidity WindSpeed Pressure CloudCover Precipitation "
    "Sunshine DewPoint Lag1h Lag2h Lag3h Lag24h Lag48h Lag168h Rolling6h Rolling24h Rolling168h Diff1h Diff24h "
    "HourSin HourCos MonthSin MonthCos DayOfYear Price PriceLag24h Solar Wind Nuclear Hydro Import Export"
).split()


def energy_xgb(storage: optuna.storages.RDBStorage) -> None:
    """tjespe/anvendt-data-science: a bi-objective XGBoost whose space changed mid-study, with many failed
    trials (about half the original's 887), and a feature selection of 38 0/1 toggles (300 trials)."""
    dists = {
        "use_rolling_normalization": C(True, False),
        "n_estimators": I(1, 500, log=True),
        "max_depth": I(1, 10, log=True),
        "learning_rate": F(1e-4, 1.0, log=True),
        "rolling_normalization_window_days": I(5, 70),
        "subsample": F(0.1, 1.0),
        "colsample_bytree": F(0.1, 1.0),
        "gamma": F(0.0, 1.0),
        "reg_lambda": F(1e-8, 1.0, log=True),
    }
    focus = {"n_estimators": 300, "max_depth": 6, "learning_rate": 0.05, "subsample": 0.95, "colsample_bytree": 0.9}
    s = Sampler(13, focus, warmup=20)
    w = Writer(storage, "XGBoost consumption prediction NoneType", ["minimize", "minimize"])
    for i in range(450):
        p = s.params(i, dists)
        if not p["use_rolling_normalization"]:
            del p["rolling_normalization_window_days"]
        if i < 260:  # the first experiments searched the boosting size only
            for k in ("subsample", "colsample_bytree", "gamma", "reg_lambda"):
                del p[k]
        err = (
            1.0
            + 0.2 * abs(math.log10(p["learning_rate"] / 0.05))
            + 0.3 * (1 - p.get("subsample", 0.8))
            + 0.1 * (1 - p.get("colsample_bytree", 0.8))
            + s.rng.normal(0, 0.01)
        )
        failed = i < 100 or 200 <= i < 260 or s.rng.uniform() < 0.06
        w.add(p, dists, "FAIL" if failed else "COMPLETE", values=[err, err * 1.1 + s.rng.normal(0, 0.02)])
    w.close()

    dists = {f"use_feature_{f}": I(0, 1) for f in FEATURES}
    useful = {f"use_feature_{f}": 1.0 / (1 + k) for k, f in enumerate(FEATURES[:12])}
    s = Sampler(14, {k: 1 for k in useful} | {k: 0 for k in list(dists)[30:]}, warmup=30, explore=0.4, sd=0.3)
    w = Writer(storage, "XGBoost consumption prediction feature selection NoneType", ["minimize", "minimize"])
    for i in range(301):
        p = s.params(i, dists)
        gain = sum(v * p[k] for k, v in useful.items())
        used = sum(p.values())
        mae = 3.5 - gain + 0.01 * used + s.rng.normal(0, 0.03)
        rmse = 5.0 - 1.2 * gain + 0.005 * used + 0.3 * p["use_feature_Hour"] + s.rng.normal(0, 0.05)
        w.add(p, dists, "FAIL" if i == 150 else "COMPLETE", values=[mae, rmse])
    w.close()


def dist_pred(storage: optuna.storages.RDBStorage) -> None:
    """izzak98/dist-pred: a dense network with define-by-run layers (raw_hidden_layer_{i} for i below
    n_raw_hidden_layers, likewise the market layers), 100 complete and one left RUNNING."""
    widths = C(16, 32, 64, 128, 256, 512)
    acts = C("relu", "tanh", "sigmoid", "leaky_relu", "elu", "")
    base = {
        "batch_size": C(32, 64, 128, 256, 512, 1024, 2048),
        "learning_rate": F(1e-6, 1e-3, log=True),
        "normalazation_window": I(5, 250),
        "n_raw_hidden_layers": I(1, 5),
        "hidden_activation": acts,
        "n_market_hidden_layers": I(1, 5),
        "market_activation": acts,
        "dropout": F(0.0, 0.9),
        "layer_norm": C(0, 1),
        "l1_reg": F(0.0, 1e-3),
        "l2_reg": F(0.0, 1e-3),
    }
    focus = {"batch_size": 32, "learning_rate": 1.5e-4, "normalazation_window": 210, "n_raw_hidden_layers": 3}
    focus |= {"hidden_activation": "leaky_relu", "n_market_hidden_layers": 1, "market_activation": "elu"}
    s = Sampler(15, focus | {"dropout": 0.45, "layer_norm": 0, "l1_reg": 5e-4}, warmup=25, explore=0.35, sd=0.1)
    w = Writer(storage, "Dense", ["minimize"])
    for i in range(101):
        p: Params = {}
        dists: dict[str, BaseDistribution] = {}
        for k in ("batch_size", "learning_rate", "normalazation_window", "n_raw_hidden_layers"):
            p[k], dists[k] = s.draw(i, k, base[k]), base[k]
        for j in range(p["n_raw_hidden_layers"]):
            p[f"raw_hidden_layer_{j}"], dists[f"raw_hidden_layer_{j}"] = s.draw(i, "-", widths), widths
        for k in ("hidden_activation", "n_market_hidden_layers"):
            p[k], dists[k] = s.draw(i, k, base[k]), base[k]
        for j in range(p["n_market_hidden_layers"]):
            p[f"market_hidden_layer_{j}"], dists[f"market_hidden_layer_{j}"] = s.draw(i, "-", widths), widths
        for k in ("market_activation", "dropout", "layer_norm", "l1_reg", "l2_reg"):
            p[k], dists[k] = s.draw(i, k, base[k]), base[k]
        loss = (
            1.44
            + 0.3 * abs(math.log10(p["learning_rate"] / 1.5e-4))
            + 0.2 * abs(p["n_raw_hidden_layers"] - 3)
            + 0.05 * (p["batch_size"] != 32)
            + 0.1 * p["layer_norm"]
            + s.rng.normal(0, 0.01)
        )
        w.add(p, dists, "RUNNING" if i == 100 else "COMPLETE", values=loss)
    w.close()


REPLICAS: dict[str, Callable[[optuna.storages.RDBStorage], None]] = {
    "bank-boosting.db": bank_boosting,
    "energy-xgb.db": energy_xgb,
    "dist-pred.db": dist_pred,
    "rvfl.db": rvfl,
    "sailboat-pid.db": sailboat,
    "crypto-xgb.db": crypto_xgb,
    "flow-matching.db": flow_matching,
    "slotted-channels.db": slotted_channels,
    "toxic-comment.db": toxic_comment,
    "als.db": als,
}


def build(name: str, dest: Path) -> Path:
    """Write replica ``name`` into ``dest`` (atomically, read-only); an existing file is kept.

    Test workers that want the same replica at once (pytest-xdist) wait for the
    first to write it rather than each writing its own.
    """
    target = dest / name
    if target.exists():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / f".{name}.lock", "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # no advisory locks (Windows): concurrent writers each write, the last one stays
            pass
        if target.exists():
            return target
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
