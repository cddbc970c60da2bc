"""A pytest plugin: the session fixture ``postgres_url``, a throw-away PostgreSQL server.

The server is started by ``scripts/postgres.sh`` (which installs PostgreSQL with
apt-get when it is missing). If it cannot start, the tests that need it fail
loudly under CI (``CI=true``) and are skipped with the reason elsewhere.

Under pytest-xdist each worker is a session of its own and starts its own
server (in its own temp dir, on a free port) the first time one of its tests
asks; the starts are serialized by a file lock, so that two workers never run
apt-get or create the postgres user at once. Tests name their studies after
the process (``pg{os.getpid()}``), so they would not collide on a shared one
either.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "postgres.sh"


@pytest.fixture(scope="session")
def postgres_url():
    """The URL of a fresh PostgreSQL server on localhost, stopped after the session."""
    state = tempfile.mkdtemp(prefix="refine-pg-")
    env = {**os.environ, "REFINE_PG_STATE": state}
    lock = Path(tempfile.gettempdir()) / "refine-pg-start.lock"
    try:
        with open(lock, "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)  # released when the file closes
            done = subprocess.run(["bash", str(_SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        done, reason = None, str(e)
    if done is None or done.returncode != 0:
        reason = reason if done is None else (done.stderr.strip() or done.stdout.strip())[-1000:]
        message = f"scripts/postgres.sh could not start PostgreSQL: {reason}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield done.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(_SCRIPT), "stop"], env=env, capture_output=True, timeout=120)
