"""merge: the built-in way the winning proposal for a parameter takes others in (``refine_merge_proposals``).

* An expansion that wins combines with a narrowing of the same range: the
  moved bounds come from the first, the other bound from the second.
* A bias that wins combines with an expansion of the same ordered
  categorical: the biased weights, plus the new value of the progression
  weighted like the dominant choice (it deserves as fair a look).

Any rule's proposals take part, a plugin's as a built-in's. The hook is
``firstresult`` and this implementation ``trylast``: a plugin's own
``refine_merge_proposals`` is asked first, so it extends this one (answer
the cases it knows, None for the rest) or replaces it (always answer);
``--disable merge`` turns combining off.
"""

from __future__ import annotations

import attrs

from refine import hookimpl
from refine.decisions import Merge
from refine.space import CategoricalParam, InvalidParam


@hookimpl(trylast=True)
def refine_merge_proposals(param, winner, others):
    if winner.action == "expand" and not isinstance(param, CategoricalParam):
        narrow = next((p for p in others if p.action == "narrow" and p.new is not None), None)
        if narrow is None or winner.new is None:
            return None
        moved = winner.evidence.get("sides", [])
        low = winner.new.low if "low" in moved else narrow.new.low
        high = winner.new.high if "high" in moved else narrow.new.high
        try:
            new = attrs.evolve(winner.new, low=low, high=high)
        except InvalidParam:
            return None
        return Merge(new=new, reason=f"{winner.reason}; the other side narrowed: {narrow.reason}", applied=(narrow,))
    if winner.action == "bias" and isinstance(param, CategoricalParam) and winner.new is not None:
        expand = next((p for p in others if p.action == "expand" and isinstance(p.new, CategoricalParam)), None)
        if expand is None:
            return None
        return _bias_and_extend(winner.new, expand, winner.reason)
    return None


def _bias_and_extend(biased, expand, reason):
    """The biased weights, plus the new value of the progression weighted like the dominant choice."""
    weights = dict(zip(biased.choices, biased.normalized_weights()))
    top = max(weights.values())
    raw = [weights.get(c, top) for c in expand.new.choices]
    total = sum(raw)
    combined = attrs.evolve(expand.new, weights=tuple(round(w / total, 6) for w in raw))
    final = ", ".join(
        f"{c!r}: {w:.0%}" if isinstance(c, str) else f"{c}: {w:.0%}" for c, w in zip(combined.choices, combined.weights)
    )
    return Merge(
        new=combined,
        reason=f"{reason}; and {expand.reason}; with the added value the final weights are {final}",
        applied=(expand,),
    )
