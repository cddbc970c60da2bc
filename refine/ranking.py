"""Which trials rank and which is best: the one home of that question.

Every command that picks trials (``best``, ``compare``, ``rerun``, the warm
start, the run's summary, ``show``) asks this module, so they agree on it:

- a trial ranks when it is COMPLETE with finite values, keeps Optuna's
  ``constraints`` (as Optuna's own best trials do) and every ``--where``
  condition (``recall >= 0.5``);
- trials are ordered by the objective, or by ``--metric`` (an objective's
  label or a user attribute) and then ``--then`` keys, lexicographically;
- a multi-objective study without a metric is ordered by Pareto front
  (the front first, each front in trial order);
- a stage is judged by its own trials (``own=True``): the trials a warm
  start added as history (user attribute ``refine:history_from``) belong to
  the parent.
"""

from __future__ import annotations

import math
import operator
import re
from typing import Any, Callable, Sequence

from attrs import frozen

from refine.errors import RefineError, StudyError

__all__ = [
    "Ranking",
    "Condition",
    "TRIAL_HISTORY",
    "own_trials",
    "ranked_trials",
    "best_of",
    "maximizes",
    "objective_labels",
    "pareto_size",
    "why_none",
    "metric_value",
    "RowOrder",
    "order_rows",
    "pareto_ranks",
    "metric_column",
    "key_column",
]

#: user attribute of a trial a warm start copied from the previous stage.
TRIAL_HISTORY = "refine:history_from"

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_WHERE = re.compile(r"^\s*([A-Za-z_][\w.:/-]*)\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@frozen
class Condition:
    """A constraint a trial must keep to rank: ``name op value`` (``recall >= 0.5``)."""

    name: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> "Condition":
        m = _WHERE.match(text)
        if not m:
            raise RefineError(
                f'--where takes NAME OP NUMBER with OP one of >=, <=, >, <, ==, != (e.g. "recall >= 0.5"), got {text!r}'
            )
        return cls(m.group(1), m.group(2), float(m.group(3)))

    def holds(self, value: float | None) -> bool:
        return value is not None and _OPS[self.op](value, self.value)

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.value:g}"


@frozen
class Ranking:
    """How trials are ordered: keys (name, maximize) compared in turn, and the conditions a trial must keep.

    A key's name ``None`` is the study's objective (its first value).
    """

    keys: tuple[tuple[str | None, bool | None], ...] = ((None, None),)
    where: tuple[Condition, ...] = ()

    @classmethod
    def parse(
        cls,
        metric: str | None = None,
        then: Sequence[str] = (),
        where: Sequence[str] = (),
        direction: str | None = None,
    ) -> "Ranking":
        """From the command line: ``--metric NAME``, ``--then NAME[:max|:min]`` (repeatable), ``--where "NAME OP X"``.

        Raises:
            RefineError: A malformed key or condition, or ``--then`` without ``--metric``.
        """
        if direction not in (None, "maximize", "minimize"):
            raise RefineError(f"the metric's direction must be maximize or minimize, got {direction!r}")
        if then and not metric:
            raise RefineError(
                "--then orders ties of --metric: give --metric NAME first (e.g. --metric precision --then recall)"
            )
        keys: list[tuple[str | None, bool | None]] = [
            (metric or None, None if direction is None else direction == "maximize")
        ]
        for item in then:
            name, _, way = item.partition(":")
            if not name or way not in ("", "max", "min", "maximize", "minimize"):
                raise RefineError(f"--then takes NAME or NAME:max / NAME:min, got {item!r}")
            keys.append((name, None if not way else way.startswith("max")))
        return cls(tuple(keys), tuple(Condition.parse(w) for w in where))

    @property
    def default(self) -> bool:
        return self.keys == ((None, None),) and not self.where

    def describe(self) -> str:
        """``by precision, then recall, where recall >= 0.5`` (empty for the default ranking)."""
        if self.default:
            return ""
        names = [n or "the objective" for n, _ in self.keys]
        out = "by " + ", then ".join(names)
        if self.where:
            out += ", where " + " and ".join(str(c) for c in self.where)
        return out


def objective_labels(study: Any) -> list[str]:
    """The objectives' labels: Optuna's metric names, else the ``metric`` of the space the study remembers."""
    names = list(getattr(study, "metric_names", None) or [])
    if not names:
        import json

        doc = study.user_attrs.get("refine:space")
        try:
            metric = json.loads(doc).get("metric") if isinstance(doc, str) else None
        except ValueError:
            metric = None
        names = [metric] if isinstance(metric, str) else list(metric or [])
    return names


