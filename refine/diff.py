"""What changed between two spaces, parameter by parameter (``refine diff`` and the rationale)."""

from __future__ import annotations

from typing import Any

from refine.rules._common import fmt
from refine.space import CategoricalParam, FloatParam, IntParam, Param, Space

__all__ = ["describe", "diff_spaces"]


def describe(p: Param | None, fixed: Any = None, *, is_fixed: bool = False) -> str:
    """A parameter's definition in one short line: ``[1e-05, 0.01] log``, ``{8, 16, 32}``, ``= 0.5``."""
    if is_fixed:
        return f"= {fmt(fixed)}"
    if p is None:
        return "-"
    if isinstance(p, CategoricalParam):
        if p.weights is None:
            text = "{" + ", ".join(fmt(c) for c in p.choices) + "}"
        else:
            w = p.normalized_weights()
            text = "{" + ", ".join(f"{fmt(c)}: {w[i]:.2f}" for i, c in enumerate(p.choices)) + "}"
    else:
        text = f"[{fmt(p.low)}, {fmt(p.high)}]"
        if p.log:
            text += " log"
        step = getattr(p, "step", None)
        if step not in (None, 1):
            text += f" step {fmt(step)}"
    if p.when is not None:
        text += f" when {p.when.parent} in {{{', '.join(fmt(v) for v in p.when.values)}}}"
    return text


def _change(
    old: Param | None, new: Param | None, old_fixed: bool, new_fixed: bool, old_value: Any, new_value: Any
) -> str:
    if old is None and not old_fixed:
        return "added"
    if new is None and not new_fixed:
        return "dropped"
    if new_fixed:
        return "kept" if old_fixed and old_value == new_value else "fixed"
    if old_fixed:
        return "unfixed"
    if old == new:
        return "kept"
    if isinstance(old, CategoricalParam) and isinstance(new, CategoricalParam):
        a, b = set(map(repr, old.choices)), set(map(repr, new.choices))
        if a == b:
            return "biased" if old.weights != new.weights else "changed"
        if b < a:
            return "narrowed"
        if a < b:
            return "expanded"
        return "changed"
    numeric = (FloatParam, IntParam)
    if not isinstance(old, numeric) or not isinstance(new, numeric) or type(old) is not type(new):
        return "changed"
    if (old.low, old.high, old.log) == (new.low, new.high, new.log):
        return "changed"
    if new.low >= old.low and new.high <= old.high:
        return "narrowed"
    if new.low <= old.low and new.high >= old.high:
        return "expanded"
    return "shifted"


def diff_spaces(old: Space, new: Space) -> list[dict[str, str]]:
    """One row per parameter of either space: ``param``, ``old``, ``new``, ``change``.

    ``change`` is one of kept, narrowed, expanded, shifted, fixed, unfixed,
    biased, added, dropped, changed.
    """
    names = list(old.params) + [n for n in old.fixed if n not in old.params]
    names += [n for n in list(new.params) + list(new.fixed) if n not in names]
    rows = []
    for name in names:
        o, n = old.params.get(name), new.params.get(name)
        of, nf = name in old.fixed, name in new.fixed
        rows.append(
            {
                "param": name,
                "old": describe(o, old.fixed.get(name), is_fixed=of),
                "new": describe(n, new.fixed.get(name), is_fixed=nf),
                "change": _change(o, n, of, nf, old.fixed.get(name), new.fixed.get(name)),
            }
        )
    return rows
