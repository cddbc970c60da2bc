"""One contract for every reader: the same trials, in every storage, read back as the same study.

As Optuna runs one suite over all of its storages, the same studies are
written here through Optuna's own API into every storage refine reads, and
each reader must return the same :class:`~refine.study.StudyData` (every field
but where it was read from), the same study list, and the same next space:

- ``sqlite``: a SQLite file read directly (refine's own reader);
- ``optuna-sqlite``: the same kind of file read through Optuna's RDBStorage;
- ``journal``: a journal file (Optuna's JournalStorage);
- ``postgres``: a PostgreSQL database (the ``postgres_url`` fixture);
- ``legacy``: the files old Optuna releases wrote (tests/data/legacy). They
  cannot hold these studies, so each is compared on what it holds: its own
  trials, written again by today's Optuna into each of the storages above.

After every read, the storage is as it was: a file to the byte (and no file
left beside it), a database row for row.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import attrs
import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution, json_to_distribution
from optuna.trial import TrialState, create_trial

import refine
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from refine.spacefile import dump_space, space_to_json
from refine.study import StudyData, StudySummary, list_studies, read_study

optuna.logging.set_verbosity(optuna.logging.ERROR)

LEGACY = Path(__file__).parents[1] / "data" / "legacy"
LEGACY_VERSIONS = ("1.2.0", "1.5.0", "2.10.1", "3.1.1", "5.0.0")
#: the legacy files today's Optuna reads without upgrading them (the schemas before 3.2 it refuses)
LEGACY_OPTUNA_READS = ("5.0.0",)

MAIN, MULTI = "contract", "contract-mo"
READERS = ("sqlite", "optuna-sqlite", "journal", pytest.param("postgres", marks=pytest.mark.slow))

# --------------------------------------------------------------------------- the studies

DISTRIBUTIONS: dict[str, Any] = {
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "dropout": FloatDistribution(0.0, 0.5, step=0.1),
    "wd": FloatDistribution(0.0, 0.1),
    "units": IntDistribution(8, 128, step=8),
    "heads": IntDistribution(1, 16, log=True),
    "encoder": CategoricalDistribution(["cnn", "mlp"]),
    "act": CategoricalDistribution(["relu", "tanh", None]),
    "flag": CategoricalDistribution([True, False]),
    "batch": CategoricalDistribution([16, 32, 64]),
    "momentum": CategoricalDistribution([0.9, 0.99]),
    "optimizer": CategoricalDistribution(["adam"]),  # one choice: read as fixed
    "ctx_layers": IntDistribution(1, 4),  # only when encoder is "mlp"
    "n_layers": IntDistribution(1, 3),
    "units_l2": IntDistribution(4, 64, log=True),  # only when n_layers >= 2
}


def _main_trials() -> list[optuna.trial.FrozenTrial]:
    """The single-objective study: every kind of parameter, state, value and attribute, 30 trials."""
    rng = np.random.default_rng(23)
    trials = []
    for i in range(30):
        params: dict[str, Any] = {
            "lr": float(10 ** rng.uniform(-5, -1)),
            "dropout": round(float(rng.integers(0, 6)) * 0.1, 1),
            "wd": float(rng.uniform(0, 0.1)),
            "units": int(rng.integers(1, 17)) * 8,
            "heads": int(rng.integers(1, 17)),
            "encoder": ["cnn", "mlp"][i % 2],
            "act": ["relu", "tanh", None][i % 3],
            "flag": bool(i % 4 < 2),
            "batch": [16, 32, 64][i % 3],
            "momentum": [0.9, 0.99][(i // 2) % 2],
            "optimizer": "adam",
            "n_layers": 1 + (i // 2) % 3,
        }
        if params["encoder"] == "mlp":
            params["ctx_layers"] = 1 + i % 4
        if params["n_layers"] >= 2:
            params["units_l2"] = int(rng.integers(4, 65))
        kind = i % 10
        state = {3: TrialState.PRUNED, 7: TrialState.FAIL}.get(kind, TrialState.COMPLETE)
        value = params["lr"] * params["units"] + params["wd"] if state == TrialState.COMPLETE else None
        if i in (12, 22):
            value = math.inf if i == 12 else -math.inf
        steps = {s: [math.inf, 0.5 * s, -math.inf][(i + s) % 3] for s in range(i % 4)}
        user_attrs: dict[str, Any] = {"seed": i, "tags": ["a", i % 3]}
        if i % 5 == 0:
            user_attrs["meta"] = {"n": i, "ok": True, "none": None}
        if i % 6 == 1:
            user_attrs["note"] = "ünïcode ✓"
        system = {"constraints": [0.5 - (i % 3), -1.0]} if state == TrialState.COMPLETE and i % 2 == 0 else {}
        trials.append(
            create_trial(
                state=state,
                value=value,
                params=params,
                distributions={n: DISTRIBUTIONS[n] for n in params},
                intermediate_values=steps,
                user_attrs=user_attrs,
                system_attrs=system,
            )
        )
    return trials


def _multi_trials() -> list[optuna.trial.FrozenTrial]:
    """The multi-objective study: 12 finished trials, +inf in the second objective once."""
    dists = {
        "x": FloatDistribution(-2.0, 2.0),
        "kind": CategoricalDistribution(["a", "b"]),
        "depth": IntDistribution(1, 4),
    }
    trials = []
    for i in range(12):
        params: dict[str, Any] = {"x": -2.0 + i / 3, "kind": "ab"[i % 2]}
        if params["kind"] == "b":
            params["depth"] = 1 + i % 4
        state = {5: TrialState.FAIL, 9: TrialState.PRUNED}.get(i, TrialState.COMPLETE)
        x = params["x"]
        values = [x**2, math.inf if i == 4 else (x - 1) ** 2] if state == TrialState.COMPLETE else None
        trials.append(
            create_trial(
                state=state,
                values=values,
                params=params,
                distributions={n: dists[n] for n in params},
                user_attrs={"kind": params["kind"]},
            )
        )
    return trials


#: the space remembered in the multi-objective study (``refine:space``), which every reader must return
REMEMBERED = Space(
    name="contract_mo",
    version=2,
    directions=("minimize", "maximize"),
    params={
        "x": FloatParam(low=-2.0, high=2.0),
        "kind": CategoricalParam(choices=("a", "b")),
        "depth": IntParam(low=1, high=4),
    },
)


def write_contract_studies(storage: Any) -> None:
    """The two studies, into one Optuna storage: added trials, and asked, told and enqueued ones."""
    study = optuna.create_study(storage=storage, study_name=MAIN, direction="minimize")
    study.set_user_attr("owner", "team")
    study.set_user_attr("budget", {"trials": 30, "hours": 1.5})
    study.add_trials(_main_trials())
    # A trial told through ask-and-tell, one left RUNNING with an intermediate value, one WAITING.
    study.enqueue_trial({"lr": 1e-3, "encoder": "mlp", "ctx_layers": 2})
    trial = study.ask()
    trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    trial.suggest_categorical("encoder", ["cnn", "mlp"])
    trial.suggest_int("ctx_layers", 1, 4)
    trial.set_user_attr("seed", 30)
    study.tell(trial, 0.25)
    study.enqueue_trial({"lr": 2e-3, "encoder": "cnn"})
    running = study.ask()
    running.suggest_float("lr", 1e-5, 1e-1, log=True)
    running.suggest_categorical("encoder", ["cnn", "mlp"])
    running.report(0.75, 0)
    running.set_user_attr("seed", 31)
    study.enqueue_trial({"lr": 3e-3})

    multi = optuna.create_study(storage=storage, study_name=MULTI, directions=["minimize", "maximize"])
    multi.set_user_attr("refine:space", space_to_json(REMEMBERED))
    multi.add_trials(_multi_trials())


def _legacy_expected(version: str) -> dict:
    return json.loads((LEGACY / f"optuna-{version}.expected.json").read_text())


def _suggested_order(study: str) -> list[str]:
    """The order the legacy objective suggested its parameters in, as the newest release lists them (older ones
    sort a trial's params by name; the files hold them in the order suggested)."""
    doc = next(s for s in _legacy_expected(LEGACY_VERSIONS[-1])["studies"] if s["name"] == study)
    return list(dict.fromkeys(name for t in doc["trials"] for name in t["params"]))


def write_legacy_studies(storage: Any, version: str) -> None:
    """The studies of a legacy file as that release read them back (its expected.json), written by today's Optuna."""
    for doc in _legacy_expected(version)["studies"]:
        order = _suggested_order(doc["name"])
        study = optuna.create_study(
            storage=storage, study_name=doc["name"], directions=[d.lower() for d in doc["directions"]]
        )
        for key, value in doc["user_attrs"].items():
            study.set_user_attr(key, value)
        trials = []
        for t in doc["trials"]:
            state = TrialState[t["state"]]
            names = sorted(t["params"], key=order.index)
            # The old releases' distributions (UniformDistribution, ...), which Optuna warns of as it reads them and
            # again as create_trial converts them to today's.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                dists = {n: json_to_distribution(json.dumps(t["distributions"][n])) for n in names}
                trials.append(
                    create_trial(
                        state=state,
                        values=t["values"],
                        params={n: t["params"][n] for n in names},
                        distributions=dists,
                        intermediate_values={int(step): v for step, v in t["intermediate_values"].items()},
                        user_attrs=t["user_attrs"],
                    )
                )
        study.add_trials(trials)


# --------------------------------------------------------------------------- the storages


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@attrs.frozen
class Stored:
    """A storage holding the studies, as a reader is given it."""

    spec: str
    engine: str = "auto"
    fingerprint: Callable[[], Any] = attrs.field(default=lambda: None)

    @contextlib.contextmanager
    def unchanged(self) -> Iterator[None]:
        """Asserts that what runs inside changes the storage in nothing."""
        before = self.fingerprint()
        yield
        assert self.fingerprint() == before, f"{self.spec} changed"


def _file_fingerprint(path: Path) -> Callable[[], Any]:
    """The file's bytes and the names beside it (no -wal, -shm, -journal or .lock may appear)."""
    return lambda: (_sha256(path), sorted(p.name for p in path.parent.iterdir()))


def _sqlite_file(path: Path, write: Callable[[Any], None]) -> Path:
    """Written by Optuna's RDBStorage, without an fsync per commit (the same file, sooner)."""
    import sqlalchemy

    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    sqlalchemy.event.listen(storage.engine, "connect", lambda con, _: con.execute("PRAGMA synchronous=OFF"))
    storage.engine.dispose()
    write(storage)
    storage.engine.dispose()
    return path


def _journal_file(path: Path, write: Callable[[Any], None]) -> Path:
    from optuna.storages.journal import JournalFileBackend

    write(optuna.storages.JournalStorage(JournalFileBackend(str(path))))
    return path


class _Postgres:
    """A database of its own on the test server, so that it holds only the studies written here."""

    def __init__(self, server_url: str) -> None:
        import sqlalchemy

        self._sqlalchemy = sqlalchemy
        self._server = sqlalchemy.create_engine(server_url, isolation_level="AUTOCOMMIT")
        self._url = sqlalchemy.engine.make_url(server_url)
        self.databases: list[str] = []

    def database(self, name: str, write: Callable[[Any], None]) -> Stored:
        name = f"{name}_{os.getpid()}".replace("-", "_").replace(".", "_")
        with self._server.connect() as con:
            con.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            con.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        url = self._url.set(database=name).render_as_string(hide_password=False)
        storage = optuna.storages.RDBStorage(url)
        write(storage)
        storage.engine.dispose()
        return Stored(url, fingerprint=lambda: self._rows(url))

    def _rows(self, url: str) -> dict[str, list[str]]:
        """Every row of every table, sorted: the database's content."""
        sqlalchemy = self._sqlalchemy
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as con:
                tables = sqlalchemy.inspect(con).get_table_names()
                return {t: sorted(map(repr, con.exec_driver_sql(f'SELECT * FROM "{t}"'))) for t in tables}
        finally:
            engine.dispose()

    def close(self) -> None:
        with self._server.connect() as con:
            for name in self.databases:
                try:  # FORCE: a reader's pooled connection may still be open (PostgreSQL 13+)
                    con.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except self._sqlalchemy.exc.SQLAlchemyError:
                    pass  # the server is a throw-away one, removed with the session
        self._server.dispose()


@pytest.fixture(scope="module")
def postgres(request) -> Iterator[_Postgres]:
    pg = _Postgres(request.getfixturevalue("postgres_url"))
    yield pg
    pg.close()


def _store(reader: str, where: Path, write: Callable[[Any], None], request) -> Stored:
    """The studies ``write`` writes, in the storage ``reader`` reads."""
    where.mkdir(parents=True, exist_ok=True)
    if reader in ("sqlite", "optuna-sqlite"):
        path = _sqlite_file(where / "study.db", write)
        return Stored(str(path), "sqlite" if reader == "sqlite" else "optuna", _file_fingerprint(path))
    if reader == "journal":
        path = _journal_file(where / "study.log", write)
        return Stored(str(path), fingerprint=_file_fingerprint(path))
    assert reader == "postgres"
    return request.getfixturevalue("postgres").database(where.name, write)


@pytest.fixture(scope="module")
def stored(tmp_path_factory, request) -> Callable[[str, str], Stored]:
    """``stored(reader, studies)``: the storage ``reader`` reads, holding ``"contract"`` or a legacy version's
    studies; each is written once per module (per test worker)."""
    made: dict[tuple[str, str], Stored] = {}

    def get(reader: str, studies: str) -> Stored:
        if (reader, studies) not in made:
            write = write_contract_studies if studies == "contract" else (lambda s: write_legacy_studies(s, studies))
            where = tmp_path_factory.mktemp(f"{reader}-{studies}", numbered=True)
            made[reader, studies] = _store(reader, where, write, request)
        return made[reader, studies]

    return get


# --------------------------------------------------------------------------- comparing


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types (NaN equals NaN), in arrays, dicts and tuples too."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return False
        if a.dtype.kind == "O":
            return all(_same(x, y) for x, y in zip(a.tolist(), b.tolist()))
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


#: the fields that say where a study was read from, not what it holds
_WHERE = ("storage", "path")


def assert_same_study(got: StudyData, want: StudyData) -> None:
    """Every field of two StudyData the same, but where they were read from; dicts (attributes, columns) with their
    keys in the same order."""
    for f in attrs.fields(StudyData):
        if f.name in _WHERE:
            continue
        assert _same(getattr(got, f.name), getattr(want, f.name)), f.name
    for row in range(want.n_trials):
        assert _same(got.config(row), want.config(row)), row


def _summaries(summaries: list[StudySummary]) -> list[tuple]:
    """What each summary holds, its dicts as lists of items: their keys' order compared too."""
    return [(s.name, s.directions, list(s.counts.items()), list(s.user_attrs.items())) for s in summaries]


def _read(stored: Stored, study: str) -> StudyData:
    with stored.unchanged():
        return read_study(stored.spec, study, engine=stored.engine)


# --------------------------------------------------------------------------- the contract


@pytest.fixture(scope="module")
def reference(stored) -> dict[str, StudyData]:
    """The studies as the direct SQLite reader reads them, checked against what was written."""
    return {name: read_study(stored("sqlite", "contract").spec, name, engine="sqlite") for name in (MAIN, MULTI)}


def test_the_reference_holds_what_was_written(reference) -> None:
    main, multi = reference[MAIN], reference[MULTI]
    assert main.counts() == {"RUNNING": 1, "COMPLETE": 25, "PRUNED": 3, "FAIL": 3, "WAITING": 1}
    assert main.numbers.tolist() == list(range(33))
    assert main.values[12, 0] == math.inf and main.values[22, 0] == -math.inf and math.isnan(main.values[3, 0])
    assert main.config(0)["act"] == "relu" and main.config(2)["act"] is None and main.config(1)["flag"] is True
    assert main.study_user_attrs == {"owner": "team", "budget": {"trials": 30, "hours": 1.5}}
    # Keys in the order they were set (the table's index would sort them): the study's, and the trials' by the first
    # trial that set each key.
    assert list(main.study_user_attrs) == ["owner", "budget"]
    assert list(main.user_attrs) == ["seed", "tags", "meta", "note"]
    assert main.user_attrs["meta"][0] == {"n": 0, "ok": True, "none": None} and main.user_attrs["meta"][1] is None
    assert main.user_attrs["seed"][31] == 31 and main.user_attrs["note"][1] == "ünïcode ✓"
    assert main.infeasible is not None and main.infeasible[0] and not main.infeasible[2] and not main.infeasible[1]
    assert main.last_intermediate[31] == 0.75 and main.last_intermediate[2] == math.inf
    assert main.last_intermediate[3] == -math.inf and math.isnan(main.last_intermediate[0])
    assert main.space_source == "inferred" and main.inferred.fixed == {"optimizer": "adam"}
    params = main.inferred.params
    assert params["ctx_layers"].when.parent == "encoder" and params["ctx_layers"].when.values == ("mlp",)
    assert params["units_l2"].when.parent == "n_layers" and params["units_l2"].when.values == (2, 3)
    assert params["lr"].log and params["dropout"].step == 0.1 and params["units"].step == 8 and params["heads"].log
    assert params["act"].choices == ("relu", "tanh", None) and params["flag"].choices == (True, False)
    assert multi.directions == ("minimize", "maximize") and multi.values.shape == (12, 2)
    assert multi.values[4, 1] == math.inf and multi.counts() == {"COMPLETE": 10, "PRUNED": 1, "FAIL": 1}
    assert multi.space_source == "remembered" and multi.space == REMEMBERED
    assert multi.infeasible is None


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("study", [MAIN, MULTI])
def test_every_reader_reads_the_same_study(reader, study, stored, reference) -> None:
    assert_same_study(_read(stored(reader, "contract"), study), reference[study])


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_lists_the_same_studies(reader, stored) -> None:
    where = stored(reader, "contract")
    with where.unchanged():
        got = _summaries(list_studies(where.spec))
    assert got == [
        (
            MAIN,
            ("minimize",),
            [("RUNNING", 1), ("COMPLETE", 25), ("PRUNED", 3), ("FAIL", 3), ("WAITING", 1)],
            [("owner", "team"), ("budget", {"trials": 30, "hours": 1.5})],  # as set, not sorted
        ),
        (
            MULTI,
            ("minimize", "maximize"),
            [("COMPLETE", 10), ("PRUNED", 1), ("FAIL", 1)],
            [("refine:space", space_to_json(REMEMBERED))],
        ),
    ]


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_gives_the_same_next_space(reader, stored, reference) -> None:
    where = stored(reader, "contract")
    with where.unchanged():
        got = refine.next_space(read_study(where.spec, MAIN, engine=where.engine), config=False)
    want = refine.next_space(reference[MAIN], config=False)
    assert dump_space(got.space) == dump_space(want.space)
    assert got.decisions == want.decisions


# --------------------------------------------------------------------------- legacy schemas


def _legacy_names(version: str) -> list[str]:
    return _legacy_expected(version)["study_names"]


def _legacy(version: str, tmp_path: Path, engine: str) -> Stored:
    """A committed legacy file, read in place by refine's reader; a copy of it for Optuna's (which must never open
    the committed file)."""
    path = LEGACY / f"optuna-{version}.db"
    if engine == "optuna":
        path = Path(shutil.copyfile(path, tmp_path / path.name))
    return Stored(str(path), engine, _file_fingerprint(path))


_LEGACY_CASES = [(v, "sqlite") for v in LEGACY_VERSIONS] + [(v, "optuna") for v in LEGACY_OPTUNA_READS]


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("version", "engine"), _LEGACY_CASES)
def test_a_legacy_file_reads_as_its_trials_written_today(version, engine, reader, stored, tmp_path) -> None:
    legacy = _legacy(version, tmp_path, engine)
    today = stored(reader, version)
    with legacy.unchanged():
        assert _summaries(list_studies(legacy.spec)) == _summaries(list_studies(today.spec))
    for name in _legacy_names(version):
        assert_same_study(_read(legacy, name), _read(today, name))


