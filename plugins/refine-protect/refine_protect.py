"""refine-protect: keep chosen parameters searched, whatever one study says.

Teams know that some parameters (the learning rate, say) interact with
everything and must never be fixed or dropped on the strength of one stage.
List them and this plugin vetoes every ``fix``, ``drop`` and ``narrow`` of
them, and marks them with its own action word, ``protect``, when nothing else
changes them (an ``expand`` still goes through: opening a range is safe).
A conditional parameter whose ``when`` can no longer hold (its parent was
fixed to another value) leaves the space whatever this plugin says: protect
its parent too.

Configure it in ``pyproject.toml``::

    [tool.refine.protect]
    params = ["lr", "weight_decay"]

or on the command line: ``refine next-space study.db --set protect.params=lr,weight_decay``.
"""

from __future__ import annotations

from refine import Proposal, hookimpl

__version__ = "0.1.0"

_BLOCKED = ("fix", "drop", "narrow")


def _names(value) -> tuple[str, ...]:
    """``lr,wd`` (from --set) or ``["lr", "wd"]`` (from a TOML table) as a tuple of names."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f'expected parameter names, e.g. lr,weight_decay or ["lr"], got {value!r}')
    return tuple(v.strip() for v in value if v.strip())


@hookimpl
def refine_add_settings(registry):
    registry.add(
        "protect.params",
        default=(),
        help="parameters never fixed, dropped or narrowed (comma-separated, or a TOML list)",
        convert=_names,
    )


def _protected(settings) -> set[str]:
    return set(settings.extra.get("protect.params", ()))


@hookimpl
def refine_propose(name, param, settings):
    if name not in _protected(settings):
        return None
    return Proposal(
        param=name,
        action="protect",
        rule="protect",
        new=param,
        reason="kept searched: listed in protect.params (a parameter the team never fixes on one study's evidence)",
    )


@hookimpl
def refine_review(proposal, settings):
    if proposal.param in _protected(settings) and proposal.action in _BLOCKED:
        return f"'{proposal.param}' is protected (protect.params): no {proposal.action}"
    return None
