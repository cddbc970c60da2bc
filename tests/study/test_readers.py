"""Reading studies: the fast SQLite reader agrees with Optuna's, and nothing is ever written."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from pathlib import Path
from typing import Any, Callable

import numpy as np
import optuna
import pytest

from refine.errors import StudyError
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Space
from refine.spacefile import space_to_json
from refine.study import COMPLETE, FAIL, PRUNED, RUNNING, STATES, WAITING, StudyData, list_studies, read_study

optuna.logging.set_verbosity(optuna.logging.ERROR)


class _Boom(Exception):
    """An objective's crash, caught by ``optimize(catch=...)``: a FAIL trial."""


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


def _storage(path: Path) -> optuna.storages.RDBStorage:
    """Optuna's SQLite storage, without an fsync per commit: the file is the same, the tests faster."""
    import sqlalchemy

    storage = optuna.storages.RDBStorage(_sqlite(path))
    sqlalchemy.event.listen(storage.engine, "connect", lambda con, _: con.execute("PRAGMA synchronous=OFF"))
    storage.engine.dispose()
    return storage


def _single_objective(trial: optuna.Trial) -> float:
    """Conditionals, user attrs, intermediate values, and every way a trial can end."""
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    encoder = trial.suggest_categorical("encoder", ["cnn", "context", None])
    units = trial.suggest_int("units", 8, 128, step=8)
    trial.suggest_float("dropout", 0.0, 0.5, step=0.1)
    trial.suggest_categorical("flag", [True, False, 1])
    if encoder == "context":
        trial.suggest_int("ctx_layers", 1, 5)
        trial.suggest_int("heads", 1, 16, log=True)
    trial.set_user_attr("seed", trial.number)
    trial.set_user_attr("tags", ["a", trial.number % 3])
    if trial.number % 4 == 0:
        trial.set_user_attr("meta", {"n": trial.number, "ok": True})
    for step in range(trial.number % 3):
        trial.report([math.inf, -math.inf, float("nan"), lr * step][(trial.number + step) % 4], step)
    kind = trial.number % 9
    if kind == 1:
        raise optuna.TrialPruned()
    if kind == 2:
        raise _Boom("crash")
    if kind == 3:
        return float("nan")  # Optuna stores a FAIL trial
    if kind == 4:
        return math.inf  # stored as COMPLETE with value inf
    if kind == 5:
        return -math.inf
    return lr * units


def _leave_unfinished(study: optuna.Study) -> None:
    """A RUNNING trial (asked, never told) and a WAITING one (enqueued)."""
    trial = study.ask()
    trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    trial.suggest_categorical("encoder", ["cnn", "context", None])
    trial.set_user_attr("seed", -1)
    study.enqueue_trial({"lr": 1e-3})