def metric_value(trial: Any, name: str | None, labels: Sequence[str] = ()) -> float | None:
    """``trial``'s value of ``name``: an objective (``None``, ``value``, or its label), else a user attribute; ``None``
    when absent or not a finite number."""
    if name is None or name == "value":
        v = trial.values[0] if trial.values else None
    elif name in labels and trial.values and labels.index(name) < len(trial.values):
        v = trial.values[labels.index(name)]
    else:
        v = trial.user_attrs.get(name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def own_trials(trials: Sequence[Any]) -> list[Any]:
    """The trials a stage ran itself: not the history a warm start copied from its parent."""
    return [t for t in trials if TRIAL_HISTORY not in t.user_attrs]


def _violates(trial: Any) -> bool:
    from refine.study import violates

    return "constraints" in trial.system_attrs and violates(trial.system_attrs.get("constraints") or ())


def _directions(study: Any) -> list[bool]:
    return [d.name == "MAXIMIZE" for d in study.directions]


def _check_names(study: Any, ranking: Ranking, trials: Sequence[Any], labels: Sequence[str]) -> None:
    names = [n for n, _ in ranking.keys if n is not None] + [c.name for c in ranking.where]
    for name in names:
        if name == "value" or name in labels:
            continue
        if not any(name in t.user_attrs for t in trials):
            known = sorted({k for t in trials for k in t.user_attrs if not k.startswith("refine:")})
            raise StudyError(
                f"'{name}' (--metric/--then/--where) is neither an objective's label nor a user attribute of study "
                f"'{study.study_name}'; user attributes: {', '.join(known[:12]) or 'none'}"
            )


def ranked_trials(study: Any, ranking: Ranking | None = None, *, own: bool = False) -> list[Any]:
    """The study's trials that rank, best first.

    Args:
        study: An Optuna study.
        ranking: The order and conditions (default: the objective, as Optuna ranks).
        own: Only the trials the stage ran itself (not a warm start's history).

    Raises:
        StudyError: A name of ``ranking`` is no objective label and no user attribute of the study,
            or a multi-objective study is ranked by a user attribute without a direction.
    """
    keyed = _keyed(study, ranking, own)
    if keyed is None:
        return _pareto_first(_candidates(study, ranking or Ranking(), own), _directions(study))
    return [t for *_, t in keyed]


def best_of(studies: Sequence[Any], ranking: Ranking | None = None, *, own: bool = False) -> tuple[Any, Any] | None:
    """The best trial across several single-objective studies (a seed group) and its study; ``None`` when none ranks.

    Raises:
        StudyError: As :func:`ranked_trials`, or a study is multi-objective.
    """
    tops = []
    for i, study in enumerate(studies):
        keyed = _keyed(study, ranking, own)
        if keyed is None:
            raise StudyError(
                f"study '{study.study_name}' is multi-objective: the best of a seed group is ranked on one objective"
            )
        if keyed:
            key, number, trial = keyed[0]
            tops.append((key, i, number, study, trial))
    if not tops:
        return None
    _, _, _, study, trial = min(tops, key=lambda x: x[:3])
    return study, trial


def _candidates(study: Any, ranking: Ranking, own: bool) -> list[Any]:
    from optuna.trial import TrialState

    from refine._distributions import quiet_old_distributions

    with quiet_old_distributions():
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if own:
        trials = own_trials(trials)
    labels = objective_labels(study)
    if not ranking.default:
        _check_names(study, ranking, trials, labels)
    done = [t for t in trials if t.values and all(math.isfinite(v) for v in t.values) and not _violates(t)]
    return [t for t in done if all(c.holds(metric_value(t, c.name, labels)) for c in ranking.where)]


def _keyed(study: Any, ranking: Ranking | None, own: bool) -> list[tuple[tuple[float, ...], int, Any]] | None:
    """(sort key, number, trial) best first; ``None`` for a multi-objective study ranked by Pareto front."""
    ranking = ranking or Ranking()
    done = _candidates(study, ranking, own)
    maximize = _directions(study)
    labels = objective_labels(study)
    if len(maximize) > 1 and ranking.keys[0][0] is None:
        return None
    signs: list[float] = []
    for i, (name, way) in enumerate(ranking.keys):
        if way is None:
            if name is None or name == "value":
                way = maximize[0]
            elif name in labels:
                way = maximize[labels.index(name)]
            elif i > 0:
                way = signs[0] > 0
            elif len(maximize) > 1:
                raise StudyError(
                    f"study '{study.study_name}' optimizes {len(maximize)} objectives: say which way '{name}' "
                    "is better "
                    "(--metric-direction maximize or minimize)"
                )
            else:
                way = maximize[0]
        signs.append(1.0 if way else -1.0)
    scored = []
    for t in done:
        vals = [metric_value(t, name, labels) for name, _ in ranking.keys]
        if any(v is None for v in vals):
            continue
        scored.append((tuple(-s * v for s, v in zip(signs, vals)), t.number, t))  # type: ignore[operator]
    scored.sort(key=lambda x: (x[0], x[1]))
    return scored


def maximizes(study: Any, ranking: Ranking | None = None) -> bool:
    """Whether a higher value of the ranking's first key is better."""
    ranking = ranking or Ranking()
    name, way = ranking.keys[0]
    if way is not None:
        return way
    labels = objective_labels(study)
    maximize = _directions(study)
    return maximize[labels.index(name)] if name in labels else maximize[0]


def pareto_size(study: Any, *, own: bool = False) -> int:
    """How many trials lie on the Pareto front of a multi-objective study (its own trials with ``own``)."""
    done = _candidates(study, Ranking(), own)
    return len(_pareto_first(done, _directions(study), front_only=True))


def _pareto_first(trials: Sequence[Any], maximize: Sequence[bool], front_only: bool = False) -> list[Any]:
    """The non-dominated trials first (in trial order), then the rest (in trial order)."""
    signed = [[v if up else -v for v, up in zip(t.values, maximize)] for t in trials]

    def dominated(i: int) -> bool:
        a = signed[i]
        return any(all(x >= y for x, y in zip(b, a)) and any(x > y for x, y in zip(b, a)) for b in signed)

    flags = [dominated(i) for i in range(len(trials))]
    ordered = sorted(range(len(trials)), key=lambda i: trials[i].number)
    front = [trials[i] for i in ordered if not flags[i]]
    return front if front_only else front + [trials[i] for i in ordered if flags[i]]


def why_none(study: Any, ranking: Ranking | None = None, *, own: bool = False) -> str:
    """Why :func:`ranked_trials` found nothing, in a sentence naming the study."""
    from optuna.trial import TrialState

    from refine._distributions import quiet_old_distributions

    with quiet_old_distributions():
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    name = study.study_name
    if own and trials and not own_trials(trials):
        return (
            f"study '{name}' ran no trial of its own: its {len(trials)} complete trials are a warm start's history, "
            "and a stage is judged by the trials it ran"
        )
    if not trials:
        return f"study '{name}' has no complete trial"
    if ranking is not None and ranking.where:
        return f"no complete trial of study '{name}' keeps {' and '.join(str(c) for c in ranking.where)}"
    return (
        f"study '{name}' has {len(trials)} complete trial(s) but none can be ranked: "
        "their values are inf or NaN, or break the study's constraints"
    )


# --------------------------------------------------------------------------- the columnar view (StudyData)


def own_rows(data: Any) -> Any:
    """Mask of a :class:`~refine.study.StudyData`'s rows that the stage ran itself (not a warm start's history)."""
    import numpy as np

    col = data.user_attrs.get(TRIAL_HISTORY)
    if col is None:
        return np.ones(data.n_trials, dtype=bool)
    return np.array([v is None for v in col], dtype=bool)


def best_rows(data: Any, among: Any = None) -> list[int]:
    """Rows of a :class:`~refine.study.StudyData`'s best COMPLETE trial with finite values (feasible, as Optuna ranks),
    of the rows ``among``; with several objectives, its Pareto front (ascending). Empty when nothing ranks."""
    import numpy as np

    from refine.study import COMPLETE

    ok = (data.states == COMPLETE) & np.isfinite(data.values).all(axis=1)
    if data.infeasible is not None:
        ok &= ~data.infeasible
    if among is not None:
        ok &= among
    rows = np.flatnonzero(ok)
    if not len(rows):
        return []
    maximize = [d == "maximize" for d in data.directions]
    if len(maximize) > 1:
        costs = data.values[rows] * np.array([-1.0 if up else 1.0 for up in maximize])
        order = np.lexsort(costs.T[::-1])
        kept: list[int] = []
        for i in order:
            c = costs[i]
            if kept and ((costs[kept] <= c).all(axis=1) & (costs[kept] < c).any(axis=1)).any():
                continue
            kept.append(int(i))
        return [int(rows[i]) for i in sorted(kept)]
    col = data.values[rows, 0]
    return [int(rows[int(np.argmax(col) if maximize[0] else np.argmin(col))])]


def metric_column(data: Any, metric: str) -> Any:
    """A user attribute of a :class:`~refine.study.StudyData` as numbers per row (NaN where missing or not a number).

    Raises:
        StudyError: No trial of the study has the attribute.
    """
    import numpy as np

    if metric not in data.user_attrs:
        known = ", ".join(sorted(data.user_attrs)) or "none"
        raise StudyError(
            f"metric (--metric) '{metric}' is not a user attribute of study '{data.name}'; user attributes: {known}"
        )
    col = data.user_attrs[metric]
    out = np.full(len(col), np.nan)
    for i, v in enumerate(col):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[i] = float(v)
    return out


def key_column(data: Any, name: str) -> Any:
    """A ``--then``/``--where`` key's values per row: the objective (``value``) or a user attribute (NaN where
    missing)."""
    if name == "value":
        return data.values[:, 0].astype(float)
    return metric_column(data, name)


def _then_column(data: Any, key: str, maximize: bool) -> Any:
    """A ``--then`` key as higher-is-better values (NaN last): ``NAME`` follows the metric's direction, ``NAME:min``
    / ``NAME:max`` their own."""
    import numpy as np

    name, _, way = key.partition(":")
    up = maximize if not way else way.startswith("max")
    col = key_column(data, name)
    col = col if up else -col
    return np.where(np.isfinite(col), col, -np.inf)


def pareto_ranks(costs: Any, needed: int) -> Any:
    """Front index per row of ``costs`` (0 = non-dominated) for minimisation, peeling until ``needed`` rows are
    ranked; the rows left over share the next index."""
    import numpy as np

    n = len(costs)
    rank = np.full(n, np.inf)
    remaining = np.arange(n)
    front = 0
    while len(remaining) and (rank < np.inf).sum() < needed:
        v = costs[remaining]
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


def _crowding_position(costs: Any, ranks: Any) -> Any:
    """Per row, its place in its front by crowding distance, in [0, 1): 0 for the most isolated (the extremes).

    Rows of the last, unpeeled group (``ranks`` beyond the fronts found) are ordered the same way.
    """
    import numpy as np

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


@frozen
class RowOrder:
    """The columnar ranking of a study's rows (what ``next-space``'s evidence ranks by).

    Attributes:
        scores: Per row, higher is better (NaN for rows that do not rank).
        elites: Mask of the elite rows.
        best_row: The best row (None when no row ranks).
    """

    scores: Any
    elites: Any
    best_row: int | None


def order_rows(data: Any, ranked: Any, objective: Any, *, maximize: bool, k: int, then: Sequence[str] = ()) -> RowOrder:
    """Score the ``ranked`` rows of a :class:`~refine.study.StudyData`, best first, and take the ``k`` best as elites.

    One objective (``objective`` a vector): by its value, then the ``then`` keys
    (lexicographic), then trial number; rows tied with the last elite are elites
    too, unless ``then`` keys break the ties. Several (``objective`` a matrix,
    ``data.directions`` saying which way each is better): by Pareto front
    (NSGA-II's crowding distance orders the rows of a front); whole fronts are
    elites.
    """
    import numpy as np

    scores = np.full(data.n_trials, np.nan)
    elites = np.zeros(data.n_trials, dtype=bool)
    rows = np.flatnonzero(ranked)
    if not len(rows):
        return RowOrder(scores, elites, None)
    if objective.ndim > 1:
        signs = np.array([-1.0 if d == "maximize" else 1.0 for d in data.directions])
        costs = objective[rows] * signs
        ranks = pareto_ranks(costs, k)
        # Within a front, crowding distance orders the trials (NSGA-II): a trade-off front whose
        # trials all differ is not "flat", and a choice absent from every front loses by a margin.
        scores[rows] = -ranks - 0.5 * _crowding_position(costs, ranks)
        order = rows[np.lexsort((data.numbers[rows], ranks))]
        # Whole fronts are elites, as ties are for one objective: a front spread along a trade-off
        # stays spread (the first k by trial number would be an arbitrary piece of it).
        elites[rows[ranks <= ranks[np.searchsorted(rows, order[k - 1])]]] = True
        return RowOrder(scores, elites, int(order[0]))
    scores[ranked] = objective[ranked] if maximize else -objective[ranked]
    ties = [-_then_column(data, key, maximize)[rows] for key in then]
    order = rows[np.lexsort((data.numbers[rows], *reversed(ties), -scores[rows]))]
    if ties:  # lexicographic: the first k in that order (--then breaks the metric's ties)
        elites[order[:k]] = True
    else:
        # trials tied with the last elite are elites too: which of equals made the cut would be the trial order's choice
        elites[rows[scores[rows] >= scores[order[k - 1]]]] = True
    return RowOrder(scores, elites, int(order[0]))
