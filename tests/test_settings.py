"""Settings are declared once (refine/settings.py): the checks, --help and the README table come from there."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import attrs
import pytest

from refine.errors import RefineError
from refine.plugins import BUILTIN_RULES
from refine.settings import DOCS, Settings, check_setting, load_settings, settings_table

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
