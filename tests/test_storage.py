"""Storages (refine/storage.py): one set of rules for readers and writers alike."""

from __future__ import annotations

import sqlite3
import time

import optuna
import pytest

from refine import executor, storage, study
from refine.errors import RefineError, StudyError
from refine.executor import parse_study_ref, redact
from refine.storage import (
    JOURNAL_SUFFIXES,
    check_storage_file,
    is_journal,
    load_study,
    open_readonly,
    open_storage,
    sqlite_database,
    sqlite_file,
    storage_url,
)
from tests.conftest import run_cli as cli
from tests.executor.conftest import OBJ, run_argv


def test_readers_and_the_executor_share_one_storage_module():
    assert study.redact is storage.redact is executor.redact
    assert executor.open_storage is storage.open_storage
    assert executor.load_study is storage.load_study


@pytest.mark.parametrize("suffix", JOURNAL_SUFFIXES)
def test_reader_and_writer_agree_a_journal_suffix_names_no_sqlite_file(tmp_path, suffix):
    path = str(tmp_path / f"study{suffix}")
    assert is_journal(path)
    assert sqlite_file(path) is None


def test_reader_and_writer_find_the_same_sqlite_file(tmp_path):
    path = tmp_path / "with space and %.db"
    optuna.create_study(storage=f"sqlite:///{path}", study_name="s").optimize(lambda t: t.suggest_float("x", 0, 1), 1)
    assert sqlite_file(str(path)) == path
    assert sqlite_database(storage_url(str(path))) == str(path)
    assert sqlite_file(storage_url(str(path))) == path


def test_another_programs_sqlite_database_is_refused_unchanged(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(StudyError, match="not an Optuna storage.*invoices"):
        check_storage_file(path, create=True)
    with pytest.raises(StudyError, match="not an Optuna storage"):
        open_storage(str(path), create=True)
    with pytest.raises(StudyError, match="not an Optuna database"):
        open_readonly(str(path))
    assert path.read_bytes() == before


def test_a_text_file_is_not_taken_for_a_journal(tmp_path):
    path = tmp_path / "notes.log"
    path.write_text("hello\n")
    with pytest.raises(StudyError, match="not an Optuna journal file"):
        open_readonly(str(path))
    with pytest.raises(StudyError, match="not an Optuna journal file"):
        open_storage(str(path), create=True)
    assert path.read_text() == "hello\n"


def test_a_study_written_to_a_journal_loads_through_both_openers(tmp_path):
    path = tmp_path / "study.jsonl"
    store = open_storage(str(path), create=True)
    optuna.create_study(storage=store, study_name="j").optimize(lambda t: t.suggest_float("x", 0, 1), 3)
    assert len(load_study(str(path), "j").trials) == 3
    assert [s.study_name for s in open_readonly(str(path)).get_all_studies()] == ["j"]


def test_unreachable_storage_fails_fast_without_password(tmp_path, capsys):
    url = "postgresql+psycopg://user:s3cret@127.0.0.1:1/db"
    argv = run_argv(tmp_path, "quadratic", url, "--trials", "2", "--quiet")
    start = time.time()
    code, _, err = cli(capsys, *argv)
    assert code == 2 and "s3cret" not in err and "***" in err and time.time() - start < 10


def _foreign_files(tmp_path):
    import sqlite3

    other = tmp_path / "crm.db"  # another program's SQLite database
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    con.commit()
    con.close()
    garbage = tmp_path / "notes.log"
    garbage.write_text("garbage, not a journal\n")
    text = tmp_path / "text.db"
    text.write_text("hello")
    return other, garbage, text


@pytest.mark.parametrize("which", [0, 1, 2])
def test_run_never_writes_into_a_file_that_is_not_an_optuna_storage(tmp_path, capsys, which):
    target = _foreign_files(tmp_path)[which]
    before = target.read_bytes()
    code, _, err = cli(capsys, *run_argv(tmp_path, "quadratic", target, "--trials", "2", "--quiet"))
    assert code == 2 and err.startswith("error:") and str(target.name) in err and len(err.strip().splitlines()) == 1
    assert target.read_bytes() == before


@pytest.mark.parametrize(
    "command", [["best"], ["rerun", "--objective", f"{OBJ}:quadratic"], ["inspect"], ["compare", "--studies", "a", "b"]]
)
@pytest.mark.parametrize("which", [0, 1, 2])
def test_readers_refuse_a_file_that_is_not_an_optuna_storage(tmp_path, capsys, command, which):
    target = _foreign_files(tmp_path)[which]
    before = target.read_bytes()
    code, _, err = cli(capsys, command[0], str(target), *command[1:])
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert target.read_bytes() == before


def test_reading_a_missing_storage_never_creates_it(tmp_path):
    with pytest.raises(RefineError, match="does not exist"):
        open_storage(str(tmp_path / "missing.db"), create=False)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(RefineError, match="does not exist"):
        open_storage(str(tmp_path / "missing.log"), create=False)


def test_parse_study_ref_and_redact():
    assert parse_study_ref("s.db:stage1") == ("s.db", "stage1")
    assert parse_study_ref("postgresql://u:p@h:5432/db") == ("postgresql://u:p@h:5432/db", None)
    assert parse_study_ref("postgresql://u:p@h:5432/db:st") == ("postgresql://u:p@h:5432/db", "st")
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert redact("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"  # a password holding '@'
    assert (
        redact("postgresql://h/db?sslmode=off&password=secret&x=1") == "postgresql://h/db?sslmode=off&password=***&x=1"
    )
    # a driver that split the URL at the first '@' quotes the password's tail as the host: hidden too
    url = "postgresql://u:se@cret@127.0.0.1:1/db"
    assert "cret" not in redact("failed to resolve host 'cret@127.0.0.1'", url)
    assert redact("a postgresql://u:s@h/d and mysql://v:t@k/e") == "a postgresql://u:***@h/d and mysql://v:***@k/e"


@pytest.mark.parametrize("storage", ["", "sqlite://", "postgresql+psycopg://u:secret@127.0.0.1:1/db"])
@pytest.mark.parametrize(
    "command",
    [["best"], ["compare", "--studies", "a", "b"], ["rerun", "--objective", f"{OBJ}:quadratic"]],
    ids=lambda c: c[0],
)
def test_a_storage_that_cannot_be_opened_is_one_line_in_every_command(capsys, storage, command):
    code, _, err = cli(capsys, command[0], storage, *command[1:])
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert "secret" not in err
