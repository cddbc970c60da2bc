"""The foundation commands as a user runs them: validate, show, inspect, diff and --help.

Every command runs as a subprocess (``python -m refine ...``), exactly as from a
shell, so that exit statuses, stderr and imports are the real ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
import yaml

from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Space
from refine.spacefile import load_space, save_space, space_to_dict

BROKEN = Path(__file__).parents[1] / "data" / "broken"

#: Each broken file, the parameter its error must name (None: a file-level problem)
#: and a phrase of the message.
CORPUS = {
    "not_yaml.yaml": (None, "not valid YAML at line"),
    "not_a_mapping.yaml": (None, "must be a YAML mapping"),
    "empty.yaml": (None, "must be a YAML mapping"),
    "not_utf8.yaml": (None, "not UTF-8"),
    "unknown_top_key.yaml": (None, "unknown key 'sampler'"),
    "unknown_param_key.yaml": ("lr", "unknown key 'lg'"),
    "missing_name.yaml": (None, "needs `name`"),
    "missing_version.yaml": (None, "needs `version`"),
    "bad_name.yaml": (None, "`name` must match"),
    "bad_direction.yaml": (None, "'minimize' or 'maximize'"),
    "low_above_high.yaml": ("lr", "`low < high`"),
    "low_equals_high.yaml": ("depth", "`low < high`"),
    "log_low_zero.yaml": ("lr", "needs low > 0"),
    "log_low_negative_int.yaml": ("units", "needs low > 0"),
    "log_with_step.yaml": ("lr", "`log` and `step` are exclusive"),
    "log_with_step_int.yaml": ("units", "`log` and `step` are exclusive"),
    "range_outside_limits.yaml": ("dropout", "inside `limits`"),
    "weights_wrong_length.yaml": ("opt", "one weight per choice"),
    "weights_all_zero.yaml": ("opt", "not all be zero"),
    "weights_negative.yaml": ("opt", "non-negative"),
    "when_unknown_param.yaml": ("momentum", "unknown parent 'optimizer'"),
    "when_value_not_a_choice.yaml": ("momentum", "choices of the parent"),
    "int_too_wide.yaml": ("width", "must lie within ±2**53"),
    "when_cycle.yaml": ("a", "cycle"),
    "fixed_and_searched.yaml": ("lr", "never both"),
    "bad_type_tag.yaml": ("lr", "float, int, categorical"),
    "python_tag.yaml": (None, "tag that is not allowed"),
    "duplicate_key.yaml": (None, "key 'lr' twice (line 4 and line 6)"),
    "duplicate_key_in_param.yaml": (None, "key 'low' twice"),
    "step_not_dividing_range.yaml": ("d", "multiple of `step`"),
}


def refine(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "refine", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def assert_user_error(result: subprocess.CompletedProcess, *phrases: str) -> str:
    """Exit 2, one ``error:`` line on stderr naming ``phrases``, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])
    return lines[0]


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


# --------------------------------------------------------------------------- validate


