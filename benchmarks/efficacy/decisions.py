"""Decision accuracy: per ground-truth role, what refine's next space did to each parameter (issue 19).

Per problem x seed x sampler: stage 1 is ``N1`` trials on the problem's v1
space grown by the sampler (TPE, random or CMA-ES, as ``refine run`` builds
them: ``make_sampler``, 10 start-up trials), stored in an SQLite study that
remembers its space; ``refine.next_space`` reads it with its defaults. Each
parameter then gets one role from the ground truth:

- ``bound``: relevant, its optimum lies past a v1 bound that the limits allow to move;
- ``interior``: relevant, its optimum lies inside v1 (or on a hard limit);
- ``categorical``: a relevant categorical (the optimal choice should be favoured);
- ``irrelevant``: the noise-free objective does not depend on it at all
  (checked by varying it alone around the optimum and around random points);
- ``minor``: neither (a small real effect the problem does not list as relevant).

and one action from comparing v2 with v1: kept, narrowed, expanded,
expanded+narrowed, fixed, re-weighted, choices removed, choice added (dropped).
A relevant role counts only the runs where stage 1 had the signal (its best
trial within 15 % of v1's width of the clipped optimum, or at the optimal
choice); the runs without it are shown beside them.

    python benchmarks/efficacy/decisions.py --seeds 16            # the README's table
    python benchmarks/efficacy/decisions.py --seeds 4 --samplers tpe
    python benchmarks/efficacy/decisions.py --samplers tpe --cache benchmarks/efficacy/.cache/decisions  # then seconds

Prints Markdown tables; ``--json`` also writes the raw rows.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import problems as P  # noqa: E402
from run import _Recorder, _search, _store, excludes, had_signal, reported, worker  # noqa: E402

ACTIONS = (
    "kept",
    "narrowed",
    "expanded",
    "expanded+narrowed",
    "fixed",
    "re-weighted",
    "choices removed",
    "choice added",
    "dropped",
)
ROLES = ("bound", "interior", "categorical", "irrelevant", "minor")
ROLE_TEXT = {
    "bound": "relevant, optimum past a movable bound",
    "interior": "relevant, optimum inside v1 (or on a hard limit)",
    "categorical": "dominant categorical",
    "irrelevant": "irrelevant (every run)",
    "minor": "minor effect (every run)",
}
TARGET = {
    "bound": ("expanded", 0.90),
    "interior": ("narrowed", 0.80),
    "categorical": ("favoured", 0.90),
    "irrelevant": ("changed", 0.10),
}


def irrelevant_params(problem) -> set[str]:
    """Parameters the noise-free objective ignores: varying one alone never changes the value."""
    from refine.space import CategoricalParam

    rng = P.rng_for("irrelevant-check", problem.name)
    bases = [dict(problem.best)] + [P.sample_config(problem.space, rng) for _ in range(8)]
    out = set()
    for name, p in problem.space.params.items():
        if name in problem.relevant:
            continue
        if isinstance(p, CategoricalParam):
            values = list(p.choices)
        else:
            values = list(np.geomspace(p.low, p.high, 7)) if p.log else list(np.linspace(p.low, p.high, 7))
            if type(p.low) is int:
                values = sorted({int(round(v)) for v in values})
        flat = True
        for base in bases:
            if name not in base:
                continue
            seen = {round(problem.true({**base, name: v}), 12) for v in values}
            if len(seen) > 1:
                flat = False
                break
        if flat:
            out.add(name)
    return out


def role(problem, name: str, irrelevant: set[str]) -> str:
    from refine.space import CategoricalParam

    p = problem.space.params[name]
    if name in problem.relevant:
        if isinstance(p, CategoricalParam):
            return "categorical"
        target = problem.relevant[name]
        lo, hi = p.limits if p.limits is not None else (-math.inf, math.inf)
        past = (target > p.high and p.high < hi) or (target < p.low and p.low > lo)
        return "bound" if past else "interior"
    return "irrelevant" if name in irrelevant else "minor"


def action(v1, v2, name: str) -> str:
    from refine.space import CategoricalParam, _same

    p1 = v1.params[name]
    if name in v2.fixed:
        return "fixed"
    if name not in v2.params:
        return "dropped"
    p2 = v2.params[name]
    if isinstance(p1, CategoricalParam):
        old = list(p1.choices)
        new = list(p2.choices)
        if any(not any(_same(c, o) for o in old) for c in new):
            return "choice added"
        if len(new) < len(old):
            return "choices removed"
        if tuple(round(w, 6) for w in p2.normalized_weights()) != tuple(round(w, 6) for w in p1.normalized_weights()):
            return "re-weighted"
        return "kept"
    wider = p2.low < p1.low or p2.high > p1.high
    tighter = p2.low > p1.low or p2.high < p1.high
    if wider and tighter:
        return "expanded+narrowed"
    return "expanded" if wider else "narrowed" if tighter else "kept"


def favoured(v1, v2, name: str, target: Any) -> bool:
    """The optimal choice got more of the next stage than the others: fixed to it, weighted up, or its rivals cut."""
    from refine.space import _same

    if name in v2.fixed:
        return _same(v2.fixed[name], target)
    if name not in v2.params:
        return False
    p1, p2 = v1.params[name], v2.params[name]
    if not p2.contains(target):
        return False
    w = p2.normalized_weights()
    i = p2.index(target)
    if len(p2.choices) < len(p1.choices):
        return True
    return w[i] > max(p1.normalized_weights()[p1.index(target)], 1.0 / len(p1.choices)) + 1e-9 and w[i] == max(w)


def _stage1(problem, sampler: str, n1: int, seed: int) -> tuple[list, dict]:
    """Stage 1 as the quality benchmark runs it (run.py), grown by ``sampler``: its complete trials and best config."""
    stage1 = _Recorder(problem, seed, 1)
    trials = _search(problem.space, stage1, n1, 1000 * seed + 1, sampler=sampler)
    return trials, min(stage1.evals, key=lambda e: e[0])[2]


SETTINGS: dict[str, Any] = {}  # --set KEY=VALUE, handed to next_space (set before the pool forks)
CACHE: dict[str, Path] = {}  # --cache DIR: stage-1 studies grown once and reused (set before the pool forks)


def _cached_stage1(problem, sampler: str, n1: int, seed: int, work: str) -> tuple[str, dict]:
    """Stage 1 in ``work``/study.db and its best config; with ``--cache``, grown once per problem x sampler x seed
    x N1 and copied from the cache afterwards (a rule change is then judged on the same studies in seconds)."""
    storage = f"sqlite:///{work}/study.db"
    cached = CACHE["dir"] / f"{problem.name}-{sampler}-{seed}-n{n1}" if CACHE else None
    if cached is not None and (cached / "best.json").exists():
        shutil.copy(cached / "study.db", Path(work) / "study.db")
        return storage, json.loads((cached / "best.json").read_text())
    trials, best = _stage1(problem, sampler, n1, seed)
    _store(problem.space, trials, storage, "stage1")
    if cached is not None:
        cached.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(work) / "study.db", cached / "study.db")
        (cached / "best.json").write_text(json.dumps(best))  # written last: its presence marks a complete entry
    return storage, best


def run_one(task: tuple[str, int, str, int]) -> dict:
    return reported(_run_one, task, problem=task[0], seed=task[1], sampler=task[2])


def _run_one(task: tuple[str, int, str, int]) -> dict:
    name, seed, sampler, n1 = task
    import refine

    problem, work = worker(name, seed, "decisions")
    v1 = problem.space
    try:
        storage, best = _cached_stage1(problem, sampler, n1, seed, work)
        t0 = time.perf_counter()
        result = refine.next_space(storage, study="stage1", space=v1, config=False, **SETTINGS)
        seconds = time.perf_counter() - t0
        v2 = result.space
        irrelevant = irrelevant_params(problem)
        model = result.rationale.get("model") or {}
        rows = []
        for d in result.decisions:
            if d.param not in v1.params:
                continue
            r = role(problem, d.param, irrelevant)
            target = problem.relevant.get(d.param)
            rows.append(
                {
                    "param": d.param,
                    "role": r,
                    "action": action(v1, v2, d.param),
                    "rule": d.rule,
                    "signal": had_signal(v1, d.param, target, best) if target is not None else None,
                    "excludes": excludes(v1, v2, d.param, target) if target is not None else None,
                    "favoured": favoured(v1, v2, d.param, target) if r == "categorical" else None,
                    "vetoed_by_model": any(why.startswith("the model of the objective") for _, why in d.vetoed),
                }
            )
        return {
            "problem": name,
            "seed": seed,
            "sampler": sampler,
            "model_used": bool(model.get("used")),
            "seconds": seconds,
            "rows": rows,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _hit(row: dict) -> bool:
    r, a = row["role"], row["action"]
    if r == "bound":
        return a in ("expanded", "expanded+narrowed")
    if r == "interior":
        return a in ("narrowed", "expanded+narrowed") and not row["excludes"]
    if r == "categorical":
        return bool(row["favoured"])
    return a != "kept"


def table(runs: list[dict], sampler: str) -> str:
    rs = [r for r in runs if r["sampler"] == sampler]
    rows = [row for r in rs for row in r["rows"]]
    lines = [
        f"\n### Stage 1 grown by {sampler} ({len(rs)} runs; the model fitted in {sum(r['model_used'] for r in rs)}; "
        f"next-space median {np.median([r['seconds'] for r in rs]):.2f} s)\n",
        "| role | runs | " + " | ".join(ACTIONS) + " | target | excluded optimum |",
        "|---|---:|" + "---:|" * len(ACTIONS) + "---|---:|",
    ]
    for ro in ROLES:
        for signal in (True, False) if ro in ("bound", "interior", "categorical") else (None,):
            sel = [x for x in rows if x["role"] == ro and (signal is None or x["signal"] == signal)]
            if not sel:
                continue
            label = ROLE_TEXT[ro] + ("" if signal is None else (", with the signal" if signal else ", without it"))
            shares = [sum(x["action"] == a for x in sel) / len(sel) for a in ACTIONS]
            cells = [f"{s:.0%}" if s else "." for s in shares]
            target = ""
            if ro in TARGET and signal is not False:
                what, goal = TARGET[ro]
                got = sum(_hit(x) for x in sel) / len(sel)
                target = f"{what} {got:.0%} ({'<=' if ro == 'irrelevant' else '>='}{goal:.0%})"
            excl = sum(bool(x["excludes"]) for x in sel) if ro in ("bound", "interior", "categorical") else ""
            lines.append(f"| {label} | {len(sel)} | " + " | ".join(cells) + f" | {target} | {excl} |")
    irr = [x for x in rows if x["role"] == "irrelevant"]
    if irr:
        calls = {a: sum(x["action"] == a for x in irr) / len(irr) for a in ACTIONS if a != "kept"}
        vetoed = sum(x["vetoed_by_model"] for x in irr) / len(irr)
        lines.append(
            "\nFalse calls on irrelevant parameters: "
            + ", ".join(f"{a} {v:.1%}" for a, v in calls.items() if v)
            + f" (any change {sum(calls.values()):.1%}; the model's veto stopped a change in {vetoed:.1%})."
            " Nominal: model.p 0.05 family-wise over the parameters (Holm) when the model is in force; otherwise each"
            " rule's own level (narrow_p 0.10, expand_p 0.20, fix_p/bias_p 0.10), Holm-corrected."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", default="", help="comma-separated (default: the synthetic group)")
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--samplers", default="tpe,random,cmaes")
    ap.add_argument("--n1", type=int, default=60)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", type=Path, default=None, help="also write the raw rows here")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a refine setting, e.g. model.use=never (the classic tests alone, as before issue 19)",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep each stage-1 study here and reuse it: judge a rule change on the same studies in seconds "
        "(entries are keyed by problem, sampler, seed and N1 alone: empty DIR after changing problems.py or a sampler)",
    )
    args = ap.parse_args(argv)
    SETTINGS.update(kv.split("=", 1) for kv in args.set)
    if args.cache is not None:
        CACHE["dir"] = args.cache.resolve()
    names = [n for n in args.problems.split(",") if n] or list(P.SYNTHETIC)
    samplers = [s for s in args.samplers.split(",") if s]
    tasks = [(n, s, sm, args.n1) for sm in samplers for s in range(args.seeds) for n in names]
    start = time.perf_counter()
    runs, failed = [], []
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        for i, r in enumerate(pool.imap_unordered(run_one, tasks), 1):
            (failed if "error" in r else runs).append(r)
            print(
                f"[{i}/{len(tasks)}] {r['problem']} {r['sampler']} seed {r['seed']}"
                + (" ERROR" if "error" in r else ""),
                file=sys.stderr,
                flush=True,
            )
    text = [
        f"## Decision accuracy ({len(names)} problems x {args.seeds} seeds, N1 = {args.n1}"
        + (f", {', '.join(args.set)}" if args.set else "")
        + f"; {time.perf_counter() - start:.0f} s wall)",
        "",
        "Share of parameters (runs x parameters of the role) by what the next space did to them.",
    ]
    text += [table(runs, s) for s in samplers]
    if failed:
        text.append(
            f"\n**{len(failed)} runs failed**: "
            + "; ".join(
                f"{r['problem']} {r['sampler']} {r['seed']}: {r['error'].strip().splitlines()[-1][:160]}"
                for r in failed
            )
        )
    print("\n".join(text))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1, default=str))


if __name__ == "__main__":
    main()
