"""A three-stage sweep with refine's programmatic API, ending in the decision gate.

    python examples/sweep_api.py                                   # the quick analytic objective, 3 stages
    python examples/sweep_api.py SPACE OBJECTIVE --trials 40 --seeds 0,1 --out out/sweep

Each stage runs its space (``refine.run``), warm-started from the stage
before; ``refine.next_space`` then writes the next version and its rationale,
and the diff table goes to the screen. After the last stage the decision gate
(``refine.compare.compare``, as ``refine compare``) says which stage's space
to keep, ``best_config`` prints its winning configuration, and an HTML report
of the lineage is written (when plotly is installed).

``examples/vision/sweep.py`` runs the torch example through :func:`sweep`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a clone without installing

import refine  # noqa: E402
from refine.commands._common import console, table  # noqa: E402
from refine.commands.compare import show_comparison  # noqa: E402
from refine.compare import best_config, compare  # noqa: E402
from refine.diff import diff_spaces  # noqa: E402


def show_refinement(screen: Any, result: Any) -> None:
    """Print a refinement's diff table (with the deciding rule) and its red flags."""
    decided = {d.param: d for d in result.decisions}
    best = result.rationale.get("best") or {}
    value = best.get("value")
    shown = f"{value:.4f}" if isinstance(value, (int, float)) else "-"
    screen.print(
        table(
            f"{result.space.name} v{result.previous.version} -> v{result.space.version} (best {shown})",
            ["param", "old", "new", "change", "rule"],
            [
                (r["param"], r["old"], r["new"], r["change"], decided[r["param"]].rule if r["param"] in decided else "")
                for r in diff_spaces(result.previous, result.space)
            ],
        )
    )
    for flag in result.rationale["red_flags"]:
        screen.print(f"red flag: {flag}", markup=False)


def sweep(
    space: Any,
    objective: str | Callable,
    *,
    out: str | Path,
    trials: int = 30,
    stages: int = 3,
    seeds: Sequence[int] = (0,),
    extremes: int = 2,
    spaces_dir: str | Path | None = None,
    report: bool = True,
    fresh: bool = True,
    screen: Any = None,
) -> dict[str, Any]:
    """Run ``stages`` stages of the loop, then the decision gate.

    Args:
        space: The first space (a :class:`refine.Space` or a YAML file).
        objective: ``module:function``, ``path.py:function`` or a callable.
        out: Directory for the study database and the report.
        trials: Complete trials per stage (per seed).
        stages: How many spaces to run: v1, v2, ... (each refined from the one before).
        seeds: One study per seed and stage (``NAME-s<seed>``) when more than one.
        extremes: Trials on untested range edges, per stage.
        spaces_dir: Where the versions and rationales go (default ``out``).
        report: Write ``out/report.html`` (needs plotly).
        fresh: Remove ``out`` first, so that the sweep can run again.
        screen: A rich console (default: a new one).

    Returns:
        ``storage``, ``stages`` (study names, first seed), ``spaces`` (paths
        written), ``verdict`` (the :class:`~refine.compare.Comparison`),
        ``best`` (the winner's configuration) and ``report`` (path or None).
    """
    out = Path(out)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    spaces_dir = Path(spaces_dir) if spaces_dir else out
    spaces_dir.mkdir(parents=True, exist_ok=True)
    screen = screen or console()
    storage = f"sqlite:///{out / 'study.db'}"
    if not isinstance(space, refine.Space):
        space = refine.load_space(space)
    seeds = list(seeds)
    first_path = spaces_dir / f"{space.name}.v{space.version}.yaml"
    if not first_path.exists():
        refine.save_space(space, first_path)
    written, groups, leads = [first_path], [], []
    previous = None
    for stage in range(1, stages + 1):
        group = f"{space.name}-v{space.version}"
        lead = f"{group}-s{seeds[0]}" if len(seeds) > 1 else group
        screen.rule(
            f"stage {stage}: {trials} trials of {space.name} v{space.version}"
            + (f", seeds {seeds}" if len(seeds) > 1 else "")
        )
        runs = refine.run(
            space,
            objective,
            storage=storage,
            study=group,
            trials=trials,
            seed=seeds[0],
            seeds=seeds if len(seeds) > 1 else None,
            from_=f"{storage}:{previous}" if previous else None,
            extremes=extremes,
            heartbeat=None,
            quiet=True,
        )
        for r in runs:
            extra = f", {r.warm_started} warm-started, {r.history} history trials" if previous else ""
            screen.print(
                f"{r.study}: {r.complete} trials, {r.failed} failed, best {r.best_value:.4f}{extra}", markup=False
            )
        result = refine.next_space(storage, study=lead, space=space, config=False).save(spaces_dir)
        show_refinement(screen, result)
        screen.print(f"wrote {result.space_path} and its rationale {result.rationale_path}", markup=False)
        written.append(result.space_path)
        groups.append(group)
        leads.append(lead)
        previous, space = lead, result.space

    screen.rule("decision gate")
    verdict = compare(storage, groups)
    show_comparison(screen, verdict)
    best = None
    if not verdict.refused:
        winner = leads[groups.index(verdict.winner)]
        best = best_config(storage, winner)
        screen.print(f"winning configuration ({winner}, trial {best['trial']}): {best['config']}", markup=False)
    report_path = None
    if report:
        try:
            from refine.report import write_report

            report_path = write_report(storage, leads, out=out / "report.html")
            screen.print(f"report: {report_path}", markup=False)
        except refine.RefineError as exc:  # plotly missing: the sweep itself is done
            screen.print(f"no report: {exc}", markup=False)
    return {
        "storage": storage,
        "stages": leads,
        "spaces": written,
        "verdict": verdict,
        "best": best,
        "report": report_path,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Three stages of the refine loop with the programmatic API, then the decision gate."
    )
    parser.add_argument(
        "space",
        nargs="?",
        default=str(HERE / "quick" / "space.v1.yaml"),
        help="the first space file [default: the quick example]",
    )
    parser.add_argument(
        "objective",
        nargs="?",
        default=str(HERE / "quick" / "objective.py") + ":objective",
        help="module:function or path.py:function",
    )
    parser.add_argument("--trials", type=int, default=40, help="complete trials per stage and seed [default: 40]")
    parser.add_argument("--stages", type=int, default=3, help="stages to run [default: 3]")
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds: one study each per stage [default: 0,1]")
    parser.add_argument("--extremes", type=int, default=2, help="trials on untested range edges per stage [default: 2]")
    parser.add_argument(
        "--out", default="out/sweep", help="directory for the study, the spaces and the report [default: out/sweep]"
    )
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    try:
        sweep(
            args.space,
            args.objective,
            out=args.out,
            trials=args.trials,
            stages=args.stages,
            seeds=seeds,
            extremes=args.extremes,
            report=not args.no_report,
        )
    except refine.RefineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
