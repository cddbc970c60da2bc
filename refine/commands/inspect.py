"""``refine inspect STORAGE``: the studies in a storage, their counts, directions and space."""

from __future__ import annotations

import click

from refine.commands._common import console, json_option, space_json, space_table, study_option, table


@click.command("inspect")
@click.argument("storage")
@study_option
@json_option
def inspect_(storage: str, study: str | None, as_json: bool) -> None:
    """List the studies in STORAGE with trial counts and directions.

    With one study in the storage (or --study), also print its space: the one
    it was run with (refine:space) or the one inferred from its trials,
    conditionals included. Nothing is ever written to the storage.

    \b
    Examples:
        refine inspect study.db
        refine inspect postgresql://user:pw@host/db --study clf-v2 --json
    """
    from refine.cli import emit_json
    from refine.storage import redact
    from refine.study import list_studies, read_study

    summaries = list_studies(storage)
    detail = None
    if study is not None or len(summaries) == 1:
        detail = read_study(storage, study)
    if as_json:
        studies = []
        for s in summaries:
            entry = {"name": s.name, "directions": list(s.directions), "trials": s.counts, "n_trials": s.n_trials}
            if detail is not None and s.name == detail.name:
                entry.update(space_source=detail.space_source, space=space_json(detail.space), notes=list(detail.notes))
            studies.append(entry)
        emit_json({"storage": redact(storage), "studies": studies})
        return
    out = console()
    out.print(
        table(
            f"{len(summaries)} stud{'y' if len(summaries) == 1 else 'ies'} in {redact(storage)}",
            ["study", "directions", "trials", "by state"],
            [
                (s.name, ", ".join(s.directions), s.n_trials, ", ".join(f"{v} {k}" for k, v in s.counts.items()))
                for s in summaries
            ],
        )
    )
    if detail is not None:
        out.print(space_table(detail.space, f"space of '{detail.name}' ({detail.space_source})"))
        for note in detail.notes:
            out.print(f"note: {note}")
