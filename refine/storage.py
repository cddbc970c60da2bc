"""Storages: every way of naming, opening, checking and redacting where studies live.

Readers (:mod:`refine.study`) and writers (:mod:`refine.executor`,
:mod:`refine.reruns`) come here for the same rules:

- what a user typed: a SQLite file (``study.db``), a journal file (``*.log``,
  ``*.journal``, ``*.jsonl``) or any storage URL; :func:`parse_study_ref`
  splits ``STORAGE:STUDY``;
- :func:`check_storage_file` refuses a file that is not an Optuna storage
  before Optuna touches it, and :func:`redact` keeps passwords out of every
  message;
- :func:`open_readonly` opens an existing storage for reading (SQLite through
  a read-only URI), :func:`open_storage` opens one for writing (heartbeats,
  queue-only workers), and :func:`load_study` loads a study, reading a
  SQLite file an older Optuna wrote into an in-memory copy rather than
  upgrading it.

Nothing here writes to a storage it did not create.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

from refine.errors import StudyError

__all__ = [
    "JOURNAL_SUFFIXES",
    "OldSchemaError",
    "QueueEmpty",
    "check_storage_file",
    "connect_ro",
    "is_journal",
    "load_study",
    "open_readonly",
    "open_storage",
    "parse_study_ref",
    "redact",
    "sqlite_database",
    "sqlite_file",
    "storage_url",
    "study_names",
]

URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
#: File suffixes that name a journal storage rather than a SQLite file.
JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")
#: The tables that make an SQLite file an Optuna storage.
OPTUNA_TABLES = frozenset({"studies", "trials", "trial_params"})


def redact(text: str, url: str | None = None) -> str:
    """Hide the password of any URL in ``text``: ``postgresql://u:***@host/db``.

    The user-info runs to the last ``@`` of the authority (a password may hold
    ``@``), and a password passed as a query parameter (``?password=...``) is
    hidden too. With ``url``, every piece of its password is hidden wherever it
    appears (a driver that split the URL at the first ``@`` quotes the rest as
    the host name).
    """
    text = re.sub(r"(://[^/:@\s]*):[^/\s]*@", r"\1:***@", str(text))
    text = re.sub(r"([?&](?:password|passwd|pwd|sslpassword)=)[^&\s]*", r"\1***", text, flags=re.I)
    found = re.match(r"[^:/\s]+://[^/:@\s]*:([^/\s]*)@", url or "")
    if found:
        for piece in sorted(found.group(1).split("@"), key=len, reverse=True):
            if len(piece) >= 3:
                text = text.replace(piece, "***")
    return text


class QueueEmpty(Exception):
    """A queue-only worker found no WAITING trial to run."""


# --------------------------------------------------------------------------- naming and checking


def sqlite_file(storage: str) -> Path | None:
    """The file behind a SQLite path or ``sqlite:///`` URL, else None."""
    if storage.startswith("sqlite:///"):
        from sqlalchemy.engine import (
            make_url,  # the path as SQLAlchemy reads the URL: %-escapes decoded, ?query dropped
        )

        return Path(make_url(storage).database or "")
    if URL_SCHEME.match(storage):
        return None
    path = Path(storage)
    if path.suffix.lower() in JOURNAL_SUFFIXES:
        return None
    if path.is_file():
        with open(path, "rb") as f:
            head = f.read(16)
        if head.startswith(b"SQLite format 3"):
            return path
        if head[:1] == b"{":  # a journal file with another suffix
            return None
        raise StudyError(
            f"{path} is not an Optuna database (not a SQLite file); give a study.db, a storage URL or a journal file"
        )
    return path


def _ro_query(path: Path) -> str:
    """The query of a read-only SQLite URI for ``path``.

    A file in WAL mode with no ``-wal`` beside it has no writer and nothing
    left to checkpoint; a read-only connection would still create a ``-wal``
    and a ``-shm`` next to it and could not remove them, so it is read as
    immutable instead. With a ``-wal`` there (a live study), SQLite's usual
    read-only locking applies.
    """
    with open(path, "rb") as f:
        head = f.read(20)
    wal = len(head) == 20 and head.startswith(b"SQLite format 3") and 2 in (head[18], head[19])
    if wal and not path.with_name(path.name + "-wal").exists():
        return "mode=ro&immutable=1"
    return "mode=ro"


