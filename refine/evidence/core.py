"""Evidence: which trials rank, which are the elites, and each parameter's statistics.

:func:`gather_evidence` works on the columnar :class:`~refine.study.StudyData`
(pure numpy): it decides which trials rank (COMPLETE, finite, within the
study's constraints and every ``--where``; one group when the space changed
mid-study), orders them (:func:`refine.ranking.order_rows`: the objective, a
``--metric`` and its ``--then`` keys, or Pareto fronts for several
objectives), takes the elites, measures the noise from repeated
configurations, and gives each parameter of the current space its evidence.
A parameter's numbers are named statistics (:mod:`refine.evidence.statistics`)
computed when a rule first asks for them. A conditional parameter's evidence
uses only the trials where it was active.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from attrs import field, frozen

from refine.errors import StudyError
from refine.evidence.statistics import (
    CategoricalEvidence,
    NumericEvidence,
    ParamTrials,
    StatisticsRegistry,
    builtin_statistics,
)
from refine.ranking import Condition, key_column, metric_column, order_rows, pareto_ranks
from refine.settings import Settings
from refine.space import CategoricalParam, Space
from refine.study import COMPLETE, PRUNED, StudyData

__all__ = ["Evidence", "gather_evidence"]


@frozen
class Evidence:
    """Everything the rules see about a study.

    Attributes:
        study: The study read.
        space: The current space the evidence is about.
        settings: The thresholds in force.
        scores: Per trial, higher is better (NaN when not ranked).
        ranked: Mask of the trials ranked (COMPLETE, finite value).
        elites: Mask of the elite trials.
        best_row: Row of the best trial (None when nothing is ranked).
        params: Evidence per parameter of ``space`` (a
            :class:`~refine.evidence.NumericEvidence` or
            :class:`~refine.evidence.CategoricalEvidence`).
        notes: Things the rationale should say (values left out, ...).
        objective: Per trial, the value ranked (objective or metric).
        maximize: Whether a higher ``objective`` is better (None when
            several objectives are ranked by Pareto front).
    """

    study: StudyData
    space: Space
    settings: Settings
    scores: np.ndarray
    ranked: np.ndarray
    elites: np.ndarray
    best_row: int | None
    params: dict[str, NumericEvidence | CategoricalEvidence] = field(hash=False)
    notes: tuple[str, ...]
    objective: np.ndarray
    non_finite: int = 0
    noise_sd: float | None = None
    extra: dict[str, Any] = field(factory=dict, hash=False)
    maximize: bool | None = None
    #: groups of trials that searched different parameters (a space changed mid-study), and the one ranked
    groups: tuple = field(default=(), hash=False)
    group: int | None = None
    #: ranked trials within two noise SDs of the best (the best alone without a noise estimate)
    near_best: np.ndarray | None = field(default=None, eq=False, repr=False)
    #: the statistics declared (the evidence's own and every plugin's), and the study-wide ones computed
    statistics: StatisticsRegistry = field(factory=lambda: builtin_statistics(), eq=False, repr=False)
    _computed: dict[str, Any] = field(init=False, factory=dict, eq=False, repr=False)
    _ranks: dict[bytes, tuple[np.ndarray, np.ndarray]] = field(init=False, factory=dict, eq=False, repr=False)
    #: flat, near_noise, n_ranked and n_elites, each a pass over every trial, which rules ask for again and again
    _memo: dict[str, Any] = field(init=False, factory=dict, eq=False, repr=False)

    def statistic(self, name: str) -> Any:
        """The study-wide statistic ``name`` (``scope="study"``), computed once on first request."""
        if name not in self._computed:
            s = self.statistics.get(name, "study")
            self._computed[name] = self.statistics.compute(s, self)
        return self._computed[name]

    def ranks_where(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``scipy.stats.rankdata`` of the scores and of the trial numbers (as floats) of the trials in ``mask``,
        computed once per mask: the parameters active in the same trials share them."""
        key = np.packbits(mask).tobytes() + len(mask).to_bytes(8, "little")
        found = self._ranks.get(key)
        if found is None:
            from scipy import stats

            found = (stats.rankdata(self.scores[mask]), stats.rankdata(self.study.numbers[mask].astype(float)))
            self._ranks[key] = found
        return found

    @property
    def flat(self) -> bool:
        """True when every ranked trial has the same score: the study says nothing about its parameters."""
        if "flat" not in self._memo:
            values = self.scores[self.ranked]
            self._memo["flat"] = len(values) >= 2 and bool(np.ptp(values) == 0)
        return self._memo["flat"]

    @property
    def near_noise(self) -> bool:
        """True when repeated evaluations show the spread of the objective is mostly noise (or it has none).

        That is, the noise variance (from configurations evaluated more than once)
        is at least two thirds of the variance across all ranked trials.
        """
        if "near_noise" not in self._memo:
            if self.flat:
                self._memo["near_noise"] = True
            elif not self.noise_sd or self.best_row is None:
                self._memo["near_noise"] = False
            else:
                self._memo["near_noise"] = bool(np.var(self.scores[self.ranked]) < 1.5 * self.noise_sd**2)
        return self._memo["near_noise"]

    @property
    def n_ranked(self) -> int:
        if "n_ranked" not in self._memo:
            self._memo["n_ranked"] = int(self.ranked.sum())
        return self._memo["n_ranked"]

    @property
    def n_elites(self) -> int:
        if "n_elites" not in self._memo:
            self._memo["n_elites"] = int(self.elites.sum())
        return self._memo["n_elites"]

    @property
    def best_config(self) -> dict[str, Any]:
        return {} if self.best_row is None else self.study.config(self.best_row)

    @property
    def best_value(self) -> Any:
        if self.best_row is None:
            return None
        v = self.objective[self.best_row] if self.objective.ndim == 1 else self.study.values[self.best_row]
        return float(v) if np.ndim(v) == 0 else [float(x) for x in v]


