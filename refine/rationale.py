"""The rationale: why the next space is what it is, for people (Markdown) and scripts (JSON).

It says what was read (trials by state, the elite definition, the best trial),
what changed per parameter (old, new, action, rule, the numbers), where the
top trials are (sweet spots), what was never tried (gaps), how many trials the
next space would have wasted (the share outside it), the red flags, and a
suggested budget for the next stage.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

import attrs
import numpy as np

from refine.diff import describe, diff_spaces
from refine.modes import modes
from refine.red_flags import red_flags
from refine.rules._common import fmt
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from refine.study import RUNNING

__all__ = ["build_rationale", "to_json", "to_markdown"]


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, (np.floating,)):
        return _clean(float(x))
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, Mapping):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, (set, frozenset)):
        return sorted((_clean(v) for v in x), key=repr)
    if x is None or isinstance(x, (str, int, bool)):
        return x
    return str(x)  # a plugin's own object in its evidence: its text, so the rationale stays JSON


def _sweet_spot(ev: Any, evidence: Any, param: Any = None) -> dict[str, Any]:
    if ev.kind == "categorical":
        ranked = sorted(ev.choices, key=lambda c: -c.elite_share)
        return {"choices": [{"value": c.value, "elite_share": c.elite_share} for c in ranked if c.elite_share > 0]}
    if ev.elite_quantiles is None:
        return {}
    q10, q50, q90 = ev.elite_quantiles
    spot = {"low": q10, "median": q50, "high": q90, "share_of_elites": 0.8}
    found = modes(param, ev.elite_values) if param is not None else []
    if len(found) > 1:  # good in two separate places: one interval would hide it
        spot["modes"] = [m.to_json() for m in found]
    return spot


def _param_evidence(ev: Any) -> dict[str, Any]:
    d = ev.as_dict(exclude=("elite_values", "near_best_values"))
    d["kind"] = ev.kind
    return d


def _wasted_share(evidence: Any, new: Space) -> float:
    """Share of finished trials that lie outside ``new`` (vectorised over the study's columns)."""
    study = evidence.study
    finished = study.states != RUNNING
    if not finished.any():
        return 0.0
    outside = np.zeros(study.n_trials, dtype=bool)
    for name, col in study.columns.items():
        active = ~np.isnan(col)
        seen = study.inferred.params.get(name)
        if isinstance(seen, CategoricalParam):
            codes = np.where(active, col, 0).astype(np.int64)
            if name in new.fixed:
                ok = np.array([CategoricalParam.same(c, new.fixed[name]) for c in seen.choices])
            elif isinstance(new.params.get(name), CategoricalParam):
                ok = np.array([new.params[name].contains(c) for c in seen.choices])
            else:
                continue
            outside |= active & ~ok[codes]
        elif name in new.fixed:
            value = new.fixed[name]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                outside |= active & (col != value)
        elif isinstance(p := new.params.get(name), (FloatParam, IntParam)):
            tol = 1e-9 * max(1.0, abs(p.high - p.low))
            outside |= active & ((col < p.low - tol) | (col > p.high + tol))
    return float((outside & finished).sum() / finished.sum())


_SOURCES = {"remembered": "remembered by the study", "inferred": "inferred from its trials", "given": "given (--space)"}


def _significance(evidence: Any) -> dict[str, Any]:
    from refine.thresholds import holm_levels

    return holm_levels(evidence)


def _budget(evidence: Any, new: Space, decisions: Mapping[str, Any]) -> int:
    searched = len(new.params)
    opened = sum(1 for d in decisions.values() if d.action == "expand")
    return int(max(20, 10 * searched + 10 * opened))


def _model_section(evidence: Any) -> dict[str, Any] | None:
    """The model of the objective (the built-in ``model`` rule's evidence), None when that rule did not run."""
    m = evidence.extra.get("model")
    if not m:
        return None
    out = dict(m)
    out["params"] = {name: ev.extra["model"] for name, ev in evidence.params.items() if "model" in ev.extra}
    out["numeric"] = [name for name in out["params"] if evidence.params[name].kind == "numeric"]
    return out


def _said(decided_by: list[dict[str, Any]]) -> str:
    """``decided_by`` in words: each test, its p-value and the level it was held to."""
    out = []
    for d in decided_by:
        text = d.get("test", "?")
        if text == "model curve" and d.get("confirm_level") is not None and not d.get("passed"):
            sign = "<" if d.get("confirms") else ">="
            text += f" p={d['p']:.2g} {sign} {d['confirm_level']:.2g} (Holm level {d['level']:.2g})"
        elif text == "model region" and d.get("low") is not None:
            text += f" {d['low']:.0%}-{d['high']:.0%} of the range (less than {d['z']:.2g} SDs below the peak)"
        elif text == "model probability of best" and d.get("top") is not None:
            text += f" {d['top']:.0%} for the top choice"
        elif d.get("p") is not None and d.get("level") is not None:
            sign = ">=" if d.get("passed") is False else "<"
            text += f" p={d['p']:.2g} {sign} {d['level']:.2g}"
        out.append(text)
    return "; ".join(out)


def build_rationale(evidence: Any, old: Space, new: Space, decisions: Mapping[str, Any]) -> dict[str, Any]:
    """The rationale of a refinement as a JSON-ready dict."""
    from refine import __version__
    from refine.advice import advise

    study = evidence.study
    s = evidence.settings
    diff = {row["param"]: row for row in diff_spaces(old, new)}
    rows = []
    for name, d in decisions.items():
        row = diff.get(name, {})
        rows.append(
            {
                "param": name,
                "action": d.action,
                "rule": d.rule,
                "old": row.get("old", describe(d.old)),
                "new": row.get("new", "-"),
                "change": row.get("change", ""),
                "reason": d.reason,
                "evidence": _clean(d.evidence),
                "decided_by": _clean(d.evidence.get("decided_by", [])) if isinstance(d.evidence, Mapping) else [],
                "overridden": [
                    {"action": p.action, "rule": p.rule, "reason": p.reason} for p in d.overridden if p.action != "keep"
                ],
                "vetoed": [{"action": p.action, "rule": p.rule, "veto": why} for p, why in d.vetoed],
            }
        )
    best = None
    if evidence.best_row is not None:
        best = {
            "number": int(study.numbers[evidence.best_row]),
            "value": evidence.best_value,
            "params": evidence.best_config,
        }
    from refine.coverage import coverage

    gaps = coverage(study, old)  # the values a trial could take and none took: what run --fill-gaps fills
    per_param = {}
    for name, ev in evidence.params.items():
        per_param[name] = {
            "sweet_spot": _sweet_spot(ev, evidence, old.params.get(name)),
            "gaps_never_tested": gaps.get(name, []),
            "stats": _param_evidence(ev),
        }
    metric = s.metric or old.metric_label or "objective"
    counts = study.counts()
    doc = {
        "refine_version": __version__,
        "space": {"name": new.name, "from_version": old.version, "to_version": new.version},
        "study": {
            "name": study.name,
            "storage": study.storage,
            "directions": list(study.directions),
            "trials": counts,
            "space_source": study.space_source,
            "live": bool(counts.get("RUNNING", 0)),
        },
        "elites": {
            "count": evidence.n_elites,
            "ranked": evidence.n_ranked,
            "fraction": s.elite_fraction,
            "min_elites": s.min_elites,
            "ranked_by": s.metric or ("Pareto fronts" if len(study.directions) > 1 else "objective value"),
            "better": None if evidence.maximize is None else ("higher" if evidence.maximize else "lower"),
            "definition": (
                f"the best {s.elite_fraction:.0%} (at least {s.min_elites}) of {evidence.n_ranked} ranked "
                "COMPLETE trials "
                f"by {s.metric or ('Pareto front' if len(study.directions) > 1 else metric)}"
                + ("" if evidence.maximize is None else f" ({'higher' if evidence.maximize else 'lower'} is better)")
                + f": {evidence.n_elites} elites"
            ),
        },
        "best": best,
        "decisions": rows,
        "evidence": per_param,
        "study_evidence": {k: v for k, v in evidence.extra.items() if k != "model"},
        "model": _model_section(evidence),
        "wasted_trial_share": _wasted_share(evidence, new),
        "red_flags": red_flags(evidence, new, decisions),
        "significance": _significance(evidence),
        "notes": list(study.notes) + list(evidence.notes),
        "suggested_budget": _budget(evidence, new, decisions),
        "advice": advise(evidence).to_json(),
        "settings": {k: v for k, v in attrs.asdict(s).items() if k not in ("extra", "origins")} | {"extra": s.extra},
    }
    return _clean(doc)


def to_json(rationale: Mapping[str, Any]) -> str:
    """The rationale as stable, indented JSON text."""
    return json.dumps(rationale, indent=2, sort_keys=False, allow_nan=False, default=str) + "\n"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _model_markdown(m: Mapping[str, Any] | None) -> list[str]:
    if not m:
        return []
    lines = ["", "## Model of the objective", ""]
    if not m.get("used"):
        return lines + [f"Not used: {m.get('why', '')}."]
    lines.append(
        f"Used: {m['why']}. A Gaussian process (Matern 5/2, one length scale per parameter, plus white noise) on the "
        f"normal scores of the ranks of the objective, fitted to {m['trials']} of {m['ranked']} ranked trials; each "
        f"parameter tested by a likelihood ratio against the model without it (a parent together with its conditional "
        f"children), at model.p {m['level']:g} Holm-corrected. Every built-in change needs it to pass."
    )
    lines += [
        "",
        "| param | likelihood-ratio p | length scale | curve through the best trial: effect ± SD | peaks at |",
        "|---|---:|---:|---|---|",
    ]
    numeric = set(m.get("numeric", ()))
    for name, e in m.get("params", {}).items():
        scales = ", ".join(f"{v:.3g}" for v in e.get("length_scales", []))
        peak = e.get("best_at")
        if e["effect"] <= e["effect_sd"]:
            peak = "flat (within its SD)"
        else:
            peak = f"{peak:.0%} of the range" if isinstance(peak, float) and name in numeric else fmt(peak)
        lines.append(
            f"| {_cell(name)} | {e['p']:.2g} | {scales} | {e['effect']:.2f} ± {e['effect_sd']:.2f} | {_cell(peak)} |"
        )
    return lines


def to_markdown(r: Mapping[str, Any]) -> str:
    """The rationale as Markdown for people."""
    sp, st, el = r["space"], r["study"], r["elites"]
    lines = [
        f"# {sp['name']} v{sp['from_version']} -> v{sp['to_version']}",
        "",
        f"Study `{st['name']}` in `{st['storage']}` ({', '.join(st['directions'])}); "
        f"space {_SOURCES.get(st['space_source'], st['space_source'])}.",
        "",
        "Trials: " + ", ".join(f"{v} {k}" for k, v in st["trials"].items()) + ".",
        f"Elites: {el['definition']}.",
    ]
    if st.get("live"):
        lines.append("The study is still running: only its COMPLETE trials were used.")
    if r.get("best"):
        b = r["best"]
        params = ", ".join(f"{k}={fmt(v)}" for k, v in b["params"].items())
        value = b["value"] if not isinstance(b["value"], list) else ", ".join(fmt(v) for v in b["value"])
        lines.append(
            f"Best: trial {b['number']}, value {fmt(value) if not isinstance(value, str) else value} ({params})."
        )
    lines += [
        "",
        "## Changes",
        "",
        "| param | old | new | action | rule | decided by | evidence |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in r["decisions"]:
        lines.append(
            f"| {_cell(d['param'])} | {_cell(d['old'])} | {_cell(d['new'])} | {d['action']} | {d['rule']} | "
            f"{_cell(_said(d.get('decided_by') or [])) or '-'} | {_cell(d['reason'])} |"
        )
    overridden = [(d["param"], o) for d in r["decisions"] for o in d["overridden"]]
    vetoed = [(d["param"], v) for d in r["decisions"] for v in d["vetoed"]]
    if overridden or vetoed:
        lines += ["", "Set aside:"]
        lines += [f"- `{p}`: {o['rule']} proposed {o['action']} ({o['reason']})" for p, o in overridden]
        lines += [f"- `{p}`: {v['rule']}'s {v['action']} was vetoed: {v['veto']}" for p, v in vetoed]
    lines += _model_markdown(r.get("model"))
    lines += ["", "## Red flags", ""]
    lines += [f"- {f}" for f in r["red_flags"]] or ["None."]
    if r.get("significance"):
        from refine.thresholds import markdown as significance_lines

        lines += significance_lines(r["significance"])
    lines += ["", "## Sweet spots and gaps", ""]
    for name, e in r["evidence"].items():
        spot = e["sweet_spot"]
        if "choices" in spot:
            text = ", ".join(f"{fmt(c['value'])} ({c['elite_share']:.0%})" for c in spot["choices"]) or "no elite"
        elif spot.get("modes"):
            text = (
                "bimodal: elites good in "
                + " and in ".join(f"[{fmt(m['low'])}, {fmt(m['high'])}] ({m['share']:.0%})" for m in spot["modes"])
                + ", nothing between (a narrowing keeps both)"
            )
        elif spot:
            text = f"80 % of elites in [{fmt(spot['low'])}, {fmt(spot['high'])}], median {fmt(spot['median'])}"
        else:
            text = "no elite"
        gaps = e["gaps_never_tested"]
        gap_text = ""
        if gaps:
            gap_text = "; never tested: " + ", ".join(
                f"[{fmt(g[0])}, {fmt(g[1])}]" if isinstance(g, list) else fmt(g) for g in gaps
            )
        lines.append(f"- `{name}`: {text}{gap_text}")
    lines += [
        "",
        f"Wasted trials: {r['wasted_trial_share']:.0%} of the finished trials lie outside the next space.",
        f"Suggested budget for the next stage: {r['suggested_budget']} trials.",
    ]
    if r.get("advice"):
        a = r["advice"]
        more = f" {a['trials']} more trials" if a["action"] in ("extend", "continue") and a["trials"] else ""
        lines += ["", "## Advice for this sweep", "", f"**{a['action']}**{more}: {a['reason']}."]
    if r.get("importance"):
        lines += ["", "## Importance (Optuna PED-ANOVA)", ""]
        lines += [
            f"- `{k}`: {v:.3f}" if isinstance(v, (int, float)) else f"- {k}: {v}" for k, v in r["importance"].items()
        ]
    added = {
        name: {k: v for k, v in e["stats"]["extra"].items() if k != "model"}
        for name, e in r["evidence"].items()
        if e["stats"].get("extra")
    }
    added = {name: extra for name, extra in added.items() if extra}
    if r.get("study_evidence") or added:
        lines += ["", "## Evidence added by plugins", ""]
        lines += [f"- {_cell(k)}: {_cell(json.dumps(v))}" for k, v in r.get("study_evidence", {}).items()]
        lines += [
            f"- `{name}` {_cell(k)}: {_cell(json.dumps(v))}" for name, extra in added.items() for k, v in extra.items()
        ]
    if r["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"
