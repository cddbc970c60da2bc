"""Settings are declared once (refine/settings.py): the checks, --help and the README table come from there."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import attrs
import numpy as np
import pytest

import refine
from refine.errors import RefineError
from refine.plugins import BUILTIN_RULES
from refine.settings import DOCS, Settings, check_setting, load_settings, settings_table
from refine.space import CategoricalParam, FloatParam
from tests.conftest import _cli, _decision, _space

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_settings_table_is_the_declared_one():
    script = _script()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script.rewritten(text) == text, "README.md's settings table is stale: run python scripts/settings_table.py"


def test_every_setting_is_declared_with_a_meaning_and_an_owner():
    owners = set(BUILTIN_RULES) | {"engine", "evidence"}
    for f in attrs.fields(Settings):
        if f.name in ("extra", "origins"):
            continue
        declared = f.metadata.get("refine")
        assert declared is not None, f"setting '{f.name}' is not declared with _setting()"
        assert declared["help"] and declared["owner"] in owners, f.name
        assert f"| `{f.name}` |" in settings_table()


def test_a_declared_range_is_enforced_with_the_declared_meaning():
    problem = check_setting("fix_p", 0.0)
    assert problem is not None and DOCS["fix_p"] in problem and "(0, 1]" in problem
    with pytest.raises(RefineError, match="elite_fraction"):
        load_settings({"elite_fraction": "1.5"}, config=False)
    assert load_settings({"elite_fraction": "0.5"}, config=False).elite_fraction == 0.5


def test_next_space_help_lists_every_declared_setting():
    from refine.commands.next_space import _settings_epilog

    epilog = _settings_epilog()
    for name, meaning in DOCS.items():
        assert f"  {name}=" in epilog and meaning in epilog


def test_refine_plugins_lists_every_engine_setting_as_declared():
    import json

    from click.testing import CliRunner

    from refine.cli import cli

    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listed = {s["key"]: s for s in json.loads(result.output)["engine_settings"]}
    assert list(listed) == [f.name for f in attrs.fields(Settings) if f.name not in ("extra", "origins")]
    assert listed["fix_p"] == {
        "key": "fix_p",
        "rule": "fix",
        "default": 0.1,
        "range": "(0, 1]",
        "flag": None,
        "help": DOCS["fix_p"],
    }
    assert listed["elite_fraction"]["flag"] == "--elite-fraction" and listed["metric"]["range"] is None
    for name, meaning in DOCS.items():
        assert listed[name]["help"] == meaning
    # the table a person reads names each setting with its range and owning rule
    text = CliRunner().invoke(cli, ["plugins"], env={"COLUMNS": "400"})
    assert text.exit_code == 0 and "engine settings" in text.output
    row = next(line for line in text.output.splitlines() if " narrow_min_margin " in line)
    assert "0.1" in row and "[0, 0.5)" in row and "narrow" in row.split("[0, 0.5)")[1]


def test_a_malformed_declared_range_fails_at_declaration():
    from refine.settings import _setting

    with pytest.raises(ValueError, match="interval such as"):
        _setting(0.5, "evidence", help="a share", range="0..1")


def test_config_file_sets_thresholds(study_factory, tmp_path, monkeypatch):
    space = _space(enc=CategoricalParam(choices=("a", "b")), x=FloatParam(low=0, high=1))
    rng = np.random.default_rng(9)
    path = study_factory(space, lambda c: (1.0 if c["enc"] == "a" else 0.5) + rng.normal(0, 0.02), 60)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.refine]\nfair_trial = 1000\n")
    result = refine.next_space(path)
    assert _decision(result, "enc").action == "bias"
    (tmp_path / "pyproject.toml").write_text("[tool.refine]\nfair_tiral = 3\n")
    with pytest.raises(refine.RefineError, match="unknown setting 'fair_tiral'"):
        refine.next_space(path)


@pytest.mark.parametrize(
    "args, named",
    [
        (["--elite-fraction", "-0.1"], "elite_fraction"),
        (["--set", "elite_fraction=5"], "elite_fraction"),
        (["--fair-trial", "0"], "fair_trial"),
        (["--set", "fix_p=nan"], "fix_p"),
        (["--set", "bias_weight=2"], "bias_weight"),
        (["--set", "expand_factor=-1"], "expand_factor"),
        (["--baseline", "inf"], "baseline"),
    ],
)
def test_a_setting_out_of_its_range_exits_2_naming_it(study_factory, tmp_path, args, named):
    space = _space(x=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: c["x"], 20)
    r = _cli("next-space", path, "--out", str(tmp_path / "out"), *args, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith(f"error: setting '{named}'") and len(r.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_setting_in_a_config_file_is_checked_too(study_factory, tmp_path, monkeypatch):
    path = study_factory(_space(x=FloatParam(low=0, high=1)), lambda c: c["x"], 20)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "refine.toml").write_text("edge_zone = 0.6\n")
    with pytest.raises(refine.RefineError, match=r"'edge_zone'.*\(0, 0.5\).*refine.toml"):
        refine.next_space(path)


def test_a_setting_past_its_upper_bound_is_refused(study_factory):
    path = study_factory(_space(x=FloatParam(low=0, high=1)), lambda c: c["x"], 30)
    with pytest.raises(refine.RefineError, match=r"setting 'expand_factor' .* must be in \(0, 10\], got 1e\+308"):
        refine.next_space(path, config=False, expand_factor=1e308)
