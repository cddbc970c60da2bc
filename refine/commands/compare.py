"""``refine compare``: choose between studies the way a careful team does (the decision gate)."""

from __future__ import annotations

import sys
from typing import Any

import click

from refine.cli import emit_json
from refine.commands._common import console, json_option, ranking_from, ranking_options, table


def show_comparison(screen: Any, result: Any) -> None:
    """Print a comparison's table and verdict (with its reasons) on a rich console."""
    rows = []
    for g in result.groups:
        dist = "-" if g.param_distance is None else f"{g.param_distance:.3f}"
        rows.append(
            (g.name, len(g.studies), g.trials, f"{g.score:.6g}", f"{g.spread:.4g}", dist, g.searched, g.direction)
        )
    columns = [
        "study",
        "seeds",
        "own trials",
        "best (mean)",
        "spread",
        "param distance",
        "searched params",
        "direction",
    ]
    screen.print(table("refine compare", columns, rows))
    if result.refused:
        screen.print(f"not ranked: {result.refused}", markup=False)
    else:
        screen.print(f"verdict: keep {result.winner}" + ("" if result.settled else " (unsettled)"), markup=False)
        for reason in result.reasons:
            screen.print(f"  - {reason}", markup=False)


@click.command(name="compare")
@click.argument("storage")
@click.option(
    "--studies",
    required=True,
    multiple=True,
    help="Studies to compare: --studies a b c (after STORAGE) or --studies a --studies b; NAME also matches "
    "NAME-s<seed>.",
)
@click.option(
    "--margin",
    default=0.0,
    show_default=True,
    type=float,
    help="How much better (objective units) a space searching more params must be to beat a simpler one.",
)
@click.option(
    "--max-distance",
    default=0.3,
    show_default=True,
    type=float,
    help="Seeds whose best params lie further apart (0 = same point, 1 = opposite corners) have not settled on one "
    "optimum.",
)
@click.option(
    "--across",
    is_flag=True,
    help="Compare studies whose fixed evaluation settings differ (tiers of a budget), on purpose.",
)
@ranking_options
@json_option(help="Print one JSON object on stdout.")
@click.argument("more", nargs=-1)
def compare(
    storage: str,
    studies: tuple[str, ...],
    margin: float,
    max_distance: float,
    across: bool,
    metric: str | None,
    metric_direction: str | None,
    then: tuple[str, ...],
    where: tuple[str, ...],
    as_json: bool,
    more: tuple[str, ...],
) -> None:
    """Compare studies in STORAGE and choose one, with the reasons.

    \b
        refine compare s.db --studies stage1 stage2
        refine compare s.db --studies v1 v2 --margin 0.005 --json

    Each stage is judged by the trials it ran itself (a warm start's history
    is its parent's). Per study (or per seed group NAME-s60, NAME-s61, …):
    the best value, the spread of the seeds' best values and the distance
    between their best params. The simpler space (fewer searched params) wins
    unless the richer one is better by more than --margin (or the seeds'
    spread); a group whose seeds' bests lie more than --max-distance apart
    loses to a close rival whose seeds agree, and a verdict for it is marked
    unsettled. Studies whose metric, direction or fixed evaluation settings
    differ are not ranked (exit status 2 with the reason) unless --across.
    """
    from pathlib import Path

    from refine.compare import compare as compare_studies
    from refine.errors import RefineError

    if "://" not in storage and not Path(storage).exists():
        given = next((m for m in more if "://" in m or Path(m).is_file()), None)
        if given is not None:  # `--studies a b s.db`: click took b for STORAGE
            raise RefineError(
                f"storage {storage} does not exist; STORAGE goes first when --studies lists several names: "
                f"refine compare {given} --studies {' '.join([*studies, storage, *(m for m in more if m != given)])}"
            )
    result = compare_studies(
        storage,
        list(studies) + list(more),
        margin=margin,
        max_distance=max_distance,
        across=across,
        ranking=ranking_from(metric, metric_direction, then, where),
    )
    if as_json:
        emit_json(result.to_json())
    else:
        show_comparison(console(), result)
    if result.refused:
        sys.exit(2)
