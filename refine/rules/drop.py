"""drop: parameters whose ``when`` can no longer hold leave the space.

Runs once every parameter is decided (``refine_finalize``). The engine has
already left out of the next space every parameter whose ``when`` can no
longer hold (its parent fixed to another value, dropped, or no longer offering
any of the values the condition names); this rule records each as a ``drop``
and says why.
"""

from __future__ import annotations

from refine import hookimpl
from refine.decisions import Proposal
from refine.rules._common import fmt


@hookimpl
def refine_finalize(space, previous, decisions, settings):
    out = []
    for name, p in previous.params.items():
        if p.when is None or name in space.params or name in space.fixed:
            continue
        if decisions[name].action in ("drop", "fix"):
            continue
        parent = p.when.parent
        wanted = ", ".join(fmt(v) for v in p.when.values)
        if parent in space.fixed:
            reason = (
                f"its parent '{parent}' is now fixed to {fmt(space.fixed[parent])}, and it applies only when "
                f"{parent} is {wanted}"
            )
        elif parent in space.params:
            reason = f"'{parent}' no longer offers {wanted}"
        else:
            reason = f"its parent '{parent}' left the space"
        out.append(Proposal(param=name, action="drop", rule="drop", reason=f"dropped: {reason}"))
    return out
