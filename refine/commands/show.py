"""``refine show FILE|STORAGE``: a space file, or a study's space, counts, best trial and gaps."""

from __future__ import annotations

import click

from refine.commands._common import (
    console,
    json_option,
    looks_like_space_file,
    space_json,
    space_table,
    study_option,
    table,
)


@click.command()
@click.argument("target")
@study_option
@json_option
@click.option(
    "-o",
    "--output",
    "output",
    metavar="FILE",
    help="Also write the study's space to FILE (a space file to edit and give to next-space --space); never "
    "overwrites.",
)
def show(target: str, study: str | None, as_json: bool, output: str | None) -> None:
    """Show a space FILE, or a study in STORAGE.

    For a study: its space (remembered or inferred), trials by state, the best
    trial, and the parts of each range that no trial tested. With ``-o FILE``
    the study's space is written as a space file; an inferred one carries the
    natural bounds refine assumed as `limits` (a fraction in [0, 1], a 0/1
    toggle), so that they can be read and edited.

    \b
    Examples:
        refine show spaces/clf.v2.yaml
        refine show study.db --study clf-v1
        refine show study.db --study clf-v1 -o clf.v1.yaml
    """
    from refine.cli import emit_json

    if looks_like_space_file(target):
        from refine.errors import RefineError
        from refine.spacefile import load_space

        if study is not None:
            raise RefineError(f"--study names a study in a storage; {target} is a space file (leave --study out)")
        if output is not None:
            raise RefineError(f"-o writes the space of a study; {target} is already a space file (copy it instead)")

        space = load_space(target)
        if as_json:
            emit_json({"file": target, "space": space_json(space)})
        else:
            console().print(space_table(space))
        return
    from refine.coverage import coverage
    from refine.ranking import own_rows
    from refine.study import read_study

    data = read_study(target, study)
    written = _write_space(data, output) if output is not None else None
    natural = None
    if data.space_source == "inferred":
        from refine.natural import describe_natural

        natural = describe_natural(data.space)
    counts = data.counts()
    best = _best(data)
    inherited = None if "refine:history_from" not in data.user_attrs else ~own_rows(data)
    own_best = _best(data, ~inherited) if inherited is not None and inherited.any() else None
    gaps = coverage(data, data.space)
    if as_json:
        emit_json(
            {
                "storage": data.storage,
                "study": data.name,
                "directions": list(data.directions),
                "trials": counts,
                "space_source": data.space_source,
                "space": space_json(data.space),
                "best": best,
                "own_best": own_best,
                "history": 0 if inherited is None else int(inherited.sum()),
                "gaps": gaps,
                "notes": list(data.notes),
            }
            | ({"written": str(written)} if written is not None else {})
            | ({"natural_bounds": natural} if natural else {})
        )
        return
    out = console()
    out.print(space_table(data.space, f"study '{data.name}': space {data.space_source} (v{data.space.version})"))
    out.print("trials: " + (", ".join(f"{v} {k}" for k, v in counts.items()) or "none"))
    if best is None:
        if counts.get("COMPLETE"):
            out.print("no COMPLETE trial has a finite value: nothing is ranked (next-space needs at least one)")
        else:
            out.print("no COMPLETE trial yet: nothing is ranked (next-space needs at least one)")
    elif isinstance(best, list):
        out.print(f"best: {len(best)} trial{'s' if len(best) > 1 else ''} on the Pareto front")
        for b in best:
            out.print(f"  trial {b['number']}, values {b['value']} ({_params(b)})")
    else:
        out.print(f"best: trial {best['number']}, value {best['value']} ({_params(best)})")
    if inherited is not None and inherited.any():
        n = int(inherited.sum())
        if own_best is None:
            out.print(f"its own best: none yet ({n} trials are a warm start's history)")
        elif isinstance(own_best, dict):
            out.print(
                f"its own best (without the {n} history trials of the warm start): trial {own_best['number']}, "
                f"value {own_best['value']}"
            )
    if gaps:
        out.print(table("never tested", ["param", "gaps"], [(k, ", ".join(map(str, v))) for k, v in gaps.items()]))
    for note in data.notes:
        out.print(f"note: {note}")
    if natural:
        out.print(f"note: {natural}")
    if written is not None:
        out.print(f"wrote {written}", soft_wrap=True)  # a path is never wrapped, whatever the width


def _write_space(data, output: str):
    """Write the study's space to ``output``; an inferred one with its natural bounds as `limits`."""
    from refine.natural import with_natural_limits
    from refine.spacefile import atomic_write, dump_space, refuse_overwriting_inputs

    space = with_natural_limits(data.space) if data.space_source == "inferred" else data.space
    if data.path is not None:
        refuse_overwriting_inputs(output, [data.path])
    return atomic_write(output, dump_space(space), hint="remove it or choose another -o")


def _params(best: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in best["params"].items())


def _best(data, among=None):
    """The best trial (of the rows ``among``) as a dict; for several objectives, the Pareto front as a list of them."""
    from refine.ranking import best_rows

    rows = best_rows(data, among)
    if not rows:
        return None
    if len(data.directions) > 1:
        return [
            {"number": int(data.numbers[r]), "value": [float(v) for v in data.values[r]], "params": data.config(int(r))}
            for r in rows
        ]
    row = rows[0]
    return {"number": int(data.numbers[row]), "value": float(data.values[row, 0]), "params": data.config(row)}
