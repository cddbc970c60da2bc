"""``refine best``: print a study's (or a seed group's) winning configuration, and promote it."""

from __future__ import annotations

import json

import click

from refine.commands._common import ranking_from, ranking_options
from refine.errors import RefineError


@click.command(name="best")
@click.argument("storage")
@click.option(
    "--study",
    "--study-name",
    "study",
    default=None,
    help="Study name, or a seed group's (stage3 for stage3-s60, stage3-s61, ...); may be left out when the storage "
    "holds one study.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    default="json",
    show_default=True,
    type=click.Choice(["json", "yaml"]),
    help="How to print it.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="The same as --format json (the default), as other commands spell it."
)
@click.option(
    "--promote",
    default=None,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Write the winning config into this constants file (.yaml, .yml, .json or .py), keeping what else it holds.",
)
@ranking_options
def best(
    storage: str,
    study: str | None,
    fmt: str,
    as_json: bool,
    promote: str | None,
    metric: str | None,
    metric_direction: str | None,
    then: tuple[str, ...],
    where: tuple[str, ...],
) -> None:
    """Print the winning configuration of a study, ready to promote into a project's constants.

    A stage is judged by the trials it ran itself (not a warm start's
    history). A seed group's winner is the best of its seeds' bests.
    `config` is params merged with the space's fixed values; `params` and
    `fixed` are also given apart. For a multi-objective study it is the first
    trial of the Pareto front, and `pareto_front` says how many there are.

    \b
    Examples:
        refine best s.db --study stage2
        refine best s.db --study stage3 --promote configs/best.py      # stage3-s60, stage3-s61, ...
        refine best s.db --study stage2 --metric precision --then recall --where "recall >= 0.5"
    """
    from refine.compare import best_config
    from refine.compare import promote as write_constants

    if as_json and fmt != "json":
        raise RefineError(f"--json and --format {fmt} ask for two formats; give one")
    out = best_config(storage, study, ranking=ranking_from(metric, metric_direction, then, where))
    if promote:
        written = write_constants(out["config"], promote)
        click.echo(f"promoted {out['study']} trial {out['trial']} into {promote}: {', '.join(written)}", err=True)
    if fmt == "json" or as_json:
        click.echo(json.dumps(out, indent=2, default=str))
    else:
        import yaml

        click.echo(yaml.safe_dump(out, sort_keys=False, default_flow_style=False), nl=False)
