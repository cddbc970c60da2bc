"""``refine report``: a self-contained HTML report of a study or a lineage of studies."""

from __future__ import annotations

import click

from refine.cli import emit_json
from refine.commands._common import json_option


@click.command(name="report")
@click.argument("storage")
@click.option(
    "--study",
    "--study-name",
    "studies",
    multiple=True,
    metavar="NAME",
    help="A study to show (repeat, oldest stage first) [default: every study in STORAGE, parents first].",
)
@click.option(
    "-o",
    "--out",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The HTML file to write; an earlier report there is replaced, any other file kept.",
)
@click.option(
    "--force", is_flag=True, help="Replace --out even when it is not an HTML file (a study, a space file, ...)."
)
@click.option("--title", default=None, help="The page's title [default: from the space's name].")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="A refinement setting, as for next-space (e.g. --set elite_fraction=0.25).",
)
@json_option(help='Print {"report_path", "studies"} as JSON on stdout.')
def report(
    storage: str,
    studies: tuple[str, ...],
    out: str,
    title: str | None,
    sets: tuple[str, ...],
    as_json: bool,
    force: bool,
) -> None:
    """Write one HTML file (opens offline) showing what STORAGE's studies found and what comes next.

    \b
        refine report out/vision/study.db -o report.html
        refine report s.db --study stage1 --study stage2 -o lineage.html

    For each study: the diff table and red flags of the next space (as
    `refine next-space` would write it; nothing is written to the study), per
    numeric parameter the value against the objective with the elites
    highlighted and the current and next ranges as bands, per categorical the
    trials and elite share per choice with the current and next weights; and
    the best value per stage across the lineage. Needs plotly
    (pip install 'refine[report]').
    """
    from refine.commands._common import parse_sets
    from refine.report import lineage_order, write_report
    from refine.settings import load_settings

    twice = sorted({s for s in studies if studies.count(s) > 1})
    if twice:
        from refine.errors import RefineError

        raise RefineError(f"--study {', '.join(twice)} is given twice; name each study once")
    settings = parse_sets(sets)
    load_settings(settings)  # a wrong setting is the user's mistake: exit 2 here, not a note inside the page
    path = write_report(storage, list(studies) or None, out=out, title=title, config=True, force=force, **settings)
    if as_json:
        emit_json({"report_path": str(path), "studies": lineage_order(storage, list(studies) or None)})
    else:
        click.echo(f"wrote {path}")
