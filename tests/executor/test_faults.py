"""Fault injection on `refine run --workers`: kill -9 a worker or the coordinator, storms of SIGINT and SIGTERM.

On a journal file and on the real PostgreSQL of ``scripts/postgres.sh``. Each
test asserts, after the run or its resume: exactly ``--trials`` COMPLETE, no
trial left RUNNING, no trial number twice, and no process of the run alive.
Where the fault lands is drawn from a seed; the fast set runs one seed per
scenario; the other seeds are marked ``slow`` and ``faults_long``: `make test` (and CI) leaves
those out, `make test-faults` runs every seed (``pytest -m slow tests/executor/test_faults.py``).
"""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from refine.errors import RefineError
from refine.executor import load_study, open_storage
from tests.executor.conftest import run_cmd, space_v1

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")
_LONG = (pytest.mark.slow, pytest.mark.faults_long)

TRIALS, WORKERS = 10, 2
KINDS, SEEDS = ("journal", "postgres"), range(6)


def cases(*fast: tuple[str, int], seeds=SEEDS) -> list:
    """(storage kind, seed) for every kind and seed; those not in ``fast`` are marked slow."""
    return [
        pytest.param(kind, seed, marks=() if (kind, seed) in fast else _LONG, id=f"{kind}-{seed}")
        for kind in KINDS
        for seed in seeds
    ]


@pytest.fixture
def storage(request, tmp_path, kind):
    if kind == "journal":
        return str(tmp_path / "s.log")
    url = request.getfixturevalue("postgres_url")
    open_storage(
        url, create=True
    )  # Optuna's tables, once: a reader racing the run's creating them is not what is tested
    return url


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()  # state, ppid, ...
    except OSError:
        return None


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and int(stat[1]) == pid:
                found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")  # a zombie has ended (its new parent reaps it)


def _is_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"spawn_main" in f.read()
    except OSError:
        return False


class Run:
    """`refine run` in its own session (a process group, as a terminal's job), with every child it ever had."""

    def __init__(self, tmp_path: Path, storage: str, study: str, *extra: str, objective: str = "naps") -> None:
        self.storage, self.study = storage, study
        self.cmd = run_cmd(
            tmp_path,
            objective,
            storage,
            "--study",
            study,
            "--trials",
            str(TRIALS),
            "--workers",
            str(WORKERS),
            "--heartbeat",
            "1",
            "--quiet",
            *extra,
        )
        self.seen: set[int] = set()
        self.store = None
        # the default SIGINT handler even when the suite runs as a background job (`pytest &` ignores SIGINT)
        self.busy = tmp_path / "busy"  # naps_flagged: a file per worker pid while it is inside a trial
        self.busy.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            self.cmd,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "REFINE_TEST_BUSY": str(self.busy)},
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    def watch(self) -> None:
        if self.proc.poll() is None:
            self.seen |= _children(self.proc.pid)

    def counts(self) -> collections.Counter:
        try:
            if self.store is None:  # opened once: a PostgreSQL storage costs a second of CPU to open
                self.store = open_storage(self.storage, create=False)
            study = optuna.load_study(study_name=self.study, storage=self.store)
            return collections.Counter(t.state.name for t in study.get_trials(deepcopy=False))
        except (RefineError, KeyError, optuna.exceptions.OptunaError):  # not created yet
            return collections.Counter()

    def wait_complete(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.counts()["COMPLETE"] < n:
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, f"{n} complete trials not reached in {timeout} s: {self.counts()}"
            self.watch()
            time.sleep(0.1)
        self.watch()

    def workers(self) -> list[int]:
        self.watch()
        return sorted(pid for pid in self.seen if _alive(pid) and _is_worker(pid))

    def busy_worker(self, timeout: float = 60) -> int:
        """A worker that has just entered a trial (naps_flagged): a kill now lands inside that trial."""
        deadline = time.monotonic() + timeout
        while True:
            for pid in self.workers():
                flag = self.busy / str(pid)
                try:
                    if time.time() - flag.stat().st_mtime < 0.05:  # at least 0.05 s of its 0.1-0.3 s nap remain
                        return pid
                except FileNotFoundError:
                    continue
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, f"no worker entered a trial in {timeout} s: {self.counts()}"
            time.sleep(0.005)

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"the run did not end in {timeout} s: {self.counts()}"
            self.watch()
            time.sleep(0.05)
        return self.proc.returncode, self.proc.stderr.read()

    def assert_no_survivor(self, grace: float = 15) -> None:
        """Every process the run started has ended (workers, the resource tracker), within ``grace`` seconds."""
        assert self.seen, "no child process was seen"
        deadline = time.monotonic() + grace
        while any(_alive(pid) for pid in self.seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in self.seen if _alive(pid)], "processes of the run survived it"

    def resume(self, tmp_path: Path) -> None:
        again = subprocess.run(
            self.cmd,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        assert again.returncode == 0, again.stderr


def assert_exact(storage: str, study: str) -> None:
    trials = load_study(storage, study).trials
    counts = collections.Counter(t.state.name for t in trials)
    assert counts["COMPLETE"] == TRIALS and counts["RUNNING"] == 0 and counts["WAITING"] == 0, counts
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)), "a trial number twice"