def connect_ro(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A read-only connection to an existing SQLite file; never creates one, nor its ``-wal``."""
    if not path.exists():
        raise StudyError(f"storage {path} does not exist; check the path (refine never creates a storage it reads)")
    if path.is_dir():
        raise StudyError(f"storage {path} is a directory; give the path of an Optuna SQLite file")
    uri = f"file:{urllib.parse.quote(path.resolve().as_posix())}?{_ro_query(path)}"
    con = sqlite3.connect(uri, uri=True, check_same_thread=check_same_thread)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as e:
        con.close()
        if "locked" in str(e) or "busy" in str(e):
            raise StudyError(
                f"{path} is locked by another process (a study being written, or a crashed writer); "
                "try again when it is done, or copy the file and read the copy"
            ) from None
        raise StudyError(f"{path} is not an Optuna database ({e}); give a study.db written by Optuna") from None
    except sqlite3.DatabaseError as e:
        con.close()
        raise StudyError(f"{path} is not an Optuna database ({e}); give a study.db written by Optuna") from None
    return con


def table_columns(con: sqlite3.Connection) -> dict[str, set[str]]:
    """Each table of a SQLite database with its column names."""
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {n: {r[1] for r in con.execute(f"PRAGMA table_info('{n}')")} for n in names}


def check_storage_file(path: str | Path, *, create: bool, journal: bool = False) -> None:
    """Refuse a file that is not an Optuna storage before Optuna touches it.

    A reader (``create=False``) needs Optuna's tables or journal records; a
    writer may also start from a missing or empty file, but never adds
    Optuna's tables to another program's SQLite database, nor appends to a
    file that is not a journal. Nothing is written.

    Raises:
        StudyError: What the file is instead, and what to give.
    """
    path = Path(path)
    if not path.exists():
        return
    if path.is_dir():
        raise StudyError(f"storage {path} is a directory; give the path of an Optuna SQLite or journal file")
    if path.stat().st_size == 0:
        if create:
            return
        raise StudyError(f"storage {path} is empty: it holds no study")
    with open(path, "rb") as f:
        head = f.read(4096)
    if journal:
        first = head.split(b"\n", 1)[0]
        try:
            record = json.loads(first)
        except ValueError:
            record = None
        if not isinstance(record, dict) or "op_code" not in record:
            raise StudyError(
                f"{path} is not an Optuna journal file (its first line is not a journal record); "
                "give a journal written by Optuna" + (", or a new file" if create else "")
            )
        return
    if not head.startswith(b"SQLite format 3"):
        raise StudyError(
            f"{path} is not an Optuna database (not a SQLite file); give a study.db, a storage URL or a journal file"
        )
    con = connect_ro(path)
    try:
        tables = set(table_columns(con))
    finally:
        con.close()
    if OPTUNA_TABLES <= tables:
        return
    if not tables and create:
        return
    if not tables:
        raise StudyError(f"storage {path} is an empty SQLite database: it holds no study")
    raise StudyError(
        f"{path} is an SQLite database but not an Optuna storage (tables: {', '.join(sorted(tables)[:6])}); "
        "refine never adds Optuna's tables to another database: give a new file"
    )


# --------------------------------------------------------------------------- opening for reading


def open_readonly(storage: str) -> Any:
    """Open an existing storage for reading through Optuna; nothing is created or migrated.

    A SQLite file is opened through a read-only URI; a journal file must hold
    Optuna's journal records.

    Raises:
        StudyError: The storage does not exist, is not Optuna's, or cannot be reached.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sqlite = sqlite_file(storage)
    if sqlite is None and not URL_SCHEME.match(storage):
        path = Path(storage)
        if not path.exists():
            raise StudyError(f"storage {path} does not exist; check the path (refine never creates a storage it reads)")
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        check_storage_file(path, create=False, journal=True)
        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except Exception as e:  # noqa: BLE001 - any failure here is a bad input file
            raise StudyError(f"{path} is not an Optuna journal file ({type(e).__name__}: {e})") from None
    if sqlite is not None:
        if not sqlite.exists():
            raise StudyError(
                f"storage {sqlite} does not exist; check the path (refine never creates a storage it reads)"
            )
        # A SQLite file without Optuna's tables: say so, rather than let RDBStorage try to create them.
        from refine.study.sqlite import SqliteReader  # the reader checks the tables and the schema revision

        SqliteReader(sqlite).close()
        # Quoted twice: SQLAlchemy unquotes the URL once, SQLite the URI once more.
        quoted = urllib.parse.quote(urllib.parse.quote(sqlite.resolve().as_posix()))
        url = f"sqlite:///file:{quoted}?{_ro_query(sqlite)}&uri=true"
    else:
        url = storage
    try:
        return optuna.storages.RDBStorage(url, skip_compatibility_check=False, engine_kwargs=_engine_kwargs(url))
    except Exception as e:  # noqa: BLE001 - connection problems are the user's input
        raise StudyError(
            f"cannot open storage {redact(storage)}: {redact(' '.join(str(e).split()), storage)[:300]}"
        ) from None


def _engine_kwargs(url: str) -> dict:
    if url.startswith("postgresql"):
        return {"connect_args": {"connect_timeout": 5}}
    if url.startswith("mysql"):
        return {"connect_args": {"connect_timeout": 5}}
    return {}


# --------------------------------------------------------------------------- opening for writing, loading


def is_journal(spec: str) -> bool:
    """Whether what a user typed names a journal file (by its suffix, never a URL)."""
    return "://" not in spec and spec.lower().endswith(JOURNAL_SUFFIXES)


def storage_url(spec: str) -> str:
    """The SQLAlchemy URL for what a user typed: a path becomes ``sqlite:///PATH``; a bare ``postgresql://`` gets the
    installed driver."""
    if "://" in spec:
        if spec.startswith("postgresql://") and importlib.util.find_spec("psycopg2") is None:
            if importlib.util.find_spec("psycopg") is not None:
                return "postgresql+psycopg://" + spec[len("postgresql://") :]
        return spec
    from sqlalchemy.engine import URL

    # Built, not formatted: a path with %, ? or # in it is quoted, not read as URL syntax.
    return URL.create("sqlite", database=spec).render_as_string(hide_password=False)


def sqlite_database(url: str) -> str | None:
    """The database file of a ``sqlite:`` URL as SQLAlchemy reads it; None for other URLs and in-memory SQLite."""
    if not url.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        path = make_url(url).database
    except ArgumentError:
        return None
    return None if path in (None, "", ":memory:") else path


class OldSchemaError(StudyError):
    """A storage whose tables an older Optuna wrote and the installed one will not open unchanged."""


def _queue_only_classes() -> tuple[type, type]:
    """Storage classes whose workers may pop enqueued trials but never create fresh ones."""
    from optuna.storages import JournalStorage, RDBStorage

    class QueueOnlyRDBStorage(RDBStorage):
        # _CachedStorage (Optuna's wrapper of every RDBStorage) creates trials
        # through this method, so this is where a fresh trial is refused.
        def _create_new_trial(self, study_id: int, template_trial: Any = None) -> Any:
            if template_trial is None:
                raise QueueEmpty()
            return super()._create_new_trial(study_id, template_trial)

    class QueueOnlyJournalStorage(JournalStorage):
        def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
            if template_trial is None:
                raise QueueEmpty()
            return super().create_new_trial(study_id, template_trial)

    return QueueOnlyRDBStorage, QueueOnlyJournalStorage


def open_storage(
    spec: str,
    *,
    create: bool,
    heartbeat: int | None = None,
    queue_only: bool = False,
    connect_timeout: int = 5,
) -> Any:
    """Open an Optuna storage from what a user types.

    Args:
        spec: A path to an SQLite file (``study.db``), a journal file
            (``*.log``, ``*.journal``), or any storage URL (``sqlite:///…``,
            ``postgresql://…``, ``mysql://…``).
        create: Whether a storage that does not exist yet may be created. A
            reader passes ``False``: a missing file is an error, never created.
        heartbeat: Seconds between heartbeats of running trials (RDB storages
            only); a trial whose worker died is failed after three missed
            beats (``refine run`` then retries it once).
        queue_only: Refuse to create fresh trials: only enqueued ones run.
        connect_timeout: Seconds before an unreachable server is an error.

    Raises:
        StudyError: The storage does not exist (and ``create`` is false), or
            cannot be reached; the message never shows a password.
    """
    import optuna
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    rdb_cls, journal_cls = _queue_only_classes() if queue_only else (RDBStorage, JournalStorage)
    spec = str(spec)
    if not spec.strip():
        raise StudyError(
            "the storage is empty; give a SQLite file (study.db), a journal file (study.log) or a storage URL"
        )
    if is_journal(spec):
        journal = Path(spec)
        check_storage_file(journal, create=create, journal=True)  # first: it names a directory for what it is
        if not create and not journal.is_file():
            raise StudyError(f"journal file {spec} does not exist; check the path")
        if create and not journal.parent.is_dir():
            raise StudyError(f"cannot create journal file {spec}: directory {journal.parent} does not exist")
        return journal_cls(JournalFileBackend(str(journal)))

    url = storage_url(spec)
    shown = redact(spec)
    path = sqlite_database(url)
    if path is None and url.startswith("sqlite:"):
        raise StudyError(
            f"storage {shown} is an in-memory SQLite database: nothing in it is kept; give a file, e.g. sqlite:///study.db"
        )
    if path is not None:
        check_storage_file(path, create=create)  # first: it names a directory for what it is
        if not create and not Path(path).is_file():
            raise StudyError(
                f"storage {shown} does not exist; check the path (refine never creates a storage it reads)"
            )
        if create and not Path(path).resolve().parent.is_dir():
            raise StudyError(f"cannot create storage {shown}: directory {Path(path).parent} does not exist")
        connect_args: dict[str, Any] = {"timeout": 60}
    elif url.startswith(("postgresql", "mysql")):
        connect_args = {"connect_timeout": connect_timeout}
    else:
        connect_args = {}
    kwargs: dict[str, Any] = {}
    if heartbeat:
        kwargs = {"heartbeat_interval": heartbeat, "grace_period": 3 * heartbeat}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # no retry callback: Optuna's enqueues the retry in a transaction of its own, after failing the
            # trial, and a coordinator topping up the queue in between filled the same place twice; refine
            # run's coordinator retries it instead (executor.queue._top_up), deciding under a lock
            return rdb_cls(
                url,
                engine_kwargs={"connect_args": connect_args, "pool_pre_ping": True},
                skip_table_creation=not create,
                **kwargs,
            )
    except ImportError as e:
        raise StudyError(
            f"cannot open storage {shown}: its database driver is missing ({e}); "
            "for PostgreSQL: pip install 'psycopg[binary]' and use postgresql+psycopg://"
        ) from None
    except Exception as e:  # SQLAlchemy's errors: bad URL, unreachable server, bad credentials
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(e, RuntimeError) and "optuna storage upgrade" in str(e):
            raise OldSchemaError(
                f"storage {shown} was written by an older Optuna, whose tables the installed Optuna "
                f"{optuna.__version__} will not use unless it upgrades them, and refine never changes a storage "
                "it did not create: write to another storage, or upgrade a copy (cp old.db new.db && "
                "optuna storage upgrade --storage sqlite:///new.db)"
            ) from None
        cause: BaseException = e
        if isinstance(e, optuna.exceptions.StorageInternalError) and e.__cause__ is not None:
            cause = e.__cause__  # Optuna's wrapper of SQLAlchemy's error
        if not isinstance(cause, (SQLAlchemyError, ValueError)):
            raise
        reason = redact(" ".join(str(getattr(cause, "orig", None) or cause).split()), spec)
        raise StudyError(f"cannot open storage {shown}: {reason[:300]}") from None


def parse_study_ref(ref: str) -> tuple[str, str | None]:
    """Split ``STORAGE[:STUDY]`` (or ``STORAGE/STUDY`` for a file) into its parts.

    A URL's ports and passwords are never taken for a study name: the study is
    what follows the last ``:`` only when that part has no ``/`` or ``@``.
    """
    head, sep, tail = ref.rpartition(":")
    if sep and head and tail and "/" not in tail and "@" not in tail and not tail.isdigit():
        if "://" in head or not head.endswith(":"):
            return head, tail
    head, sep, tail = ref.rpartition("/")
    if sep and head and "://" not in ref and Path(head).is_file():
        return head, tail
    return ref, None


def _study_names(storage: Any) -> list[str]:
    try:
        return [s.study_name for s in storage.get_all_studies()]
    except Exception as e:
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(e, SQLAlchemyError):
            raise
        raise StudyError(
            f"cannot read the studies of the storage: {redact(str(getattr(e, 'orig', e)).splitlines()[0])}"
        ) from None


def study_names(spec: str) -> list[str]:
    """The names of the studies in an existing storage, whatever Optuna wrote it."""
    try:
        return _study_names(open_storage(spec, create=False))
    except OldSchemaError:
        from refine.study import list_studies

        return [s.name for s in list_studies(spec)]


def load_study(spec: str, study: str | None = None, *, sampler: Any = None) -> Any:
    """Load an existing study for reading; the storage is never created.

    A SQLite file an older Optuna wrote, which the installed one will not open
    without upgrading it, is read by refine's own reader into an in-memory
    study: the same trials, numbers, values, attributes and states, and the
    file is left as it was.

    Raises:
        StudyError: The storage or the study does not exist, or ``study`` is
            left out while the storage holds several.
    """
    import optuna

    try:
        storage = open_storage(spec, create=False)
    except OldSchemaError:
        from refine.study import read_study
        from refine.study.optuna import in_memory_study

        return in_memory_study(read_study(spec, study), sampler)
    names = _study_names(storage)
    shown = redact(spec)
    if study is None:
        if not names:
            raise StudyError(f"storage {shown} holds no study")
        if len(names) > 1:
            raise StudyError(
                f"storage {shown} holds {len(names)} studies ({', '.join(sorted(names))}); name one: --study "
                "NAME (for --from: STORAGE:NAME; in Python: study=)"
            )
        study = names[0]
    elif study not in names:
        held = ", ".join(sorted(names)) or "none"
        raise StudyError(f"storage {shown} has no study '{study}'; it holds: {held}")
    return optuna.load_study(study_name=study, storage=storage, sampler=sampler)
