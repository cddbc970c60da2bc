"""``refine plugins``: the rule plugins loaded, with their versions."""

from __future__ import annotations

import click

from refine.commands._common import console, json_option, table


@click.command()
@json_option
def plugins(as_json: bool) -> None:
    """List the loaded rule plugins (built-in and installed) with versions.

    Third-party rules register through the entry point group `refine.rules`;
    disable any rule by name with `refine next-space --disable NAME`.
    """
    from refine.cli import emit_json
    from refine.plugins import get_plugin_manager, list_plugins

    rows = list_plugins(get_plugin_manager())
    if as_json:
        emit_json({"plugins": rows})
        return
    console().print(table("rule plugins", ["name", "source", "version", "hooks"], [tuple(r.values()) for r in rows]))