def _make_single(path: Path, seed: int, n: int = 40, name: str = "single") -> str:
    study = optuna.create_study(
        storage=_storage(path), study_name=name, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    study.set_user_attr("owner", "team")
    study.optimize(_single_objective, n_trials=n, catch=(_Boom,))
    _leave_unfinished(study)
    return name


def _multi_objective(n_objectives: int) -> Callable[[optuna.Trial], Any]:
    def objective(trial: optuna.Trial):
        x = trial.suggest_float("x", -2.0, 2.0)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        if kind == "b":
            trial.suggest_int("depth", 1, 4)
        trial.set_user_attr("kind", kind)
        if trial.number % 7 == 3:
            raise _Boom("crash")
        values = [x**2, (x - 1) ** 2, abs(x)][:n_objectives]
        if trial.number % 5 == 4:
            values[-1] = math.inf
        return values

    return objective


def _make_multi(path: Path, seed: int, n_objectives: int, n: int = 30, name: str = "multi") -> str:
    directions = ["minimize", "maximize", "minimize"][:n_objectives]
    study = optuna.create_study(
        storage=_storage(path), study_name=name, directions=directions, sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    study.optimize(_multi_objective(n_objectives), n_trials=n, catch=(_Boom,))
    study.ask().suggest_float("x", -2.0, 2.0)
    return name


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return bool(np.array_equal(a.astype(float), b.astype(float), equal_nan=True))
    return bool(np.array_equal(a, b))


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def assert_same_study(fast: StudyData, slow: StudyData) -> None:
    assert fast.name == slow.name
    assert fast.directions == slow.directions
    assert _same_array(fast.numbers, slow.numbers)
    assert _same_array(fast.states, slow.states)
    assert _same_array(fast.values, slow.values)
    assert _same_array(fast.last_intermediate, slow.last_intermediate)
    assert list(fast.columns) == list(slow.columns)
    for name in fast.columns:
        assert _same_array(fast.columns[name], slow.columns[name]), name
    assert fast.inferred == slow.inferred
    assert fast.space == slow.space and fast.space_source == slow.space_source
    assert sorted(fast.user_attrs) == sorted(slow.user_attrs)
    for key in fast.user_attrs:
        pairs = zip(fast.user_attrs[key].tolist(), slow.user_attrs[key].tolist())
        assert all(_same_value(a, b) for a, b in pairs), key
    assert fast.study_user_attrs == slow.study_user_attrs
    assert fast.notes == slow.notes
    for row in range(fast.n_trials):
        assert fast.config(row) == slow.config(row)


def _both(storage: Path, study: str | None = None) -> tuple[StudyData, StudyData]:
    return read_study(storage, study, engine="sqlite"), read_study(storage, study, engine="optuna")


@pytest.fixture(scope="module")
def single_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("single") / "study.db"
    _make_single(path, seed=0)
    return path


def test_sqlite_and_optuna_readers_agree_on_single_objective(single_db: Path) -> None:
    fast, slow = _both(single_db)
    assert_same_study(fast, slow)


def test_sqlite_and_optuna_readers_agree_on_another_seed(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    _make_single(path, seed=1, n=25)
    fast, slow = _both(path)
    assert_same_study(fast, slow)


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_sqlite_and_optuna_readers_agree_on_multi_objective(tmp_path: Path, n_objectives: int) -> None:
    path = tmp_path / "study.db"
    _make_multi(path, seed=n_objectives, n_objectives=n_objectives)
    fast, slow = _both(path)
    assert fast.values.shape == (31, n_objectives)
    assert np.isinf(fast.values).any()
    assert_same_study(fast, slow)


def test_sqlite_and_optuna_readers_agree_with_several_studies_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    _make_single(path, seed=5, n=12, name="first")
    _make_multi(path, seed=6, n_objectives=2, n=10, name="second")
    _make_single(path, seed=7, n=12, name="third")
    for name in ("first", "second", "third"):
        fast, slow = _both(path, name)
        assert_same_study(fast, slow)
    assert read_study(path, "second").n_trials == 11
    assert read_study(path, "third").n_trials == 14


def test_readers_agree_on_a_study_with_no_trials(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    optuna.create_study(storage=_storage(path), study_name="empty")
    fast, slow = _both(path)
    assert fast.n_trials == 0 and fast.columns == {} and fast.inferred.params == {}
    assert_same_study(fast, slow)


def test_states_are_read(single_db: Path) -> None:
    data = read_study(single_db, engine="sqlite")
    counts = data.counts()
    assert set(counts) == {"RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING"}
    assert counts["RUNNING"] == 1 and counts["WAITING"] == 1
    by_number = dict(zip(data.numbers.tolist(), data.states.tolist()))
    assert by_number[1] == PRUNED and by_number[2] == FAIL and by_number[0] == COMPLETE
    assert by_number[40] == RUNNING and by_number[41] == WAITING


def test_nan_objective_is_a_fail_trial_and_inf_is_stored(single_db: Path) -> None:
    data = read_study(single_db, engine="sqlite")
    row = {n: i for i, n in enumerate(data.numbers.tolist())}
    assert data.states[row[3]] == FAIL and math.isnan(data.values[row[3], 0])
    assert data.states[row[4]] == COMPLETE and data.values[row[4], 0] == math.inf
    assert data.states[row[5]] == COMPLETE and data.values[row[5], 0] == -math.inf
    assert math.isnan(data.values[row[40], 0])  # RUNNING: no value yet


def test_last_intermediate_value_is_read(single_db: Path) -> None:
    data = read_study(single_db, engine="sqlite")
    study = optuna.load_study(study_name="single", storage=_sqlite(single_db))
    for row, trial in enumerate(study.get_trials(deepcopy=False)):
        expected = trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else math.nan
        got = data.last_intermediate[row]
        assert got == expected or (math.isnan(got) and math.isnan(expected)), trial.number


def test_the_last_intermediate_values_can_be_left_unread(single_db: Path) -> None:
    # next-space reads them only when include_pruned ranks PRUNED trials by them; the rest is read alike
    full, lean = read_study(single_db, engine="sqlite"), read_study(single_db, engine="sqlite", intermediate=False)
    assert np.isfinite(full.last_intermediate).any() and np.isnan(lean.last_intermediate).all()
    assert _same_array(full.values, lean.values) and full.columns.keys() == lean.columns.keys()
    assert all(_same_array(full.columns[k], lean.columns[k]) for k in full.columns)


def test_values_match_optuna(single_db: Path) -> None:
    data = read_study(single_db, engine="sqlite")
    study = optuna.load_study(study_name="single", storage=_sqlite(single_db))
    for row, trial in enumerate(study.get_trials(deepcopy=False)):
        assert data.numbers[row] == trial.number
        if trial.values is None:
            assert math.isnan(data.values[row, 0])
        else:
            assert data.values[row, 0] == trial.values[0]
        assert data.config(row) == trial.params


def test_conditional_param_is_inferred_as_when(single_db: Path) -> None:
    data = read_study(single_db, engine="sqlite")
    assert data.space_source == "inferred"
    space = data.inferred
    assert space.params["ctx_layers"] == IntParam(low=1, high=5, when=Condition("encoder", ("context",)))
    assert space.params["heads"] == IntParam(low=1, high=16, log=True, when=Condition("encoder", ("context",)))
    assert space.params["encoder"] == CategoricalParam(choices=("cnn", "context", None))
    assert space.params["lr"] == FloatParam(low=1e-5, high=1e-1, log=True)
    assert space.params["units"] == IntParam(low=8, high=128, step=8)
    assert space.params["dropout"] == FloatParam(low=0.0, high=0.5, step=0.1)
    # Optuna records the choice 1 as True (equal in Python, and True comes first): 1 never reaches the study.
    assert space.params["flag"].choices == (True, False)
    assert [type(c) for c in space.params["flag"].choices] == [bool, bool]
    assert any("'flag'" in n and "1 as True" in n for n in data.notes), data.notes
    assert space.directions == ("maximize",)
    inactive = np.isnan(data.columns["ctx_layers"])
    encoder = data.columns["encoder"]
    context = space.params["encoder"].choices.index("context")
    complete = data.states == COMPLETE
    assert (inactive[complete] == (encoder[complete] != context)).all()


def test_user_attrs_are_read(single_db: Path) -> None:
    data = read_study(single_db, engine="sqlite")
    row = {n: i for i, n in enumerate(data.numbers.tolist())}
    assert data.user_attrs["seed"][row[7]] == 7
    assert data.user_attrs["seed"][row[40]] == -1
    assert data.user_attrs["tags"][row[5]] == ["a", 2]
    assert data.user_attrs["meta"][row[8]] == {"n": 8, "ok": True}
    assert data.user_attrs["meta"][row[7]] is None
    assert data.study_user_attrs == {"owner": "team"}


def test_user_attrs_can_be_skipped(single_db: Path) -> None:
    assert read_study(single_db, engine="sqlite", user_attrs=False).user_attrs == {}


def test_reading_leaves_the_file_unchanged(single_db: Path) -> None:
    before = hashlib.sha256(single_db.read_bytes()).hexdigest()
    names = sorted(p.name for p in single_db.parent.iterdir())
    for engine in ("sqlite", "optuna", "auto"):
        read_study(single_db, engine=engine)
        read_study(_sqlite(single_db), engine=engine)
    list_studies(single_db)
    assert hashlib.sha256(single_db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in single_db.parent.iterdir()) == names


@pytest.mark.parametrize("engine", ["auto", "sqlite", "optuna"])
@pytest.mark.parametrize("as_url", [False, True])
def test_missing_storage_is_an_error_and_is_not_created(tmp_path: Path, engine: str, as_url: bool) -> None:
    path = tmp_path / "nope.db"
    with pytest.raises(StudyError, match="does not exist"):
        read_study(_sqlite(path) if as_url else path, engine=engine)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_storage_is_not_created_by_list_studies(tmp_path: Path) -> None:
    path = tmp_path / "nope.db"
    with pytest.raises(StudyError):
        list_studies(path)
    assert not path.exists()


@pytest.mark.parametrize("engine", ["auto", "sqlite", "optuna"])
def test_sqlite_file_that_is_not_optuna_is_an_error(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO things (name) VALUES ('x')")
    con.commit()
    con.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(StudyError, match="not an Optuna"):
        read_study(path, engine=engine)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


@pytest.mark.parametrize("suffix", [".db", ".txt", ""])
def test_text_file_is_an_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"notes{suffix}"
    path.write_text("these are my notes, not a study\n")
    with pytest.raises(StudyError) as info:
        read_study(path)
    assert str(path) in str(info.value)
    assert path.read_text() == "these are my notes, not a study\n"


def test_unknown_study_name_lists_the_names(single_db: Path) -> None:
    with pytest.raises(StudyError) as info:
        read_study(single_db, "singel")
    assert "singel" in str(info.value) and "'single'" in str(info.value)


def test_several_studies_without_a_name_lists_the_names(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    for name in ("alpha", "beta"):
        optuna.create_study(storage=_storage(path), study_name=name)
    for engine in ("sqlite", "optuna"):
        with pytest.raises(StudyError, match="--study") as info:
            read_study(path, engine=engine)
        assert "'alpha'" in str(info.value) and "'beta'" in str(info.value)


def test_list_studies_gives_counts_and_directions(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    _make_single(path, seed=0, n=5, name="one")
    _make_multi(path, seed=0, n_objectives=2, n=4, name="two")
    summaries = {s.name: s for s in list_studies(path)}
    assert summaries["one"].directions == ("maximize",)
    assert summaries["two"].directions == ("minimize", "maximize")
    assert summaries["one"].n_trials == 7 and summaries["two"].n_trials == 5
    assert summaries["one"].counts == read_study(path, "one").counts()
    assert summaries["two"].counts == read_study(path, "two").counts() == {"RUNNING": 1, "COMPLETE": 3, "FAIL": 1}


@pytest.mark.parametrize("file_name", ["optuna.log", "journal"])
def test_journal_file_is_read(tmp_path: Path, file_name: str) -> None:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = tmp_path / file_name
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(storage=storage, study_name="journal", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(_single_objective, n_trials=20, catch=(_Boom,))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    data = read_study(path)
    assert data.name == "journal" and data.n_trials == 20
    assert data.inferred.params["ctx_layers"].when == Condition("encoder", ("context",))
    trials = study.get_trials()
    assert data.counts() == {"COMPLETE": 13, "PRUNED": 3, "FAIL": 4}
    assert [STATES[s] for s in data.states] == [t.state.name for t in trials]
    assert [data.config(i) for i in range(20)] == [t.params for t in trials]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert [s.name for s in list_studies(path)] == ["journal"]


def test_remembered_space_is_used(tmp_path: Path) -> None:
    space = Space(
        name="clf",
        version=3,
        parent=2,
        directions=("maximize",),
        fixed={"epochs": 5},
        params={
            "lr": FloatParam(low=1e-4, high=1e-2, log=True, limits=(1e-6, 1.0)),
            "encoder": CategoricalParam(choices=("cnn", "context"), weights=(3, 1)),
            "ctx_layers": IntParam(low=1, high=3, when=Condition("encoder", "context")),
        },
    )
    path = tmp_path / "study.db"
    study = optuna.create_study(storage=_sqlite(path), study_name="clf-v3", direction="maximize")
    study.set_user_attr("refine:space", space_to_json(space))
    study.set_user_attr("refine:version", 3)
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-2, log=True), n_trials=3)
    for engine in ("sqlite", "optuna"):
        data = read_study(path, engine=engine)
        assert data.space_source == "remembered"
        assert data.space == space
        assert list(data.inferred.params) == ["lr"]


def test_unreadable_remembered_space_falls_back_to_inferred_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    study = optuna.create_study(storage=_sqlite(path), study_name="s")
    study.set_user_attr(
        "refine:space", '{"name": "s", "version": 1, "params": {"x": {"type": "float", "low": 1, "high": 0}}}'
    )
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    data = read_study(path)
    assert data.space_source == "inferred" and data.space == data.inferred
    assert any("refine:space" in note for note in data.notes)


def test_a_wrong_engine_or_storage_argument_is_refused(single_db: Path, tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="engine must be 'auto', 'sqlite' or 'optuna', got 'bogus'"):
        read_study(single_db, engine="bogus")
    with pytest.raises(StudyError, match="storage must be a file path or a storage URL, got NoneType"):
        read_study(None)  # type: ignore[arg-type]
    journal = tmp_path / "j.log"
    optuna.create_study(
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    )
    with pytest.raises(StudyError, match="engine 'sqlite' reads SQLite files only"):
        read_study(journal, engine="sqlite")
    assert read_study(journal, engine="auto").name
    data = read_study(single_db)
    import refine

    with pytest.raises(StudyError, match=f"StudyData given is study '{data.name}'"):
        refine.next_space(data, study="other", config=False)
