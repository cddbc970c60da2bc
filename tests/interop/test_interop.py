"""``refine export`` / ``refine import`` on every target (refine/interop/__init__.py): the file rules they share."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from refine.spacefile import load_space
from tests.interop.conftest import _example_space, _run

ConfigSpace = pytest.importorskip("ConfigSpace")


def test_unknown_to_exits_2_with_the_reason_and_the_parameter(space_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "refine", "export", str(space_file), "--to", "hyperopt"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --to must be one of configspace, wandb, optuna, got 'hyperopt'; pick the tool the space goes to"
    ]
    assert result.stdout == ""


def test_unknown_from_exits_2(space_file: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _run(capsys, "import", str(space_file), "--from", "optuna")
    assert code == 2 and "--from must be one of configspace, wandb" in err


def test_export_to_a_file_writes_it_and_prints_where(
    space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cs.yaml"
    code, stdout, _ = _run(capsys, "export", str(space_file), "--to", "configspace", "-o", str(out))
    assert code == 0 and stdout.strip() == f"wrote {out}"
    assert yaml.safe_load(out.read_text())["name"] == "visual_classifier"
    code, _, _ = _run(capsys, "import", str(out), "--from", "configspace", "-o", str(tmp_path / "back.yaml"))
    assert code == 0
    assert load_space(tmp_path / "back.yaml") == _example_space()


def test_export_never_writes_over_its_own_space_file_and_writes_a_pipe_in_place(
    space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import os
    import threading

    before = space_file.read_bytes()
    for target in (str(space_file), str(tmp_path / ".." / tmp_path.name / space_file.name)):
        if Path(target).resolve() != space_file.resolve():
            continue
        code, _, err = _run(capsys, "export", str(space_file), "--to", "wandb", "-o", target)
        assert code == 2 and "is this command's input" in err and len(err.strip().splitlines()) == 1
    assert space_file.read_bytes() == before
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    code, _, _ = _run(capsys, "export", str(space_file), "--to", "wandb", "-o", str(fifo))
    reader.join(timeout=10)
    assert code == 0 and "parameters:" in got[0] and not fifo.is_file() and fifo.exists()  # still a pipe, not a file


def test_import_never_overwrites_a_space_file(space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cs_file = tmp_path / "cs.json"
    _run(capsys, "export", str(space_file), "--to", "configspace", "-o", str(cs_file))
    before = space_file.read_text()
    code, _, err = _run(capsys, "import", str(cs_file), "--from", "configspace", "-o", str(space_file))
    assert code == 2 and "already exists" in err
    assert space_file.read_text() == before


def test_import_without_out_prints_the_space(space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cs_file = tmp_path / "cs.json"
    _run(capsys, "export", str(space_file), "--to", "configspace", "-o", str(cs_file))
    code, out, _ = _run(capsys, "import", str(cs_file), "--from", "configspace")
    assert code == 0 and out == space_file.read_text()


def test_export_of_a_missing_space_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _run(capsys, "export", str(tmp_path / "nope.yaml"), "--to", "wandb")
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize("target", ["configspace", "wandb", "optuna"])
def test_export_replaces_an_earlier_export_but_no_other_file(
    space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture, target: str
) -> None:
    out = tmp_path / "exported.txt"
    assert _run(capsys, "export", str(space_file), "--to", target, "-o", str(out))[0] == 0
    out.write_text(out.read_text() + "\n# edited\n" if target != "configspace" else out.read_text())
    assert _run(capsys, "export", str(space_file), "--to", target, "-o", str(out))[0] == 0  # regenerated in place
    assert "# edited" not in out.read_text()
    other = tmp_path / "other.v2.yaml"
    other.write_text("# hyperparameters exported by refine, then edited by hand\n" + space_file.read_text())
    empty = tmp_path / "empty.out"
    empty.write_text("")
    assert _run(capsys, "export", str(space_file), "--to", target, "-o", str(empty))[0] == 0  # mktemp's file
    study = tmp_path / "study.db"
    sqlite3.connect(study).execute("CREATE TABLE t (x)").connection.commit()
    for victim, says in ((other, "is a refine space file"), (study, "is a SQLite database")):
        before = victim.read_bytes()
        code, _, err = _run(capsys, "export", str(space_file), "--to", target, "-o", str(victim))
        assert code == 2 and says in err and "--force" in err, err
        assert victim.read_bytes() == before
    assert _run(capsys, "export", str(space_file), "--to", target, "-o", str(other), "--force")[0] == 0
    assert not other.read_text().startswith("# hyperparameters exported")


_BAD_YAML = {
    # a recursive alias: nothing could print or store the value
    "contains itself": "name: s\nhyperparameters: &h\n  - *h\nparameters: &p\n  x: *p\n",
    # YAML would keep the last `parameters` silently; space files refuse it, and so do other tools' files
    "has the key 'parameters' twice (line 2 and line 4)": (
        "name: s\nparameters:\n  x: {min: 0.0, max: 1.0}\nparameters:\n  y: {min: 0.0, max: 1.0}\n"
    ),
}


@pytest.mark.parametrize("source", ["configspace", "wandb"])
@pytest.mark.parametrize("says", list(_BAD_YAML))
def test_import_of_yaml_refine_would_not_read_as_a_space_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, source: str, says: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_BAD_YAML[says])
    code, _, err = _run(capsys, "import", str(path), "--from", source)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
