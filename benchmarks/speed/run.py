"""Measure refine's commands against Optuna's own loading of the same study.

For each size (1k, 10k, 100k complete trials by default) this script makes a
synthetic SQLite study with ``make_study.py`` (cached in
``benchmarks/speed/.cache/``), and for each drifting size (1k by default) a
study whose later trials crowd near good values, as an adaptive sampler's do,
so that ``next-space`` fits its model of the objective (``make_study.py
--drift``, cached in ``benchmarks/speed/.cache-drift/``). On each it runs,
each as a whole process and all in this one run:

- ``optuna load``: ``optuna.load_study(...).get_trials()``, the baseline;
- ``refine inspect DB``;
- ``refine next-space DB --dry-run --json``;
- ``refine next-space DB --importance --dry-run``.

- ``python -c 'import scipy.stats'``, the floor under every ``next-space``.

With ``--repeat N`` the commands take turns, N rounds (so that a change of
the machine's load falls on all of them alike), and each reports its median.
It reports wall time, peak resident memory (``/usr/bin/time -v`` where
present, else ``getrusage(RUSAGE_CHILDREN)`` taken in a fresh wrapper process
per command), CPU time (user + system, from the same), the ratio to the
Optuna load and, for ``next-space``, the median over the rounds of its time
minus the floor's in the same round (wall and CPU), as a Markdown table on
stdout. On a shared machine the CPU columns move much less with the load than
the wall clock does. refine's own modules are byte-compiled first (as an
installed package's are; ``PYTHONDONTWRITEBYTECODE`` would otherwise have
every run compile them).
A command or option that the CLI does not have yet shows as "n/a"; one that
fails shows its exit status, with the end of its stderr after the table.

Usage::

    python benchmarks/speed/run.py                      # 1k, 10k, 100k
    python benchmarks/speed/run.py --sizes 1000,10000
    python benchmarks/speed/run.py --skip-optuna-above 10000
    python benchmarks/speed/run.py --sizes 1000 --drift-sizes 1000 --repeat 5
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_study  # noqa: E402  (a sibling script, not a package)

DEFAULT_SIZES = (1_000, 10_000, 100_000)
DEFAULT_DRIFT_SIZES = (1_000,)
CACHE_DIR = HERE / ".cache"
DRIFT_CACHE_DIR = HERE / ".cache-drift"  # generated, ignored by git
_TIME = "/usr/bin/time"

# Runs a command and prints its wall seconds and the peak RSS (KiB on Linux)
# of its process tree: RUSAGE_CHILDREN covers only this wrapper's children,
# so each command is measured on its own, and timing inside the wrapper
# leaves the wrapper's own start-up out.
_RUSAGE_WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t0 = time.perf_counter()\n"
    "rc = subprocess.call(sys.argv[1:])\n"
    "seconds = time.perf_counter() - t0\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(f'{usage.ru_maxrss} {seconds!r} {usage.ru_utime + usage.ru_stime!r}', file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


@dataclass
class Bench:
    """One command to measure on one study."""

    label: str
    argv: list[str]
    missing: str | None = None  # why the command cannot run yet ("n/a")


@dataclass
class Result:
    """What one command measured on one study."""

    trials: int
    label: str
    study: str = "synthetic"
    seconds: float | None = None
    peak_mib: float | None = None
    note: str = ""
    stderr_tail: str = ""
    samples: list[float] = field(default_factory=list)
    over_floor: float | None = None
    cpu_samples: list[float] = field(default_factory=list)
    cpu: float | None = None
    cpu_over_floor: float | None = None


def study_path(n_trials: int, seed: int, cache_dir: Path, drift: bool = False) -> Path:
    """Return the cached study of ``n_trials``, generating it if missing.

    Args:
        n_trials: Number of trials.
        seed: Seed of the synthetic objective.
        cache_dir: Folder of the cached studies.
        drift: A drifting study (``make_study.py --drift``).

    Returns:
        Path of the SQLite file.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    kind = "drift_" if drift else ""
    name = f"study_{kind}{n_trials}_seed{seed}_v{make_study.GENERATOR_VERSION}.db"
    path = cache_dir / name
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    t0 = time.perf_counter()
    make_study.write_study(partial, n_trials, seed, drift=drift)
    partial.rename(path)
    _log(f"generated {path.name} in {time.perf_counter() - t0:.1f} s")
    return path


