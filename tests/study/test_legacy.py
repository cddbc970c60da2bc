"""The study reader on files written by real Optuna releases, 1.2 to today.

The fixtures in ``tests/data/legacy`` were written by the releases themselves
(``tests/data/make_legacy.py``); beside each, ``optuna-X.expected.json`` holds
what that release read back. The reader must return the same content from
every schema, and no command may change a byte of a study file it reads.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from refine.errors import StudyError
from refine.spacefile import dump_space
from refine.study import STATES, list_studies, read_study

LEGACY = Path(__file__).parents[1] / "data" / "legacy"
VERSIONS = ("1.2.0", "1.5.0", "2.10.1", "3.1.1", "5.0.0")
MULTI_OBJECTIVE = VERSIONS[2:]  # multi-objective storage arrived in Optuna 2.4


def _db(version: str) -> Path:
    return LEGACY / f"optuna-{version}.db"


def _expected(version: str) -> dict:
    return json.loads((LEGACY / f"optuna-{version}.expected.json").read_text())


def _study(version: str, name: str) -> dict:
    return next(s for s in _expected(version)["studies"] if s["name"] == name)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refine", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _content(data) -> list[tuple]:
    """What a study holds, trial by trial, in plain Python values."""
    rows = []
    for i, number in enumerate(data.numbers):
        values = tuple(None if math.isnan(v) else v for v in data.values[i])
        last = data.last_intermediate[i]
        attrs = {k: col[i] for k, col in data.user_attrs.items() if col[i] is not None}
        rows.append(
            (int(number), STATES[data.states[i]], data.config(i), values, None if math.isnan(last) else last, attrs)
        )
    return rows


@pytest.mark.parametrize("version", VERSIONS)
def test_fixture_is_the_committed_file(version):
    readme = (LEGACY / "README.md").read_text()
    assert _sha256(_db(version)) in readme


@pytest.mark.parametrize("version", VERSIONS)
def test_reader_returns_what_the_release_wrote(version):
    expected = _expected(version)
    assert [s.name for s in list_studies(_db(version))] == expected["study_names"]
    for study in expected["studies"]:
        data = read_study(_db(version), study["name"])
        assert data.directions == tuple(d.lower() for d in study["directions"])
        assert data.study_user_attrs == study["user_attrs"]
        assert data.numbers.tolist() == [t["number"] for t in study["trials"]]
        for i, trial in enumerate(study["trials"]):
            where = f"{version} {study['name']} trial {trial['number']}"
            assert STATES[data.states[i]] == trial["state"], where
            assert data.config(i) == trial["params"], where
            if trial["values"] is None:
                assert all(math.isnan(v) for v in data.values[i]), where
            else:
                assert all(_same_float(a, b) for a, b in zip(data.values[i], trial["values"])), where
            steps = trial["intermediate_values"]
            if steps:
                assert data.last_intermediate[i] == steps[str(max(map(int, steps)))], where
            else:
                assert math.isnan(data.last_intermediate[i]), where
            attrs = {k: col[i] for k, col in data.user_attrs.items() if col[i] is not None}
            assert attrs == trial["user_attrs"], where


@pytest.mark.parametrize("version", VERSIONS)
def test_infinite_objective_is_read_as_inf(version):
    data = read_study(_db(version), "legacy")
    row = data.numbers.tolist().index(35)
    assert data.values[row, 0] == math.inf


@pytest.mark.parametrize("version", VERSIONS)
def test_legacy_distributions_become_the_same_space(version):
    space = read_study(_db(version), "legacy").inferred
    current = read_study(_db("5.0.0"), "legacy").inferred
    assert space == current
    lr, wd, depth = space.params["lr"], space.params["wd"], space.params["depth"]
    assert (lr.kind, lr.log, lr.low, lr.high) == ("float", True, 1e-5, 1e-1)
    assert (wd.kind, wd.step) == ("float", 0.01)
    assert (depth.kind, depth.low, depth.high, depth.step) == ("int", 1, 8, 1)
    assert space.params["encoder"].choices == ("cnn", "mlp")
    assert space.params["ctx_layers"].when.parent == "encoder"
    assert space.params["ctx_layers"].when.values == ("mlp",)


def test_every_version_gives_the_same_study():
    contents = {v: _content(read_study(_db(v), "legacy")) for v in VERSIONS}
    for version in VERSIONS[:-1]:
        assert contents[version] == contents["5.0.0"], version


@pytest.mark.parametrize("version", MULTI_OBJECTIVE)
def test_multi_objective_study_reads(version):
    data = read_study(_db(version), "legacy-mo")
    assert data.directions == ("minimize", "maximize")
    assert data.values.shape == (13, 2)
    assert data.counts() == {"RUNNING": 1, "COMPLETE": 10, "PRUNED": 1, "FAIL": 1}
    assert data.space.params["units"].log and data.space.params["units"].kind == "int"
    assert _content(data) == _content(read_study(_db("5.0.0"), "legacy-mo"))


@pytest.mark.parametrize("version", VERSIONS)
def test_commands_never_change_a_byte(version, tmp_path):
    path = _db(version)
    before = _sha256(path)
    siblings = set(LEGACY.iterdir())
    runs = [
        _cli("inspect", path),
        _cli("inspect", path, "--study", "legacy", "--json"),
        _cli("show", path, "--study", "legacy"),
        _cli("show", path, "--study", "legacy", "--json"),
        _cli("next-space", path, "--study", "legacy", "--out", tmp_path / "out", "--json"),
    ]
    for run in runs:
        assert run.returncode == 0, run.args[3:] + [run.stderr]
        assert "Warning" not in run.stderr, run.args[3:] + [run.stderr]  # Optuna's about old distributions neither
    assert _sha256(path) == before
    assert set(LEGACY.iterdir()) == siblings  # no -journal, -wal or -shm left behind


@pytest.mark.parametrize("version", VERSIONS)
def test_optuna_engine_never_migrates_an_old_file(version, tmp_path):
    copy = tmp_path / "study.db"
    shutil.copyfile(_db(version), copy)
    before = _sha256(copy)
    try:
        read_study(copy, "legacy", engine="optuna")
    except StudyError:
        pass  # current Optuna refuses the schemas before 3.2: an error is fine, a write is not
    assert _sha256(copy) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]


def test_read_only_file_is_read(tmp_path):
    copy = tmp_path / "study.db"
    shutil.copyfile(_db("1.5.0"), copy)
    copy.chmod(0o444)
    try:
        assert read_study(copy).n_trials == 41
    finally:
        copy.chmod(0o644)


def test_next_space_from_optuna_1_5_equals_current_optuna(tmp_path):
    texts = {}
    for version in ("1.5.0", "5.0.0"):
        out = tmp_path / version
        run = _cli("next-space", _db(version), "--study", "legacy", "--out", out)
        assert run.returncode == 0, run.stderr
        texts[version] = (out / "legacy.v2.yaml").read_text()
    assert texts["1.5.0"] == texts["5.0.0"]


def test_next_space_api_is_the_same_on_every_version():
    import refine

    spaces = {v: dump_space(refine.next_space(_db(v), "legacy", config=False).space) for v in VERSIONS}
    assert len(set(spaces.values())) == 1


def test_newer_schema_is_a_one_line_error(tmp_path):
    copy = tmp_path / "study.db"
    shutil.copyfile(_db("5.0.0"), copy)
    con = sqlite3.connect(copy)
    con.execute("UPDATE alembic_version SET version_num = 'v9.9.9.z'")
    con.commit()
    con.close()
    for command in ("next-space", "inspect", "show"):
        run = _cli(command, copy, "--study", "legacy")
        assert run.returncode == 2, (command, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr
        assert "v9.9.9.z" in lines[0]


@pytest.mark.parametrize("engine", ["sqlite", "optuna"])
def test_wal_mode_file_leaves_nothing_beside_it(tmp_path, engine):
    copy = tmp_path / "study.db"
    shutil.copyfile(_db("5.0.0"), copy)
    con = sqlite3.connect(copy)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    before = _sha256(copy)
    assert read_study(copy, "legacy", engine=engine).n_trials == 41
    assert [s.name for s in list_studies(copy)] == ["legacy", "legacy-mo"]
    assert _sha256(copy) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]


@pytest.mark.parametrize("engine", ["sqlite", "optuna"])
def test_path_with_uri_characters_opens_that_file(tmp_path, engine):
    # '?', '#' and '%' would end a SQLite URI early: the reader would open (and SQLite create) another file.
    folder = tmp_path / "run?v=2 #3 100%20"
    folder.mkdir()
    copy = folder / "study.db"
    shutil.copyfile(_db("5.0.0"), copy)
    assert read_study(copy, "legacy", engine=engine).n_trials == 41
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]
    assert sorted(p.name for p in folder.iterdir()) == ["study.db"]


OLD_SCHEMAS = ("1.2.0", "1.5.0", "2.10.1", "3.1.1")  # the installed Optuna will not open these without upgrading them


@pytest.mark.parametrize("version", OLD_SCHEMAS)
def test_old_schema_loads_for_optuna_readers_as_the_release_wrote_it(version):
    # best, compare, rerun and run --from read through an Optuna study: an old file is read by
    # refine's reader into an in-memory one, with the numbers, states, params, values and attrs it holds.
    from refine.executor import load_study

    for study in _expected(version)["studies"]:
        loaded = load_study(str(_db(version)), study["name"])
        assert [d.name for d in loaded.directions] == study["directions"]
        assert loaded.user_attrs == study["user_attrs"]
        trials = loaded.get_trials(deepcopy=False)
        assert [t.number for t in trials] == [t["number"] for t in study["trials"]]
        for got, want in zip(trials, study["trials"]):
            where = f"{version} {study['name']} trial {want['number']}"
            assert got.state.name == want["state"], where
            assert got.params == want["params"], where
            if want["state"] == "COMPLETE":
                assert all(_same_float(a, b) for a, b in zip(got.values, want["values"])), where
            assert got.user_attrs == want["user_attrs"], where


@pytest.mark.parametrize("version", OLD_SCHEMAS)
def test_best_and_warm_start_read_an_old_schema_unchanged(version, tmp_path):
    path = _db(version)
    before = _sha256(path)
    siblings = set(LEGACY.iterdir())
    best = _cli("best", path, "--study", "legacy")
    assert best.returncode == 0, best.stderr
    out = json.loads(best.stdout)
    expected = [t for t in _study(version, "legacy")["trials"] if t["state"] == "COMPLETE"]
    winner = min(expected, key=lambda t: t["values"][0])
    assert (out["trial"], out["value"], out["params"]) == (winner["number"], winner["values"][0], winner["params"])

    made = _cli("next-space", path, "--study", "legacy", "--out", tmp_path)
    assert made.returncode == 0, made.stderr
    (tmp_path / "obj.py").write_text("def f(p):\n    return p['lr'] * 10 + p['dropout']\n")
    run = _cli(
        "run",
        tmp_path / "legacy.v2.yaml",
        "--objective",
        tmp_path / "obj.py:f",
        "--storage",
        tmp_path / "next.db",
        "--trials",
        "6",
        "--from",
        f"{path}:legacy",
        "--json",
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["history"] > 0 and result["warm_started"] + result["history"] >= 5, result
    assert _sha256(path) == before
    assert set(LEGACY.iterdir()) == siblings


def test_writing_into_an_old_schema_is_a_one_line_error(tmp_path):
    copy = tmp_path / "study.db"
    shutil.copyfile(_db("3.1.1"), copy)
    before = _sha256(copy)
    space = tmp_path / "s.yaml"
    space.write_text("name: s\nversion: 1\ndirection: minimize\nparams:\n  x: {type: float, low: 0, high: 1}\n")
    (tmp_path / "obj.py").write_text("def f(p):\n    return p['x']\n")
    run = _cli("run", space, "--objective", tmp_path / "obj.py:f", "--storage", copy, "--trials", "2")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "optuna storage upgrade" in lines[0], run.stderr
    assert _sha256(copy) == before


def test_run_writes_the_storage_file_it_is_given_even_with_uri_characters(tmp_path):
    # 'sqlite:///' + path would read '?' as a query, '#' as a fragment and '%20' as a space.
    folder = tmp_path / "run?v=2 #3"
    folder.mkdir()
    space = tmp_path / "s.yaml"
    space.write_text("name: s\nversion: 1\ndirection: minimize\nparams:\n  x: {type: float, low: 0, high: 1}\n")
    (tmp_path / "obj.py").write_text("def f(p):\n    return p['x']\n")
    storage = folder / "100%20 a?b#c.db"
    run = _cli("run", space, "--objective", tmp_path / "obj.py:f", "--storage", storage, "--trials", "3", "--quiet")
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([folder.name, "s.yaml", "obj.py"])
    assert sorted(p.name for p in folder.iterdir()) == [storage.name]
    assert read_study(storage).counts() == {"COMPLETE": 3}
    best = _cli("best", storage)
    assert best.returncode == 0, best.stderr


def test_reading_an_old_schema_leaves_optunas_log_level_alone():
    import optuna

    from refine.executor import load_study

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # as refine run sets it: a failed trial must not log a traceback
    try:
        load_study(str(_db("3.1.1")), "legacy")
        assert optuna.logging.get_verbosity() == optuna.logging.ERROR
    finally:
        optuna.logging.set_verbosity(before)


# --------------------------------------------------------------------------- Optuna's warnings about old distributions

#: the names Optuna < 3 wrote, as it wrote them (tests/data/legacy/optuna-2.10.1.db holds these)
OLD_DISTRIBUTIONS = {
    "x": '{"name": "UniformDistribution", "attributes": {"low": 0.0, "high": 1.0}}',
    "n": '{"name": "IntUniformDistribution", "attributes": {"low": 1, "high": 4, "step": 1}}',
}


def _current_schema_with_old_distributions(path: Path) -> Path:
    """A study in today's schema whose parameters carry the distribution names of Optuna < 3, as a file merged from an
    old study carries them: today's Optuna reads it (the older schemas it refuses) and warns on every trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    study = optuna.create_study(storage=storage, study_name="old-names")
    study.optimize(lambda t: (t.suggest_float("x", 0, 1) - 0.3) ** 2 + t.suggest_int("n", 1, 4), n_trials=25)
    storage.engine.dispose()
    with sqlite3.connect(path) as con:
        for name, doc in OLD_DISTRIBUTIONS.items():
            con.execute("UPDATE trial_params SET distribution_json=? WHERE param_name=?", (doc, name))
    con.close()
    return path


