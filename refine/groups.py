"""A study whose search space changed mid-way: trials in groups that searched different parameters.

Two runs written into one study name, or stage-wise tuning (a first stage
searches the model, a second the optimizer), leave groups of trials that each
sampled another set of parameters, and no `when` explains which. Comparing
the groups' objectives as one study mixes two experiments. :func:`space_groups`
finds the groups; the evidence then ranks only the trials of the group that
holds the best trial, and the rationale names the groups in a red flag.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from attrs import frozen

__all__ = ["SpaceGroup", "space_groups"]


@frozen
class SpaceGroup:
    """Trials that searched the same parameters (of those not every trial searched)."""

    params: tuple[str, ...]
    mask: np.ndarray
    first: int
    last: int

    @property
    def n(self) -> int:
        return int(self.mask.sum())


def space_groups(
    study: Any, space: Any, usable: np.ndarray, min_share: float = 0.1, min_trials: int = 5
) -> tuple[SpaceGroup, ...]:
    """The groups of ``usable`` trials by which unconditional parameters they sampled, when there are two or more.

    Only parameters of ``space`` without a `when` that some usable trials
    lack are looked at; a group needs ``min_trials`` trials and ``min_share``
    of the usable ones. Returns () for a study with one space.
    """
    rows = np.flatnonzero(usable)
    if len(rows) < 2 * min_trials:
        return ()
    patchy = []
    for name, p in space.params.items():
        col = study.columns.get(name)
        if col is None or p.when is not None:
            continue
        here = ~np.isnan(col[rows])
        if here.any() and not here.all():
            patchy.append((name, here))
    if not patchy:
        return ()
    names = [n for n, _ in patchy]
    table = np.column_stack([h for _, h in patchy])
    keys, inverse = np.unique(table, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    groups = []
    for g, key in enumerate(keys):
        members = rows[inverse == g]
        if len(members) < max(min_trials, min_share * len(rows)):
            continue
        mask = np.zeros(len(usable), dtype=bool)
        mask[members] = True
        numbers = study.numbers[members]
        groups.append(
            SpaceGroup(tuple(n for n, k in zip(names, key) if k), mask, int(numbers.min()), int(numbers.max()))
        )
    if len(groups) < 2:
        return ()
    groups.sort(key=lambda g: g.first)
    return tuple(groups)


def describe(groups: tuple[SpaceGroup, ...], chosen: int | None) -> str:
    """The red flag naming the groups and the one refined from."""
    parts = []
    every = sorted(
        {p for g in groups for p in g.params}, key=lambda p: min(i for i, g in enumerate(groups) if p in g.params)
    )
    for g in groups:
        missing = [p for p in every if p not in g.params]
        what = []
        if g.params:
            what.append(f"searched {', '.join(g.params)}")
        if missing:
            what.append(f"{'not' if g.params else 'did not search'} {', '.join(missing)}")
        parts.append(f"{g.n} trials (numbers {g.first}-{g.last}) {(' but ' if g.params else '').join(what)}")
    text = (
        "the search space changed mid-study: the trials fall in groups that searched different parameters: "
        + "; ".join(parts)
    )
    if chosen is not None:
        g = groups[chosen]
        text += (
            f". Refined from the group that holds the best trial ({g.n} trials, numbers {g.first}-{g.last}); "
            "parameters it did not search were kept as they are"
        )
    return text