def _name(storage: str, what: str, seed: int) -> str:
    return f"{what}{seed}-{os.getpid()}-{time.monotonic_ns() % 10**6}"  # unique on a shared PostgreSQL


@pytest.mark.parametrize("kind, seed", cases(("journal", 0), ("postgres", 0)))
def test_a_killed_worker_costs_no_trial(tmp_path, storage, seed):
    # kill -9 one worker (twice for odd seeds) inside a trial, at a random point of the run: its trial is failed
    # at once and retried, the worker replaced, and the run ends with exactly --trials complete (no overshoot, no
    # hang). A worker killed between two trials holds none, so the victim is one that has just entered a trial
    rng = random.Random(seed)
    run = Run(tmp_path, storage, _name(storage, "kw", seed), objective="naps_flagged")
    for _ in range(1 + seed % 2):
        run.wait_complete(rng.randint(1, TRIALS // 2))
        time.sleep(rng.uniform(0, 0.3))
        os.kill(run.busy_worker(), signal.SIGKILL)
    code, err = run.finish()
    assert code == 0, err
    assert_exact(storage, run.study)
    trials = load_study(storage, run.study).trials
    died = [t for t in trials if "killed by SIGKILL" in t.user_attrs.get("refine:died", "")]
    assert died, "the killed worker's trial is not the one failed"
    retried = {t.system_attrs.get("failed_trial"): t for t in trials}
    for t in died:  # run again with what it had sampled (a kill can land before it sampled everything)
        if t.system_attrs.get("failed_trial") is not None:
            continue  # the second kill landed in the first one's retry: a trial is retried once (queue.RETRIES)
        again = retried[t.number].params
        assert {k: again.get(k) for k in t.params} == t.params, (t.params, again)
    run.assert_no_survivor()


@pytest.mark.parametrize("kind, seed", cases(("journal", 0)))
def test_a_killed_coordinator_takes_its_workers_along(tmp_path, storage, seed):
    # kill -9 the coordinator: its workers (and multiprocessing's resource tracker) end too, their trials are
    # failed on the way out (none stays RUNNING, even on a journal), and the same command resumes to the count
    rng = random.Random(seed)
    run = Run(tmp_path, storage, _name(storage, "kc", seed))
    run.wait_complete(rng.randint(1, TRIALS - 2))
    time.sleep(rng.uniform(0, 0.3))
    assert run.workers()
    os.kill(run.proc.pid, signal.SIGKILL)
    code, _ = run.finish()
    assert code == -signal.SIGKILL
    run.assert_no_survivor()
    assert run.counts()["RUNNING"] == 0, run.counts()
    run.resume(tmp_path)
    assert_exact(storage, run.study)


STORMS = [
    pytest.param(signum, *case.values, marks=case.marks, id=f"{signum.name.lower()}-{case.id}")
    for signum, case in [*((signal.SIGINT, c) for c in cases(("journal", 0))), *((signal.SIGTERM, c) for c in cases())]
]


@pytest.mark.parametrize("signum, kind, seed", STORMS)
def test_a_storm_of_signals_stops_cleanly_and_resumes(tmp_path, storage, signum, seed):
    # Ctrl-C hammered in a terminal signals the whole process group; a scheduler signals the coordinator.
    # One line, exit 128 + the first signal (0 when every trial was already done), nothing left RUNNING
    rng = random.Random(seed)
    run = Run(tmp_path, storage, _name(storage, "st", seed))
    run.wait_complete(rng.randint(1, TRIALS - 1))
    group = rng.random() < 0.5 if seed else signum == signal.SIGINT
    for _ in range(rng.randint(5, 40)):
        if run.proc.poll() is not None:
            break
        run.watch()
        try:
            os.killpg(run.proc.pid, signum) if group else os.kill(run.proc.pid, signum)
        except ProcessLookupError:
            break
        time.sleep(rng.uniform(0.005, 0.05))
    code, err = run.finish()
    complete = run.counts()["COMPLETE"]
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert code == (0 if complete == TRIALS else 128 + signum), (code, err)
    if code:
        assert err.strip().splitlines()[-1].startswith("error: interrupted") and len(err.strip().splitlines()) == 1, err
    assert run.counts()["RUNNING"] == 0, run.counts()
    run.assert_no_survivor()
    run.resume(tmp_path)
    assert_exact(storage, run.study)


@pytest.mark.parametrize("kind, seed", cases(("journal", 0), ("postgres", 0), seeds=range(2)))
def test_coordinators_started_at_once_share_the_count(tmp_path, storage, seed):
    # several machines (here: two commands) on one study, started at the same instant: each coordinator decides
    # what to enqueue under a lock (PostgreSQL advisory lock, flock on the journal), so together they stop at the count
    study = _name(storage, "cc", seed)
    runs = [Run(tmp_path, storage, study) for _ in range(2)]
    deadline = time.monotonic() + 120
    while any(run.proc.poll() is None for run in runs) and time.monotonic() < deadline:
        for run in runs:  # both watched: each one's workers are seen
            run.watch()
        time.sleep(0.05)
    for run in runs:
        code, err = run.finish()
        assert code == 0, err
    assert_exact(storage, study)
    for run in runs:
        run.assert_no_survivor()


@pytest.mark.parametrize("kind", ["journal", pytest.param("postgres", marks=pytest.mark.slow)])
def test_a_killed_process_group_is_named_then_released(tmp_path, storage):
    # kill -9 of coordinator and workers at once (a lost machine): nobody fails their trials. PostgreSQL's heartbeat
    # does, and the rerun goes on; a journal has none: the parallel rerun says what it waits for, then gives up as
    # the serial one does, naming the trial and the study.tell that releases it, and goes on once that is done
    run = Run(tmp_path, storage, _name(storage, "kg", 0))
    run.wait_complete(3)
    while not run.counts()["RUNNING"]:
        time.sleep(0.02)
    run.watch()
    os.killpg(run.proc.pid, signal.SIGKILL)
    run.finish()
    run.assert_no_survivor()
    stuck = sorted(t.number for t in load_study(storage, run.study).trials if t.state.name == "RUNNING")
    assert stuck
    loud = [a for a in run.cmd if a != "--quiet"]
    again = subprocess.run(loud, capture_output=True, text=True, timeout=120)
    if storage.endswith(".log"):
        lines = again.stderr.strip().splitlines()
        assert again.returncode == 2 and "Traceback" not in again.stderr, again.stderr
        named = f"trial {stuck[0]}" if len(stuck) == 1 else f"trials {', '.join(map(str, stuck))}"
        assert f"waiting for {named}: RUNNING" in again.stderr and "giving up in" in again.stderr  # while it waits
        assert (
            lines[-1].startswith(f"error: study '{run.study}': {named} ") and "RUNNING in another process" in lines[-1]
        )
        tell = (
            f"study.tell({stuck[0]}, state=TrialState.FAIL)"
            if len(stuck) == 1
            else f"study.tell(NUMBER, state=TrialState.FAIL) for each of {', '.join(map(str, stuck))}"
        )
        assert tell in lines[-1], lines[-1]
        study = load_study(storage, run.study)
        for number in stuck:
            study.tell(number, state=optuna.trial.TrialState.FAIL)  # what the message says to do
        run.resume(tmp_path)
    else:
        assert again.returncode == 0, again.stderr
    assert_exact(storage, run.study)


def test_an_interrupt_once_every_trial_is_done_is_no_interruption(tmp_path):
    # a Ctrl-C that lands while the last trial is being recorded (held until the storage call returns) stops the
    # loop after it; with every trial done there is nothing to resume: not interrupted (the command exits 0).
    # With --seeds, a study still to run makes it an interruption
    from refine.executor import run
    from refine.executor.interrupts import _INTERRUPT

    calls = []

    def objective(params):
        calls.append(1)
        if len(calls) == 4:  # the last trial: a signal arrives and waits, as during a storage call
            _INTERRUPT["state"]["pending"] = signal.SIGINT
        return params["x"]

    before = signal.signal(
        signal.SIGINT, signal.default_int_handler
    )  # handled, even where the suite runs as `pytest &`
    try:
        [r] = run(
            space_v1(), objective, storage=str(tmp_path / "s.log"), study="a", trials=4, sampler="random", quiet=True
        )
        assert (r.complete, r.interrupted, r.signum) == (4, False, None)
        calls.clear()
        results = run(
            space_v1(),
            objective,
            storage=str(tmp_path / "s.log"),
            study="b",
            trials=4,
            seeds=[1, 2],
            sampler="random",
            quiet=True,
        )
    finally:
        signal.signal(signal.SIGINT, before)
    assert [(x.complete, x.interrupted) for x in results] == [(4, True)]  # seed 2 never ran: run again to resume


@pytest.mark.slow
def test_a_trial_taken_by_a_process_killed_before_its_first_heartbeat_is_released(postgres_url):
    # a process killed between taking a trial and its heartbeat thread's first beat leaves a RUNNING trial with
    # no heartbeat row, which Optuna's fail_stale_trials never fails: the run fails it once it has watched it stay
    # heartless for the grace period, retries it, and ends with exactly --trials complete
    from refine.executor import run

    name = _name(postgres_url, "hl", 0)
    bare = optuna.create_study(storage=postgres_url, study_name=name)
    taken = bare.ask()  # RUNNING, no heartbeat: what such a process leaves behind
    [result] = run(
        space_v1(),
        lambda p: p["x"],
        storage=postgres_url,
        study=name,
        trials=3,
        sampler="random",
        quiet=True,
        heartbeat=1,
    )
    trials = load_study(postgres_url, name).trials
    counts = collections.Counter(t.state.name for t in trials)
    assert counts["COMPLETE"] == 3 and counts["RUNNING"] == 0, counts
    assert trials[taken.number].state.name == "FAIL"
