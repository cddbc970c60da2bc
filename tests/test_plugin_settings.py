"""Settings rule plugins declare (refine/plugin_settings.py): defaults, conversion, typos, namespaces."""

from __future__ import annotations

import json

import numpy as np
import pytest

import refine
from refine.errors import PluginError
from refine.space import FloatParam
from tests.conftest import _cli, _space


class _Budgeted:
    """A third-party rule that declares two settings and records what it read."""

    def __init__(self) -> None:
        self.seen: dict = {}

    @refine.hookimpl
    def refine_add_settings(self, registry):
        registry.add("budget.trials", default=50, help="trials per stage", convert=int)
        registry.add("budget.skip", default=(), help="params to skip", convert=lambda v: tuple(str(v).split(",")))

    @refine.hookimpl
    def refine_propose(self, name, settings):
        self.seen = {k: v for k, v in settings.extra.items() if k.startswith("budget.")}


def test_a_plugin_declares_its_settings_with_defaults_and_conversion(study_factory):
    path = study_factory(_space(x=FloatParam(low=0, high=1)), lambda c: c["x"], 30)
    plugin = _Budgeted()
    result = refine.next_space(path, config=False, plugins=[plugin])
    assert plugin.seen == {"budget.trials": 50, "budget.skip": ()}
    assert result.rationale["settings"]["extra"]["budget.trials"] == 50
    refine.next_space(path, config=False, plugins=[plugin], **{"budget.trials": "80", "budget.skip": "x,y"})
    assert plugin.seen == {"budget.trials": 80, "budget.skip": ("x", "y")}


def test_a_typo_in_a_plugin_setting_is_refused_with_the_nearest_key(study_factory):
    path = study_factory(_space(x=FloatParam(low=0, high=1)), lambda c: c["x"], 30)
    with pytest.raises(refine.RefineError, match=r"unknown setting 'budget\.trails'.*did you mean 'budget\.trials'"):
        refine.next_space(path, config=False, plugins=[_Budgeted()], **{"budget.trails": "80"})
    with pytest.raises(refine.RefineError, match=r"setting 'budget\.trials' \(from --set.*invalid literal"):
        refine.next_space(path, config=False, plugins=[_Budgeted()], **{"budget.trials": "many"})
    with pytest.raises(refine.RefineError, match=r"read by no loaded rule plugin \(none is named 'nosuch'\)"):
        refine.next_space(path, config=False, **{"nosuch.key": 1})
    # a plugin that declares nothing still gets whatever is set under its name; a disabled one's keys are let be
    assert (
        refine.next_space(path, config=False, **{"keep.anything": 1}).rationale["settings"]["extra"]["keep.anything"]
        == 1
    )
    refine.next_space(path, config=False, disabled=["protect"], **{"protect.whatever": 1})


def test_a_plugin_declaring_a_bad_setting_is_named(study_factory):
    class Sloppy:
        @refine.hookimpl
        def refine_add_settings(self, registry):
            registry.add("trials", default=1)

    class Hijack:
        @refine.hookimpl
        def refine_add_settings(self, registry):
            registry.add("fix.hijacked", default=0.5)

    path = study_factory(_space(x=FloatParam(low=0, high=1)), lambda c: c["x"], 30)
    with pytest.raises(PluginError, match="'Sloppy' failed in refine_add_settings.*no namespace"):
        refine.next_space(path, config=False, plugins=[Sloppy()])
    with pytest.raises(
        PluginError, match="'Hijack' declared the setting 'fix.hijacked' in the namespace of rule 'fix'"
    ):
        refine.next_space(path, config=False, plugins=[Hijack()])


def test_cli_plugin_settings_are_listed_checked_and_read_from_config(study_factory, tmp_path):
    rng = np.random.default_rng(3)
    path = study_factory(_space(x=FloatParam(low=0, high=1), y=FloatParam(low=0, high=1)), lambda c: rng.normal(), 30)
    listed = json.loads(_cli("plugins", "--json").stdout)["settings"]
    protect_help = next(s["help"] for s in listed if s["key"] == "protect.params")
    assert {"key": "protect.params", "plugin": "protect", "default": [], "help": protect_help} in listed
    assert {"key": "model.p", "plugin": "model", "default": 0.05} in [
        {k: s[k] for k in ("key", "plugin", "default")} for s in listed
    ]
    typo = _cli("next-space", path, "--dry-run", "--set", "protect.parms=x", cwd=tmp_path)
    assert typo.returncode == 2 and typo.stderr.count("\n") == 1
    assert "did you mean 'protect.params'?" in typo.stderr and "Traceback" not in typo.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.refine.protect]\nparams = 3\n")
    bad = _cli("next-space", path, "--dry-run", cwd=tmp_path)
    assert bad.returncode == 2 and "pyproject.toml" in bad.stderr and "protect.params" in bad.stderr
    (tmp_path / "pyproject.toml").write_text('[tool.refine.protect]\nparams = ["x"]\n')
    good = _cli("next-space", path, "--json", "--dry-run", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    actions = {d["param"]: d["action"] for d in json.loads(good.stdout)["decisions"]}
    assert actions == {"x": "protect", "y": "keep"}


def test_built_in_rules_declare_their_settings_and_keep_the_old_names(study_factory):
    # issue 19 §2: a built-in rule declares its settings as a plugin does (refine_add_settings), under its own name;
    # the engine's old names stay aliases, and either sets both
    path = study_factory(_space(x=FloatParam(low=0, high=1)), lambda c: (c["x"] - 0.3) ** 2, 40)
    plain = refine.next_space(path, config=False)
    assert plain.rationale["settings"]["extra"]["expand.p"] == plain.rationale["settings"]["expand_p"] == 0.2
    new = refine.next_space(path, config=False, **{"narrow.p": 0.01})
    assert new.rationale["settings"]["narrow_p"] == 0.01
    old = refine.next_space(path, config=False, narrow_p=0.01)
    assert old.rationale["settings"]["extra"]["narrow.p"] == 0.01
    assert [d.action for d in new.decisions] == [d.action for d in old.decisions]
    with pytest.raises(refine.RefineError, match="'fix.p'.*and its old name 'fix_p'.*disagree"):
        refine.next_space(path, config=False, fix_p=0.1, **{"fix.p": 0.2})
    with pytest.raises(refine.RefineError, match="setting 'bias.weight'.*must be in \\(0, 1\\)"):
        refine.next_space(path, config=False, **{"bias.weight": "1.5"})
    listed = json.loads(_cli("plugins", "--json").stdout)["settings"]
    assert {"key": "expand.p", "plugin": "expand"} in [{k: s[k] for k in ("key", "plugin")} for s in listed]
