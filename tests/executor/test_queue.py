"""The ticket queue and worker processes (refine/executor/queue.py, workers.py): exactly N, dead trials retried."""

from __future__ import annotations

import collections
import os
import subprocess
import time

import optuna
import pytest

from refine.executor import load_study, run
from tests.executor.conftest import OBJ, run_cmd, space_v1, states, trials_of


@pytest.mark.slow
def test_journal_file_four_workers_exactly_100(tmp_path):
    log = str(tmp_path / "study.log")
    [r] = run(
        space_v1(), f"{OBJ}:quadratic", storage=log, study="j", trials=100, workers=4, sampler="random", quiet=True
    )
    trials = trials_of(log, "j")
    assert states(log, "j") == {"COMPLETE": 100} and r.complete == 100
    assert len({t.number for t in trials}) == 100


@pytest.mark.slow
def test_postgres_four_workers_exactly_100(postgres_url):
    [r] = run(
        space_v1(),
        f"{OBJ}:quadratic",
        storage=postgres_url,
        study=f"pg{os.getpid()}",
        trials=100,
        workers=4,
        quiet=True,
    )
    trials = trials_of(postgres_url, r.study)
    assert collections.Counter(t.state.name for t in trials) == {"COMPLETE": 100}
    assert sorted(t.number for t in trials) == list(range(100))


def test_sqlite_with_several_workers_warns(tmp_path):
    db = str(tmp_path / "s.db")
    [r] = run(space_v1(), f"{OBJ}:quadratic", storage=db, study="a", trials=4, workers=2, sampler="random", quiet=True)
    assert r.complete == 4 and any("SQLite" in w for w in r.warnings)


@pytest.mark.slow
@pytest.mark.parametrize("wait", [3.5, 0], ids=["after-three-missed-beats", "resumed-at-once"])
def test_crashed_worker_trial_is_failed_and_retried(tmp_path, wait):
    # resumed at once, the run finds the dead trial's heartbeat still fresh: it waits until it is stale, then goes on
    db = tmp_path / "s.db"
    env = {**os.environ, "REFINE_TEST_CRASH_MARKER": str(tmp_path / "crashed")}
    cmd = run_cmd(tmp_path, "crash_once", db, "--study", "c", "--trials", "3", "--heartbeat", "1", "--quiet")
    assert subprocess.run(cmd, env=env, cwd=tmp_path).returncode == 3  # the process died mid-trial
    assert states(str(db), "c")["RUNNING"] == 1
    time.sleep(wait)  # three missed heartbeats, or none
    resumed = subprocess.run(cmd, env=env, cwd=tmp_path, timeout=60, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    c = states(str(db), "c")
    assert c["RUNNING"] == 0 and c["COMPLETE"] == 3 and c["FAIL"] == 1, c


@pytest.mark.slow
def test_a_journal_trial_of_a_killed_process_is_named_with_how_to_release_it(tmp_path):
    # a journal has no heartbeat: the resume cannot know the trial is dead, so after a while it says how to fail it
    journal = tmp_path / "s.log"
    env = {**os.environ, "REFINE_TEST_CRASH_MARKER": str(tmp_path / "crashed")}
    cmd = run_cmd(tmp_path, "crash_once", journal, "--study", "j", "--trials", "2", "--quiet")
    assert subprocess.run(cmd, env=env, cwd=tmp_path).returncode == 3  # the process died mid-trial
    stuck = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert stuck.returncode == 2 and stuck.stderr.count("\n") == 1, stuck.stderr
    assert "is RUNNING in another process (or one that was killed)" in stuck.stderr
    study = load_study(str(journal), "j")
    [dead] = [t for t in study.trials if t.state.name == "RUNNING"]
    assert f"trial {dead.number} is RUNNING" in stuck.stderr  # the stuck trial, named
    assert f"study.tell({dead.number}, state=TrialState.FAIL)" in stuck.stderr
    study.tell(dead.number, state=optuna.trial.TrialState.FAIL)  # what the message says to do
    assert subprocess.run(cmd, env=env, cwd=tmp_path, timeout=120).returncode == 0
    assert states(str(journal), "j")["COMPLETE"] == 2
