"""Coverage: the parts of a space that no trial of a study tested."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from refine.space import CategoricalParam, IntParam, Space
from refine.study import RUNNING, StudyData

__all__ = ["coverage"]


def coverage(data: StudyData, space: Space, bins: int = 10) -> dict[str, list]:
    """Per parameter of ``space``, the ranges (``[lo, hi]``) or choices no finished trial tried.

    Ranges are cut into ``bins`` equal parts on the parameter's own scale
    (log for log parameters); an int range with few values lists its values.
    """
    finished = data.states != RUNNING
    out: dict[str, list] = {}
    for name, p in space.params.items():
        rows = [r for r in np.flatnonzero(finished)]
        seen = [data.value_of(name, int(r)) for r in rows] if name in data.columns else []
        seen = [v for v in seen if v is not None]
        if isinstance(p, CategoricalParam):
            missing = [c for c in p.choices if not any(c == v and type(c) is type(v) for v in seen)]
            if missing:
                out[name] = missing
            continue
        x = np.array([float(v) for v in seen if isinstance(v, (int, float))], dtype=float)
        if isinstance(p, IntParam) and (p.high - p.low) // p.step < 2 * bins:
            grid = range(p.low, p.high + 1, p.step)
            missing = [v for v in grid if not np.any(x == v)]
            if missing:
                out[name] = missing
            continue
        if p.log:
            edges = np.exp(np.linspace(math.log(p.low), math.log(p.high), bins + 1))
        else:
            edges = np.linspace(p.low, p.high, bins + 1)
        hist, _ = np.histogram(np.clip(x, p.low, p.high), bins=edges) if len(x) else (np.zeros(bins), None)
        gaps = []
        for i in range(bins):
            if hist[i] == 0:
                lo, hi = float(edges[i]), float(edges[i + 1])
                if gaps and math.isclose(gaps[-1][1], lo):
                    gaps[-1][1] = hi
                else:
                    gaps.append([lo, hi])
        if gaps:
            out[name] = [[float(f"{a:.4g}"), float(f"{b:.4g}")] for a, b in gaps]
    return out