def refine_argv() -> list[str]:
    """The ``refine`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "refine"
    if script.exists():
        return [str(script)]
    found = shutil.which("refine")
    return [found] if found else [sys.executable, "-m", "refine"]


def compile_refine() -> None:
    """Byte-compile refine's modules, as installing a package does (an editable install under
    ``PYTHONDONTWRITEBYTECODE`` would compile them again in every measured process)."""
    import importlib.util

    for package in ("refine", "refine_protect"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                subprocess.run([sys.executable, "-m", "compileall", "-q", folder], stdout=subprocess.DEVNULL)


def _help(argv: list[str]) -> str | None:
    proc = subprocess.run(argv + ["--help"], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def _missing(help_text: str | None, command: str, options: list[str]) -> str | None:
    if help_text is None:
        return f"no `{command}` command"
    absent = [o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", help_text)]
    return f"no {', '.join(absent)} option" if absent else None


def benches(db: Path, study_name: str, out_dir: Path) -> list[Bench]:
    """The commands to measure on one study, with what the CLI lacks."""
    refine = refine_argv()
    load = f"import optuna; optuna.load_study(study_name={study_name!r}, storage={f'sqlite:///{db}'!r}).get_trials()"
    inspect_help = _help(refine + ["inspect"])
    next_help = _help(refine + ["next-space"])
    out = ["--out", str(out_dir)] if next_help and "--out" in next_help else []
    return [
        Bench("optuna load + get_trials", [sys.executable, "-c", load]),
        # the floor under every next-space: the evidence's statistics need SciPy's stats package
        Bench("python -c 'import scipy.stats' (floor)", [sys.executable, "-c", "import scipy.stats"]),
        Bench(
            "refine inspect",
            refine + ["inspect", str(db)],
            _missing(inspect_help, "inspect", []),
        ),
        Bench(
            "refine next-space --dry-run --json",
            refine + ["next-space", str(db), "--dry-run", "--json"] + out,
            _missing(next_help, "next-space", ["--dry-run", "--json"]),
        ),
        Bench(
            "refine next-space --importance --dry-run",
            refine + ["next-space", str(db), "--importance", "--dry-run"] + out,
            _missing(next_help, "next-space", ["--importance", "--dry-run"]),
        ),
    ]


def measure(argv: list[str], cwd: Path) -> tuple[float, float | None, int, str, float | None]:
    """Run ``argv`` once as a whole process.

    Returns:
        Wall seconds, peak RSS in MiB (None if unknown), exit status, the
        end of its stderr, and its CPU seconds (user + system; None if unknown).
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage"
        if os.access(_TIME, os.X_OK):
            wrapped = [_TIME, "-v", "-o", str(report)] + argv
        else:
            wrapped = [sys.executable, "-c", _RUSAGE_WRAPPER] + argv
        t0 = time.perf_counter()
        proc = subprocess.run(wrapped, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - t0
        stderr = proc.stderr
        peak_kib: float | None = None
        cpu: float | None = None
        if report.exists():
            text = report.read_text()
            match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
            peak_kib = float(match.group(1)) if match else None
            times = [re.search(rf"{kind} time \(seconds\): ([\d.]+)", text) for kind in ("User", "System")]
            cpu = sum(float(m.group(1)) for m in times if m) if all(times) else None
        else:
            lines = stderr.rstrip().splitlines()
            if lines and re.fullmatch(r"\d+ [\d.e-]+ [\d.e-]+", lines[-1]):
                peak_text, seconds_text, cpu_text = lines[-1].split()
                peak_kib, seconds, cpu = float(peak_text), float(seconds_text), float(cpu_text)
                # ru_maxrss is in bytes on macOS, KiB on Linux.
                if sys.platform == "darwin":
                    peak_kib /= 1024
                stderr = "\n".join(lines[:-1])
    peak = peak_kib / 1024 if peak_kib is not None else None
    return seconds, peak, proc.returncode, stderr[-2000:], cpu


def _warm_page_cache(path: Path) -> None:
    # Every command then reads the file from memory, the first one included.
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def run_size(
    n_trials: int, db: Path, study_name: str, repeat: int, skip_optuna: bool, study: str = "synthetic"
) -> list[Result]:
    """Measure every command on one study, the commands taking turns for ``repeat`` rounds."""
    _warm_page_cache(db)
    with tempfile.TemporaryDirectory(prefix="refine-bench-") as tmp:
        out_dir = Path(tmp)
        todo: list[tuple[Bench, Result]] = []
        results = []
        for bench in benches(db, study_name, out_dir):
            result = Result(n_trials, bench.label, study)
            results.append(result)
            if bench.label.startswith("optuna") and skip_optuna:
                result.note = "skipped (--skip-optuna-above)"
            elif bench.missing:
                result.note = f"n/a: {bench.missing}"
            else:
                todo.append((bench, result))
        peaks: dict[str, list[float]] = {}
        for round_ in range(repeat):
            for bench, result in todo:
                if result.note:
                    continue
                _log(f"{n_trials:>7} trials ({study}): {bench.label} [{round_ + 1}/{repeat}] ...")
                seconds, peak, rc, stderr, cpu = measure(bench.argv, out_dir)
                if rc != 0:
                    result.note = f"failed (exit {rc})"
                    result.stderr_tail = stderr
                    continue
                result.samples.append(seconds)
                if cpu is not None:
                    result.cpu_samples.append(cpu)
                if peak is not None:
                    peaks.setdefault(result.label, []).append(peak)
    floor = next((r for r in results if r.label.startswith("python -c")), None)
    for result in results:
        if result.samples and not result.note:
            result.seconds = statistics.median(result.samples)
            result.peak_mib = max(peaks[result.label]) if peaks.get(result.label) else None
            result.cpu = statistics.median(result.cpu_samples) if result.cpu_samples else None
            if floor is not None and floor.samples and "next-space" in result.label:
                paired = [a - b for a, b in zip(result.samples, floor.samples)]
                result.over_floor = statistics.median(paired) if paired else None
                paired = [a - b for a, b in zip(result.cpu_samples, floor.cpu_samples)]
                result.cpu_over_floor = statistics.median(paired) if paired else None
    return results


def markdown(results: list[Result]) -> str:
    """The results as a Markdown table, with ratios to the Optuna load and next-space's time over the floor."""
    baseline = {(r.trials, r.study): r.seconds for r in results if r.label.startswith("optuna") and r.seconds}
    lines = [
        "| trials | study | command | seconds | over floor | CPU s | CPU over floor | peak MiB | vs optuna load |",
        "|-------:|-------|---------|--------:|-----------:|------:|---------------:|---------:|---------------:|",
    ]
    for r in results:
        if r.seconds is None:
            shown = "n/a" if r.note.startswith("n/a") else "—"
            lines.append(f"| {r.trials:,} | {r.study} | {r.label} | {shown} | | | | {shown} | {r.note} |")
            continue
        base = baseline.get((r.trials, r.study))
        ratio = f"{base / r.seconds:.1f}× faster" if base else "—"
        if r.label.startswith("optuna"):
            ratio = "1.0× (baseline)"
        peak = f"{r.peak_mib:,.0f}" if r.peak_mib is not None else "?"
        over = f"{r.over_floor:+.2f}" if r.over_floor is not None else ""
        cpu = f"{r.cpu:.2f}" if r.cpu is not None else "?"
        cpu_over = f"{r.cpu_over_floor:+.2f}" if r.cpu_over_floor is not None else ""
        cells = [f"{r.trials:,}", r.study, r.label, f"{r.seconds:.2f}", over, cpu, cpu_over, peak, ratio]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment() -> str:
    """One line saying when, where and with what the numbers were taken."""
    import optuna

    try:
        from importlib.metadata import version

        refine_version = version("refine")
    except Exception:  # the benchmark still runs without an installed refine
        refine_version = "not installed"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{datetime.date.today().isoformat()} · {platform.platform()} · "
        f"{os.cpu_count()} CPUs · Python {platform.python_version()} · "
        f"optuna {optuna.__version__} · refine {refine_version}" + (f" @ {commit}" if commit else "")
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 1000,10000, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return sizes


def _sizes_or_none(text: str) -> list[int]:
    return [] if text.strip().lower() in ("", "none") else _sizes(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated trial counts (default: 1000,10000,100000)",
    )
    parser.add_argument(
        "--skip-optuna-above",
        type=int,
        default=None,
        metavar="N",
        help="do not measure the Optuna load on studies of more than N trials (100k takes 1.5-2 min and ~3.9 GB)",
    )
    parser.add_argument(
        "--drift-sizes",
        type=_sizes_or_none,
        default=list(DEFAULT_DRIFT_SIZES),
        help="comma-separated trial counts of drifting studies, whose next-space fits the model (default: 1000; "
        "'none' for none)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every command; median reported")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic studies")
    parser.add_argument("--cache", type=Path, default=CACHE_DIR, help="folder of cached studies")
    parser.add_argument("--drift-cache", type=Path, default=DRIFT_CACHE_DIR, help="folder of cached drifting studies")
    args = parser.parse_args(argv)

    compile_refine()
    results: list[Result] = []
    for n in args.sizes:
        db = study_path(n, args.seed, args.cache)
        skip = args.skip_optuna_above is not None and n > args.skip_optuna_above
        results += run_size(n, db, make_study.DEFAULT_STUDY_NAME, max(1, args.repeat), skip)
    for n in args.drift_sizes:
        db = study_path(n, args.seed, args.drift_cache, drift=True)
        skip = args.skip_optuna_above is not None and n > args.skip_optuna_above
        results += run_size(n, db, make_study.DEFAULT_STUDY_NAME, max(1, args.repeat), skip, study="drifting")

    print(environment())
    print()
    print(markdown(results))
    failures = [r for r in results if r.stderr_tail]
    for r in failures:
        print(f"\n{r.label} on {r.trials:,} trials, end of stderr:\n```\n{r.stderr_tail}\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
