"""Sweet spots with more than one mode: elites good at two separate places of a range.

A sweep can find a parameter good in two places (``n_layers`` at 2 and at
6-7). One interval around all elites hides that; :func:`modes` splits the
elites at the widest empty stretch of the range between them when it is wide
(``min_gap`` of the range, on the parameter's own scale) and each side holds
a real share of the elites (``min_share``, at least two). The rationale
reports both modes, and a narrowing keeps both (it spans every elite).
"""

from __future__ import annotations

import math
from typing import Sequence

import attrs
from attrs import frozen

from refine.space import FloatParam, IntParam

__all__ = ["Mode", "modes"]


@frozen
class Mode:
    """One mode: the elites' ``[low, high]`` there and their ``share`` of all elites."""

    low: float
    high: float
    share: float

    def to_json(self) -> dict:
        return attrs.asdict(self)


def modes(
    p: FloatParam | IntParam, elite_values: Sequence[float], min_gap: float = 0.25, min_share: float = 0.2
) -> list[Mode]:
    """The elites' modes, lowest first: two when they split at a wide empty stretch, else one (none without elites)."""
    import numpy as np

    x = np.asarray(elite_values, dtype=float)
    x = np.sort(x[(x >= p.low) & (x <= p.high) & (x > 0 if p.log else True)])
    if isinstance(p, IntParam):
        x = np.trunc(x)  # int(v), as the values were read
    if not len(x):
        return []
    n = len(x)
    value = (lambda v: int(v)) if isinstance(p, IntParam) else float
    whole = [Mode(value(x[0]), value(x[-1]), 1.0)]
    if n < 4:
        return whole
    if p.log:
        # math.log, as to_unit takes it, once per distinct value: NumPy's log may round differently in the last
        # place, and equal gaps (2, 4, 8 on a log scale) must tie as they always did; then to_unit's arithmetic,
        # element by element (a subtraction and a division, rounded alike in NumPy and in Python)
        distinct, where = np.unique(x, return_inverse=True)
        logs = np.fromiter(map(math.log, distinct.tolist()), dtype=float, count=len(distinct))
        low, high = math.log(p.low), math.log(p.high)
        u = ((logs - low) / (high - low))[where]
    else:
        u = (x / 2 - p.low / 2) / (p.high / 2 - p.low / 2)  # to_unit's arithmetic, element by element
    gaps = np.diff(u)
    i = int(len(gaps) - 1 - np.argmax(gaps[::-1]))  # the widest, the last of equals (as max() of (width, i) was)
    width = float(gaps[i])
    left = i + 1
    least = max(2, min_share * n)
    if width < min_gap or left < least or n - left < least:
        return whole
    return [Mode(value(x[0]), value(x[i]), left / n), Mode(value(x[left]), value(x[-1]), (n - left) / n)]
