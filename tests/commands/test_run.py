"""``refine run`` as a user runs it: --json, and bad input as one ``error:`` line."""

from __future__ import annotations

import json

import pytest

from refine.spacefile import save_space
from tests.conftest import run_cli as cli
from tests.executor.conftest import OBJ, run_argv, space_v1


def test_repeated_seeds_are_refused(tmp_path, capsys):
    code, _, err = cli(capsys, *run_argv(tmp_path, "quadratic", tmp_path / "s.db", "--trials", "2", "--seeds", "1,1"))
    assert code == 2 and "--seeds repeats 1" in err


def test_cli_run_json(tmp_path, capsys):
    code, out, _ = cli(capsys, *run_argv(tmp_path, "quadratic", tmp_path / "s.db", "--trials", "3", "--json"))
    assert code == 0 and json.loads(out)["complete"] == 3 and json.loads(out)["study"] == "demo-v1"


@pytest.mark.parametrize(
    "objective, extra, message",
    [
        ("no_such_module_xyz:f", [], "cannot import"),
        (f"{OBJ}:nope", [], "has no function"),
        (f"{OBJ}:NOT_A_FUNCTION", [], "is a int, not a function"),
        (f"{OBJ}:returns_string", [], "must return a number"),
        (f"{OBJ}:returns_pair", [], "must return a number"),
        (f"{OBJ}:quadratic", ["--trials", "0"], "(--trials) must be"),
        (f"{OBJ}:quadratic", ["--trials", "-3"], "(--trials) must be"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--max-failures", "0"], "(--max-failures) must be"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--startup", "-1"], "(--startup) must be"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--heartbeat", "-1"], "(--heartbeat) must be"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--heartbeat", "99999999999"], "at most 86400"),
        (
            f"{OBJ}:quadratic",
            ["--trials", "2", "--seed", "-5"],
            "a seed (--seed, --seeds) must be an integer in [0, 2**32 - 1], got -5",
        ),
        (f"{OBJ}:quadratic", ["--trials", "2", "--seeds", "4294967296"], "got 4294967296"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--storage", ""], "the storage is empty"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--warm", "3"], "--warm applies to a warm start: give --from"),
        (f"{OBJ}:quadratic", ["--trials", "2", "--storage", "sqlite://"], "in-memory SQLite database"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, objective, extra, message):
    space_file = save_space(space_v1(), tmp_path / "v1.yaml")
    args = ["run", str(space_file), "--objective", objective, "--storage", str(tmp_path / "s.db"), "--quiet"]
    code, _, err = cli(capsys, *args, *(extra or ["--trials", "2"]))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_invalid_space_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\nparams:\n  a: {type: float, low: 1, high: 0}\n")
    code, _, err = cli(
        capsys, "run", str(bad), "--objective", f"{OBJ}:quadratic", "--storage", str(tmp_path / "s.db"), "--trials", "2"
    )
    assert code == 2 and err.startswith("error:")
