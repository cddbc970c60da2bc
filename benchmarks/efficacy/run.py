"""Does a refined space find better configurations than searching on? The quality benchmark.

Protocol, per problem x seed (issues 7 and 11):

1. stage 1: ``N1`` trials of TPE on the problem's v1 space, stored in an
   SQLite study that remembers its space (as ``refine.run`` leaves one);
2. each strategy reads it and produces the space of stage 2:

   - ``flat``: v1 again, a fresh study;
   - ``continue``: the stage-1 study itself runs on (history kept);
   - ``bbox``: BoundingBox (Perrone et al. 2019): the box around the top-k
     stage-1 configurations (k = max(5, 20 % of N1), as refine's elites),
     categoricals limited to the choices seen among them;
   - ``refine``: ``refine.next_space`` on the SQLite study with its
     defaults, then a fresh study on its v2 (the cold restart);
   - ``refine-warm``: the same v2, run by ``refine.run(from_=stage 1)`` into
     the SQLite file (the product's loop: the best 5 stage-1 configurations
     enqueued, its in-space trials added as history);

3. stage 2: ``N2`` evaluated trials on that space. Every search uses the
   executor's sampler (``make_sampler``: TPE, multivariate, 10 start-up
   trials, categorical weights honoured) and order of suggestions, with the
   same seed; all but ``refine-warm`` run in in-memory studies, because
   Optuna's RDB storage costs 5-10x the time of a trial here. ``flat`` and
   ``continue`` run on to ``4 x N2`` for the speed-up.

The k-th evaluation of a stage draws its noise from a generator seeded by
(problem, seed, stage, k), so every strategy sees the same noise for the same
trial index. The configuration a user would pick is the one with the best
*observed* value over both stages; its regret is measured on the noise-free
objective, normalized so that 0 is the optimum and 1 the median of random v1
configurations.

    python benchmarks/efficacy/run.py            # 6 problems x 16 seeds, 40 + 40 trials
    python benchmarks/efficacy/run.py --quick    # a smoke test in about a minute

Writes a Markdown report to stdout and ``results.md``, the raw runs to
``results.json`` (both beside this file unless ``--out`` says otherwise).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import problems as P  # noqa: E402

STRATEGIES = ("flat", "continue", "bbox", "refine", "refine-warm")
CHALLENGERS = ("bbox", "refine", "refine-warm")
TIE = 1e-3  # normalized regrets closer than this are a tie
SPEEDUP_BOUND = 4  # baselines run on to SPEEDUP_BOUND x N2 trials


# --------------------------------------------------------------------------- BoundingBox


def bounding_box(space, configs: list[Mapping[str, Any]]):
    """The smallest box around ``configs`` (Perrone et al. 2019), as the next version of ``space``.

    Numbers: [min, max] of the configurations where the parameter is active
    (a single value becomes fixed); categoricals: the choices seen (one choice
    becomes fixed); a conditional parameter whose parent lost every choice it
    names leaves the space.
    """
    import attrs

    from refine.space import CategoricalParam, Condition, FloatParam

    params: dict = {}
    fixed = dict(space.fixed)
    for name, p in space.params.items():
        values = [c[name] for c in configs if name in c]
        if not values:
            continue  # never active among the top-k: its branch is gone
        if isinstance(p, CategoricalParam):
            keep = [i for i, ch in enumerate(p.choices) if any(p.index(v) == i for v in values)]
            if len(keep) == 1:
                fixed[name] = p.choices[keep[0]]
                continue
            weights = None if p.weights is None else tuple(p.weights[i] for i in keep)
            if weights is not None and sum(weights) <= 0:
                weights = None
            params[name] = attrs.evolve(p, choices=tuple(p.choices[i] for i in keep), weights=weights)
        else:
            lo, hi = min(values), max(values)
            if lo == hi:
                fixed[name] = lo
                continue
            if isinstance(p, FloatParam) and p.step is not None:
                params[name] = attrs.evolve(p, low=float(lo), high=float(lo + p.step * round((hi - lo) / p.step)))
            else:
                params[name] = attrs.evolve(p, low=type(p.low)(lo), high=type(p.high)(hi))
    for name, p in list(params.items()):
        if p.when is None:
            continue
        parent = p.when.parent
        if parent in fixed:
            if not p.when.allows(fixed[parent]):
                del params[name]
            continue
        allowed = tuple(v for v in p.when.values if parent in params and params[parent].contains(v))
        if allowed:
            params[name] = attrs.evolve(p, when=Condition(parent, allowed))
        else:
            del params[name]
    return attrs.evolve(space, version=space.version + 1, parent=space.version, params=params, fixed=fixed)


# --------------------------------------------------------------------------- checks on a v2 space


def _unit(p, value: float) -> float:
    """Position of ``value`` on ``p``'s v1 scale (log-aware), 0 at low and 1 at high."""
    if p.log:
        return (math.log(value) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
    return (value - p.low) / (p.high - p.low)


def excludes(v1, v2, name: str, target: Any) -> bool:
    """True when ``v2`` cannot produce ``name = target`` (numbers: beyond 2 % of v1's width)."""
    from refine.space import CategoricalParam, IntParam, _same

    p1 = v1.params[name]
    if name in v2.fixed:
        value = v2.fixed[name]
        if isinstance(p1, CategoricalParam):
            return not _same(value, target)
        return abs(_unit(p1, value) - _unit(p1, target)) > 0.02
    if name not in v2.params:
        return True
    p = v2.params[name]
    if isinstance(p, CategoricalParam):
        if not p.contains(target):
            return True
        return p.normalized_weights()[p.index(target)] == 0
    if isinstance(p, IntParam):
        return not p.low <= target <= p.high
    tol = 0.02
    return _unit(p1, target) < _unit(p1, p.low) - tol or _unit(p1, target) > _unit(p1, p.high) + tol


def had_signal(v1, name: str, target: Any, best: Mapping[str, Any]) -> bool:
    """Did stage 1 show the truth? Its best trial sits at the optimal choice, or within
    15 % of v1's width of the optimal value (clipped into v1 when the optimum lies beyond)."""
    from refine.space import CategoricalParam, _same

    if name not in best:
        return False
    p = v1.params[name]
    if isinstance(p, CategoricalParam):
        return _same(best[name], target)
    return abs(_unit(p, best[name]) - min(max(_unit(p, target), 0.0), 1.0)) <= 0.15


def describe(space, name: str) -> str:
    from refine.space import CategoricalParam

    if name in space.fixed:
        return f"={space.fixed[name]!r}"
    if name not in space.params:
        return "dropped"
    p = space.params[name]
    if isinstance(p, CategoricalParam):
        text = "{" + ", ".join(repr(c) for c in p.choices) + "}"
        if p.weights is not None:
            text += " w=" + "/".join(f"{w:.2g}" for w in p.normalized_weights())
        return text
    fmt = (lambda v: f"{v:.3g}") if not isinstance(p.low, int) else str
    return f"[{fmt(p.low)}, {fmt(p.high)}]" + (" log" if p.log else "")


# --------------------------------------------------------------------------- one problem x seed


class _Recorder:
    """The objective handed to ``refine.run``: evaluates with per-index noise and records every evaluation."""

    def __init__(self, problem, seed: int, stage: int) -> None:
        self.problem, self.seed, self.stage = problem, seed, stage
        self.evals: list[tuple[float, float, dict]] = []

    def __call__(self, params: dict) -> float:
        rng = P.rng_for(self.problem.name, self.seed, self.stage, len(self.evals))
        true = self.problem.true(params)
        observed = true + self.problem.noise(params, rng)
        self.evals.append((observed, true, dict(params)))
        return observed


def _trajectory(stage1: list, stage2: list, problem) -> list[float]:
    """Normalized regret of the best-observed configuration after 0, 1, ... stage-2 evaluations."""
    best_obs, best_true = min((o, t) for o, t, _ in stage1)
    out = [problem.regret(best_true)]
    for o, t, _ in stage2:
        if o < best_obs:
            best_obs, best_true = o, t
        out.append(problem.regret(best_true))
    return out


def _search(space, objective: _Recorder, trials: int, seed: int, history=(), sampler: str = "tpe") -> list:
    """``trials`` trials on ``space`` in an in-memory study (after ``history``), sampled as ``refine.run`` samples.

    The sampler (``make_sampler``: TPE unless ``sampler`` names another, the same settings and seed, categorical
    weights honoured) and the order of suggestions (``suggest``) are the
    executor's own, so only the storage differs: Optuna's RDB storage costs
    5-10x the time of a trial here. Returns the complete trials.
    """
    import optuna

    from refine.executor import make_sampler, suggest

    study = optuna.create_study(
        directions=list(space.directions), sampler=make_sampler(sampler, seed=seed, space=space)
    )
    if history:
        study.add_trials(history)
    study.optimize(lambda trial: objective({**space.fixed, **suggest(space, trial)}), n_trials=trials)
    return [t for t in study.get_trials() if t.state.name == "COMPLETE"]


def _store(space, trials: list, storage: str, name: str) -> None:
    """Write finished trials into an SQLite study that remembers its space, as ``refine.run`` leaves one."""
    import optuna

    from refine.executor import ATTR_SPACE, ATTR_VERSION
    from refine.spacefile import space_to_json

    study = optuna.create_study(storage=storage, study_name=name, directions=list(space.directions))
    study.set_user_attr(ATTR_SPACE, space_to_json(space))
    study.set_user_attr(ATTR_VERSION, space.version)
    study.add_trials(trials)


def reported(run, task: tuple, **keys: Any) -> dict:
    """``run(task)``, or the ``keys`` (which run it was) with the exception as ``error``: a crash is reported and left
    out of the tables, never a reason to lose the other runs."""
    try:
        return run(task)
    except Exception:
        import traceback

        return {**keys, "error": traceback.format_exc(limit=-3)}


def worker(name: str, seed: int, prefix: str):
    """In a pool worker: Optuna and warnings quiet, the problem ``name``, and a fresh work folder for its studies
    (in /dev/shm where it can be written)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return P.get(name), tempfile.mkdtemp(prefix=f"{prefix}-{name}-{seed}-", dir=base)


def run_one(args: tuple[str, int, int, int]) -> dict:
    """One problem x seed; an exception becomes the run's ``error`` (reported, left out of the tables)."""
    return reported(_run_one, args, problem=args[0], seed=args[1])


def _run_one(args: tuple[str, int, int, int]) -> dict:
    name, seed, n1, n2 = args
    import refine

    problem, work = worker(name, seed, "efficacy")
    v1 = problem.space
    storage = f"sqlite:///{work}/study.db"
    sampler_seed = 1000 * seed
    out: dict = {"problem": name, "seed": seed, "strategies": {}}
    timings: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        stage1 = _Recorder(problem, seed, 1)
        stage1_trials = _search(v1, stage1, n1, sampler_seed + 1)
        _store(v1, stage1_trials, storage, "stage1")
        timings["stage1"] = time.perf_counter() - t0
        best1 = min(stage1.evals, key=lambda e: e[0])[2]
        out["stage1_regret"] = _trajectory(stage1.evals, [], problem)[0]
        out["signal"] = {k: had_signal(v1, k, v, best1) for k, v in problem.relevant.items()}

        t0 = time.perf_counter()
        try:
            refinement = refine.next_space(storage, study="stage1", space=v1, config=False)
            refined, decisions = refinement.space, refinement.decisions
        except Exception as e:  # a crash of refine is a result to report, not a reason to lose the run
            out["refine_error"] = f"{type(e).__name__}: {e}"
            refined, decisions = v1, ()
        timings["next_space"] = time.perf_counter() - t0
        k = max(5, math.ceil(0.2 * n1))
        top = [e[2] for e in sorted(stage1.evals, key=lambda e: e[0])[:k]]
        spaces = {
            "flat": v1,
            "continue": v1,
            "bbox": bounding_box(v1, top),
            "refine": refined,
            "refine-warm": refined,
        }
        out["decisions"] = [
            {"param": d.param, "action": d.action, "rule": d.rule, "reason": d.reason} for d in decisions
        ]
        for strategy in STRATEGIES:
            space = spaces[strategy]
            rec = _Recorder(problem, seed, 2)
            trials = n2 * (SPEEDUP_BOUND if strategy in ("flat", "continue") else 1)
            t0 = time.perf_counter()
            if strategy != "refine-warm":
                history = stage1_trials if strategy == "continue" else ()
                _search(space, rec, trials, sampler_seed + 2, history)
            else:
                refine.run(
                    space,
                    rec,
                    storage=storage,
                    study=strategy,
                    trials=trials,
                    seed=sampler_seed + 2,
                    quiet=True,
                    from_=f"{storage}:stage1",
                )
            timings[strategy] = time.perf_counter() - t0
            assert len(rec.evals) == trials, (strategy, len(rec.evals), trials)
            out["strategies"][strategy] = {
                "trajectory": _trajectory(stage1.evals, rec.evals, problem),
                "excludes": {k: excludes(v1, space, k, v) for k, v in problem.relevant.items()},
                "v2": {k: describe(space, k) for k in v1.params},
            }
        out["v1_excludes"] = {k: excludes(v1, v1, k, v) for k, v in problem.relevant.items()}
        out["timings"] = timings
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- analysis


def _final(run: dict, strategy: str, n2: int) -> float:
    return run["strategies"][strategy]["trajectory"][n2]


def _first_reach(traj: list[float], target: float) -> int | None:
    for k, r in enumerate(traj):
        if r <= target + 1e-12:
            return k
    return None


def speedup(run: dict, strategy: str, baseline: str, n2: int) -> tuple[float, bool]:
    """(trials ``baseline`` needs to reach ``strategy``'s final regret) / (trials ``strategy`` needs), censored?"""
    target = _final(run, strategy, n2)
    own = _first_reach(run["strategies"][strategy]["trajectory"][: n2 + 1], target)
    other = _first_reach(run["strategies"][baseline]["trajectory"], target)
    bound = len(run["strategies"][baseline]["trajectory"]) - 1
    if other is None:
        return bound / max(own, 1), True
    return max(other, 1) / max(own, 1), False


def wtl(runs: list[dict], strategy: str, baseline: str, n2: int) -> tuple[int, int, int, float]:
    from scipy.stats import binomtest

    w = t = l = 0
    for r in runs:
        a, b = _final(r, strategy, n2), _final(r, baseline, n2)
        if abs(a - b) <= TIE:
            t += 1
        elif a < b:
            w += 1
        else:
            l += 1
    p = binomtest(w, w + l, 0.5).pvalue if w + l else 1.0
    return w, t, l, p


def _fmt_wtl(w: int, t: int, l: int, p: float) -> str:
    if not w + l:
        return f"{w}/{t}/{l} (all ties)"
    return f"{w}/{t}/{l} ({w / (w + l):.2f}, p={p:.2g})"


def _fmt_r(x: float) -> str:
    return f"{x:.4f}" if x < 0.1 else f"{x:.3f}"


#: what a run's v2 changed against v1, as the report splits the runs
V2_KINDS = ("unchanged", "weights only", "a range or the choices")
#: the weights that ``describe`` appends to a categorical
_WEIGHTS = re.compile(r" w=\S+$")


def v2_kind(run: dict) -> str:
    """``run``'s v2 against its problem's v1: unchanged, only categorical weights changed, or more."""
    v1 = P.get(run["problem"]).space
    v2 = run["strategies"]["refine"]["v2"]
    before = {k: describe(v1, k) for k in v2}
    if all(v2[k] == before[k] for k in v2):
        return V2_KINDS[0]
    same_but_weights = all(_WEIGHTS.sub("", v2[k]) == _WEIGHTS.sub("", before[k]) for k in v2)
    return V2_KINDS[1] if same_but_weights else V2_KINDS[2]


def report(runs: list[dict], problems: list[str], n1: int, n2: int, meta: dict) -> str:
    lines: list[str] = []
    add = lines.append
    groups = [(p, [r for r in runs if r["problem"] == p]) for p in problems]
    synthetic = [r for r in runs if r["problem"] in P.SYNTHETIC]
    if synthetic and len(synthetic) < len(runs):  # both groups: each is pooled on its own too (issues 7 and 11)
        groups += [
            ("**pooled synthetic**", synthetic),
            ("**pooled real**", [r for r in runs if r["problem"] not in P.SYNTHETIC]),
        ]
    groups += [("**pooled**", runs)]
    add("# Efficacy benchmark results\n")
    add(
        f"{meta['date']}, `{meta['command']}`, {meta['machine']}; refine {meta['refine']} @ {meta['commit']}, "
        f"optuna {meta['optuna']}; {len(problems)} problems x {meta['seeds']} seeds, N1 = {n1}, N2 = {n2} "
        f"(baselines on to {SPEEDUP_BOUND} x N2), {meta['seconds']:.0f} s wall.\n"
    )
    add(
        "Normalized regret of the best-observed configuration over both stages, measured without noise "
        "(0 = optimum, 1 = median random v1 configuration).\n"
    )
    add("## Median regret (after stage 1 alone, then each strategy after N2 more trials)\n")
    add("| problem | stage 1 | " + " | ".join(STRATEGIES) + " |")
    add("|---|---:|" + "---:|" * len(STRATEGIES))
    for label, rs in groups:
        cells = [_fmt_r(float(np.median([r["stage1_regret"] for r in rs])))]
        cells += [_fmt_r(float(np.median([_final(r, s, n2) for r in rs]))) for s in STRATEGIES]
        add(f"| {label} | " + " | ".join(cells) + " |")
    add("\n## Mean regret\n")
    add("| problem | " + " | ".join(STRATEGIES) + " |")
    add("|---|" + "---:|" * len(STRATEGIES))
    for label, rs in groups:
        add(
            f"| {label} | "
            + " | ".join(_fmt_r(float(np.mean([_final(r, s, n2) for r in rs]))) for s in STRATEGIES)
            + " |"
        )
    for baseline in ("flat", "continue"):
        others = [s for s in STRATEGIES if s != baseline]
        add(f"\n## Win / tie / loss vs `{baseline}` (win-rate = W / (W + L); sign test p; tie: |Δ regret| ≤ {TIE})\n")
        add("| problem | " + " | ".join(others) + " |")
        add("|---|" + "---|" * len(others))
        for label, rs in groups:
            add(f"| {label} | " + " | ".join(_fmt_wtl(*wtl(rs, s, baseline, n2)) for s in others) + " |")
    add("\n## Warm start vs cold restart (`refine-warm` vs `refine`, the same v2)\n")
    add("| problem | W/T/L of warm vs cold | median regret cold → warm |")
    add("|---|---|---|")
    for label, rs in groups:
        cold = float(np.median([_final(r, "refine", n2) for r in rs]))
        warm = float(np.median([_final(r, "refine-warm", n2) for r in rs]))
        add(f"| {label} | {_fmt_wtl(*wtl(rs, 'refine-warm', 'refine', n2))} | {_fmt_r(cold)} → {_fmt_r(warm)} |")
    add("\n## Against `continue`, by what v2 changed\n")
    add(
        "Where v2 equals v1 and weights no choice, the warm start continues the study exactly as `continue` does "
        "(the same history, sampler and seed): a tie by construction. Where only weights changed it does too, "
        "until the first trial that a weighted choice is owed (its fair share, counted over the history and the "
        "stage) is forced, after which the two searches part; once history is there, weights no longer steer "
        "the exploration, which is over. The cold restart explores v2 afresh.\n"
    )
    add("| problem | v2 | runs | warm vs continue | cold vs continue | median regret continue / warm / cold |")
    add("|---|---|---:|---|---|---|")
    kind_of = {(r["problem"], r["seed"]): v2_kind(r) for r in runs}
    for label, rs in groups:
        if not label.startswith("**"):
            continue
        for kind in V2_KINDS:
            sub = [r for r in rs if kind_of[r["problem"], r["seed"]] == kind]
            if not sub:
                continue
            med = " / ".join(
                _fmt_r(float(np.median([_final(r, s, n2) for r in sub]))) for s in ("continue", "refine-warm", "refine")
            )
            add(
                f"| {label} | {kind} | {len(sub)} | {_fmt_wtl(*wtl(sub, 'refine-warm', 'continue', n2))} | "
                f"{_fmt_wtl(*wtl(sub, 'refine', 'continue', n2))} | {med} |"
            )
    add(f"\n## Speed-up (median; censored share where the baseline never got there in {SPEEDUP_BOUND} x N2)\n")
    add(
        "Trials the baseline needs to reach the strategy's final regret, divided by the trials the strategy "
        "needs to reach it itself. A censored run counts at the bound, so a median with censored runs is a "
        "lower bound.\n"
    )
    cols = [(s, b) for s in CHALLENGERS for b in ("flat", "continue")]
    add("| problem | " + " | ".join(f"{s} ×{b}" for s, b in cols) + " |")
    add("|---|" + "---:|" * len(cols))
    for label, rs in groups:
        cells = []
        for s, b in cols:
            vals = [speedup(r, s, b, n2) for r in rs]
            cells.append(f"{np.median([v for v, _ in vals]):.2f} ({np.mean([c for _, c in vals]):.0%})")
        add(f"| {label} | " + " | ".join(cells) + " |")
    add("\n## Excluded true optima (runs × relevant params; in brackets: where stage 1's best trial had the signal)\n")
    add("| problem | v1 | " + " | ".join(s for s in STRATEGIES if s not in ("flat", "continue", "refine-warm")) + " |")
    add("|---|---:|---:|---:|")
    for label, rs in groups:
        total = sum(len(r["v1_excludes"]) for r in rs)
        cells = [f"{sum(sum(r['v1_excludes'].values()) for r in rs)}/{total}"]
        for s in ("bbox", "refine"):
            ex = sum(sum(r["strategies"][s]["excludes"].values()) for r in rs)
            sig = sum(sum(1 for k, v in r["strategies"][s]["excludes"].items() if v and r["signal"][k]) for r in rs)
            cells.append(f"{ex}/{total} ({sig})")
        add(f"| {label} | " + " | ".join(cells) + " |")
    bound = [r for r in runs if P.get(r["problem"]).v1_best is not None]
    if bound:
        add("\n## Beyond v1 (problems whose optimum lies outside v1)\n")
        add("| problem | best regret inside v1 | " + " | ".join(STRATEGIES) + " |")
        add("|---|---:|" + "---:|" * len(STRATEGIES))
        for p in sorted({r["problem"] for r in bound}):
            rs = [r for r in bound if r["problem"] == p]
            v1r = P.get(p).regret(P.get(p).v1_best)
            cells = [f"{sum(_final(r, s, n2) < v1r for r in rs)}/{len(rs)} below" for s in STRATEGIES]
            add(f"| {p} | {v1r:.3f} | " + " | ".join(cells) + " |")
    crashed = [r for r in runs if r.get("refine_error")]
    if crashed:
        add(
            f"\n**refine crashed** in {len(crashed)} of {len(runs)} runs (counted as keeping v1): "
            + "; ".join(sorted({f"{r['problem']} seed {r['seed']}: {r['refine_error'][:160]}" for r in crashed}))
            + "\n"
        )
    add("\n## What refine's v2 did (relevant parameters; most common v2 per problem)\n")
    add("| problem | param | truth | v1 | refine v2 (count of seeds) |")
    add("|---|---|---|---|---|")
    for p in problems:
        rs = [r for r in runs if r["problem"] == p]
        prob = P.get(p)
        for k, v in prob.relevant.items():
            seen: dict[str, int] = {}
            for r in rs:
                d = r["strategies"]["refine"]["v2"][k]
                seen[d] = seen.get(d, 0) + 1
            top = sorted(seen.items(), key=lambda kv: -kv[1])[:3]
            add(f"| {p} | {k} | {v!r} | {describe(prob.space, k)} | " + "; ".join(f"{d} ({n})" for d, n in top) + " |")
    return "\n".join(lines) + "\n"


def _surrogate_table(surrogates: list) -> str:
    if not surrogates:
        return ""
    lines = [
        "\n## The real-landscape surrogates (surrogate.py)\n",
        "Values as minimized (a maximized study's values negated). Held-out: 5-fold, RMSE in units of the "
        "values' standard deviation. The optimum is the surrogate's, after the soft ceiling; the raw GP's "
        "own optimum shows how far it would have invented one.\n",
        "| problem | shape | study | trials | held-out RMSE | Spearman | noise | observed best | optimum (raw GP) | "
        "optimum to nearest elite | relevant |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in surrogates:
        lines.append(
            f"| {s.name} | {s.shape} | {s.source} | {s.n_trials} | {s.cv_rmse:.2f} | {s.cv_spearman:.2f} | "
            f"{s.noise:.3g} | {s.observed_best:.4g} | {s.optimum:.4g} ({s.raw_optimum:.4g}) | {s.elite_distance:.3f} | "
            f"{', '.join(sorted(s.relevant))} |"
        )
    return "\n".join(lines) + "\n"


def _meta(args: argparse.Namespace, seconds: float) -> dict:
    import optuna

    import refine

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "refine"], capture_output=True, text=True, cwd=HERE.parent.parent
        ).stdout.strip()
        commit += " + uncommitted changes in refine/" if dirty else ""
    except OSError:
        commit = "?"
    return {
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/efficacy/run.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "refine": refine.__version__,
        "optuna": optuna.__version__,
        "commit": commit,
        "seeds": args.seeds,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--group",
        choices=("synthetic", "real", "all"),
        default="synthetic",
        help="synthetic problems (default), real-landscape surrogates (surrogate.py), or both",
    )
    ap.add_argument(
        "--studies",
        type=Path,
        default=HERE / ".cache" / "studies",
        help="folder holding the real studies' SQLite files (see benchmarks/README.md)",
    )
    ap.add_argument("--problems", default="", help="comma-separated names (default: the whole group)")
    ap.add_argument("--seeds", type=int, default=16, help="seeds 0 .. SEEDS-1 per problem (default: 16)")
    ap.add_argument("--n1", type=int, default=40, help="stage-1 trials")
    ap.add_argument("--n2", type=int, default=40, help="stage-2 trials")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--resume", action="store_true", help="reuse the finished runs of an interrupted run")
    ap.add_argument("--quick", action="store_true", help="smoke test: 2 seeds, 20 + 20 trials")
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for results*.md and results*.json (default: beside this file; --quick: its .cache/)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.n1, args.n2 = 2, 20, 20
    surrogates = []
    if args.group != "synthetic":
        import surrogate

        missing = [f for _, _, f, _, _ in surrogate.SOURCES if not (args.studies / f).exists()]
        if missing:
            ap.error(f"the real group needs {', '.join(missing)} in {args.studies} (see benchmarks/README.md)")
        real, surrogates = surrogate.load_problems(args.studies)
        for p in real:
            P.PROBLEMS[p.name] = p  # registered before the pool forks, so the workers see them
    group = {
        "synthetic": list(P.SYNTHETIC),
        "real": [s.name for s in surrogates],
        "all": list(P.SYNTHETIC) + [s.name for s in surrogates],
    }[args.group]
    names = [n for n in args.problems.split(",") if n] or group
    for n in names:
        if n not in P.PROBLEMS:
            ap.error(f"unknown problem {n!r}; choose from {', '.join(P.PROBLEMS)}")
    tasks = [(n, s, args.n1, args.n2) for s in range(args.seeds) for n in names]
    start = time.perf_counter()
    suffix = ("" if args.group == "synthetic" else f"-{args.group}") + ("-quick" if args.quick else "")
    if args.out is None:
        args.out = HERE / ".cache" if args.quick else HERE
    args.out.mkdir(parents=True, exist_ok=True)
    # every finished run is appended here at once, so that a crash loses nothing (--resume reuses them)
    partial = args.out / f"results{suffix}.partial.jsonl"
    runs: list[dict] = []
    failed: list[dict] = []
    if args.resume and partial.exists():
        runs = [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]
        runs = [r for r in runs if "error" not in r]
        runs = [r for r in runs if (r["problem"], r["seed"], args.n1, args.n2) in tasks]
        done = {(r["problem"], r["seed"]) for r in runs}
        tasks = [t for t in tasks if (t[0], t[1]) not in done]
    elif partial.exists():
        partial.unlink()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool, partial.open("a") as sink:
        for i, r in enumerate(pool.imap_unordered(run_one, tasks), 1):
            sink.write(json.dumps(r, default=str) + "\n")
            sink.flush()
            if "error" in r:
                failed.append(r)
                print(
                    f"[{i}/{len(tasks)}] {r['problem']} seed {r['seed']}: ERROR {r['error']}",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            runs.append(r)
            print(
                f"[{i}/{len(tasks)}] {r['problem']} seed {r['seed']}: "
                + ", ".join(f"{s} {_final(r, s, args.n2):.3f}" for s in STRATEGIES),
                file=sys.stderr,
                flush=True,
            )
    runs.sort(key=lambda r: (names.index(r["problem"]), r["seed"]))
    meta = _meta(args, time.perf_counter() - start)
    text = report(runs, names, args.n1, args.n2, meta) + _surrogate_table(surrogates)
    if failed:
        text += (
            f"\n**{len(failed)} runs failed** and are left out: "
            + "; ".join(f"{r['problem']} seed {r['seed']}: {r['error'].strip().splitlines()[-1][:200]}" for r in failed)
            + "\n"
        )
    print(text)
    (args.out / f"results{suffix}.md").write_text(text)
    (args.out / f"results{suffix}.json").write_text(
        json.dumps({"meta": meta, "n1": args.n1, "n2": args.n2, "runs": runs}, indent=1, default=str)
    )
    partial.unlink()


if __name__ == "__main__":
    main()