def test_corpus_is_complete() -> None:
    assert sorted(p.name for p in BROKEN.iterdir()) == sorted(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_validate_refuses_broken_file(name: str) -> None:
    param, phrase = CORPUS[name]
    path = BROKEN / name
    before = _digest(BROKEN)
    result = refine("validate", path)
    line = assert_user_error(result, str(path), phrase)
    if param is not None:
        assert f"'{param}'" in line
    assert result.stdout == ""
    assert _digest(BROKEN) == before


def test_python_tag_is_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: s\nversion: 1\nfixed:\n  x: !!python/object/apply:os.system ['touch {marker}']\n")
    assert_user_error(refine("validate", path), str(path))
    assert not marker.exists()


def test_validate_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert_user_error(refine("validate", path), str(path), "does not exist")
    assert not path.exists()


def test_validate_good_file(tmp_path: Path) -> None:
    path = save_space(
        Space(name="s", version=2, parent=1, params={"x": FloatParam(low=0, high=1)}), tmp_path / "s.v2.yaml"
    )
    result = refine("validate", path)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.strip() == f"ok: {path} (s v2)"


def test_validate_json_reports_each_file(tmp_path: Path) -> None:
    good = save_space(Space(name="s", version=1), tmp_path / "s.v1.yaml")
    bad = BROKEN / "when_cycle.yaml"
    result = refine("validate", "--json", good, bad, tmp_path)
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    assert [(f["file"], f["ok"]) for f in doc["files"]] == [
        (str(good), True),
        (str(bad), False),
        (str(tmp_path), False),
    ]
    assert "cycle" in doc["files"][1]["error"] and "is a directory" in doc["files"][2]["error"]


def test_validate_needs_a_file() -> None:
    result = refine("validate")
    assert result.returncode == 2 and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- studies

PLAIN_SCRIPT = """\
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial):
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    encoder = trial.suggest_categorical("encoder", ["cnn", "context"])
    layers = trial.suggest_int("ctx_layers", 1, 5) if encoder == "context" else 0
    return lr * 100 + layers


study = optuna.create_study(storage="sqlite:///study.db", study_name="plain",
sampler=optuna.samplers.RandomSampler(seed=3))
study.optimize(objective, n_trials=25)
print(study.best_trial.number, study.best_value)
"""


@pytest.fixture(scope="module")
def plain_study(tmp_path_factory) -> tuple[Path, int, float]:
    """A study written by a plain Optuna script that knows nothing of refine."""
    directory = tmp_path_factory.mktemp("plain")
    (directory / "make_study.py").write_text(PLAIN_SCRIPT)
    out = subprocess.run([sys.executable, "make_study.py"], cwd=directory, capture_output=True, text=True, check=True)
    number, value = out.stdout.split()
    return directory / "study.db", int(number), float(value)


def test_inspect_prints_the_inferred_conditional_space(plain_study) -> None:
    path, _, _ = plain_study
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = refine("inspect", path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "plain" in out and "25 COMPLETE" in out and "inferred" in out
    line = next(line for line in out.splitlines() if "ctx_layers" in line)
    assert "[1, 5]" in line and "when encoder in" in line and "context" in line
    assert "[1e-05, 0.1] log" in out
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_next_space_ends_its_process_at_once_yet_runs_atexit_and_flushes(plain_study, tmp_path: Path) -> None:
    # next-space and inspect end the process without the interpreter's teardown (cli._quick_exit): the atexit
    # handlers still run, the output is whole, the status 0; a thread that is not a daemon is waited for as before
    path, _, _ = plain_study
    script = (
        "import atexit, sys, threading\n"
        "atexit.register(lambda: print('atexit ran', file=sys.stderr))\n"
        "done = threading.Event()\n"
        "if sys.argv[3] == 'thread':\n"
        "    threading.Thread(target=lambda: done.wait(60)).start()\n"
        "sys.argv = ['refine', 'next-space', sys.argv[1], '--out', sys.argv[2], '--json']\n"
        "from refine.cli import main\n"
        "main()\n"
        "print('returned', file=sys.stderr)\n"
        "done.set()\n"
    )
    for mode, out_dir in (("alone", tmp_path / "a"), ("thread", tmp_path / "b")):
        result = subprocess.run(
            [sys.executable, "-c", script, str(path), str(out_dir), mode], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "atexit ran" in result.stderr and ("returned" in result.stderr) == (mode == "thread"), result.stderr
        written = json.loads(result.stdout)
        assert yaml.safe_load(Path(written["space_path"]).read_text())["version"] == 2
        assert json.loads(Path(written["json_path"]).read_text())["space"]["to_version"] == 2


def test_inspect_json_gives_the_inferred_space(plain_study) -> None:
    path, _, _ = plain_study
    result = refine("inspect", path, "--json")
    assert result.returncode == 0, result.stderr
    (study,) = json.loads(result.stdout)["studies"]
    assert study["name"] == "plain" and study["directions"] == ["minimize"]
    assert study["trials"] == {"COMPLETE": 25} and study["n_trials"] == 25
    assert study["space_source"] == "inferred"
    params = study["space"]["params"]
    assert params["ctx_layers"] == {"type": "int", "low": 1, "high": 5, "when": {"encoder": "context"}}
    assert params["encoder"] == {"type": "categorical", "choices": ["cnn", "context"]}
    assert params["lr"] == {"type": "float", "low": 1e-5, "high": 0.1, "log": True}


def test_inspect_lists_several_studies(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    for name, direction in (("alpha", "minimize"), ("beta", "maximize")):
        study = optuna.create_study(storage=f"sqlite:///{path}", study_name=name, direction=direction)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    result = refine("inspect", path, "--json")
    assert result.returncode == 0, result.stderr
    studies = json.loads(result.stdout)["studies"]
    assert [(s["name"], s["directions"], s["n_trials"]) for s in studies] == [
        ("alpha", ["minimize"], 2),
        ("beta", ["maximize"], 2),
    ]
    assert "space" not in studies[0]
    detail = json.loads(refine("inspect", path, "--study", "beta", "--json").stdout)["studies"]
    assert [s["name"] for s in detail if "space" in s] == ["beta"]


def test_show_study_gives_counts_and_best_trial(plain_study) -> None:
    path, best_number, best_value = plain_study
    result = refine("show", path, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["study"] == "plain" and doc["trials"] == {"COMPLETE": 25}
    assert doc["best"]["number"] == best_number and doc["best"]["value"] == best_value
    text = refine("show", path)
    assert text.returncode == 0
    assert "25 COMPLETE" in text.stdout and f"best: trial {best_number}," in text.stdout


def test_show_study_counts_every_state(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name="mixed", direction="maximize")
    for value, state in ((1.0, "COMPLETE"), (3.0, "COMPLETE"), (None, "FAIL"), (None, "PRUNED")):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, value, state=optuna.trial.TrialState[state])
    study.ask().suggest_float("x", 0, 1)
    doc = json.loads(refine("show", path, "--json").stdout)
    assert doc["trials"] == {"RUNNING": 1, "COMPLETE": 2, "PRUNED": 1, "FAIL": 1}
    assert doc["best"]["number"] == 1 and doc["best"]["value"] == 3.0


def test_show_study_with_no_complete_trial_says_so(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name="fresh")
    trial = study.ask()
    trial.suggest_int("n", 1, 4)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    study.ask()
    result = refine("show", path)
    assert result.returncode == 0, result.stderr
    assert "no COMPLETE trial" in result.stdout
    assert "1 RUNNING" in result.stdout and "1 FAIL" in result.stdout
    doc = json.loads(refine("show", path, "--json").stdout)
    assert doc["best"] is None and doc["trials"] == {"RUNNING": 1, "FAIL": 1}


def test_show_study_uses_the_remembered_space(tmp_path: Path) -> None:
    from refine.spacefile import space_to_json

    space = Space(name="clf", version=4, parent=3, params={"x": FloatParam(low=0.2, high=0.4, limits=(0, 1))})
    path = tmp_path / "study.db"
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name="clf-v4")
    study.set_user_attr("refine:space", space_to_json(space))
    study.optimize(lambda t: t.suggest_float("x", 0.2, 0.4), n_trials=2)
    doc = json.loads(refine("show", path, "--json").stdout)
    assert doc["space_source"] == "remembered" and doc["space"] == space_to_dict(space)


def test_show_space_file(tmp_path: Path) -> None:
    space = Space(
        name="clf",
        version=2,
        parent=1,
        directions=("maximize",),
        metric="val_acc",
        fixed={"epochs": 20},
        params={
            "lr": FloatParam(low=5e-5, high=1e-2, log=True),
            "encoder": CategoricalParam(choices=("cnn", "context"), weights=(0.75, 0.25)),
            "ctx_layers": IntParam(low=1, high=5, when=Condition("encoder", "context")),
        },
    )
    path = save_space(space, tmp_path / "clf.v2.yaml")
    result = refine("show", path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "clf v2" in out and "val_acc" in out
    for name in ("lr", "encoder", "ctx_layers", "epochs"):
        assert name in out
    assert "when encoder in" in out and "= 20" in out and "0.75" in out
    doc = json.loads(refine("show", path, "--json").stdout)
    assert doc["space"] == space_to_dict(space)


# --------------------------------------------------------------------------- diff

_OLD = Space(
    name="clf",
    version=1,
    fixed={"epochs": 10},
    params={
        "same": FloatParam(low=0, high=1),
        "narrow": FloatParam(low=1e-5, high=1e-1, log=True),
        "expand": IntParam(low=2, high=6),
        "shift": FloatParam(low=0.0, high=0.5),
        "to_fix": CategoricalParam(choices=(8, 16, 32)),
        "bias": CategoricalParam(choices=("a", "b")),
        "drop_choice": CategoricalParam(choices=("a", "b", "c")),
        "gone": FloatParam(low=0, high=1),
    },
)
_NEW = Space(
    name="clf",
    version=2,
    parent=1,
    fixed={"epochs": 10, "to_fix": 16},
    params={
        "same": FloatParam(low=0, high=1),
        "narrow": FloatParam(low=1e-4, high=1e-2, log=True),
        "expand": IntParam(low=1, high=12),
        "shift": FloatParam(low=0.25, high=0.75),
        "bias": CategoricalParam(choices=("a", "b"), weights=(3, 1)),
        "drop_choice": CategoricalParam(choices=("a", "c")),
        "new": IntParam(low=1, high=3),
    },
)
_EXPECTED = {
    "same": "kept",
    "narrow": "narrowed",
    "expand": "expanded",
    "shift": "shifted",
    "to_fix": "fixed",
    "bias": "biased",
    "drop_choice": "narrowed",
    "gone": "dropped",
    "epochs": "kept",
    "new": "added",
}


@pytest.fixture
def space_pair(tmp_path: Path) -> tuple[Path, Path]:
    return save_space(_OLD, tmp_path / "clf.v1.yaml"), save_space(_NEW, tmp_path / "clf.v2.yaml")


def test_diff_labels_each_change(space_pair) -> None:
    old, new = space_pair
    result = refine("diff", old, new, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["old"] == {"name": "clf", "version": 1} and doc["new"] == {"name": "clf", "version": 2}
    assert {r["param"]: r["change"] for r in doc["params"]} == _EXPECTED
    rows = {r["param"]: r for r in doc["params"]}
    assert rows["to_fix"]["old"] == "{8, 16, 32}" and rows["to_fix"]["new"] == "= 16"
    assert rows["gone"]["new"] == "-" and rows["new"]["old"] == "-"


def test_diff_reverse_labels(space_pair) -> None:
    old, new = space_pair
    doc = json.loads(refine("diff", new, old, "--json").stdout)
    changes = {r["param"]: r["change"] for r in doc["params"]}
    assert changes["narrow"] == "expanded" and changes["expand"] == "narrowed"
    assert changes["to_fix"] == "unfixed" and changes["new"] == "dropped" and changes["gone"] == "added"
    assert changes["drop_choice"] == "expanded" and changes["bias"] == "biased"


def test_diff_table(space_pair) -> None:
    old, new = space_pair
    result = refine("diff", old, new)
    assert result.returncode == 0, result.stderr
    assert "clf v1 -> clf v2" in result.stdout
    for param, change in _EXPECTED.items():
        line = next(line for line in result.stdout.splitlines() if line.startswith(f"│ {param} "))
        assert change in line, line


def test_diff_of_a_space_with_itself_keeps_everything(space_pair) -> None:
    old, _ = space_pair
    doc = json.loads(refine("diff", old, old, "--json").stdout)
    assert {r["change"] for r in doc["params"]} == {"kept"} and doc["notes"] == []


def test_diff_of_unrelated_spaces_says_so(space_pair, tmp_path: Path) -> None:
    old, _ = space_pair
    other = save_space(
        Space(name="other", version=1, directions=("maximize",), params={"x": FloatParam(low=0, high=1)}),
        tmp_path / "o.yaml",
    )
    result = refine("diff", old, str(other))
    assert result.returncode == 0 and "note: different spaces: 'clf' and 'other'" in result.stderr


# --------------------------------------------------------------------------- help and imports


def test_help_lists_the_commands() -> None:
    result = refine("--help")
    assert result.returncode == 0
    for command in ("next-space", "validate", "show", "inspect", "diff"):
        assert f"  {command} " in result.stdout


def test_bare_refine_prints_the_help_and_a_missing_value_points_to_its_command(plain_study) -> None:
    bare = refine()
    assert bare.returncode == 0 and bare.stdout == refine("--help").stdout and bare.stderr == ""
    assert_user_error(
        refine("show", plain_study[0], "--study"), "'--study' requires an argument", "see 'refine show --help'"
    )


@pytest.mark.parametrize(
    "args, phrase",
    [
        (["best", "{db}", "--format", "yaml", "--json"], "ask for two formats"),
        (["report", "{db}", "--study", "{name}", "--study", "{name}", "-o", "{tmp}/r.html"], "is given twice"),
        (["next-space", "{db}", "--metric", "", "--dry-run"], "setting 'metric' must name a user attribute"),
        (["next-space", "{db}", "--set", "protect.parms=x", "--dry-run"], "did you mean 'protect.params'?"),
    ],
    ids=["best-two-formats", "report-study-twice", "empty-metric", "plugin-setting-typo"],
)
def test_conflicting_or_empty_flags_are_refused(plain_study, tmp_path, args, phrase) -> None:
    args = [a.format(db=plain_study[0], name="plain", tmp=tmp_path) for a in args]
    assert_user_error(refine(*args), phrase)
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("command", ["validate", "show", "inspect", "diff"])
def test_each_command_has_help(command: str) -> None:
    result = refine(command, "--help")
    assert result.returncode == 0
    assert "Usage:" in result.stdout and "Example" in result.stdout


def test_help_imports_no_heavy_module() -> None:
    code = textwrap.dedent(
        """
        import sys
        import refine.cli
        try:
            refine.cli.main(["--help"])
        except SystemExit:
            pass
        heavy = sorted(m for m in ("optuna", "scipy", "torch", "sqlalchemy", "numpy") if m in sys.modules)
        print("HEAVY", heavy)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Commands" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "HEAVY []"


def test_validate_imports_no_optuna(tmp_path: Path) -> None:
    path = save_space(Space(name="s", version=1), tmp_path / "s.yaml")
    code = (
        f"import sys, refine.cli\ntry:\n    refine.cli.main(['validate', {str(path)!r}])\nexcept SystemExit:\n    "
        "pass\nprint(sorted(m for m in ('optuna', 'scipy', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr


def test_every_command_loads_without_the_editable_install(tmp_path: Path) -> None:
    # -S skips site's .pth files: the editable install's finder imports importlib.util, which once hid
    # a module that used it without importing it (a traceback on `refine next-space` from a wheel)
    import site

    from refine.cli import COMMANDS

    root = Path(__file__).resolve().parents[2]
    code = textwrap.dedent(
        f"""
        import sys
        sys.path[:0] = [{str(root)!r}]
        sys.path += {site.getsitepackages()!r}
        import refine.cli
        for name in {sorted(COMMANDS)!r}:
            try:
                refine.cli.main([name, "--help"])
            except SystemExit as e:
                assert not e.code, (name, e.code)
        print("OK")
        """
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stderr[-2000:]


def test_python_m_refine_help() -> None:
    result = subprocess.run([sys.executable, "-m", "refine", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "Usage:" in result.stdout


# --------------------------------------------------------------------------- bad input: exit 2


@pytest.mark.parametrize("command", ["show", "inspect"])
def test_missing_storage_is_an_error_and_not_created(tmp_path: Path, command: str) -> None:
    path = tmp_path / "study.db"
    assert_user_error(refine(command, path), str(path), "does not exist")
    assert list(tmp_path.iterdir()) == []
    url = f"sqlite:///{path}"
    assert_user_error(refine(command, url), "does not exist")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["show", "inspect"])
def test_text_file_as_storage_is_an_error(tmp_path: Path, command: str) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a study\n")
    assert_user_error(refine(command, path), str(path))
    assert path.read_text() == "not a study\n"


@pytest.mark.parametrize("command", ["show", "inspect"])
def test_unknown_study_name_is_an_error(plain_study, command: str) -> None:
    path, _, _ = plain_study
    assert_user_error(refine(command, path, "--study", "nope"), "'nope'", "'plain'")


def test_show_several_studies_without_name_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "study.db"
    for name in ("alpha", "beta"):
        optuna.create_study(storage=f"sqlite:///{path}", study_name=name)
    assert_user_error(refine("show", path), "--study", "'alpha'", "'beta'")


def test_show_broken_space_file_is_an_error() -> None:
    path = BROKEN / "low_above_high.yaml"
    assert_user_error(refine("show", path), str(path), "'lr'")


def test_show_missing_space_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    assert_user_error(refine("show", path), str(path))
    assert not path.exists()


def test_diff_missing_file_is_an_error(tmp_path: Path) -> None:
    good = save_space(Space(name="s", version=1), tmp_path / "s.v1.yaml")
    missing = tmp_path / "s.v2.yaml"
    assert_user_error(refine("diff", good, missing), str(missing))
    assert not missing.exists()


def test_diff_broken_file_is_an_error(tmp_path: Path) -> None:
    good = save_space(Space(name="s", version=1), tmp_path / "s.v1.yaml")
    bad = BROKEN / "weights_negative.yaml"
    assert_user_error(refine("diff", good, bad), str(bad), "'opt'")


def test_load_space_used_by_diff_reads_back_saved_files(space_pair) -> None:
    old, new = space_pair
    assert load_space(old) == _OLD and load_space(new) == _NEW


@pytest.mark.parametrize("directions", [["minimize", "maximize"], ["maximize", "minimize", "maximize"]])
def test_show_multi_objective_gives_the_pareto_front(tmp_path: Path, directions: list[str]) -> None:
    path = tmp_path / "study.db"
    study = optuna.create_study(
        storage=f"sqlite:///{path}",
        study_name="mo",
        directions=directions,
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.optimize(lambda t: [round(t.suggest_float(f"x{i}", 0, 1), 1) for i in range(len(directions))], n_trials=30)
    result = refine("show", path, "--json")
    assert result.returncode == 0, result.stderr
    best = json.loads(result.stdout)["best"]
    assert [b["number"] for b in best] == sorted(t.number for t in study.best_trials)
    assert [b["value"] for b in best] == [t.values for t in sorted(study.best_trials, key=lambda t: t.number)]
    text = refine("show", path).stdout
    assert f"best: {len(best)} trials on the Pareto front" in text


def test_show_journal_file(tmp_path: Path) -> None:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = tmp_path / "study.log"
    study = optuna.create_study(storage=JournalStorage(JournalFileBackend(str(path))), study_name="j")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    doc = json.loads(refine("show", path, "--json").stdout)
    assert doc["study"] == "j" and doc["trials"] == {"COMPLETE": 3}
    assert doc["best"]["number"] == study.best_trial.number


def test_show_json_with_an_infinite_limit(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nversion: 1\nparams:\n  x: {type: float, low: 0.0, high: 1.0, limits: [0.0, .inf]}\n")
    result = refine("show", path, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["space"]["params"]["x"]["limits"] == [0.0, "inf"]


@pytest.mark.parametrize(
    "args",
    [["validate"], ["next-space"], ["nosuch"], ["diff", "--bogus", "a.yaml", "b.yaml"]],
)
def test_usage_mistakes_are_one_error_line(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "refine", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1 and "--help" in proc.stderr
