"""``refine rerun``: re-evaluate a study's top configurations under changed settings, or at several budgets."""

from __future__ import annotations

import click

from refine.cli import emit_json
from refine.commands._common import json_option, ranking_from, ranking_options
from refine.errors import RefineError


def _budgets(value: str | None) -> tuple[str, list] | None:
    if value is None:
        return None
    import yaml

    key, sep, values = value.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not key.strip() or len(items) < 2:
        raise RefineError(
            f"--budgets takes KEY=V1,V2[,...] (at least two values), e.g. --budgets budget=2e6,2e7,2e8; got {value!r}"
        )
    out = []
    for item in items:
        try:
            v = yaml.safe_load(item)
        except yaml.YAMLError:
            v = item
        if isinstance(v, str):  # YAML 1.1 reads 2e6 as a string
            try:
                f = float(v)
                v = int(f) if f.is_integer() and "." not in v else f
            except ValueError:
                pass
        out.append(v)
    return key.strip(), out


@click.command(name="rerun")
@click.argument("storage")
@click.option(
    "--study",
    "--study-name",
    "study",
    default=None,
    help="The study whose top configurations are re-evaluated, or a seed group's name (its winning seed).",
)
@click.option("--objective", required=True, help="module:function or path/to/file.py:function.")
@click.option("--top", default=5, show_default=True, type=int, help="How many of the best configurations.")
@click.option(
    "--fixed",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change a fixed value of the space (repeatable): --fixed epochs=100.",
)
@click.option(
    "--set", "old_sets", multiple=True, metavar="KEY=VALUE", hidden=True
)  # rerun's name for --fixed until 0.1
@click.option(
    "--budgets",
    default=None,
    metavar="KEY=V1,V2,...",
    help="Rerun at each of these values of a fixed setting, in one call: --budgets budget=2e6,2e7,2e8.",
)
@click.option(
    "--seeds", default=None, help="Evaluate each configuration once per seed (sets fixed[--seed-key]): 1,2,3."
)
@click.option("--seed-key", default="seed", show_default=True, help="The fixed key that receives each seed.")
@click.option("--out-storage", default=None, help="Where the new study goes [default: STORAGE].")
@click.option(
    "--out-study",
    default=None,
    help="The new study's name [default: <study>-rerun; with --budgets, <study>-rerun-<key><value>].",
)
@ranking_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
@json_option(help="Print one JSON object on stdout.")
def rerun(
    storage: str,
    study: str | None,
    objective: str,
    top: int,
    sets: tuple[str, ...],
    old_sets: tuple[str, ...],
    budgets: str | None,
    seeds: str | None,
    seed_key: str,
    out_storage: str | None,
    out_study: str | None,
    metric: str | None,
    metric_direction: str | None,
    then: tuple[str, ...],
    where: tuple[str, ...],
    quiet: bool,
    as_json: bool,
) -> None:
    """Re-evaluate the top configurations of a study under changed fixed values.

    \b
        refine rerun s.db --study stage2 --objective obj:f --top 5 --fixed epochs=100 --seeds 1,2,3
        refine rerun s.db --study stage2 --objective obj:f --budgets budget=2e6,2e7,2e8

    Reports whether the ranking holds: the Spearman correlation between the
    original and the re-evaluated values, and the rank of the original champion.
    With --budgets: the champion's rank at each budget, and a table of the
    parameters on which the budgets' winners disagree. Trials are ranked by
    --metric / --then / --where when given, on the stage's own trials.
    """
    from refine.commands.run import _seeds
    from refine.reruns import RerunOptions, parse_sets, rerun_budgets
    from refine.reruns import rerun as rerun_top

    if old_sets:
        # --set names refine's settings everywhere else (next-space, report): here it was a fixed value.
        click.echo("note: rerun --set is now --fixed (--set names refine's settings, as in next-space)", err=True)
        sets = tuple(old_sets) + tuple(sets)
    ranking = ranking_from(metric, metric_direction, then, where)
    plan = _budgets(budgets)
    options = RerunOptions(
        study=study,
        top=top,
        sets=parse_sets(sets),
        seeds=_seeds(seeds),
        seed_key=seed_key,
        out_storage=out_storage,
        out_study=out_study,
        quiet=quiet or as_json,
        ranking=ranking,
    )
    if plan is not None:
        sweep = rerun_budgets(storage, objective, plan[0], plan[1], options=options)
        if as_json:
            emit_json(sweep.to_json())
            return
        for b, r, w in zip(sweep.budgets, sweep.reports, sweep.winners):
            rho = "n/a" if r.spearman is None else f"{r.spearman:.3f}"
            click.echo(
                f"{sweep.key}={b}: the champion ranks {r.top_rank}, spearman {rho}, best there: trial {w} ('{r.study}')"
            )
        if sweep.disagree:
            click.echo("where the budgets' optima disagree:")
            for name, values in sweep.disagree.items():
                click.echo(f"  {name}: " + ", ".join(f"{sweep.key}={b}: {v!r}" for b, v in values.items()))
        else:
            click.echo("the same configuration wins at every budget")
        click.echo(f"ranking {'holds' if sweep.holds else 'does NOT hold'} across {sweep.key}")
        return
    report = rerun_top(storage, objective, options=options)
    if as_json:
        emit_json(report.to_json())
        return
    click.echo(f"rerun of {report.source} into '{report.study}':")
    for c in report.configs:
        rerun_value = "-" if c["rerun"] is None else f"{c['rerun']:.6g}"
        original = "-" if c["original"] is None else f"{c['original']:.6g}"
        click.echo(f"  trial {c['trial']}: {original} -> {rerun_value} ({c['runs']} runs)")
    rho = "n/a" if report.spearman is None else f"{report.spearman:.3f}"
    click.echo(
        f"spearman {rho}; the original champion ranks {report.top_rank}; ranking "
        f"{'holds' if report.holds else 'does NOT hold'}"
    )
