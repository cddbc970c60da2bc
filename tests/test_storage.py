"""Storages (refine/storage.py): one set of rules for readers and writers alike."""

from __future__ import annotations

import sqlite3

import optuna
import pytest

from refine import executor, storage, study
from refine.errors import StudyError
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
