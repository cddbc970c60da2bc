"""``refine import-trials FILE``: a table of past trials (CSV, JSON, W&B or Ray Tune export) becomes an Optuna study."""

from __future__ import annotations

import click

from refine.cli import emit_json


@click.command(name="import-trials")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--storage", required=True, help="Where the study goes: study.db, a journal file or a storage URL.")
@click.option("--study", required=True, help="The new study's name.")
@click.option("--value", "value", required=True, metavar="COLUMN", help="The column holding the objective.")
@click.option(
    "--direction",
    default="minimize",
    show_default=True,
    type=click.Choice(["minimize", "maximize"]),
    help="Which way the objective is better.",
)
@click.option(
    "--space",
    "space_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="The space the trials came from (default: inferred from the table).",
)
@click.option(
    "--attr",
    "attrs_columns",
    multiple=True,
    metavar="COLUMN",
    help="Keep this column as a user attribute (a metric), not a parameter (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def import_trials(
    file: str,
    storage: str,
    study: str,
    value: str,
    direction: str,
    space_file: str | None,
    attrs_columns: tuple[str, ...],
    as_json: bool,
) -> None:
    """Write the rows of FILE (one trial each) as a new Optuna study that next-space and run --from read.

    \b
        refine import-trials sweep.csv --storage s.db --study past --value val_loss
        refine import-trials wandb_runs.csv --storage s.db --study past --value f1 --direction maximize --space v1.yaml
        refine next-space s.db --study past
        refine run v2.yaml --objective obj:f --storage s.db --study stage2 --trials 40 --from s.db:past

    Parameters are the space's (--space), else the config.* / config/* columns of
    a W&B or Ray Tune export, else every other column (--attr keeps a column as a
    metric). A row refine cannot place is refused with its row and column, and
    nothing is written.
    """
    from refine.import_trials import import_trials as run_import

    result = run_import(
        file,
        storage=storage,
        study=study,
        value=value,
        direction=direction,
        space=space_file,
        attrs_columns=attrs_columns,
    )
    if as_json:
        emit_json(result.to_json())
        return
    click.echo(
        f"imported {result.complete} complete and {result.failed} failed trials into '{result.study}' "
        f"({result.storage}); "
        f"params ({result.space_source}): {', '.join(result.params)}"
        + (f"; user attributes: {', '.join(result.attrs)}" if result.attrs else ""),
        err=True,
    )
