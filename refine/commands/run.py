"""``refine run``: run a space's trials against an objective (the executor)."""

from __future__ import annotations

import sys
from typing import Any

import click

from refine.cli import emit_json
from refine.commands._common import json_option
from refine.errors import RefineError


def _seeds(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise RefineError(f"--seeds must be integers separated by commas, e.g. 60,61; got {value!r}") from None
    if not seeds:
        raise RefineError("--seeds needs at least one seed, e.g. --seeds 60,61")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise RefineError(f"--seeds repeats {', '.join(map(str, twice))}: each seed is one study; list it once")
    return seeds


@click.command(name="run")
@click.argument("space_file", metavar="SPACE", type=click.Path(dir_okay=False))
@click.option(
    "--objective",
    required=True,
    help="module:function or path/to/file.py:function; gets params (+ fixed) and optionally the trial.",
)
@click.option(
    "--storage", required=True, help="study.db, a journal file (*.log), or a storage URL (postgresql+psycopg://…)."
)
@click.option(
    "--study",
    "--study-name",
    "study",
    default=None,
    help="Study name [default: <name>-v<version>]. Running again resumes it.",
)
@click.option(
    "--trials", required=True, type=int, help="Complete trials wanted in the study (exactly, across all workers)."
)
@click.option(
    "--sampler",
    default="tpe",
    show_default=True,
    type=click.Choice(["tpe", "random", "cmaes", "gp", "qmc"]),
    help="Optuna's sampler: TPE (multivariate), random, CMA-ES (pip install cmaes), GP (needs PyTorch) or "
    "quasi-random.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="The sampler's seed.")
@click.option("--seeds", default=None, help="Run one study per seed, named <study>-s<seed>: e.g. --seeds 60,61.")
@click.option(
    "--workers", default=1, show_default=True, type=int, help="Processes running trials at once against the storage."
)
@click.option(
    "--from", "from_", default=None, metavar="STORAGE[:STUDY]", help="Warm start from the previous stage's study."
)
@click.option(
    "--warm", default=5, show_default=True, type=int, help="With --from: how many best configurations to run first."
)
@click.option(
    "--extremes",
    default=0,
    show_default=True,
    type=int,
    help="First run up to K trials on untested range edges and corners.",
)
@click.option(
    "--fill-gaps", default=0, show_default=True, type=int, help="Run up to K trials in ranges and choices never tested."
)
@click.option(
    "--startup",
    default=10,
    show_default=True,
    type=int,
    help="Exploration trials (categorical weights apply) before the sampler models results.",
)
@click.option(
    "--fair-trial",
    default=20,
    show_default=True,
    type=int,
    help="A weighted choice gets at least this many of the stage's trials (or its weight's share, if smaller), also "
    "after --from.",
)
@click.option(
    "--heartbeat",
    default=30,
    show_default=True,
    type=int,
    help="Seconds between heartbeats (RDB storages); a dead worker's trial is failed and retried. 0: off.",
)
@click.option(
    "--max-failures", default=None, type=int, help="Stop after this many failed trials [default: max(--trials, 10)]."
)
@click.option("--quiet", is_flag=True, help="No progress bar, no messages on stderr.")
@json_option(help="Print the result as JSON on stdout: an object, or an array of them (one per seed) with --seeds.")
def run(
    space_file: str,
    objective: str,
    storage: str,
    study: str | None,
    trials: int,
    sampler: str,
    seed: int,
    seeds: str | None,
    workers: int,
    from_: str | None,
    warm: int,
    extremes: int,
    fill_gaps: int,
    startup: int,
    fair_trial: int,
    heartbeat: int,
    max_failures: int | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run trials of SPACE against an objective until --trials are complete.

    \b
    The study records its space (refine:space, refine:version), so that
    `refine next-space STORAGE` needs nothing else. Typical two-stage loop:
    \b
        refine run v1.yaml --objective obj:f --storage s.db --study stage1 --trials 60
        refine next-space s.db --study stage1            # writes v2.yaml
        refine run v2.yaml --objective obj:f --storage s.db --study stage2 \\
            --trials 60 --from s.db:stage1
        refine compare s.db --studies stage1 stage2

    Running the same command again resumes until --trials are complete. An
    objective that raises marks its trial FAIL and the run goes on, up to
    --max-failures; stopped there, the run exits 2 with the last error.
    Ctrl-C stops cleanly (exit 130), and so does a scheduler's SIGTERM (exit 143).
    """
    from refine.executor import late_signals_held
    from refine.spacefile import load_space

    ctx = click.get_current_context()
    if from_ is None and ctx.get_parameter_source("warm") is click.core.ParameterSource.COMMANDLINE:
        raise RefineError("--warm applies to a warm start: give --from STORAGE[:STUDY] too, or leave --warm out")
    space = load_space(space_file)
    with late_signals_held():  # a Ctrl-C after the run (a storm of them) never breaks the summary
        code = _run_and_report(
            space,
            quiet=quiet,
            as_json=as_json,
            seeds=seeds,
            objective=objective,
            storage=storage,
            study=study,
            trials=trials,
            sampler=sampler,
            seed=seed,
            workers=workers,
            from_=from_,
            warm=warm,
            extremes=extremes,
            fill_gaps=fill_gaps,
            startup=startup,
            heartbeat=heartbeat or None,
            max_failures=max_failures,
            fair_trial=fair_trial,
        )
    if code:
        sys.exit(code)


def _run_and_report(space: Any, *, quiet: bool, as_json: bool, seeds: str | None, **options: Any) -> int:
    """Run, print the summary, and return the exit status."""
    from refine.executor import run as run_trials

    results = run_trials(space, seeds=_seeds(seeds), quiet=quiet or as_json, **options)
    if as_json:
        emit_json(results[0].to_json() if len(results) == 1 and not seeds else [r.to_json() for r in results])
    elif not quiet:
        for r in results:
            best = "-" if r.best_value is None else f"{r.best_value:.6g}"
            click.echo(
                f"{r.study}: {r.complete}/{r.target} complete, {r.failed} failed, best {best} ({r.storage})", err=True
            )
            extra = []
            if r.warm_started or r.history:
                extra.append(
                    f"warm start: {r.warm_started} configurations enqueued, {r.history} past trials as history"
                )
            if r.extremes:
                extra.append(f"{r.extremes} extreme trials")
            if r.filled:
                extra.append(f"{r.filled} gap-filling trials")
            for line in extra:
                click.echo(f"  {line}", err=True)
            if r.gaps and r.complete:  # with nothing complete, everything is untested: the error says why
                click.echo(f"  never tested ({len(r.gaps)}): " + "; ".join(g.describe() for g in r.gaps[:8]), err=True)
    stopped = next((r for r in results if r.interrupted), None)
    if stopped is not None:  # 128 + the signal, as a shell reports it: 130 for Ctrl-C, 143 for a scheduler's SIGTERM
        signum = stopped.signum or 2
        by = " by SIGTERM" if signum == 15 else ""
        click.echo(f"error: interrupted{by}; run the same command again to resume", err=True)
        return 128 + signum
    short = [r for r in results if r.complete < r.target]
    if short:  # the objective kept failing: the run did not do what was asked
        r = short[0]
        why = next(
            (w for w in r.warnings if w.startswith("stopped after")), f"{r.complete} of {r.target} trials complete"
        )
        click.echo(f"error: {r.study}: {' '.join(why.split())}", err=True)
        return 2
    return 0
