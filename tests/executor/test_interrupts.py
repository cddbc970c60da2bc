"""Ctrl-C and SIGTERM (refine/executor/interrupts.py): a run stops cleanly, never inside a storage call."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import pytest

from tests.executor.conftest import run_cmd, states


def _complete_count(db, study: str) -> int:
    """COMPLETE trials of ``study`` in the SQLite file ``db``, read without writing a byte.

    Opening the file with Optuna here would race the run creating its tables
    (the run then failed with "UNIQUE constraint failed: alembic_version").
    """
    if not os.path.exists(db):
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    try:
        return con.execute(
            "SELECT COUNT(*) FROM trials JOIN studies USING (study_id) WHERE study_name = ? AND state = 'COMPLETE'",
            (study,),
        ).fetchone()[0]
    except sqlite3.OperationalError:  # no tables yet, or the writer holds the lock
        return 0
    finally:
        con.close()


def _wait_for_complete(db, study: str, n: int, timeout: float = 20) -> None:
    """Wait until a run in another process has ``n`` COMPLETE trials (or ``timeout`` passed)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _complete_count(str(db), study) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"study '{study}' in {db} did not reach {n} complete trials in {timeout} s")


def _default_sigint() -> None:
    """In the child: Ctrl-C handled as in a terminal, even when the suite runs as a background job (`pytest &`)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_cleanly(tmp_path):
    db = tmp_path / "s.db"
    proc = subprocess.Popen(
        run_cmd(tmp_path, "slow", db, "--study", "i", "--trials", "50", "--quiet"),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    _wait_for_complete(db, "i", 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "resume" in err and "Traceback" not in err, err
    c = states(str(db), "i")
    assert c["RUNNING"] == 0 and 2 <= c["COMPLETE"] < 50


def test_ctrl_c_swallowed_by_python_still_stops_the_run(tmp_path):
    # A KeyboardInterrupt raised inside a __del__ is printed as "Exception ignored" and dropped by Python
    # itself; the run must still stop at its next trial, not run to the end and exit 0.
    db = tmp_path / "s.db"
    proc = subprocess.Popen(
        run_cmd(tmp_path, "interrupt_swallowing", db, "--study", "i", "--trials", "60", "--quiet"),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    _wait_for_complete(db, "i", 2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    c = states(str(db), "i")
    assert c["RUNNING"] == 0 and 2 <= c["COMPLETE"] < 60


def test_sigterm_stops_like_ctrl_c_and_the_run_resumes(tmp_path):
    db = tmp_path / "s.db"
    cmd = run_cmd(tmp_path, "slow", db, "--study", "t", "--trials", "30", "--quiet")
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    _wait_for_complete(db, "t", 2)
    proc.send_signal(signal.SIGTERM)  # a scheduler's preemption
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143 and "interrupted by SIGTERM" in err and "resume" in err and "Traceback" not in err
    assert states(str(db), "t")["RUNNING"] == 0
    assert subprocess.run(cmd, timeout=120).returncode == 0  # at once: no dead RUNNING trial to wait out
    assert states(str(db), "t")["COMPLETE"] == 30


def test_sigterm_stops_a_background_run_whose_workers_ignore_ctrl_c(tmp_path):
    # `refine run ... &` from a script: the shell makes SIGINT ignored, in the workers too; a SIGTERM still stops all
    db = tmp_path / "s.db"
    cmd = run_cmd(tmp_path, "slow", db, "--study", "b", "--trials", "60", "--workers", "2", "--quiet")
    ignore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731 - what `&` does
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=ignore_sigint)
    _wait_for_complete(db, "b", 4, timeout=30)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and "interrupted by SIGTERM" in err and "Traceback" not in err
    c = states(str(db), "b")
    assert c["RUNNING"] == 0 and 4 <= c["COMPLETE"] < 60


def test_ctrl_c_waits_for_the_storage_call_to_return():
    # An interrupt inside a storage call (a transaction may be open) is held until the call returns, then raised.
    import _thread

    from refine.executor.interrupts import _interrupts_between_transactions

    fake_storage_call = {}
    exec(
        compile(
            "import _thread, time\n"
            "def write():\n"
            "    _thread.interrupt_main()\n"
            "    end = time.time() + 0.2\n"
            "    while time.time() < end:\n"
            "        pass\n"
            "    return 'committed'\n",
            os.path.join(os.sep, "site-packages", "optuna", "storages", "_fake.py"),
            "exec",
        ),
        fake_storage_call,
    )
    seen = []
    # Ctrl-C as in a terminal, whatever this process inherited (a background job or a test worker ignores it)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with _interrupts_between_transactions():
                seen.append(fake_storage_call["write"]())
                time.sleep(5)  # the held interrupt arrives here, within a few redeliveries
                seen.append("not interrupted")
        assert seen == ["committed"]
        with pytest.raises(KeyboardInterrupt):  # outside a storage call it is raised at once
            with _interrupts_between_transactions():
                _thread.interrupt_main()
                time.sleep(5)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)
