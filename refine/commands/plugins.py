"""``refine plugins``: the rule plugins loaded, with their versions, every setting (the engine's and theirs) and every
statistic a rule can ask for."""

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
    the engine's settings (default, range, owning rule, meaning), the
    settings the plugins declare, and the named statistics a rule can ask
    for (the evidence's and the plugins', with their fields).

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
    hooks = Hooks(pm)
    declared = hooks.declared_settings().declared.values()
    settings = [{"key": d.key, "plugin": d.plugin, "default": d.default, "help": d.help} for d in declared]
    statistics = [
        {"name": s.name, "plugin": s.plugin, "scope": s.scope, "fields": list(s.fields), "help": s.help}
        for s in hooks.statistics().declared.values()
    ]
    if as_json:
        emit_json({"plugins": rows, "engine_settings": engine, "settings": settings, "statistics": statistics})
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
    console().print(
        table(
            "statistics (evidence.statistic(NAME), or a field: evidence.FIELD)",
            ["name", "plugin", "scope", "fields", "meaning"],
            [(s["name"], s["plugin"], s["scope"], ", ".join(s["fields"]), s["help"]) for s in statistics],
        )
    )
