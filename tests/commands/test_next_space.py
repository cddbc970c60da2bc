"""``refine next-space`` as a user runs it: its files, --json, --dry-run, and its one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from refine.space import FloatParam, Space
from refine.spacefile import save_space
from tests.conftest import _cli, _space


def test_existing_version_is_never_overwritten(study_factory, tmp_path):
    space = _space(x=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: c["x"], 30)
    out = tmp_path / "out"
    assert _cli("next-space", path, "--out", str(out)).returncode == 0
    before = (out / "s.v2.yaml").read_bytes()
    proc = _cli("next-space", path, "--out", str(out))
    assert proc.returncode == 2 and "already exists" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "s.v2.yaml").read_bytes() == before


def test_json_output_follows_the_spec(study_factory, tmp_path):
    space = _space(x=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: c["x"], 40)
    proc = _cli("next-space", path, "--out", str(tmp_path / "o"), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["version"] == 2 and doc["space_path"].endswith("s.v2.yaml") and doc["rationale_path"].endswith("s.v2.md")
    assert [set(d) >= {"param", "action", "rule", "reason"} for d in doc["decisions"]] == [True]
    assert doc["dry_run"] is False and Path(doc["space_path"]).is_file()
    dry = json.loads(_cli("next-space", path, "--out", str(tmp_path / "d"), "--json", "--dry-run").stdout)
    assert dry["dry_run"] is True and dry["space_path"] == str(tmp_path / "d" / "s.v2.yaml")  # where it would go
    assert not (tmp_path / "d").exists()


def test_a_space_for_another_objective_setup_is_refused(study_factory, tmp_path):
    space = _space(x=FloatParam(low=0, high=1))  # maximize
    path = study_factory(space, lambda c: c["x"], 20)
    flipped = save_space(
        Space(name="s", version=1, directions=("minimize",), params=space.params), tmp_path / "min.yaml"
    )
    r = _cli("next-space", path, "--space", str(flipped), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "says minimize but study" in r.stderr and len(r.stderr.splitlines()) == 1
    other = save_space(_space(lr=FloatParam(low=1e-4, high=1, log=True)), tmp_path / "other.yaml")
    r = _cli("next-space", path, "--space", str(other), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "none of the space's parameters (lr)" in r.stderr and "searched x" in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_importance_is_optional_and_reported(study_factory, tmp_path):
    space = _space(x=FloatParam(low=0, high=1), junk=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: c["x"] ** 2, 60)
    proc = _cli("next-space", path, "--importance", "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    importance = json.loads(proc.stdout)["importance"]
    assert importance["x"] > importance["junk"]
    assert (
        "computing parameter importances" in proc.stderr and "importances computed in" in proc.stderr
    )  # it can take long
    plain = json.loads(_cli("next-space", path, "--dry-run", "--json").stdout)
    assert "importance" not in plain


def test_a_remembered_space_that_is_not_json_falls_back_and_is_flagged(study_factory, tmp_path):
    import optuna

    path = study_factory(_space(x=FloatParam(low=0, high=1)), lambda c: c["x"], 20)
    study = optuna.load_study(
        study_name=optuna.get_all_study_names(f"sqlite:///{path}")[0], storage=f"sqlite:///{path}"
    )
    study.set_user_attr("refine:space", "not json {")
    proc = _cli("next-space", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "remembered space (refine:space) could not be read" in " ".join(proc.stdout.split())


def test_dry_run_warns_when_the_next_version_is_already_there(study_factory, tmp_path):
    path = study_factory(_space(x=FloatParam(low=0, high=1)), lambda c: c["x"], 20)
    assert _cli("next-space", str(path), "--out", str(tmp_path / "o")).returncode == 0
    proc = _cli("next-space", str(path), "--out", str(tmp_path / "o"), "--dry-run")
    assert proc.returncode == 0 and "exists: without --dry-run, next-space would refuse" in " ".join(
        proc.stderr.split()
    )


def test_a_full_disk_names_the_file_and_leaves_no_folder(study_factory, tmp_path):
    # a write that fails for lack of room (here a file-size limit: the same OSError path as ENOSPC) names the file
    # and leaves neither a partial file nor the output folder it would have created
    import resource
    import signal

    space = _space(x=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: c["x"], 30)
    out = tmp_path / "new" / "out"

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    proc = subprocess.run(
        [sys.executable, "-m", "refine", "next-space", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        preexec_fn=small_files,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: cannot write {out / 's.v2.yaml'}: File too large"), proc.stderr
    assert not (tmp_path / "new").exists()
