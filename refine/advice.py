"""Mid-sweep advice: whether a study should go on, stop, or run N more trials first, and why.

``next-space`` analyses a study that may still be running; this module turns
that analysis into the decision a user needs during the sweep:

- ``continue``: too few ranked trials to judge yet, or the best value still
  improved within the last ``max(10, 30 %)`` trials;
- ``extend``: the best has stalled, but a categorical choice has not had its
  fair trial (``fair_trial`` trials); N more trials would let the next stage
  judge it instead of guessing;
- ``stop``: the best has stalled and every choice had a fair trial: converged.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
from attrs import frozen

__all__ = ["Advice", "advise"]


@frozen
class Advice:
    """``action`` (continue, stop, extend), how many more ``trials`` it asks for (0 for stop), and the ``reason``."""

    action: str
    trials: int
    reason: str

    def to_json(self) -> dict:
        return attrs.asdict(self)


def advise(evidence: Any) -> Advice:
    """The advice for the study behind ``evidence`` (see the module's docstring)."""
    s = evidence.settings
    study = evidence.study
    ranked = np.flatnonzero(evidence.ranked)
    n = len(ranked)
    if n < s.min_complete:
        return Advice(
            "continue",
            s.min_complete - n,
            f"{n} ranked trial(s), fewer than min_complete {s.min_complete}: too few to judge",
        )
    order = ranked[np.argsort(study.numbers[ranked], kind="stable")]
    scores = evidence.scores[order]
    spread = float(np.nanmax(scores) - np.nanmin(scores)) if n > 1 else 0.0
    tol = max(evidence.noise_sd or 0.0, 1e-3 * spread)
    # the last trial that beat every earlier one by more than tol (the first counts): the best so far before each
    # trial is a running maximum (fmax, as max() passes over a NaN)
    before = np.fmax.accumulate(np.concatenate(([-math.inf], scores)))[:-1]
    better = scores > before + tol
    better[:1] = True
    last = int(np.flatnonzero(better)[-1])
    since = n - 1 - last
    window = max(10, math.ceil(0.3 * n))
    number = int(study.numbers[order[last]])
    if since < window:
        return Advice(
            "continue",
            window - since,
            f"the best improved {since} ranked trial(s) ago (trial {number}), within the last {window}: "
            "the search is still finding better configurations",
        )
    owed: dict[str, list[str]] = {}
    need = 0
    for name, ev in evidence.params.items():
        if getattr(ev, "kind", None) != "categorical":
            continue
        short = [c for c in ev.choices if c.trials < s.fair_trial]
        if short and len(short) < len(ev.choices):
            owed[name] = [f"{c.value!r} ({c.trials})" for c in short]
            need = max(need, sum(s.fair_trial - c.trials for c in short))
    if need:
        what = "; ".join(f"'{k}': {', '.join(v)}" for k, v in owed.items())
        return Advice(
            "extend",
            need,
            f"no better trial in the last {since} of {n} ranked trials, but choices have not had a fair trial "
            f"({s.fair_trial} trials): {what}; {need} more trials on them (weights or --fill-gaps) let the "
            "next stage judge them",
        )
    return Advice(
        "stop",
        0,
        f"converged: no better trial in the last {since} of {n} ranked trials (best at trial {number}) "
        "and every choice had a fair trial",
    )