def test_reading_old_distribution_names_prints_no_optuna_future_warning(tmp_path):
    import optuna

    path = _current_schema_with_old_distributions(tmp_path / "study.db")
    with pytest.warns(FutureWarning, match="UniformDistribution"):  # the file does make Optuna warn
        optuna.load_study(study_name="old-names", storage=f"sqlite:///{path}").get_trials()

    # Every warning shown (PYTHONWARNINGS=always), so that one refine let through could not hide as a repeat.
    env = {**os.environ, "PYTHONWARNINGS": "always"}
    for args in (("show", path), ("best", path), ("next-space", path, "--dry-run"), ("inspect", path)):
        run = subprocess.run([sys.executable, "-m", "refine", *map(str, args)], capture_output=True, text=True, env=env)
        assert run.returncode == 0, (args, run.stderr)
        assert "Warning" not in run.stderr and "Distribution" not in run.stderr, (args, run.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the read
        data = read_study(path, engine="optuna")
    assert data.inferred.params["x"].high == 1.0 and data.inferred.params["n"].low == 1


def test_only_optunas_old_distribution_warnings_are_silenced():
    from refine._distributions import quiet_old_distributions

    old = "UniformDistribution has been deprecated in v3.0.0."
    converted = (
        "IntUniformDistribution(high=4, low=1, step=1) is deprecated and internally converted to IntDistribution"
    )
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet_old_distributions():
            for message, category in [
                (old, FutureWarning),
                (converted, FutureWarning),
                (old, DeprecationWarning),  # not a FutureWarning: shown
                ("something else is deprecated", FutureWarning),  # another FutureWarning: shown
            ]:
                warnings.warn(message, category, stacklevel=1)
        warnings.warn(old, FutureWarning, stacklevel=1)  # outside: shown
    assert [(w.category, str(w.message)) for w in seen] == [
        (DeprecationWarning, old),
        (FutureWarning, "something else is deprecated"),
        (FutureWarning, old),
    ]
