"""Sweet spots with more than one mode: elites good at two separate places of a range.

A sweep can find a parameter good in two places (``n_layers`` at 2 and at
6-7). One interval around all elites hides that; :func:`modes` splits the
elites at the widest empty stretch of the range between them when it is wide
(``min_gap`` of the range, on the parameter's own scale) and each side holds
a real share of the elites (``min_share``, at least two). The rationale
reports both modes, and a narrowing keeps both (it spans every elite).
"""

from __future__ import annotations

from typing import Sequence

import attrs
from attrs import frozen

from refine.space import FloatParam, IntParam, to_unit

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
    kind = int if isinstance(p, IntParam) else float
    values = sorted(kind(v) for v in elite_values if p.low <= v <= p.high and (not p.log or v > 0))
    if not values:
        return []
    n = len(values)
    whole = [Mode(values[0], values[-1], 1.0)]
    if n < 4:
        return whole
    u = [to_unit(p, v) for v in values]
    gaps = [(u[i + 1] - u[i], i) for i in range(n - 1)]
    width, i = max(gaps)
    left = i + 1
    least = max(2, min_share * n)
    if width < min_gap or left < least or n - left < least:
        return whole
    return [Mode(values[0], values[i], left / n), Mode(values[left], values[-1], (n - left) / n)]
