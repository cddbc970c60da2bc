"""``refine rerun``: re-evaluate a study's top configurations under changed settings."""

from __future__ import annotations

import click

from refine.cli import emit_json


@click.command(name="rerun")
@click.argument("storage")
@click.option("--study", default=None, help="The study whose top configurations are re-evaluated.")
@click.option("--objective", required=True, help="module:function or path/to/file.py:function.")
@click.option("--top", default=5, show_default=True, type=int, help="How many of the best configurations.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Change a fixed setting (repeatable): --set epochs=100.")
@click.option("--seeds", default=None, help="Evaluate each configuration once per seed (sets fixed[--seed-key]): 1,2,3.")
@click.option("--seed-key", default="seed", show_default=True, help="The fixed key that receives each seed.")
@click.option("--out-storage", default=None, help="Where the new study goes [default: STORAGE].")
@click.option("--out-study", default=None, help="The new study's name [default: <study>-rerun].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def rerun(storage: str, study: str | None, objective: str, top: int, sets: tuple[str, ...], seeds: str | None, seed_key: str,
          out_storage: str | None, out_study: str | None, quiet: bool, as_json: bool) -> None:
    """Re-evaluate the top configurations of a study under changed fixed values.

    \b
        refine rerun s.db --study stage2 --objective obj:f --top 5 --set epochs=100 --seeds 1,2,3

    Reports whether the ranking holds: the Spearman correlation between the
    original and the re-evaluated values, and the rank of the original champion.
    """
    from refine.commands.run import _seeds
    from refine.compare import parse_sets
    from refine.compare import rerun as rerun_top

    report = rerun_top(storage, objective, study=study, top=top, sets=parse_sets(sets), seeds=_seeds(seeds), seed_key=seed_key,
                       out_storage=out_storage, out_study=out_study, quiet=quiet or as_json)
    if as_json:
        emit_json(report.to_json())
        return
    click.echo(f"rerun of {report.source} into '{report.study}':")
    for c in report.configs:
        rerun_value = "-" if c["rerun"] is None else f"{c['rerun']:.6g}"
        click.echo(f"  trial {c['trial']}: {c['original']:.6g} -> {rerun_value} ({c['runs']} runs)")
    rho = "n/a" if report.spearman is None else f"{report.spearman:.3f}"
    click.echo(f"spearman {rho}; the original champion ranks {report.top_rank}; ranking {'holds' if report.holds else 'does NOT hold'}")
