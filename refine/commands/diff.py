"""``refine diff OLD NEW``: what changed between two space files."""

from __future__ import annotations

import click

from refine.commands._common import console, json_option, looks_like_space_file, study_option, table


@click.command()
@click.argument("old")
@click.argument("new")
@study_option
@json_option
def diff(old: str, new: str, study: str | None, as_json: bool) -> None:
    """Compare two spaces parameter by parameter: space files, or a study's space.

    OLD or NEW may be a study's storage (a study.db, a storage URL or a
    journal file; --study names the study): its space, remembered or
    inferred, is compared. Each parameter is kept, narrowed, expanded,
    shifted, fixed, unfixed, biased, changed, added or dropped. Spaces that
    are not one lineage (another name, direction or metric) are compared
    anyway, with a note.

    \b
    Examples:
        refine diff spaces/clf.v1.yaml spaces/clf.v2.yaml
        refine diff study.db --study clf clf.v2.yaml
    """
    from refine.cli import emit_json
    from refine.diff import diff_spaces
    from refine.errors import RefineError

    studies = [t for t in (old, new) if _is_storage(t)]
    if study is not None and not studies:
        raise RefineError("--study names a study in a storage; both arguments are space files (leave --study out)")
    a, b = _space(old, study), _space(new, study)
    rows = diff_spaces(a, b)
    notes = []  # not a lineage: say so, the table still compares them
    if a.name != b.name:
        notes.append(f"different spaces: '{a.name}' and '{b.name}'")
    if a.directions != b.directions:
        notes.append(f"different objectives: {', '.join(a.directions)} vs {', '.join(b.directions)}")
    if a.metric != b.metric:
        notes.append(f"different metrics: {a.metric_label or '(objective)'} vs {b.metric_label or '(objective)'}")
    if as_json:
        emit_json(
            {
                "old": {"name": a.name, "version": a.version},
                "new": {"name": b.name, "version": b.version},
                "params": rows,
                "notes": notes,
            }
        )
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


def _is_storage(target: str) -> bool:
    """Whether ``target`` names a study storage (URL, SQLite file, journal) rather than a space file."""
    import re
    from pathlib import Path

    if looks_like_space_file(target):
        return False
    if re.match(r"^[a-z][a-z0-9+.-]*://", target, re.I):
        return True
    path = Path(target)
    if path.suffix.lower() in (".db", ".sqlite", ".sqlite3", ".log", ".journal", ".jsonl"):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(16).startswith(b"SQLite format 3")
    except OSError:
        return False


def _space(target: str, study: str | None):
    """The space in a space file, or the space of a study in a storage."""
    if not _is_storage(target):
        from refine.spacefile import load_space

        return load_space(target)
    from refine.study import read_study

    return read_study(target, study, user_attrs=False).space
