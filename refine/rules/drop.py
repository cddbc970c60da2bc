"""drop: parameters whose ``when`` can no longer hold leave the space.

Runs once every parameter is decided (``refine_finalize``): a parameter whose
parent was fixed to a value its ``when`` does not allow, whose parent was
dropped, or whose parent lost every choice its ``when`` names, is dropped.
"""

from __future__ import annotations

from refine import hookimpl
from refine.decisions import Proposal
from refine.rules._common import fmt
from refine.space import CategoricalParam


@hookimpl
def refine_finalize(space, previous, decisions, settings):
    out = []
    dropped: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, p in space.params.items():
            if name in dropped or p.when is None:
                continue
            parent = p.when.parent
            reason = None
            if parent in dropped or (parent not in space.params and parent not in space.fixed):
                reason = f"its parent '{parent}' left the space"
            elif parent in space.fixed and not p.when.allows(space.fixed[parent]):
                reason = (
                    f"its parent '{parent}' is now fixed to {fmt(space.fixed[parent])}, "
                    f"and it applies only when {parent} is {', '.join(fmt(v) for v in p.when.values)}"
                )
            elif isinstance(space.params.get(parent), CategoricalParam) and not any(
                space.params[parent].contains(v) for v in p.when.values
            ):
                reason = f"'{parent}' no longer offers {', '.join(fmt(v) for v in p.when.values)}"
            if reason is not None:
                dropped.add(name)
                changed = True
                out.append(Proposal(param=name, action="drop", rule="drop", reason=f"dropped: {reason}"))
    return out