def gather_evidence(
    study: StudyData, space: Space, settings: Settings, statistics: StatisticsRegistry | None = None
) -> Evidence:
    """Compute the evidence for every parameter of ``space`` from ``study``.

    Args:
        statistics: The statistics declared (default: the evidence's own,
            :func:`~refine.evidence.statistics.builtin_statistics`); the engine
            passes the registry every plugin's ``refine_add_statistics`` filled.

    Raises:
        StudyError: ``settings.metric`` names no user attribute of the study.
    """
    notes: list[str] = []
    if study.space_source == "inferred":
        from refine.natural import describe_natural

        natural = describe_natural(space)
        if natural:
            notes.append(natural)
    states = study.states
    if settings.metric:
        objective = metric_column(study, settings.metric)
        if settings.metric_direction is not None:
            maximize = settings.metric_direction == "maximize"
        elif len(study.directions) > 1:
            raise StudyError(
                f"study '{study.name}' optimizes {len(study.directions)} objectives ({', '.join(study.directions)}): "
                f"say which way the metric '{settings.metric}' is better, --metric-direction maximize or minimize"
            )
        else:
            maximize = study.directions[0] == "maximize"
        multi = False
    else:
        multi = study.values.shape[1] > 1
        objective = study.values if multi else study.values[:, 0]
        maximize = study.directions[0] == "maximize"
    usable = states == COMPLETE
    if settings.include_pruned and not multi:
        pruned = (states == PRUNED) & np.isfinite(study.last_intermediate)
        objective = np.where(pruned, study.last_intermediate, objective)
        usable = usable | pruned
    if study.infeasible is not None and (usable & study.infeasible).any():
        notes.append(
            f"{int((usable & study.infeasible).sum())} trial(s) broke the study's constraints (Optuna's 'constraints' "
            "attribute > 0) and were left out of the evidence, as Optuna leaves them out of its best trials"
        )
        usable = usable & ~study.infeasible
    finite = np.isfinite(objective).all(axis=1) if multi else np.isfinite(objective)
    non_finite = int((usable & ~finite).sum())
    if non_finite:
        what = (
            f"no finite number for the metric (--metric) '{settings.metric}' (missing, text, NaN or infinite)"
            if settings.metric
            else "a NaN or infinite value"
        )
        notes.append(f"{non_finite} COMPLETE trial(s) with {what} were left out of the evidence")
    ranked = usable & finite
    if settings.where:
        for text in settings.where:
            cond = Condition.parse(text)
            col = key_column(study, cond.name)
            keeps = np.array([cond.holds(v) if np.isfinite(v) else False for v in col], dtype=bool)
            if (ranked & ~keeps).any():
                notes.append(
                    f"{int((ranked & ~keeps).sum())} ranked trial(s) break --where {cond} and were left out of "
                    "the evidence"
                )
            ranked = ranked & keeps
    groups, chosen = _space_groups(study, space, ranked, objective, multi, maximize)
    if chosen is not None:
        ranked = ranked & groups[chosen].mask
    n_ranked = int(ranked.sum())
    k = 0
    if n_ranked:
        k = min(n_ranked, max(settings.min_elites, int(math.ceil(settings.elite_fraction * n_ranked))))
    rows = order_rows(study, ranked, objective, maximize=maximize, k=k, then=settings.then)
    scores, elites, best_row = rows.scores, rows.elites, rows.best_row
    noise_sd = None if multi else _replicate_noise(study, ranked, scores)
    near_best = np.zeros(study.n_trials, dtype=bool)
    if best_row is not None:
        near_best[best_row] = True
        if noise_sd:
            near_best |= ranked & (scores >= scores[best_row] - 2 * noise_sd)
    evidence = Evidence(
        study=study,
        space=space,
        settings=settings,
        scores=scores,
        ranked=ranked,
        elites=elites,
        best_row=best_row,
        params={},
        notes=tuple(notes),
        objective=objective,
        non_finite=non_finite,
        noise_sd=noise_sd,
        maximize=None if multi else maximize,
        groups=groups,
        group=chosen,
        near_best=near_best,
        statistics=statistics if statistics is not None else builtin_statistics(),
    )
    for name, p in space.params.items():
        kind = CategoricalEvidence if isinstance(p, CategoricalParam) else NumericEvidence
        evidence.params[name] = kind(ParamTrials(name, p, evidence), evidence.statistics)
    return evidence


