"""``refine export`` and ``refine import``: spaces to and from ConfigSpace, W&B sweeps and Optuna code.

The conversions live in :mod:`refine.interop`; these commands read and write
the files. What a target cannot express goes to stderr as ``warning:`` lines
(and, for W&B and Optuna code, into the output as comments).
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from refine.errors import RefineError
from refine.interop import EXPORT_TARGETS, IMPORT_SOURCES, check_source, check_target, export_space, import_space
from refine.spacefile import (
    atomic_write,
    dump_space,
    load_space,
    refuse_overwriting_inputs,
    refuse_replacing_another_file,
    save_space,
)

__all__ = ["export", "import_"]


def _warn(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        click.echo(f"warning: {' '.join(warning.split())}", err=True)


# What an earlier export to each target looks like: -o replaces that, and nothing else.
_MARKS = {
    "configspace": lambda text: bool(
        re.match(r'\s*\{[^{]*?"hyperparameters"\s*:', text) or re.search(r"(?m)^hyperparameters:", text)
    ),
    "wandb": lambda text: "exported by refine" in text[:500],
    "optuna": lambda text: "exported by refine" in text[:500],
}


@click.command(name="export")
@click.argument("space_file", metavar="SPACE", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--to",
    "target",
    metavar="|".join(EXPORT_TARGETS),
    help="configspace: ConfigSpace JSON (YAML when FILE ends in .yaml/.yml); "
    "wandb: a W&B sweep config (YAML); optuna: a Python `suggest(trial)` function.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE (atomically) instead of stdout; an earlier export there is replaced, any other file kept.",
)
@click.option(
    "--force",
    is_flag=True,
    help="With -o: replace FILE even when it is not an earlier export (a study, a space file, ...).",
)
def export(space_file: Path, target: str | None, out: Path | None, force: bool) -> None:
    """Export the space file SPACE for another tool.

    \b
        refine export spaces/clf.v2.yaml --to configspace -o clf.json
        refine export spaces/clf.v2.yaml --to wandb -o sweep.yaml
        refine export spaces/clf.v2.yaml --to optuna > suggest.py

    What the target cannot express (conditions in W&B, weights in Optuna,
    steps in ConfigSpace) is written as a warning on stderr, never dropped
    silently.
    """
    if target is None:
        raise RefineError(
            f"export needs --to, one of {', '.join(EXPORT_TARGETS)}; e.g. refine export {space_file} --to wandb"
        )
    check_target(target)
    if out is not None:
        refuse_overwriting_inputs(out, (space_file,))
        refuse_replacing_another_file(out, ours=_MARKS[target], kind=f"an export to {target}", force=force)
    space = load_space(space_file)
    exported = export_space(space, target, where=str(space_file), out=out)
    _warn(exported.warnings)
    if out is None:
        click.echo(exported.text, nl=False)
    else:
        atomic_write(out, exported.text, overwrite=True)
        click.echo(f"wrote {out}")


@click.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--from",
    "source",
    metavar="|".join(IMPORT_SOURCES),
    help="The format of FILE: a ConfigSpace JSON/YAML serialization or a W&B sweep config.  [required]",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The space file to write (never overwritten); stdout when omitted.",
)
@click.option(
    "--name",
    help="The space's name. Default: the ConfigSpace's or sweep's own name, else FILE's stem, "
    "with characters outside [A-Za-z0-9_.-] replaced by '_'.",
)
def import_(file: Path, source: str | None, out: Path | None, name: str | None) -> None:
    """Import FILE, written for another tool, as a space file.

    \b
        refine import clf.json --from configspace -o spaces/clf.v1.yaml
        refine import sweep.yaml --from wandb --name clf -o spaces/clf.v1.yaml

    A W&B sweep becomes version 1; a ConfigSpace exported by refine comes back
    as the same space. What a refine space cannot express (forbidden clauses,
    OR/LT/GT conditions, normal distributions) is an error naming the parameter.
    """
    if source is None:
        raise RefineError(
            f"import needs --from, one of {', '.join(IMPORT_SOURCES)}; e.g. refine import {file} --from wandb "
            "-o space.yaml"
        )
    check_source(source)
    if name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise RefineError(
            f"--name must match [A-Za-z0-9_.-]+ (it names the space's files), got {name!r}; e.g. --name "
            f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name).strip('_') or 'space'}"
        )
    imported = import_space(file, source, name=name)
    _warn(imported.warnings)
    if out is None:
        click.echo(dump_space(imported.space), nl=False)
    else:
        save_space(imported.space, out, hint="remove it or give another -o")
        click.echo(f"wrote {out}")
