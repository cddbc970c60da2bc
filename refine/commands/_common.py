"""Pieces the commands share: options, the rich console, tables."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import click

study_option = click.option(
    "--study", "--study-name", "study", metavar="NAME", help="Study name; optional when the storage holds one study."
)

#: ``-f/--format`` as Optuna's CLI spells it: table is what a person reads, json what ``--json`` prints.
FORMATS = ("table", "json", "yaml")
_FORMAT_KEY = "refine.format"


def _as_json(ctx: click.Context, flag: bool) -> bool:
    chosen = ctx.meta.get(_FORMAT_KEY)
    if flag and chosen == "table":
        raise click.UsageError("--json and -f table ask for two formats; give one")
    return bool(flag) or chosen in ("json", "yaml")


def _json_given(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    return _as_json(ctx, value)


def _format_given(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    # click runs the callbacks in the order the options were typed: whichever of
    # --json and -f comes second settles as_json.
    if value is not None:
        ctx.meta[_FORMAT_KEY] = value
        if "as_json" in ctx.params:
            ctx.params["as_json"] = _as_json(ctx, ctx.params["as_json"])
    return value


def output_format() -> str:
    """The format chosen for the running command: ``table``, ``json`` or ``yaml``."""
    ctx = click.get_current_context(silent=True)
    return (ctx.meta.get(_FORMAT_KEY) if ctx is not None else None) or "table"


def json_option(fn: Any = None, *, help: str | None = None) -> Any:
    """``--json`` and ``-f/--format table|json|yaml``, as one choice: the command sees ``as_json``.

    ``-f json`` is ``--json``; ``-f yaml`` prints the same object as YAML
    (:func:`refine.cli.emit_json` reads the choice); ``-f table`` is the
    default, what a person reads. Use as ``@json_option`` or
    ``@json_option(help="...")``.
    """

    def decorate(f: Any) -> Any:
        f = click.option(
            "-f",
            "--format",
            "output_format",
            type=click.Choice(FORMATS),
            default=None,
            expose_value=False,
            callback=_format_given,
            help="Output format, as Optuna's CLI takes it: table (default), json (= --json) or yaml.",
        )(f)
        return click.option(
            "--json",
            "as_json",
            is_flag=True,
            callback=_json_given,
            help=help or "Print one JSON object on stdout instead of tables.",
        )(f)

    return decorate(fn) if fn is not None else decorate


def ranking_options(fn: Any) -> Any:
    """``--metric``, ``--metric-direction``, ``--then`` and ``--where``: how trials are ranked (refine.ranking)."""
    for option in reversed(
        (
            click.option(
                "--metric",
                default=None,
                help="Rank trials by this objective label or user attribute (e.g. precision) instead of the objective.",
            ),
            click.option(
                "--metric-direction",
                type=click.Choice(["maximize", "minimize"]),
                default=None,
                help="Which way --metric is better [default: the study's direction].",
            ),
            click.option(
                "--then",
                "then",
                multiple=True,
                metavar="NAME[:max|:min]",
                help="Break ties of --metric by this key, in turn (repeatable): --metric precision --then recall.",
            ),
            click.option(
                "--where",
                "where",
                multiple=True,
                metavar='"NAME OP X"',
                help='Only trials keeping this condition rank (repeatable): --where "recall >= 0.5".',
            ),
        )
    ):
        fn = option(fn)
    return fn


def ranking_from(metric: str | None, direction: str | None, then: Sequence[str], where: Sequence[str]) -> Any:
    """The :class:`refine.ranking.Ranking` of those options; ``None`` for the default (the objective)."""
    from refine.ranking import Ranking

    if direction and not metric:
        from refine.errors import RefineError

        raise RefineError("--metric-direction says which way --metric is better: give --metric NAME too")
    ranking = Ranking.parse(metric, then, where, direction)
    return None if ranking.default else ranking


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]):
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_lines=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[str(x) for x in r])
    return t


def parse_sets(values: Sequence[str]) -> dict[str, str]:
    """``key=value`` pairs of ``--set`` options."""
    from refine.errors import RefineError

    out = {}
    for item in values:
        if "=" not in item:
            raise RefineError(f"--set expects key=value, got {item!r}; e.g. --set fix_p=0.05")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def space_table(space: Any, title: str | None = None):
    """A rich table of a space: one row per parameter, then the fixed values."""
    from refine.diff import describe

    rows = [(name, p.kind, describe(p)) for name, p in space.params.items()]
    rows += [(name, "fixed", describe(None, v, is_fixed=True)) for name, v in space.fixed.items()]
    heading = title or f"{space.name} v{space.version} ({', '.join(space.directions)}" + (
        f", metric {space.metric_label})" if space.metric else ")"
    )
    return table(heading, ["param", "type", "definition"], rows)


def space_json(space: Any) -> dict:
    from refine.spacefile import space_to_dict

    return space_to_dict(space)


def looks_like_space_file(path: str) -> bool:
    return path.lower().endswith((".yaml", ".yml"))
