"""``refine diff OLD NEW``: what changed between two space files."""

from __future__ import annotations

import click

from refine.commands._common import console, json_option, table


@click.command()
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@json_option
def diff(old: str, new: str, as_json: bool) -> None:
    """Compare two space files parameter by parameter.

    Each parameter is kept, narrowed, expanded, shifted, fixed, unfixed,
    biased, changed, added or dropped. Spaces that are not one lineage
    (another name, direction or metric) are compared anyway, with a note.

    \b
    Example:
        refine diff spaces/clf.v1.yaml spaces/clf.v2.yaml
    """
    from refine.cli import emit_json
    from refine.diff import diff_spaces
    from refine.spacefile import load_space

    a, b = load_space(old), load_space(new)
    rows = diff_spaces(a, b)
    notes = []  # not a lineage: say so, the table still compares them
    if a.name != b.name:
        notes.append(f"different spaces: '{a.name}' and '{b.name}'")
    if a.directions != b.directions:
        notes.append(f"different objectives: {', '.join(a.directions)} vs {', '.join(b.directions)}")
    if a.metric != b.metric:
        notes.append(f"different metrics: {a.metric_label or '(objective)'} vs {b.metric_label or '(objective)'}")
    if as_json:
        emit_json({"old": {"name": a.name, "version": a.version}, "new": {"name": b.name, "version": b.version}, "params": rows, "notes": notes})
        return
    for note in notes:
        click.echo(f"note: {note}", err=True)
    console().print(
        table(
            f"{a.name} v{a.version} -> {b.name} v{b.version}",
            ["param", "old", "new", "change"],
            [(r["param"], r["old"], r["new"], r["change"]) for r in rows],
        )
    )
