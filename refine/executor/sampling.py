"""Samplers, and categorical weights and fair shares on top of them.

Categorical ``weights`` are honoured while the sampler explores: Optuna's
samplers know no weights, so a thin sampler wrapper draws weighted choices
from a seeded low-discrepancy (Weyl) sequence indexed by the trial number,
which keeps each choice's share close to its weight even over ten trials and
across processes. A weighted choice also gets its reserved share of the stage
(``refine:fair_share``), after a warm start too.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
import zlib
from typing import Any, Mapping, Sequence

from refine.errors import RefineError
from refine.executor.attributes import ATTR_SHARE
from refine.executor.interrupts import trial_id
from refine.ranking import TRIAL_HISTORY
from refine.space import CategoricalParam, Space

SAMPLERS = ("tpe", "random", "cmaes", "gp", "qmc")

_ALPHAS = tuple(math.sqrt(p) % 1 for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47))


def _weighted_choice(p: CategoricalParam, name: str, index: int, number: int, seed: int) -> Any:
    """The ``number``-th draw of a seeded Weyl sequence, mapped through the weights."""
    offset = (zlib.crc32(f"{seed}:{name}".encode()) % 10_000) / 10_000
    u = (offset + (number + 1) * _ALPHAS[index % len(_ALPHAS)]) % 1.0
    cumulative = 0.0
    for choice, w in zip(p.choices, p.normalized_weights()):
        cumulative += w
        if u < cumulative:
            return choice
    return next(c for c, w in zip(reversed(p.choices), reversed(p.normalized_weights())) if w > 0)


def fair_shares(space: Space, target: int, fair_trial: int) -> dict[str, list[int]]:
    """Trials of a stage of ``target`` reserved for each weighted choice: ``min(fair_trial, its weight's share)``."""
    return {
        name: [min(fair_trial, int(w * target + 1e-9)) if w > 0 else 0 for w in p.normalized_weights()]
        for name, p in space.params.items()
        if isinstance(p, CategoricalParam) and p.weights
    }


def _due(quota: Sequence[int], counts: Sequence[int], own: int, target: int, paced: bool) -> int | None:
    """The choice this trial must take so that each choice reaches its reserved share, or ``None``.

    ``own`` trials of the stage ran before this one. Cold, a choice is forced
    only once the trials left are no more than the shares still owed (the
    sampler's model chooses until then); after a warm start (``paced``) a
    choice is also forced whenever it falls behind an even spread of its share
    over the stage, as the history already ended the weighted exploration.
    """
    owed = [max(q - c, 0) for q, c in zip(quota, counts)]
    if not any(owed):
        return None
    left = max(target - own, 1)
    if left <= sum(owed):
        return max(range(len(owed)), key=lambda i: owed[i])
    if paced:
        lag = [q * (own + 1) / target - c if owed[i] else 0.0 for i, (q, c) in enumerate(zip(quota, counts))]
        i = max(range(len(lag)), key=lambda j: lag[j])
        if lag[i] >= 1.0:
            return i
    return None


def _make_weighted_sampler(base: Any, space: Space, explore: int | None, seed: int) -> Any:
    """Wrap ``base`` so that weighted categoricals follow their weights while exploring,
    and each weighted choice gets the share of the stage that the study's ``refine:fair_share`` reserves.

    ``explore`` is the number of finished trials during which the sampler
    explores (``None``: always, as a random sampler does).
    """
    from optuna.samplers import BaseSampler
    from optuna.trial import TrialState

    categorical = {n: p for n, p in space.params.items() if isinstance(p, CategoricalParam) and p.weights}
    weighted = {name: i for i, name in enumerate(categorical)}

    class WeightedSampler(BaseSampler):
        def __init__(self) -> None:
            self.base = base
            self._cache: tuple[int, bool, dict[str, Any]] | None = None
            self.started: list[int] = []

        def _plan(self, study: Any, trial: Any) -> tuple[bool, dict[str, Any]]:
            """Whether this trial explores, and the choices it must take (computed once per trial)."""
            if self._cache is None or self._cache[0] != trial.number:
                trials = study.get_trials(deepcopy=False) if weighted else []
                done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
                exploring = explore is None or done < explore
                self._cache = (trial.number, exploring, self._forced(study, trial, trials))
            return self._cache[1], self._cache[2]

        def _forced(self, study: Any, trial: Any, trials: Sequence[Any]) -> dict[str, Any]:
            shares = study.user_attrs.get(ATTR_SHARE) if weighted else None
            if not shares:
                return {}
            target = int(shares.get("target", 0))
            own = [
                t
                for t in trials
                if t.number != trial.number
                and TRIAL_HISTORY not in t.user_attrs
                and t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
            ]
            history = [t for t in trials if TRIAL_HISTORY in t.user_attrs]
            paced = bool(history)
            forced: dict[str, Any] = {}
            for name, quota in shares.get("quota", {}).items():
                p = space.params.get(name)
                if name not in weighted or not isinstance(p, CategoricalParam) or len(quota) != len(p.choices):
                    continue
                counts = [0] * len(p.choices)
                for t in [*history, *own]:  # the next stage's evidence reads both: a choice tried before owes less
                    if name in t.params and p.contains(t.params[name]):
                        counts[p.index(t.params[name])] += 1
                i = _due(quota, counts, len(own), max(target, 1), paced)
                if i is not None:
                    forced[name] = p.choices[i]
            return forced

        def infer_relative_search_space(self, study: Any, trial: Any) -> dict:
            found = self.base.infer_relative_search_space(study, trial)
            if weighted:
                exploring, forced = self._plan(study, trial)
                found = {k: v for k, v in found.items() if k not in (weighted if exploring else forced)}
            return found

        def sample_relative(self, study: Any, trial: Any, search_space: dict) -> dict:
            # TPE with group=True (Optuna < 5) samples its whole group, a parameter taken out above included
            return {k: v for k, v in self.base.sample_relative(study, trial, search_space).items() if k in search_space}

        def sample_independent(self, study: Any, trial: Any, param_name: str, param_distribution: Any) -> Any:
            if param_name in weighted:
                exploring, forced = self._plan(study, trial)
                if param_name in forced:
                    return forced[param_name]
                if exploring:
                    p = categorical[param_name]
                    return _weighted_choice(p, param_name, weighted[param_name], trial.number, seed)
            return self.base.sample_independent(study, trial, param_name, param_distribution)

        def before_trial(self, study: Any, trial: Any) -> None:
            self.started.append(trial_id(trial))  # this process's trials, to fail cleanly after Ctrl-C
            del self.started[:-4]
            self.base.before_trial(study, trial)

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            self.base.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self.base.reseed_rng()

    return WeightedSampler()


def make_sampler(name: str, *, seed: int, space: Space, startup: int = 10) -> Any:
    """Build the named sampler, seeded, wrapped so that categorical weights hold while exploring.

    Raises:
        RefineError: Unknown sampler, or its optional dependency is missing.
    """
    import optuna

    if name not in SAMPLERS:
        raise RefineError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        explore: int | None = startup
        base: optuna.samplers.BaseSampler
        if name == "tpe":
            base = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True, group=True)
        elif name == "random":
            base, explore = optuna.samplers.RandomSampler(seed=seed), None
        elif name == "qmc":
            base, explore = optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False), None
        elif name == "cmaes":
            if importlib.util.find_spec("cmaes") is None:
                raise RefineError("--sampler cmaes needs the cmaes package: pip install cmaes")
            base = optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=startup, warn_independent_sampling=False)
        else:
            if importlib.util.find_spec("torch") is None:
                raise RefineError("--sampler gp needs PyTorch: pip install torch")
            base = optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
    return _make_weighted_sampler(base, space, explore, seed)


def _short_shares(study: Any, space: Space, shares: Mapping[str, Sequence[int]]) -> list[str]:
    """Weighted choices that ended the stage short of their reserved share (a ``when`` kept their parameter
    inactive)."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    own = sum(TRIAL_HISTORY not in t.user_attrs for t in done)
    out = []
    for name, quota in shares.items():
        p = space.params[name]
        assert isinstance(p, CategoricalParam)  # fair_shares reserves shares for weighted categoricals only
        for i, (choice, q) in enumerate(zip(p.choices, quota)):
            got = sum(name in t.params and p.contains(t.params[name]) and p.index(t.params[name]) == i for t in done)
            if got < q:
                out.append(
                    f"'{name}': the choice {choice!r} got {got} trials (history included; this stage ran "
                    f"{own}), short of "
                    f"its share {q} (min(fair_trial, weight x trials)): '{name}' was active in too few trials"
                )
    return out
