"""The ``refine`` command line: a click group whose commands load lazily.

Each command lives in its own module under :mod:`refine.commands`, imported
only when that command runs, so that ``refine --help`` stays fast and never
imports optuna, scipy or torch. Every command follows the same habits
(SPEC section 2): ``--help`` that teaches, ``--json`` where a script parses the
output, and exit status 2 with a one-line ``error:`` for a user's mistake.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from typing import Any

import click

from refine.errors import RefineError

__all__ = ["main", "cli", "emit_json"]

#: command name -> "module:attribute" of its click command, in --help order.
COMMANDS: dict[str, str] = {
    "next-space": "refine.commands.next_space:next_space",
    "show": "refine.commands.show:show",
    "inspect": "refine.commands.inspect:inspect_",
    "validate": "refine.commands.validate:validate",
    "diff": "refine.commands.diff:diff",
    "plugins": "refine.commands.plugins:plugins",
    "run": "refine.commands.run:run",
    "compare": "refine.commands.compare:compare",
    "best": "refine.commands.best:best",
    "rerun": "refine.commands.rerun:rerun",
    "report": "refine.commands.report:report",
    "export": "refine.commands.interop:export",
    "import": "refine.commands.interop:import_",
    "import-trials": "refine.commands.import_trials:import_trials",
}

_HELP = {
    "next-space": "Write the next version of a study's search space, with the reasons.",
    "show": "Show a space file, or a study's space, trial counts and best trial.",
    "inspect": "List the studies in a storage with their counts, directions and space.",
    "validate": "Check space files against the contract; exit 2 if any is broken.",
    "diff": "Compare two space files parameter by parameter.",
    "plugins": "List the loaded rule plugins and their versions.",
    "run": "Run trials of a space against an objective (the executor).",
    "compare": "Choose between studies the way a careful team does (the decision gate).",
    "best": "Print a study's winning configuration (params + fixed).",
    "rerun": "Re-evaluate a study's top configurations under changed settings.",
    "report": "Write a self-contained HTML report of a study or a lineage.",
    "export": "Export a space to ConfigSpace, a W&B sweep or Optuna code.",
    "import": "Import a ConfigSpace or W&B sweep file as a space file.",
    "import-trials": "Turn a table of past trials (CSV, JSON, W&B or Ray Tune export) into a study.",
}


def _available(name: str) -> bool:
    module = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module) is not None


class _LazyGroup(click.Group):
    """A group that imports a command's module only when it is invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not _available(name):
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="refine", prog_name="refine")
def cli() -> None:
    """Refine a hyperparameter search space from a finished Optuna study.

    Typical loop: run a sweep, then

    \b
        refine next-space study.db          # writes <name>.v2.yaml + rationale
        refine diff space.v1.yaml space.v2.yaml
        refine run space.v2.yaml --objective mymod:objective --storage study2.db

    Every command takes --help. Bad input exits with status 2 and one line
    starting with "error:".
    """


def _finite(obj: Any) -> Any:
    """JSON has no infinity: non-finite floats become the strings "inf", "-inf" and "nan"."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _quick_exit() -> None:
    """End the process now that the command succeeded, without the interpreter's teardown.

    Python frees every module's objects one by one at exit: 0.2-0.3 s once
    SciPy (and scikit-learn) are loaded, a tenth of ``next-space`` on a
    small study. Here the exit does what that teardown does that matters:
    the ``atexit`` handlers run (temporary folders, multiprocessing, coverage),
    stdout and stderr are flushed, and the status is 0. It returns (and the
    interpreter exits as usual) where a thread that is not a daemon still
    runs, which the interpreter would wait for, where SQLAlchemy is loaded
    (a database read through Optuna, whose connections its teardown closes),
    or where flushing fails (a closed pipe: the interpreter reports it).
    Only for a real process (``argv`` not given to :func:`main`), never
    in-process under a test.
    """
    import atexit
    import os
    import threading

    if any(t.is_alive() and not t.daemon and t is not threading.main_thread() for t in threading.enumerate()):
        return
    if "sqlalchemy" in sys.modules:  # a database's connections (read through Optuna) are closed as its server expects
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(0)


def emit_json(obj: Any) -> None:
    """Print one JSON document on stdout (what scripts parse); as YAML when the command got ``-f yaml``."""
    from refine.commands._common import output_format

    text = json.dumps(_finite(obj), indent=2, sort_keys=False, default=str, allow_nan=False)
    if output_format() == "yaml":
        import yaml

        text = yaml.safe_dump(json.loads(text), sort_keys=False, allow_unicode=True, default_flow_style=False).rstrip(
            "\n"
        )
    click.echo(text)


#: commands that only read a study and write their own files, after which the process ends at once (see
#: :func:`_quick_exit`)
QUICK_EXIT = ("next-space", "inspect")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: ``RefineError`` becomes ``error:`` and exit 2."""
    import logging

    # SQLAlchemy logs a cursor it cannot close after Ctrl-C as an error with a traceback; the
    # command says what happened in one line, and SQLAlchemy's real errors arrive as exceptions
    logging.getLogger("sqlalchemy").addHandler(logging.NullHandler())
    try:
        cli.main(args=argv, prog_name="refine", standalone_mode=False)
        if argv is None and next((a for a in sys.argv[1:] if not a.startswith("-")), None) in QUICK_EXIT:
            _quick_exit()
    except RefineError as e:
        click.echo(f"error: {' '.join(str(e).split())}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `refine`: the help, as it reads with --help
            click.echo(e.ctx.get_help() if e.ctx is not None else e.format_message())
            sys.exit(0)
        where = e.ctx.command_path if e.ctx is not None else "refine"
        if where == "refine":  # an option's value missing in a subcommand is reported on the group's context
            args = sys.argv[1:] if argv is None else argv
            sub = next((a for a in args if not a.startswith("-")), None)
            if sub in cli.list_commands(click.Context(cli)):
                where = f"refine {sub}"
        click.echo(f"error: {' '.join(e.format_message().split())} (see '{where} --help')", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"error: {' '.join(e.format_message().split())}", err=True)
        sys.exit(2 if e.exit_code in (1, 2) else e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as e:  # a path given on the command line that cannot be read or written
        where = f" {e.filename}" if e.filename else ""
        click.echo(f"error: cannot use{where}: {e.strerror or e}", err=True)
        sys.exit(2)
