"""The significance levels the rules applied, after Holm's correction, for the rationale.

A p-value alone does not say why one parameter narrowed at p = 0.0093 while
another was kept at p = 0.006: the level each had to beat depends on how many
parameters were tested and on where its p-value ranks among theirs
(:func:`refine.rules._common.alpha`). :func:`holm_levels` lists, per test and
parameter, the p-value, the level it had to beat and whether it passed.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["holm_levels"]


def _tests(settings: Any) -> list[tuple[str, str, float, Any]]:
    from refine.rules.expand import _expand_p

    return [
        ("narrow (elites cluster: KS/span)", "numeric", settings.narrow_p, lambda ev: ev.ks_p),
        ("expand (trend or crowd at an edge)", "numeric", settings.expand_p, _expand_p),
        ("choices differ (Kruskal-Wallis)", "categorical", settings.fix_p, lambda ev: ev.p),
    ]


def holm_levels(evidence: Any) -> dict[str, Any]:
    """Per test, each parameter's p-value, the Holm level it had to beat and whether it passed.

    Only parameters with p < the uncorrected threshold are listed: the others
    fail at any level.
    """
    settings = evidence.settings
    params = evidence.params
    m = max(1, len(evidence.space.params))
    out: dict[str, Any] = {"parameters_tested": m, "corrected": bool(settings.multiple_testing), "tests": []}
    for label, kind, threshold, p_of in _tests(settings):
        ps = []
        for name, ev in params.items():
            value = float(p_of(ev)) if ev.kind == kind else 1.0
            ps.append((1.0 if math.isnan(value) else value, name))
        ps.sort()
        failed = False
        for j, (p, name) in enumerate(ps):
            level = threshold / max(1, m - j) if settings.multiple_testing else threshold
            passed = not failed and p < level
            if not passed:
                failed = failed or settings.multiple_testing
            if p < threshold and params[name].kind == kind:
                out["tests"].append(
                    {"test": label, "param": name, "p": p, "level": level, "rank": j + 1, "passed": passed}
                )
    return out


def markdown(levels: dict[str, Any]) -> list[str]:
    """Lines of the rationale's section on significance."""
    rows = levels.get("tests") or []
    if not rows:
        return []
    m = levels["parameters_tested"]
    head = (
        f"Levels after Holm's correction over {m} parameters (the k-th smallest p-value must beat threshold / "
        "(m - k + 1), "
        "and the step-down stops at the first that fails):"
        if levels["corrected"]
        else "Levels without correction (multiple_testing is off):"
    )
    lines = [
        "",
        "## Significance",
        "",
        head,
        "",
        "(A rule acts on a significant test only when its other conditions hold too.)",
        "",
    ]
    for r in rows:
        verdict = (
            "significant"
            if r["passed"]
            else (
                "not significant"
                if r["p"] >= r["level"]
                else "not significant (a smaller p-value failed its level first)"
            )
        )
        lines.append(
            f"- `{r['param']}` {r['test']}: p={r['p']:.2g} vs level {r['level']:.2g} (rank {r['rank']}): {verdict}"
        )
    return lines