def _space_groups(study, space, ranked, objective, multi, maximize):
    """Groups of trials that searched different parameters, and the one holding the best trial (or most of the
    front)."""
    from refine.groups import space_groups

    groups = space_groups(study, space, ranked)
    if not groups:
        return (), None
    rows = np.flatnonzero(ranked)
    if multi:
        signs = np.array([-1.0 if d == "maximize" else 1.0 for d in study.directions])
        front = rows[pareto_ranks(objective[rows] * signs, 1) == 0]
        counts = [int(g.mask[front].sum()) for g in groups]
        return groups, int(np.argmax(counts))
    best = rows[np.argmax(objective[rows] if maximize else -objective[rows])]
    held = [i for i, g in enumerate(groups) if g.mask[best]]
    if held:
        return groups, held[0]
    return groups, int(np.argmax([g.n for g in groups]))


def _replicate_noise(study: StudyData, ranked: np.ndarray, scores: np.ndarray) -> float | None:
    """The noise of the objective, from configurations evaluated more than once (pooled SD), else None."""
    rows = np.flatnonzero(ranked)
    if len(rows) < 4 or not study.columns:
        return None
    table = np.column_stack([study.columns[k][rows] for k in study.columns])
    with np.errstate(over="ignore", invalid="ignore"):  # round(x, 12) scales by 1e12: huge values stay as they are
        rounded = np.round(table, 12)
    rounded = np.where(np.isfinite(rounded), rounded, table)
    table = np.where(np.isnan(table), -np.inf, rounded)  # an inactive param is a value of its own
    rows_as_bytes = np.ascontiguousarray(table).view(np.dtype((np.void, table.dtype.itemsize * table.shape[1])))
    _, group, counts = np.unique(rows_as_bytes.ravel(), return_inverse=True, return_counts=True)
    group = group.ravel()
    repeated = counts[group] > 1
    if repeated.sum() < 2:
        return None
    y = scores[rows][repeated]
    _, g = np.unique(group[repeated], return_inverse=True)
    means = np.bincount(g, weights=y) / np.bincount(g)
    dof = int(repeated.sum() - len(np.unique(g)))
    if dof < 1:
        return None
    return float(np.sqrt(((y - means[g]) ** 2).sum() / dof))