# --------------------------------------------------------------------------- attributes in the order they were set


def _write_interleaved(storage: Any) -> None:
    """Attributes set out of key order, trial 1's before trial 0's, and one set again (an update: in PostgreSQL the
    row moves to the end of the table)."""
    study = optuna.create_study(storage=storage, study_name="order")
    for key in ("zeta", "alpha", "mid"):
        study.set_user_attr(key, key)
    study.set_user_attr("zeta", "again")
    first, second = study.ask(), study.ask()
    second.set_user_attr("zz", 1)
    second.set_user_attr("bb", 2)
    first.set_user_attr("yy", 3)
    first.set_user_attr("bb", 4)
    first.set_user_attr("aa", 5)
    first.set_user_attr("yy", 6)
    study.tell(first, 1.0)
    study.tell(second, 2.0)


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_gives_attributes_in_the_order_they_were_set(reader, tmp_path, request) -> None:
    where = _store(reader, tmp_path / "order", _write_interleaved, request)
    with where.unchanged():
        data = read_study(where.spec, "order", engine=where.engine)
        summary = list_studies(where.spec)[0]
    assert list(data.study_user_attrs.items()) == [("zeta", "again"), ("alpha", "alpha"), ("mid", "mid")]
    assert list(summary.user_attrs) == ["zeta", "alpha", "mid"]
    # By the first trial that set each key (trial 0, though trial 1 set its keys first), then as that trial set them.
    assert list(data.user_attrs) == ["yy", "bb", "aa", "zz"]
    assert data.user_attrs["yy"].tolist() == [6, None] and data.user_attrs["bb"].tolist() == [4, 2]
