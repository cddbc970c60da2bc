"""Proposals (what one rule suggests for one parameter) and decisions (what the engine settled on).

The engine collects every rule's proposals for a parameter and keeps one, by a
documented precedence: a proposal's ``priority`` first (higher wins; built-ins
use 0), then the action's rank in :data:`ACTION_RANK` (``drop`` before ``fix``
before ``bias`` before ``expand`` before ``narrow``; an action a plugin
introduces ranks between ``narrow`` and ``keep``), then the rule's name. The
winner may then be combined with the other proposals (hook
``refine_merge_proposals``, returning a :class:`Merge`; the built-in one, in
:mod:`refine.rules.merge`, combines an ``expand`` and a ``narrow`` of the
same range, and a ``bias`` and an ``expand`` of an ordered categorical).
Everything set aside is kept in :attr:`Decision.overridden`, so the rationale
can show it.
"""

from __future__ import annotations

from typing import Any

from attrs import field, frozen

from refine.space import Param

__all__ = ["ACTION_RANK", "Decision", "Merge", "Proposal", "action_rank"]

#: Lower ranks win among proposals of equal priority.
ACTION_RANK = {"drop": 0, "fix": 1, "bias": 2, "expand": 3, "narrow": 4, "keep": 9}
_PLUGIN_ACTION_RANK = 5


def action_rank(action: str) -> int:
    return ACTION_RANK.get(action, _PLUGIN_ACTION_RANK)


@frozen(kw_only=True)
class Proposal:
    """One rule's suggestion for one parameter.

    Attributes:
        param: The parameter's name.
        action: ``keep``, ``narrow``, ``expand``, ``fix``, ``bias``, ``drop`` or
            a word the plugin introduces.
        rule: The name of the rule that proposes it.
        new: The new definition (None for ``fix`` and ``drop``).
        reason: One human sentence with the numbers that decided.
        fixed_value: For ``fix``: the constant the parameter becomes.
        evidence: The numbers behind the reason, for the JSON rationale.
        priority: Higher wins over the action precedence; built-ins use 0.
    """

    param: str
    action: str
    rule: str
    new: Param | None = None
    reason: str = ""
    fixed_value: Any = None
    evidence: dict[str, Any] = field(factory=dict, hash=False)
    priority: int = 0

    def sort_key(self) -> tuple:
        return (-self.priority, action_rank(self.action), self.rule)


@frozen(kw_only=True)
class Merge:
    """The winning proposal combined with others for the same parameter (what ``refine_merge_proposals`` returns).

    Attributes:
        new: The parameter's next definition (the same kind, within its ``limits``).
        reason: The decision's reason: the winner's, and what was folded into it.
        applied: The other proposals folded in; they are not listed as set aside.
    """

    new: Param
    reason: str
    applied: tuple[Proposal, ...] = ()


@frozen(kw_only=True)
class Decision:
    """What happened to one parameter between two versions."""

    param: str
    action: str
    rule: str
    old: Param | None
    new: Param | None
    reason: str
    fixed_value: Any = None
    evidence: dict[str, Any] = field(factory=dict, hash=False)
    overridden: tuple[Proposal, ...] = ()
    vetoed: tuple[tuple[Proposal, str], ...] = ()
