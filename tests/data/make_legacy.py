"""Make the legacy Optuna SQLite fixtures in ``tests/data/legacy/``.

Each fixture is a study file written by a real Optuna release, so that the
study reader is tested against the schemas people actually have, not against
an imitation of them. Every file holds the same study content (same trials,
same order, same params, values and states), written through that release's
own API (public, save two private calls the README names); the only
differences are the ones Optuna itself makes.

Beside each ``optuna-X.db`` the script writes ``optuna-X.expected.json``: the
studies and trials as that same old release reads them back, the ground truth
for the reader's tests.

Run it in one of three ways (from the repository root, with Python 3.11):

``python tests/data/make_legacy.py --optuna-version X``
    With the Python of a venv where Optuna X is installed: write the fixture
    for that release. The script checks that the installed release is X.

``python tests/data/make_legacy.py --all [--venv-root /tmp/refine-legacy-venvs]``
    The driver: for every release in ``RELEASES`` make a throwaway venv under
    ``--venv-root`` (never inside the repository), install the pinned
    requirements below, and run the first form with that venv's Python.

``python tests/data/make_legacy.py --check-current``
    With the project's own venv (current Optuna): copy every fixture to a
    temporary directory, open the copy with ``optuna.load_study`` and print
    what happens, then print each file's schema and sha256. The committed
    files are never opened by Optuna.

Recipe for the venvs (what ``--all`` runs; measured on CPython 3.11)::

    python3.11 -m venv VENV
    VENV/bin/pip install "setuptools<70" wheel
    # 1.2.0 (alembic v1.2.0.a: no trials.number, the number is the `_number`
    # trial system attribute), like 1.5.0 built from the sdist
    VENV/bin/pip install --no-build-isolation "optuna==1.2.0" "sqlalchemy<1.4" "numpy<2" "scipy<1.12"
    # 1.5.0: no wheel for 3.11, built from the sdist with the old setuptools
    VENV/bin/pip install --no-build-isolation "optuna==1.5.0" "sqlalchemy<1.4" "numpy<2" "scipy<1.12"
    # 2.10.1
    VENV/bin/pip install "optuna==2.10.1" "sqlalchemy<2" "numpy<2" "scipy<1.12"
    # 3.1.1 (3.0.x pins scipy<1.9, which has no wheel for 3.11; 3.1 has the
    # same schema, alembic v3.0.0.d, and no scipy requirement)
    VENV/bin/pip install "optuna==3.1.1" "sqlalchemy<2" "numpy<2"
    # 5.0.0
    VENV/bin/pip install "optuna==5.0.0"
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "legacy"

MAIN_STUDY = "legacy"
MO_STUDY = "legacy-mo"

# Release -> (arguments of the first `pip install`, of the second one).
RELEASES: dict[str, tuple[list[str], list[str]]] = {
    "1.2.0": (
        ["setuptools<70", "wheel"],
        [
            "--no-build-isolation",
            "optuna==1.2.0",
            "sqlalchemy<1.4",
            "numpy<2",
            "scipy<1.12",
        ],
    ),
    "1.5.0": (
        ["setuptools<70", "wheel"],
        [
            "--no-build-isolation",
            "optuna==1.5.0",
            "sqlalchemy<1.4",
            "numpy<2",
            "scipy<1.12",
        ],
    ),
    "2.10.1": (
        ["setuptools<70", "wheel"],
        ["optuna==2.10.1", "sqlalchemy<2", "numpy<2", "scipy<1.12"],
    ),
    "3.1.1": (
        ["setuptools<70", "wheel"],
        ["optuna==3.1.1", "sqlalchemy<2", "numpy<2"],
    ),
    "5.0.0": (
        ["setuptools<70", "wheel"],
        ["optuna==5.0.0"],
    ),
}

N_MAIN = 40
N_MO = 12


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:3] if p.isdigit())


def main_specs() -> list[dict[str, Any]]:
    """The trials of the main study, in order: params and what the objective does."""
    specs = []
    for i in range(N_MAIN):
        params: dict[str, Any] = {
            "lr": float(f"{10 ** (-5 + (i * 13 % 40) / 10):.2e}"),
            "dropout": round((i * 7 % 10) * 0.05, 2),
            "depth": 1 + i * 5 % 8,
            "encoder": "mlp" if i % 3 != 0 else "cnn",
            "wd": (i * 3 % 11) / 100,
        }
        if params["encoder"] == "mlp":
            params["ctx_layers"] = 1 + i % 4
        if i % 10 == 3:
            outcome = "prune"
        elif i == 27:
            outcome = "nan"
        elif i % 10 == 7:
            outcome = "raise"
        elif i == 35:
            outcome = "inf"
        else:
            outcome = "complete"
        specs.append({"params": params, "outcome": outcome, "report": i % 5 == 1})
    return specs


def main_value(params: dict[str, Any]) -> float:
    """The deterministic objective of the main study."""
    value = (
        (math.log10(params["lr"]) + 3) ** 2
        + (params["dropout"] - 0.2) ** 2
        + 0.1 * params["depth"]
        + (0.1 * params["ctx_layers"] if params["encoder"] == "mlp" else 0.5)
        + params["wd"]
    )
    return round(value, 6)


def mo_specs() -> list[dict[str, Any]]:
    """The trials of the multi-objective study, in order."""
    specs = []
    for i in range(N_MO):
        params = {
            "x": i / 20,
            "units": [8, 16, 32, 64, 128, 256][i % 6],
            "act": ["relu", "tanh"][i % 2],
        }
        outcome = {4: "raise", 9: "prune"}.get(i, "complete")
        specs.append({"params": params, "outcome": outcome, "report": i in (1, 2, 5)})
    return specs


def mo_values(params: dict[str, Any]) -> tuple[float, float]:
    """The deterministic objectives of the multi-objective study."""
    x, units = params["x"], params["units"]
    bonus = 0.1 if params["act"] == "relu" else 0.0
    return round(x**2 + units / 1000, 6), round(1 - (x - 0.5) ** 2 + bonus, 6)


def _suggest_main(trial: Any, legacy_api: bool) -> dict[str, Any]:
    """Suggest the main study's params with the API the release offers."""
    if legacy_api:
        lr = trial.suggest_loguniform("lr", 1e-5, 1e-1)
        dropout = trial.suggest_uniform("dropout", 0.0, 0.5)
        wd = trial.suggest_discrete_uniform("wd", 0.0, 0.1, 0.01)
    else:
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        dropout = trial.suggest_float("dropout", 0.0, 0.5)
        wd = trial.suggest_float("wd", 0.0, 0.1, step=0.01)
    params = {
        "lr": lr,
        "dropout": dropout,
        "depth": trial.suggest_int("depth", 1, 8),
        "encoder": trial.suggest_categorical("encoder", ["cnn", "mlp"]),
        "wd": wd,
    }
    if params["encoder"] == "mlp":
        params["ctx_layers"] = trial.suggest_int("ctx_layers", 1, 4)
    return params


