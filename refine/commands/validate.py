"""``refine validate FILE...``: check space files against SPEC section 1."""

from __future__ import annotations

import sys

import click

from refine.commands._common import json_option


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@json_option
def validate(files: tuple[str, ...], as_json: bool) -> None:
    """Check space FILES; print what is wrong with each, exit 2 if any is broken.

    \b
    Examples:
        refine validate spaces/*.yaml
        refine validate --json my_space.yaml
    """
    from refine.cli import emit_json
    from refine.errors import RefineError
    from refine.spacefile import load_space

    results = []
    for path in files:
        try:
            space = load_space(path)
            results.append({"file": path, "ok": True, "name": space.name, "version": space.version, "error": None})
        except RefineError as e:
            results.append({"file": path, "ok": False, "error": " ".join(str(e).split())})
    if as_json:
        emit_json({"ok": all(r["ok"] for r in results), "files": results})
    else:
        for r in results:
            if r["ok"]:
                click.echo(f"ok: {r['file']} ({r['name']} v{r['version']})")
            else:
                click.echo(f"error: {r['error']}", err=True)
    if not all(r["ok"] for r in results):
        sys.exit(2)
