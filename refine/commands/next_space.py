"""``refine next-space STORAGE``: write the next version of a study's space, with the reasons."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

import click

from refine.commands._common import console, json_option, parse_sets, study_option, table


def _settings_epilog() -> str:
    """Every setting with its default, for --help (what --set and [tool.refine] take)."""
    from refine.settings import engine_settings

    lines = ["\b", "Settings (--set KEY=VALUE, or [tool.refine] in pyproject.toml / refine.toml):"]
    for s in engine_settings():
        lines.append(f"  {s.name}={s.default}{f' in {s.range}' if s.range else ''}: {s.help}")
    lines.append(
        "  NAME.KEY=VALUE: a rule plugin's own setting ([tool.refine.NAME] table); `refine plugins` lists them"
    )
    return "\n".join(lines)


@click.command("next-space", epilog=_settings_epilog())
@click.argument("storage")
@study_option
@click.option(
    "--space",
    "space_file",
    type=click.Path(dir_okay=False),
    help="The current space file (default: the one the study remembers, else inferred as v1).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Directory for the new files (default: beside --space, else the current directory).",
)
@click.option("--metric", help="Rank trials by this user attribute instead of the objective (e.g. precision).")
@click.option(
    "--metric-direction",
    type=click.Choice(["maximize", "minimize"]),
    default=None,
    help="Which way --metric is better [default: the study's direction; required for a multi-objective study].",
)
@click.option(
    "--then",
    "then",
    multiple=True,
    metavar="NAME[:max|:min]",
    help="Break ties of --metric by this key, in turn (repeatable).",
)
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar='"NAME OP X"',
    help='Rank only trials keeping this condition (repeatable): --where "recall >= 0.5".',
)
@click.option("--elite-fraction", type=float, help="Share of COMPLETE trials that are elites [default 0.2].")
@click.option("--fair-trial", type=int, help="Trials a choice needs before it is judged [default 20].")
@click.option("--baseline", type=float, help="Chance level of the objective; a best value near it is flagged.")
@click.option("--disable", multiple=True, metavar="RULE", help="Leave out a rule plugin by name (repeatable).")
@click.option(
    "--set", "sets", multiple=True, metavar="KEY=VALUE", help="Any setting, e.g. --set fix_p=0.05 (see README)."
)
@click.option(
    "--importance", is_flag=True, help="Add Optuna's parameter importances to the rationale (slow on big studies)."
)
@click.option("--dry-run", is_flag=True, help="Print the decisions; write nothing.")
@json_option
def next_space(
    storage,
    study,
    space_file,
    out_dir,
    metric,
    metric_direction,
    then,
    where,
    elite_fraction,
    fair_trial,
    baseline,
    disable,
    sets,
    importance,
    dry_run,
    as_json,
):
    """Read a finished (or running) study and write the next space version.

    Writes <name>.v<N+1>.yaml, plus the rationale as <name>.v<N+1>.md (for
    people) and .json (for scripts). Never overwrites an existing version and
    never writes to the study.

    \b
    Examples:
        refine next-space study.db
        refine next-space study.db --study clf-v2 --space spaces/clf.v2.yaml --out spaces/
        refine next-space study.db --metric precision --set fix_effect=0.03 --json
    """
    from refine.cli import emit_json
    from refine.engine import next_space as run_engine

    settings = parse_sets(sets)
    for key, value in (
        ("metric", metric),
        ("metric_direction", metric_direction),
        ("elite_fraction", elite_fraction),
        ("fair_trial", fair_trial),
        ("baseline", baseline),
    ):
        if value is not None:
            settings[key] = value
    if then:
        settings["then"] = tuple(then)
    if where:
        settings["where"] = tuple(where)
    if disable:
        settings["disabled"] = ",".join(disable)
    prefetch = _import_in_background("scipy.stats")
    try:
        result = run_engine(storage, study, space_file, **settings)
    finally:
        prefetch.join()
    if importance:
        import time

        from refine.importance import add_importance

        n = sum(result.evidence.study.counts().values())
        message = f"computing parameter importances (Optuna's PED-ANOVA) on {n} trials; large studies take a while"
        started = time.perf_counter()
        screen = console(stderr=True)
        if not screen.is_terminal:  # a spinner shows only on a terminal; a log gets the line
            click.echo(message, err=True)
        with screen.status(message):
            result = add_importance(result)
        click.echo(f"importances computed in {time.perf_counter() - started:.1f} s", err=True)
    directory = Path(out_dir) if out_dir else (Path(space_file).parent if space_file else Path.cwd())
    if not dry_run:
        result = result.save(directory)
    else:
        stem = directory / result.file_stem()
        taken = [p for p in (stem.with_name(stem.name + x) for x in (".yaml", ".md", ".json")) if p.exists()]
        if taken:
            click.echo(
                f"warning: {taken[0]} exists: without --dry-run, next-space would refuse to overwrite it "
                "(give --out DIR, or move it away)",
                err=True,
            )
    decisions = [{"param": d.param, "action": d.action, "rule": d.rule, "reason": d.reason} for d in result.decisions]
    if as_json:
        # with --dry-run: where the files would go (nothing is written; "dry_run" says so)
        stem = directory / result.file_stem()
        paths = (result.space_path, result.rationale_path, result.json_path)
        if dry_run:
            paths = (
                stem.with_name(stem.name + ".yaml"),
                stem.with_name(stem.name + ".md"),
                stem.with_name(stem.name + ".json"),
            )
        emit_json(
            {
                "space_path": str(paths[0]),
                "rationale_path": str(paths[1]),
                "json_path": str(paths[2]),
                "dry_run": bool(dry_run),
                "version": result.space.version,
                "decisions": decisions,
                "red_flags": result.rationale["red_flags"],
                "advice": result.rationale.get("advice"),
                **({"importance": result.rationale["importance"]} if "importance" in result.rationale else {}),
            }
        )
        return
    out = console()
    out.print(
        table(
            f"{result.previous.name} v{result.previous.version} -> v{result.space.version}",
            ["param", "old", "new", "action", "rule"],
            [(d["param"], d["old"], d["new"], d["action"], d["rule"]) for d in result.rationale["decisions"]],
        )
    )
    for flag in result.rationale["red_flags"]:
        out.print(f"[yellow]red flag:[/yellow] {flag}")
    advice = result.rationale.get("advice")
    if advice:
        more = (
            f" {advice['trials']} more trials"
            if advice["action"] in ("extend", "continue") and advice["trials"]
            else ""
        )
        out.print(f"advice: {advice['action']}{more}: {advice['reason']}", markup=False)
    if dry_run:
        out.print("dry run: nothing written")
    else:
        out.print(f"wrote {result.space_path}\nrationale {result.rationale_path} and {result.json_path}")


def _import_in_background(name: str) -> threading.Thread:
    """Start importing ``name`` on a daemon thread and return the thread.

    The evidence needs :mod:`scipy.stats`, whose import alone takes most of a
    second; begun here, it overlaps reading the study, during which SQLite
    runs without the GIL. A failure is left for the main thread's own import
    to report.
    """

    def run() -> None:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - reported by the import that needs it
            pass

    thread = threading.Thread(target=run, name=f"import {name}", daemon=True)
    thread.start()
    return thread