def _suggest_mo(trial: Any) -> dict[str, Any]:
    return {
        "x": trial.suggest_float("x", 0.0, 1.0),
        "units": trial.suggest_int("units", 8, 256, log=True),
        "act": trial.suggest_categorical("act", ["relu", "tanh"]),
    }


def _take_spec(specs: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    # Enqueued trials run in order; check that the release honoured the queue.
    spec = specs.pop(0)
    if params != spec["params"]:
        raise AssertionError(f"enqueued {spec['params']}, got {params}")
    return spec


def _write_main_study(optuna: Any, storage: str, legacy_api: bool) -> None:
    study = optuna.create_study(
        study_name=MAIN_STUDY,
        storage=storage,
        direction="minimize",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.set_user_attr("fixture", "refine legacy study")
    specs = main_specs()
    for spec in specs:
        study.enqueue_trial(spec["params"])
    pending = list(specs)

    def objective(trial: Any) -> float:
        params = _suggest_main(trial, legacy_api)
        spec = _take_spec(pending, params)
        trial.set_user_attr("spec", trial.number)
        value = main_value(params)
        if spec["outcome"] == "prune":
            for step in range(3):
                trial.report(round(value * (1 + (3 - step) / 10), 6), step)
            raise optuna.exceptions.TrialPruned()
        if spec["report"]:
            for step in range(2):
                trial.report(round(value * (1 + (2 - step) / 10), 6), step)
        if spec["outcome"] == "raise":
            raise ValueError(f"objective failed on purpose (trial {trial.number})")
        if spec["outcome"] == "nan":
            return float("nan")
        if spec["outcome"] == "inf":
            return float("inf")
        return value

    study.optimize(objective, n_trials=len(specs), catch=(Exception,))

    # One trial left RUNNING, as a killed worker leaves it: params and one
    # intermediate value, never finished.
    running = {"lr": 1e-3, "dropout": 0.25, "depth": 4, "encoder": "mlp", "wd": 0.05}
    running["ctx_layers"] = 2
    study.enqueue_trial(running)
    if hasattr(study, "ask"):
        trial = study.ask()
    else:
        trial = optuna.trial.Trial(study, study._pop_waiting_trial_id())
    params = _suggest_main(trial, legacy_api)
    if params != running:
        raise AssertionError(f"enqueued {running}, got {params}")
    trial.set_user_attr("spec", "running")
    trial.report(1.5, 0)


def _write_mo_study(optuna: Any, storage: str) -> None:
    study = optuna.create_study(
        study_name=MO_STUDY,
        storage=storage,
        directions=["minimize", "maximize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    specs = mo_specs()
    for spec in specs:
        study.enqueue_trial(spec["params"])
    pending = list(specs)

    def objective(trial: Any) -> tuple[float, float]:
        params = _suggest_mo(trial)
        spec = _take_spec(pending, params)
        trial.set_user_attr("spec", trial.number)
        values = mo_values(params)
        if spec["report"]:
            # Trial.report refuses multi-objective studies; the storage takes
            # intermediate values anyway, and real files have them.
            for step in range(2):
                study._storage.set_trial_intermediate_value(trial._trial_id, step, round(values[0] * (2 - step), 6))
        if spec["outcome"] == "raise":
            raise ValueError(f"objective failed on purpose (trial {trial.number})")
        if spec["outcome"] == "prune":
            raise optuna.exceptions.TrialPruned()
        return values

    study.optimize(objective, n_trials=len(specs), catch=(Exception,))
    study.enqueue_trial({"x": 0.5, "units": 32, "act": "tanh"})
    trial = study.ask()
    _suggest_mo(trial)
    trial.set_user_attr("spec", "running")


def _frozen_to_json(optuna: Any, trial: Any) -> dict[str, Any]:
    values = getattr(trial, "values", None)
    if values is None and trial.value is not None:
        values = [trial.value]
    return {
        "number": trial.number,
        "state": trial.state.name,
        "params": trial.params,
        "distributions": {
            name: json.loads(optuna.distributions.distribution_to_json(dist))
            for name, dist in trial.distributions.items()
        },
        "values": None if values is None else list(values),
        "intermediate_values": {str(k): v for k, v in sorted(trial.intermediate_values.items())},
        "user_attrs": trial.user_attrs,
    }


def _dump(expected: dict[str, Any]) -> str:
    """JSON with one trial per line, so that a diff between releases reads well."""
    lines = ["{"]
    for key in ("optuna_version", "alembic_version", "study_names"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(expected[key])},")
    lines.append('  "studies": [')
    for i, study in enumerate(expected["studies"]):
        lines.append("    {")
        for key in ("name", "directions", "user_attrs"):
            lines.append(f"      {json.dumps(key)}: {json.dumps(study[key])},")
        lines.append('      "trials": [')
        trials = [f"        {json.dumps(t)}" for t in study["trials"]]
        lines.append(",\n".join(trials))
        lines.append("      ]")
        lines.append("    }" + ("," if i < len(expected["studies"]) - 1 else ""))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _alembic_version(db: Path) -> str:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        con.close()


def write_fixture(version: str) -> None:
    """Write ``optuna-VERSION.db`` and its expected JSON with the installed Optuna."""
    import optuna

    if optuna.__version__ != version:
        sys.exit(f"error: this Python has Optuna {optuna.__version__}, not {version}")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    # The old APIs are used on purpose; their deprecation warnings are noise here.
    warnings.simplefilter("ignore")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    db = OUT_DIR / f"optuna-{version}.db"
    db.unlink(missing_ok=True)
    storage = f"sqlite:///{db}"
    supports_mo = _version_tuple(version) >= (2, 4)

    _write_main_study(optuna, storage, legacy_api=_version_tuple(version) < (3,))
    if supports_mo:
        _write_mo_study(optuna, storage)

    # Read back with a fresh storage: what this release itself sees in the file.
    names = [MAIN_STUDY] + ([MO_STUDY] if supports_mo else [])
    studies = []
    for name in names:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
        directions = getattr(study, "directions", None) or [study.direction]
        studies.append(
            {
                "name": name,
                "directions": [d.name for d in directions],
                "user_attrs": study.user_attrs,
                "trials": [_frozen_to_json(optuna, t) for t in study.get_trials(deepcopy=False)],
            }
        )
    expected = {
        "optuna_version": version,
        "alembic_version": _alembic_version(db),
        "study_names": names,
        "studies": studies,
    }
    path = OUT_DIR / f"optuna-{version}.expected.json"
    # Non-finite floats are written as JSON's Infinity/NaN, which json.load reads back.
    path.write_text(_dump(expected))
    print(f"wrote {db.relative_to(HERE.parent.parent)} ({db.stat().st_size} bytes)")


def build_all(venv_root: Path, versions: list[str]) -> None:
    """Make a venv per release under ``venv_root`` and write each fixture with it."""
    repo = HERE.parent.parent.resolve()
    if venv_root.resolve().is_relative_to(repo):
        sys.exit(f"error: --venv-root must be outside the repository, got {venv_root}")
    for version in versions:
        first, second = RELEASES[version]
        venv = venv_root / f"optuna-{version}"
        python = venv / "bin" / "python"
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(python), "-m", "pip", "install", "-q"]
            subprocess.run(pip + first, check=True)
            subprocess.run(pip + second, check=True)
        subprocess.run(
            [str(python), str(Path(__file__).resolve()), "--optuna-version", version],
            check=True,
        )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def schema(db: Path) -> dict[str, list[str]]:
    """Each table of ``db`` with its columns, read without writing a byte."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: [c[1] for c in con.execute(f"PRAGMA table_info('{t}')")] for t in tables}
    finally:
        con.close()


def check_current() -> None:
    """Open a copy of each fixture with the installed Optuna and report."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    print(f"Optuna {optuna.__version__}")
    for db in sorted(OUT_DIR.glob("optuna-*.db")):
        print(f"\n## {db.name}  sha256 {sha256(db)}  {db.stat().st_size} bytes")
        print(f"alembic_version: {_alembic_version(db)}")
        for table, columns in schema(db).items():
            print(f"  {table}({', '.join(columns)})")
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / db.name
            shutil.copyfile(db, copy)
            before = schema(copy)
            try:
                study = optuna.load_study(study_name=MAIN_STUDY, storage=f"sqlite:///{copy}")
                outcome = f"load_study works: {len(study.trials)} trials"
            except Exception as exc:  # noqa: BLE001 - the report wants any failure
                outcome = f"load_study raises {type(exc).__name__}: {exc}"
            after = schema(copy)
            print(outcome)
            print(f"copy changed: {sha256(copy) != sha256(db)}")
            added = sorted(set(after) - set(before))
            if added:
                print(f"tables added to the copy: {', '.join(added)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--optuna-version", help="write the fixture with the installed Optuna")
    mode.add_argument("--all", action="store_true", help="make the venvs and every fixture")
    mode.add_argument("--check-current", action="store_true", help="report on copies")
    parser.add_argument(
        "--venv-root",
        type=Path,
        default=Path(tempfile.gettempdir()) / "refine-legacy-venvs",
        help="where --all makes its throwaway venvs (default: %(default)s)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=sorted(RELEASES),
        help="with --all: these releases only",
    )
    args = parser.parse_args()
    if args.optuna_version:
        write_fixture(args.optuna_version)
    elif args.all:
        build_all(args.venv_root, args.only or list(RELEASES))
    else:
        check_current()


if __name__ == "__main__":
    main()
