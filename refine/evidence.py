"""Evidence: what a study says about each parameter, in numbers.

Pure numpy/scipy on the columnar :class:`~refine.study.StudyData`. It finds
the elites (the best share of COMPLETE trials; Pareto fronts in order for
several objectives) and, per parameter of the current space, computes:

* numeric (log-aware): Spearman rho and p against the score, controlling for
  trial order (adaptive samplers drift), sign-corrected so rho > 0 always
  means "larger is better", the elite interval and
  quantiles, the best trial's value, the share of elites in each edge zone,
  the trend near each boundary, and the parts of the range never sampled;
* categorical: per choice, trials, mean and median objective, elite share,
  effect versus the best choice and whether it had a fair trial, with a
  Kruskal-Wallis test across the choices.

A conditional parameter's evidence uses only the trials where it was active.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from attrs import field, frozen

from refine.errors import StudyError
from refine.params import same_choice
from refine.settings import Settings
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from refine.study import COMPLETE, PRUNED, STATES, StudyData

__all__ = ["CategoricalEvidence", "ChoiceStats", "Evidence", "NumericEvidence", "gather_evidence"]


@frozen
class NumericEvidence:
    """Evidence for a float or int parameter (positions ``u`` are in [0, 1] on its own scale).

    ``ks_p`` is the p-value that the elites spread like the other trials: the
    smaller of the two-sample KS test's and a permutation test of the elites'
    span (which sees a tight cluster KS can miss).
    """

    name: str
    n: int
    rho: float
    p: float
    low: float
    high: float
    log: bool
    elite_low: float | None
    elite_high: float | None
    elite_quantiles: tuple[float, float, float] | None
    best_value: float | None
    elite_values: tuple[float, ...]
    edge_low_share: float
    edge_high_share: float
    ref_low_share: float
    ref_high_share: float
    trend_low: float
    trend_high: float
    trend_low_p: float
    trend_high_p: float
    ks_p: float
    effect: float
    effect_p: float
    mode_value: float | None
    mode_share: float
    others_n: int
    outside: int = 0
    #: the trials at other values that ``effect`` and ``effect_p`` compare with: the elites'
    #: contemporaries with ``contemporary_reference``, else all ``others_n``; with fewer than
    #: :data:`MIN_CONTEMPORARIES` no effect is computed (0, p = 1)
    effect_others: int = 0
    near_best_values: tuple[float, ...] = ()
    edge_low_p: float = 1.0
    edge_high_p: float = 1.0
    extra: dict[str, Any] = field(factory=dict, hash=False)

    kind = "numeric"


@frozen
class ChoiceStats:
    """One choice of a categorical parameter."""

    value: Any
    trials: int
    mean: float
    median: float
    elite_share: float
    effect: float
    fair: bool


@frozen
class CategoricalEvidence:
    """Evidence for a categorical parameter."""

    name: str
    n: int
    choices: tuple[ChoiceStats, ...]
    best_choice: Any
    p: float
    elite_convergence: float
    top_choice: Any
    best_value: Any
    ordered: bool
    dominance_p: float = 1.0
    extra: dict[str, Any] = field(factory=dict, hash=False)
    #: Mann-Whitney p that the top choice beats its rivals among the trials run alongside the
    #: elites (all trials without ``contemporary_reference``); 1 when fewer than 3 rival trials
    fix_p: float = 1.0
    #: the rival trials ``fix_p`` compares with
    fix_others: int = 0

    kind = "categorical"

    def stats(self, value: Any) -> ChoiceStats:
        for c in self.choices:
            if same_choice(c.value, value):
                return c
        raise KeyError(value)


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
        params: Evidence per parameter of ``space``.
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

    @property
    def flat(self) -> bool:
        """True when every ranked trial has the same score: the study says nothing about its parameters."""
        values = self.scores[self.ranked]
        return len(values) >= 2 and bool(np.ptp(values) == 0)

    @property
    def near_noise(self) -> bool:
        """True when repeated evaluations show the spread of the objective is mostly noise (or it has none).

        That is, the noise variance (from configurations evaluated more than once)
        is at least two thirds of the variance across all ranked trials.
        """
        if self.flat:
            return True
        if not self.noise_sd or self.best_row is None:
            return False
        return bool(np.var(self.scores[self.ranked]) < 1.5 * self.noise_sd**2)

    @property
    def n_ranked(self) -> int:
        return int(self.ranked.sum())

    @property
    def n_elites(self) -> int:
        return int(self.elites.sum())

    @property
    def best_config(self) -> dict[str, Any]:
        return {} if self.best_row is None else self.study.config(self.best_row)

    @property
    def best_value(self) -> Any:
        if self.best_row is None:
            return None
        v = self.objective[self.best_row] if self.objective.ndim == 1 else self.study.values[self.best_row]
        return float(v) if np.ndim(v) == 0 else [float(x) for x in v]


def _pareto_ranks(values: np.ndarray, needed: int) -> np.ndarray:
    """Front index per row (0 = non-dominated) for minimisation, peeling until ``needed`` rows are ranked."""
    n = len(values)
    rank = np.full(n, np.inf)
    remaining = np.arange(n)
    front = 0
    while len(remaining) and (rank < np.inf).sum() < needed:
        v = values[remaining]
        dominated = np.zeros(len(remaining), dtype=bool)
        for start in range(0, len(remaining), 2048):
            block = v[start : start + 2048]
            le = (v[None, :, :] <= block[:, None, :]).all(axis=2)
            lt = (v[None, :, :] < block[:, None, :]).any(axis=2)
            dominated[start : start + 2048] = (le & lt).any(axis=1)
        rank[remaining[~dominated]] = front
        remaining = remaining[dominated]
        front += 1
    rank[remaining] = front
    return rank


def _ranking_column(study: StudyData, name: str) -> np.ndarray:
    """A --then/--where key's values per trial: the objective (``value``) or a user attribute (NaN where missing)."""
    if name == "value":
        return study.values[:, 0].astype(float)
    return _metric_column(study, name)


