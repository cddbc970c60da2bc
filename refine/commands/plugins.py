"""``refine plugins``: the rule plugins loaded, with their versions, and every setting (the engine's and theirs)."""

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
    the engine's settings (default, range, owning rule, meaning) and the
    settings the plugins declare.

    Third-party rules register through the entry point group `refine.rules`;
    disable any rule by name with `refine next-space --disable NAME`. Set a
    plugin's setting with `--set NAME.KEY=VALUE` or a `[tool.refine.NAME]`
    table in pyproject.toml.
    """
    from refine.cli import emit_json
    from refine.plugins import Hooks, get_plugin_manager, list_plugins
    from refine.settings import engine_settings

    pm = get_plugin_manager(disable)
    rows = list_plugins(pm)
    engine = [
        {"key": s.name, "rule": s.owner, "default": s.default, "range": s.range, "flag": s.flag, "help": s.help}
        for s in engine_settings()
    ]
    declared = Hooks(pm).declared_settings().declared.values()
    settings = [{"key": d.key, "plugin": d.plugin, "default": d.default, "help": d.help} for d in declared]
    if as_json:
        emit_json({"plugins": rows, "engine_settings": engine, "settings": settings})
        return
    console().print(table("rule plugins", ["name", "source", "version", "hooks"], [tuple(r.values()) for r in rows]))
    console().print(
        table(
            "engine settings (--set KEY=VALUE)",
            ["key", "default", "range", "rule", "meaning"],
            [(s.name, s.shown, s.range or "", s.owner, s.help) for s in engine_settings()],
        )
    )
    if settings:
        console().print(
            table(
                "plugin settings (--set KEY=VALUE)",
                ["key", "plugin", "default", "meaning"],
                [(s["key"], s["plugin"], repr(s["default"]), s["help"]) for s in settings],
            )
        )
