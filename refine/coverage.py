"""Coverage: the parts of a space that no trial of a study tested."""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from attrs import frozen

from refine.space import CategoricalParam, FloatParam, IntParam, Space
from refine.study import RUNNING, StudyData

__all__ = ["Gap", "activation", "coverage", "coverage_gaps", "untested"]


def activation(space: Space, name: str) -> dict[str, Any] | None:
    """Parent values that make ``name`` active (``None`` when ``fixed`` forbids it)."""
    out: dict[str, Any] = {}
    cursor = space.params[name].when
    while cursor is not None:
        if cursor.parent in space.fixed:
            return out if cursor.allows(space.fixed[cursor.parent]) else None
        out[cursor.parent] = cursor.values[0]
        cursor = space.params[cursor.parent].when
    return out


@frozen
class Gap:
    """A region never tested: a numeric sub-range ``[low, high]`` or a categorical ``choice``."""

    param: str
    low: float | None = None
    high: float | None = None
    choice: Any = None
    is_choice: bool = False

    def describe(self) -> str:
        if self.is_choice:
            return f"{self.param}: choice {self.choice!r} never tested"
        if self.low == self.high:
            return f"{self.param}: {self.low:.6g} never tested"
        return f"{self.param}: [{self.low:.4g}, {self.high:.4g}] never tested"

    def target(self, space: Space) -> dict[str, Any]:
        """A partial configuration inside the gap."""
        p = space.params[self.param]
        base = activation(space, self.param) or {}
        if self.is_choice or isinstance(p, CategoricalParam) or self.low is None or self.high is None:
            return {**base, self.param: self.choice}
        mid = math.sqrt(self.low * self.high) if p.log else (self.low + self.high) / 2
        return {**base, self.param: p.snap(mid)}

    def targets(self, space: Space, most: int = 5) -> list[dict[str, Any]]:
        """Partial configurations that fill the gap: each of its grid points when it holds at most ``most``, else its
        middle."""
        p = space.params[self.param]
        if self.is_choice or isinstance(p, CategoricalParam) or p.step is None or p.log:
            return [self.target(space)]
        step = p.step
        if self.low is None or self.high is None:
            return [self.target(space)]
        count = int(round((self.high - self.low) / step)) + 1
        if count > most:
            return [self.target(space)]
        base = activation(space, self.param) or {}
        return [{**base, self.param: p.snap(self.low + i * step)} for i in range(count)]


def untested(space: Space, configs: Iterable[Mapping[str, Any]], bins: int = 10) -> list[Gap]:
    """Ranges (``bins`` equal parts, on the log scale for ``log`` params) and choices
    that no configuration tested; adjacent empty parts are merged.

    The one gap computation: the rationale lists these, ``run`` reports them
    and ``--fill-gaps`` fills them. A stepped parameter's gap holds only grid
    points a trial could take (a bin between two grid points is no gap).
    """
    configs = list(configs)
    return _untested(space, lambda name: [c[name] for c in configs if name in c], bins)


def _untested(space: Space, values_of: Callable[[str], Sequence[Any]], bins: int) -> list[Gap]:
    """:func:`untested` on each parameter's values, ``values_of(name)``: a list of the values tried (only which
    values, not how often, matters), or an array of floats, each a number as tried (the fast path of
    :func:`coverage`)."""
    gaps: list[Gap] = []
    for name, p in space.params.items():
        if activation(space, name) is None:
            continue
        values = values_of(name)
        if isinstance(p, CategoricalParam):
            seen = {p.index(v) for v in values if p.contains(v)}
            gaps += [Gap(name, choice=c, is_choice=True) for i, c in enumerate(p.choices) if i not in seen]
            continue
        points = None
        step = p.step  # an int's is never None
        if step is not None and not p.log:
            count = int(round((p.grid_high() - p.low) / step)) + 1
            if count <= bins:
                points = [p.low + i * step for i in range(count)]
        n = len(points) if points else bins
        if isinstance(values, np.ndarray):
            hit = _hits(p, values, points, n)
        else:
            hit = [False] * n
            for v in values:
                if isinstance(v, numbers.Real) and not isinstance(v, bool) and p.low <= float(v) <= p.high:
                    x = float(v)
                    if points:
                        hit[min(range(n), key=lambda i: abs(points[i] - x))] = True
                    else:
                        hit[min(int(p.to_unit(x) * n), n - 1)] = True
        i = 0
        while i < n:
            if hit[i]:
                i += 1
                continue
            j = i
            while j + 1 < n and not hit[j + 1]:
                j += 1
            if points:
                gaps.append(Gap(name, low=points[i], high=points[j]))
            else:
                lo, hi = p.from_unit(i / n), p.from_unit((j + 1) / n)
                if step is not None:  # a gap is the grid points inside it; a bin between two points is no gap
                    first = math.ceil(round((lo - p.low) / step, 9))
                    top = round((hi - p.low) / step, 9)
                    # bins are half-open: a grid point on a gap's upper edge belongs to the next bin (tested), save the
                    # last
                    last = math.floor(top) if j + 1 == n or not top.is_integer() else int(top) - 1
                    if first > last:
                        i = j + 1
                        continue
                    lo, hi = (p.low + first * step, min(p.low + last * step, p.high))
                    if isinstance(p, FloatParam):
                        lo, hi = round(lo, 12), round(hi, 12)
                gaps.append(Gap(name, low=lo, high=hi))
            i = j + 1
    return gaps