def _then_column(study: StudyData, key: str, maximize: bool) -> np.ndarray:
    """A --then key as higher-is-better values (NaN last): ``NAME`` follows the metric's direction, ``NAME:min`` /
    ``NAME:max`` their own."""
    name, _, way = key.partition(":")
    up = maximize if not way else way.startswith("max")
    col = _ranking_column(study, name)
    col = col if up else -col
    return np.where(np.isfinite(col), col, -np.inf)


def _crowding_position(costs: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Per row, its place in its front by crowding distance, in [0, 1): 0 for the most isolated (the extremes).

    Rows of the last, unpeeled group (``ranks`` beyond the fronts found) are ordered the same way.
    """
    out = np.zeros(len(costs))
    for front in np.unique(ranks):
        members = np.flatnonzero(ranks == front)
        if len(members) < 3:
            continue
        v = costs[members]
        distance = np.zeros(len(members))
        for j in range(v.shape[1]):
            order = np.argsort(v[:, j], kind="stable")
            span = v[order[-1], j] - v[order[0], j]
            distance[order[0]] = distance[order[-1]] = np.inf
            if span > 0 and len(members) > 2:
                distance[order[1:-1]] += (v[order[2:], j] - v[order[:-2], j]) / span
        # rank by distance, larger first; equal distances share a place
        finite_rank = np.unique(-distance, return_inverse=True)[1].ravel()
        out[members] = finite_rank / max(1, finite_rank.max() + 1)
    return out


def _metric_column(study: StudyData, metric: str) -> np.ndarray:
    if metric not in study.user_attrs:
        known = ", ".join(sorted(study.user_attrs)) or "none"
        raise StudyError(
            f"metric (--metric) '{metric}' is not a user attribute of study '{study.name}'; user attributes: {known}"
        )
    col = study.user_attrs[metric]
    out = np.full(len(col), np.nan)
    for i, v in enumerate(col):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[i] = float(v)
    return out


def _transform(p: FloatParam | IntParam, x: np.ndarray) -> np.ndarray:
    """Position of ``x`` in [0, 1] of the range (log scale for log params)."""
    if p.log:
        lo, hi = math.log(p.low), math.log(p.high)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.log(np.where(x > 0, x, np.nan)) - lo) / (hi - lo)
    return (x / 2 - p.low / 2) / (p.high / 2 - p.low / 2)  # halved: exact, and no overflow near +-1.8e308


def _spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    if len(x) < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0, 1.0
    r = stats.spearmanr(x, y)
    rho, p = float(r.statistic), float(r.pvalue)
    if not math.isfinite(rho):
        return 0.0, 1.0
    return rho, p if math.isfinite(p) else 1.0


def _partial_spearman(x: np.ndarray, y: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """Spearman rho of ``x`` and ``y`` controlling for trial order ``t``.

    Adaptive samplers (TPE) drift: a parameter that merely moved while the
    others improved correlates with the score over time. Partialling out the
    trial order removes most of that artifact.
    """
    from scipy import stats

    n = len(x)
    if n < 6 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0, 1.0
    r = stats.spearmanr(np.column_stack([x, y, t])).statistic
    rxy, rxt, ryt = r[0, 1], r[0, 2], r[1, 2]
    denom = math.sqrt(max((1 - rxt**2) * (1 - ryt**2), 1e-12))
    rho = float(np.clip((rxy - rxt * ryt) / denom, -1, 1))
    if not math.isfinite(rho):
        return 0.0, 1.0
    dof = n - 3
    tstat = rho * math.sqrt(dof / max(1 - rho**2, 1e-12))
    return rho, float(2 * stats.t.sf(abs(tstat), dof))


def gather_evidence(study: StudyData, space: Space, settings: Settings) -> Evidence:
    """Compute the evidence for every parameter of ``space`` from ``study``.

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
        objective = _metric_column(study, settings.metric)
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
        from refine.ranking import Condition

        for text in settings.where:
            cond = Condition.parse(text)
            col = _ranking_column(study, cond.name)
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
    scores = np.full(study.n_trials, np.nan)
    n_ranked = int(ranked.sum())
    k = 0
    if n_ranked:
        k = min(n_ranked, max(settings.min_elites, int(math.ceil(settings.elite_fraction * n_ranked))))
    elites = np.zeros(study.n_trials, dtype=bool)
    best_row = None
    if multi and n_ranked:
        signs = np.array([-1.0 if d == "maximize" else 1.0 for d in study.directions])
        rows = np.flatnonzero(ranked)
        costs = objective[rows] * signs
        ranks = _pareto_ranks(costs, k)
        # Within a front, crowding distance orders the trials (NSGA-II): a trade-off front whose
        # trials all differ is not "flat", and a choice absent from every front loses by a margin.
        scores[rows] = -ranks - 0.5 * _crowding_position(costs, ranks)
        order = rows[np.lexsort((study.numbers[rows], ranks))]
        # Whole fronts are elites, as ties are for one objective: a front spread along a trade-off
        # stays spread (the first k by trial number would be an arbitrary piece of it).
        elites[rows[ranks <= ranks[np.searchsorted(rows, order[k - 1])]]] = True
        best_row = int(order[0])
    elif n_ranked:
        scores[ranked] = objective[ranked] if maximize else -objective[ranked]
        rows = np.flatnonzero(ranked)
        ties = [-_then_column(study, key, maximize)[rows] for key in settings.then]
        order = rows[np.lexsort((study.numbers[rows], *reversed(ties), -scores[rows]))]
        if ties:  # lexicographic: the first k in that order (--then breaks the metric's ties)
            elites[order[:k]] = True
        else:
            # trials tied with the last elite are elites too: which of equals made the cut would be the trial order's
            # choice
            elites[rows[scores[rows] >= scores[order[k - 1]]]] = True
        best_row = int(order[0])
    noise_sd = None if multi else _replicate_noise(study, ranked, scores)
    near_best = np.zeros(study.n_trials, dtype=bool)
    if best_row is not None:
        near_best[best_row] = True
        if noise_sd:
            near_best |= ranked & (scores >= scores[best_row] - 2 * noise_sd)
    params: dict[str, Any] = {}
    # SciPy warns on ties and small samples (exact KS falling back to asymptotic, all-tied groups);
    # the p-values it returns are still right, and the user's terminal is not the place for them.
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, p in space.params.items():
            col = study.columns.get(name)
            if col is None:
                col = np.full(study.n_trials, np.nan)
            if isinstance(p, CategoricalParam):
                params[name] = _categorical(
                    name, p, study, col, ranked, elites, scores, objective, best_row, settings, maximize
                )
            else:
                params[name] = _numeric(name, p, col, ranked, elites, scores, best_row, settings, study, near_best)
    return Evidence(
        study=study,
        space=space,
        settings=settings,
        scores=scores,
        ranked=ranked,
        elites=elites,
        best_row=best_row,
        params=params,
        notes=tuple(notes),
        objective=objective,
        non_finite=non_finite,
        noise_sd=noise_sd,
        maximize=None if multi else maximize,
        groups=groups,
        group=chosen,
    )


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
        front = rows[_pareto_ranks(objective[rows] * signs, 1) == 0]
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


def _numeric(
    name: str,
    p: FloatParam | IntParam,
    col: np.ndarray,
    ranked: np.ndarray,
    elites: np.ndarray,
    scores: np.ndarray,
    best_row: int | None,
    settings: Settings,
    study: StudyData,
    near_best: np.ndarray,
) -> NumericEvidence:
    from scipy import stats

    active = ranked & ~np.isnan(col)
    x = col[active]
    s = scores[active]
    u = _transform(p, x)
    order = study.numbers[active].astype(float)
    rho, pval = _partial_spearman(u, s, order) if order.size > 1 and np.ptp(order) > 0 else _spearman(u, s)
    e_mask = elites & ~np.isnan(col)
    ex = col[e_mask]
    eu = _transform(p, ex)
    zone = settings.edge_zone
    n_e = len(eu)
    edge_low = float((eu <= zone).mean()) if n_e else 0.0
    edge_high = float((eu >= 1 - zone).mean()) if n_e else 0.0
    third_lo, third_hi = u <= 1 / 3, u >= 2 / 3
    t_lo, p_lo = _spearman(u[third_lo], s[third_lo]) if third_lo.sum() >= 4 else (0.0, 1.0)
    t_hi, p_hi = _spearman(u[third_hi], s[third_hi]) if third_hi.sum() >= 4 else (0.0, 1.0)
    rest_mask = active & ~e_mask
    alongside = _alongside(study, e_mask) if settings.contemporary_reference and n_e else None
    if alongside is not None:
        # Adaptive samplers move every parameter while the good ones converge: compare the elites
        # with the trials run alongside them, not with the early exploration.
        contemporary = rest_mask & alongside
        if contemporary.sum() >= max(5, n_e // 2):
            rest_mask = contemporary
    rest = _transform(p, col[rest_mask])
    ref_low = float((rest <= zone).mean()) if len(rest) else 0.0
    ref_high = float((rest >= 1 - zone).mean()) if len(rest) else 0.0
    # Clustering is judged against every other trial: a sampler that already converged on an
    # optimum makes its contemporaries look like the elites, which would hide the cluster.
    others = _transform(p, col[active & ~e_mask])
    ks_p = 1.0
    if n_e >= 3 and len(others) >= 3:
        ks_p = float(stats.ks_2samp(eu, others).pvalue)
        if ks_p > 1e-3:  # already decisive otherwise
            ks_p = min(ks_p, _span_p(eu[np.isfinite(eu)], others[np.isfinite(others)]))
    best_value = None
    if best_row is not None and not math.isnan(col[best_row]):
        best_value = float(col[best_row])
    mode_value, mode_share, effect, effect_p, others_n, effect_others = None, 0.0, 0.0, 1.0, 0, 0
    if n_e:
        vals, counts = np.unique(ex, return_counts=True)
        i = int(np.argmax(counts))
        mode_value, mode_share = float(vals[i]), float(counts[i] / n_e)
        at = x == mode_value
        others_n = int((~at).sum())
        if at.sum() >= 2 and others_n >= 2:
            a, b = s[at], s[~at]
            if alongside is not None:
                # As for the edges: an adaptive sampler settles an irrelevant int on one value while the
                # good parameters converge, so its late (good) trials sit there and the early ones do not.
                # Judge the value against the other values tried alongside the elites, and when too few
                # were, not at all: fixing is for certainties.
                late = alongside[active]
                a, b = s[late & at], s[late & ~at]
            judged = _beats_p(a, b)
            if judged is not None:
                effect_others, effect_p = len(b), judged
                ref = max(abs(float(np.median(a))), 1e-12)
                effect = float((np.median(a) - np.median(b)) / ref)
    outside = int(((x < p.low) | (x > p.high)).sum())
    return NumericEvidence(
        name=name,
        n=int(len(x)),
        rho=rho,
        p=pval,
        low=p.low,
        high=p.high,
        log=p.log,
        elite_low=float(ex.min()) if n_e else None,
        elite_high=float(ex.max()) if n_e else None,
        elite_quantiles=tuple(float(q) for q in np.quantile(ex, [0.1, 0.5, 0.9])) if n_e else None,
        best_value=best_value,
        elite_values=tuple(float(v) for v in np.sort(ex)),
        edge_low_share=edge_low,
        edge_high_share=edge_high,
        ref_low_share=ref_low,
        ref_high_share=ref_high,
        trend_low=t_lo,
        trend_high=t_hi,
        trend_low_p=p_lo,
        trend_high_p=p_hi,
        ks_p=ks_p,
        effect=effect,
        effect_p=effect_p,
        mode_value=mode_value,
        mode_share=mode_share,
        others_n=others_n,
        effect_others=effect_others,
        outside=outside,
        near_best_values=tuple(float(v) for v in np.unique(col[near_best & ~np.isnan(col)])),
        # binomial p that this many elites sit in the edge zone, given the reference's share (at least the zone's)
        edge_low_p=_crowd_p(int((eu <= zone).sum()), n_e, max(ref_low, zone)),
        edge_high_p=_crowd_p(int((eu >= 1 - zone).sum()), n_e, max(ref_high, zone)),
    )


def _categorical(
    name: str,
    p: CategoricalParam,
    study: StudyData,
    col: np.ndarray,
    ranked: np.ndarray,
    elites: np.ndarray,
    scores: np.ndarray,
    objective: np.ndarray,
    best_row: int | None,
    settings: Settings,
    maximize: bool,
) -> CategoricalEvidence:
    from scipy import stats

    inferred = study.inferred.params.get(name)
    seen_choices = inferred.choices if isinstance(inferred, CategoricalParam) else ()
    active = ranked & ~np.isnan(col)
    codes = np.full(len(col), -1)
    valid = ~np.isnan(col)
    if seen_choices:
        mapping = np.array([_index_or(p, c) for c in seen_choices])
        codes[valid] = mapping[col[valid].astype(int)]
    n_e = int((elites & valid).sum())
    stats_list = []
    groups = []
    obj = objective if objective.ndim == 1 else scores
    for i, value in enumerate(p.choices):
        m = active & (codes == i)
        vals = obj[m]
        groups.append(scores[m])
        stats_list.append(
            (
                value,
                int(m.sum()),
                float(vals.mean()) if len(vals) else math.nan,
                float(np.median(vals)) if len(vals) else math.nan,
                float((elites & (codes == i)).sum() / n_e) if n_e else 0.0,
            )
        )
    medians = [float(np.median(g)) if len(g) else -math.inf for g in groups]
    best_i = int(np.argmax(medians)) if any(len(g) for g in groups) else 0
    shares = [t[4] for t in stats_list]
    top_i = int(np.argmax(shares)) if n_e else best_i
    best_med = medians[best_i]
    choices = []
    for i, (value, trials, mean, median, share) in enumerate(stats_list):
        if trials and math.isfinite(best_med):
            ref = max(abs(best_med), 1e-12)
            effect = float((best_med - medians[i]) / ref)
        else:
            effect = math.nan
        choices.append(ChoiceStats(value, trials, mean, median, share, effect, trials >= settings.fair_trial))
    nonempty = [g for g in groups if len(g) >= 2]
    pval = 1.0
    if len(nonempty) >= 2:
        try:
            pval = float(stats.kruskal(*nonempty).pvalue)
        except ValueError:
            pval = 1.0
        if not math.isfinite(pval):
            pval = 1.0
    best_value = None
    if best_row is not None and codes[best_row] >= 0:
        best_value = p.choices[codes[best_row]]
    fix_p, fix_others = 1.0, 0
    if n_e:
        pool = active
        if settings.contemporary_reference:  # as for a numeric fix: against the rivals tried alongside the elites
            pool = active & _alongside(study, elites & valid)
        top, rivals = scores[pool & (codes == top_i)], scores[pool & (codes != top_i)]
        judged = _beats_p(top, rivals)
        if judged is not None:
            fix_others, fix_p = len(rivals), judged
    return CategoricalEvidence(
        name=name,
        n=int(active.sum()),
        choices=tuple(choices),
        best_choice=p.choices[best_i],
        p=pval,
        elite_convergence=shares[top_i] if n_e else 0.0,
        dominance_p=_dominance_p(stats_list[top_i][1], int(active.sum()), round(shares[top_i] * n_e), n_e),
        top_choice=p.choices[top_i],
        best_value=best_value,
        ordered=p.ordered,
        fix_p=fix_p,
        fix_others=fix_others,
    )


def _alongside(study: StudyData, elites: np.ndarray) -> np.ndarray:
    """The trials run alongside the elites: from the first quartile of the elites' trial numbers on."""
    return study.numbers >= np.quantile(study.numbers[elites], 0.25)


#: the fewest trials at other values (choices) a fix is judged against
MIN_CONTEMPORARIES = 3


def _beats_p(winner: np.ndarray, others: np.ndarray) -> float | None:
    """Mann-Whitney p that ``winner``'s scores beat ``others``'; None when too few to judge (a fix's test)."""
    from scipy import stats

    if len(winner) < 2 or len(others) < MIN_CONTEMPORARIES:
        return None
    try:
        return float(stats.mannwhitneyu(winner, others, alternative="greater").pvalue)
    except ValueError:
        return 1.0


def _span_p(elite_u: np.ndarray, other_u: np.ndarray, cap: int = 3000) -> float:
    """Permutation p that the elites span so little of the range by chance.

    A sampler that has converged near a sharp optimum puts many non-elites
    around it too, which blunts the KS test; the elites' span against the
    spans of random subsets of all trials (seeded, so the answer is
    deterministic) still shows the cluster.
    """
    from scipy import stats

    if len(elite_u) < 3 or len(other_u) < 3 or len(elite_u) > 500:
        return 1.0  # with hundreds of elites the KS test has all the power it needs
    if len(other_u) > cap:  # an evenly spaced subsample keeps large studies fast and the answer stable
        other_u = np.sort(other_u)[np.linspace(0, len(other_u) - 1, cap).astype(int)]
    result = stats.permutation_test(
        (elite_u, other_u),
        lambda x, y, axis: np.ptp(x, axis=axis),
        permutation_type="independent",
        vectorized=True,
        n_resamples=499,
        alternative="less",
        rng=np.random.default_rng(0),
    )
    return float(result.pvalue)


def _crowd_p(hits: int, n: int, share: float) -> float:
    """Binomial p of ``hits`` or more of ``n`` when each lands with probability ``share``."""
    from scipy import stats

    if not n or not hits or share >= 1:
        return 1.0
    return float(stats.binomtest(hits, n, share, alternative="greater").pvalue)


def _dominance_p(trials: int, total: int, elite_hits: int, n_elites: int) -> float:
    """Binomial p that a choice holds this many elites by chance, given its share of the trials."""
    from scipy import stats

    if not n_elites or not total or not trials:
        return 1.0
    return float(stats.binomtest(elite_hits, n_elites, trials / total, alternative="greater").pvalue)


def _index_or(p: CategoricalParam, value: Any) -> int:
    try:
        return p.index(value)
    except ValueError:
        return -1


def state_counts(study: StudyData) -> dict[str, int]:
    """Trials by state name (all states, zeros included)."""
    c = np.bincount(study.states, minlength=len(STATES))
    return {STATES[i]: int(c[i]) for i in range(len(STATES))}
