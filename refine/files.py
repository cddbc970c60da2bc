"""A user's files: read as text with a one-line error, and written by refine without ever losing one.

Every file refine writes goes through :func:`atomic_write` (a temporary file
and a rename: never a half-written file); a command checks first that it does
not write over its own input (:func:`refuse_overwriting_inputs`) or over a file
it did not write (:func:`refuse_replacing_another_file`).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

from refine.errors import SpaceError

__all__ = [
    "read_text",
    "atomic_write",
    "refuse_overwriting_inputs",
    "refuse_replacing_another_file",
    "new_folders",
    "remove_folders",
]


def read_text(path: Path, what: str, expected: str) -> str:
    """The UTF-8 text of a file the user named; a missing, directory or binary file is a SpaceError.

    Args:
        path: The file.
        what: What the file is, for the message ("space", "ConfigSpace").
        expected: What to give instead, for the message ("a YAML space file").
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError(f"{what} file {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise SpaceError(f"{what} file {path} is a directory; give {expected}") from None
    except UnicodeDecodeError:
        raise SpaceError(f"{what} file {path} is not UTF-8 text; give {expected}") from None


def refuse_overwriting_inputs(out: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """Raise SpaceError when ``out`` is the same file as one of ``inputs`` (a command never writes over what it
    reads)."""
    for source in inputs:
        try:
            same = os.path.exists(out) and os.path.samefile(out, source)
        except (OSError, ValueError):  # the input is a URL, or does not exist
            same = False
        if same:
            raise SpaceError(f"{out} is this command's input ({source}); write to another file")


def refuse_replacing_another_file(
    out: str | os.PathLike, *, ours: Callable[[str], bool], kind: str, force: bool = False
) -> None:
    """Raise SpaceError when ``out`` exists and is not what this command writes (a study, a space, anything else).

    A command whose output is regenerated (a report, an export) replaces its own earlier file;
    ``ours`` tells one from the text. ``--force`` (``force``) replaces anything.
    """
    path = Path(out)
    if force or not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    what = None
    if head.startswith(b"SQLite format 3"):
        what = "a SQLite database"
    elif b"\0" in head:
        what = "not text"
    else:
        text = head.decode("utf-8", errors="ignore")  # a character cut at the end of the head is no reason to refuse
        if _is_space_text(text):
            what = "a refine space file"
        elif not ours(text):
            what = f"not {kind}"
    if what is not None:
        raise SpaceError(f"{out} exists and is {what}; give another -o, or --force to replace it")


def _is_space_text(text: str) -> bool:
    """Whether ``text`` (maybe only a file's head) is a refine space file: top-level `version` and `params` keys."""
    return bool(re.search(r"(?m)^version:", text)) and bool(re.search(r"(?m)^(params|param_ranges):", text))


def atomic_write(
    path: str | os.PathLike,
    text: str,
    *,
    overwrite: bool = False,
    hint: str = "remove it or use --out",
) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    A device or a pipe (``-o /dev/stdout``) is written in place, never
    replaced by a file.

    Raises:
        SpaceError: ``path`` exists and ``overwrite`` is false (``hint`` says
            what to do), is empty or a folder, or its folder cannot be made
            or written. A command that reads files checks first that it does
            not write over them (:func:`refuse_overwriting_inputs`).
    """
    if not os.fspath(path):
        raise SpaceError("the output path is empty; give a file name (-o FILE)")
    path = Path(path)
    if path.is_dir():
        raise SpaceError(f"cannot write {path}: it is a folder; give a file name")
    if path.exists() and not path.is_file():
        if not overwrite:
            raise SpaceError(f"{path} already exists; refine never overwrites a version ({hint})")
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise SpaceError(f"cannot write {path}: {e.strerror or e}") from None
        return path
    made = new_folders(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        remove_folders(made)
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else (e.strerror or str(e))
        raise SpaceError(f"cannot write {path}: {why} (choose another folder)") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a space file is as readable as any other file
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise SpaceError(f"{path} already exists; refine never overwrites a version ({hint})") from None
            os.unlink(tmp)
    except OSError as e:  # a full disk, a quota, a file-size limit: the file named, nothing left behind
        raise SpaceError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if not path.exists():
            remove_folders(made)
    return path


def new_folders(folder: str | os.PathLike) -> list[Path]:
    """The folders that writing into ``folder`` would create, innermost first."""
    folder = Path(folder)
    return [p for p in (folder, *folder.parents) if not p.exists()]


def remove_folders(folders: Sequence[Path]) -> None:
    """Remove the (empty) folders a failed write created, innermost first."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (something else wrote there), or already gone
            break


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