coverage_gaps = untested  # the executor's name for it (refine.executor exports it)


def _hits(p: FloatParam | IntParam, x: np.ndarray, points: list | None, n: int) -> list[bool]:
    """Which of the ``n`` bins (or grid ``points``) the numbers ``x`` hit: the loop of :func:`untested` on an array.

    The same arithmetic element by element (IEEE operations give the same bits in NumPy as in Python), save NumPy's
    ``log``, which may round differently in the last place: a log parameter's values within 1e-7 of a bin's edge are
    placed again with :meth:`~refine.params.FloatParam.to_unit` itself.
    """
    x = x[(x >= p.low) & (x <= p.high)]
    hit = np.zeros(n, dtype=bool)
    if not len(x):
        return hit.tolist()
    if points:
        grid = np.asarray(points, dtype=float)
        nearest = np.abs(grid[None, :] - np.unique(x)[:, None]).argmin(axis=1)  # the first of equals, as min() does
        hit[nearest] = True
        return hit.tolist()
    if p.log:
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = (np.log(x) - math.log(p.low)) / (math.log(p.high) - math.log(p.low)) * n
        edge = np.abs(scaled - np.round(scaled)) < 1e-7
        bins = np.minimum(np.trunc(scaled), n - 1).astype(np.int64)
        hit[bins[~edge]] = True
        for v in x[edge].tolist():
            hit[min(int(p.to_unit(v) * n), n - 1)] = True
    else:
        scaled = (x / 2 - p.low / 2) / (p.high / 2 - p.low / 2) * n
        hit[np.minimum(np.trunc(scaled), n - 1).astype(np.int64)] = True
    return hit.tolist()


def _external(data: StudyData, name: str, x: float) -> Any:
    """A stored value of ``name`` as the objective saw it (:meth:`StudyData.value_of` without a row)."""
    p = data.inferred.params.get(name)
    if p is None:
        return data.inferred.fixed[name]
    if isinstance(p, CategoricalParam):
        return p.choices[int(x)]
    if isinstance(p, IntParam):
        return int(x)
    return float(x)


def coverage(data: StudyData, space: Space, bins: int = 10) -> dict[str, list]:
    """Per parameter of ``space``, what no finished trial of ``data`` tried: choices,
    grid values, or ``[low, high]`` ranges (``bins`` equal parts on the parameter's own scale)."""
    rows = np.flatnonzero(data.states != RUNNING)

    def values_of(name: str) -> Sequence[Any]:
        # what untested would see in [data.config(r) for r in rows], as a set: one Python value per distinct stored
        # value, or the numbers as one array (a config per trial cost seconds on 100k trials)
        col = data.columns.get(name)
        if col is None:
            return []
        x = col[rows]
        x = x[~np.isnan(x)]
        inferred, searched = data.inferred.params.get(name), space.params.get(name)
        numeric = isinstance(inferred, FloatParam) or (
            isinstance(inferred, IntParam) and bool(np.all(x == np.trunc(x)))
        )
        if numeric and isinstance(searched, (FloatParam, IntParam)):
            return x
        return [_external(data, name, v) for v in np.unique(x).tolist()]

    out: dict[str, list] = {}
    for g in _untested(space, values_of, bins):
        if g.is_choice:
            item: Any = g.choice
        elif g.low == g.high:
            item = g.low
        else:
            item = [float(f"{g.low:.4g}"), float(f"{g.high:.4g}")]
        out.setdefault(g.param, []).append(item)
    return out
