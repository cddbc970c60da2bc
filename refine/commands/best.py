"""``refine best``: print a study's winning configuration (params + fixed)."""

from __future__ import annotations

import json

import click

from refine.errors import RefineError


@click.command(name="best")
@click.argument("storage")
@click.option("--study", default=None, help="Study name (may be left out when the storage holds one).")
@click.option("--format", "fmt", default="json", show_default=True, type=click.Choice(["json", "yaml"]), help="How to print it.")
@click.option("--json", "as_json", is_flag=True, help="The same as --format json (the default), as other commands spell it.")
def best(storage: str, study: str | None, fmt: str, as_json: bool) -> None:
    """Print the winning configuration of a study, ready to promote into a project's constants.

    `config` is params merged with the space's fixed values; `params` and
    `fixed` are also given apart. For a multi-objective study it is the first
    trial of the Pareto front, and `pareto_front` says how many there are.

    \b
    Examples:
        refine best s.db --study stage2
        refine best s.db --study stage2 --format yaml > best.yaml
    """
    from refine.compare import best_config

    out = best_config(storage, study)
    if as_json and fmt != "json":
        raise RefineError(f"--json and --format {fmt} ask for two formats; give one")
    if fmt == "json" or as_json:
        click.echo(json.dumps(out, indent=2, default=str))
    else:
        import yaml

        click.echo(yaml.safe_dump(out, sort_keys=False, default_flow_style=False), nl=False)
