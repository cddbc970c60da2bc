"""``refine plugins``: the rule plugins loaded, with their versions."""

from __future__ import annotations

import click

from refine.commands._common import console, json_option, table


@click.command()
@click.option(
    "--disable",
    multiple=True,
    metavar="RULE",
    help="Leave out a rule plugin by name (repeatable), e.g. one that fails to load.",
)
@json_option
def plugins(disable: tuple[str, ...], as_json: bool) -> None:
    """List the loaded rule plugins (built-in and installed) with versions,
    and the settings they declare.

    Third-party rules register through the entry point group `refine.rules`;
    disable any rule by name with `refine next-space --disable NAME`. Set a
    plugin's setting with `--set NAME.KEY=VALUE` or a `[tool.refine.NAME]`
    table in pyproject.toml.
    """
    from refine.cli import emit_json
    from refine.plugins import Hooks, get_plugin_manager, list_plugins

    pm = get_plugin_manager(disable)
    rows = list_plugins(pm)
    declared = Hooks(pm).declared_settings().declared.values()
    settings = [{"key": d.key, "plugin": d.plugin, "default": d.default, "help": d.help} for d in declared]
    if as_json:
        emit_json({"plugins": rows, "settings": settings})
        return
    console().print(table("rule plugins", ["name", "source", "version", "hooks"], [tuple(r.values()) for r in rows]))
    if settings:
        console().print(
            table(
                "plugin settings (--set KEY=VALUE)",
                ["key", "plugin", "default", "meaning"],
                [(s["key"], s["plugin"], repr(s["default"]), s["help"]) for s in settings],
            )
        )
