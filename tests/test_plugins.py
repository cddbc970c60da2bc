"""Rule plugins (refine/plugins.py): they take part, veto and add evidence; one breaking the contract is named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import refine
from refine import Proposal
from refine.errors import PluginError
from refine.space import CategoricalParam, FloatParam, IntParam
from tests.conftest import _cli, _decision, _space


def test_a_plugin_that_raises_is_named(study_factory):
    class Broken:
        @refine.hookimpl
        def refine_propose(self, name):
            raise ZeroDivisionError("boom")

    space = _space(x=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: c["x"], 30)
    with pytest.raises(PluginError, match="'Broken'.*ZeroDivisionError"):
        refine.next_space(path, config=False, plugins=[Broken()])


def test_a_plugin_can_veto_and_add_an_action(study_factory):
    class Guard:
        @refine.hookimpl
        def refine_review(self, proposal):
            return "frozen by policy" if proposal.action == "expand" else None

    space = _space(depth=IntParam(low=2, high=6))
    path = study_factory(space, lambda c: float(c["depth"]), 100)
    result = refine.next_space(path, config=False, plugins=[Guard()])
    d = _decision(result, "depth")
    assert d.action != "expand"
    assert d.vetoed and d.vetoed[0][1] == "frozen by policy"


class _Misbehaving:
    """Plugins that break the contract in one way each; the engine names them, never a traceback."""

    class VetoTrue:
        @refine.hookimpl
        def refine_review(self, proposal):
            return True

    class EvidenceForNobody:
        @refine.hookimpl
        def refine_add_evidence(self):
            return {"nope": {"a": 1}}

    class EvidenceNotADict:
        @refine.hookimpl
        def refine_add_evidence(self):
            return {"x": 5}

    class FixPastLimits:
        @refine.hookimpl
        def refine_propose(self, name):
            return (
                Proposal(param=name, action="fix", rule="fixer", fixed_value=5.0, priority=5) if name == "x" else None
            )

    class FixToNoChoice:
        @refine.hookimpl
        def refine_propose(self, name):
            return (
                Proposal(param=name, action="fix", rule="fixer", fixed_value="rmsprop", priority=5)
                if name == "opt"
                else None
            )

    class FixNotData:
        @refine.hookimpl
        def refine_propose(self, name):
            return (
                Proposal(param=name, action="fix", rule="fixer", fixed_value=object(), priority=5)
                if name == "x"
                else None
            )

    class DropLimits:
        @refine.hookimpl
        def refine_propose(self, name, param):
            if name == "x":
                return Proposal(
                    param=name, action="expand", rule="unbounded", new=FloatParam(low=0, high=3), priority=5
                )

    class Retype:
        @refine.hookimpl
        def refine_propose(self, name, param):
            if name == "x":
                return Proposal(param=name, action="narrow", rule="retyper", new=IntParam(low=0, high=1), priority=5)

    class WrongParam:
        @refine.hookimpl
        def refine_propose(self, name, param):
            return Proposal(param="zzz", action="keep", rule="wrong", new=param)

    class MisspelledArgument:
        @refine.hookimpl
        def refine_propose(self, name, evidnce):
            return None


@pytest.mark.parametrize(
    "plugin, message",
    [
        (_Misbehaving.VetoTrue(), "^rule plugin 'VetoTrue' returned True from refine_review; a veto is a reason"),
        (_Misbehaving.EvidenceForNobody(), "'EvidenceForNobody' added evidence for 'nope', not a parameter"),
        (_Misbehaving.EvidenceNotADict(), "'EvidenceNotADict' returned {'x': 5} from refine_add_evidence"),
        (_Misbehaving.FixPastLimits(), r"rule 'fixer' fixed 'x' to 5.0: outside its limits \[0, 1\]"),
        (_Misbehaving.FixToNoChoice(), r"fixed 'opt' to 'rmsprop': not one of its choices"),
        (_Misbehaving.FixNotData(), "fixed 'x' to <object object at .*>: not a finite number"),
        (
            _Misbehaving.DropLimits(),
            r"rule 'unbounded' proposed 'expand' for 'x' with limits None instead of its hard limits \[0.0, 1.0\]",
        ),
        (_Misbehaving.Retype(), "rule 'retyper' proposed 'narrow' for 'x' of type int, but it is of type float"),
        (_Misbehaving.WrongParam(), "rule 'wrong' was asked about '(x|opt)' but proposed 'keep' for 'zzz'"),
        (_Misbehaving.MisspelledArgument(), "rule plugin 'MisspelledArgument'.*evidnce"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else "",
)
def test_a_plugin_breaking_the_contract_is_named(study_factory, plugin, message):
    space = _space(x=FloatParam(low=0, high=1, limits=(0, 1)), opt=CategoricalParam(choices=("adam", "sgd")))
    path = study_factory(space, lambda c: c["x"], 30)
    with pytest.raises(PluginError, match=message):
        refine.next_space(path, space=space, config=False, plugins=[plugin])


def test_a_plugin_named_like_a_built_in_rule_is_refused(study_factory, tmp_path):
    import types

    path = study_factory(_space(x=FloatParam(low=0, high=1)), lambda c: c["x"], 30)
    with pytest.raises(PluginError, match="named 'narrow', like a rule already loaded"):
        refine.next_space(path, config=False, plugins=[types.ModuleType("narrow")])
    # installed packages: one whose entry point takes a built-in's name, one that cannot be imported
    site = tmp_path / "site"
    for dist, entry, module, body in [
        ("clash", "keep", "clash_mod", ""),
        ("broken", "broken", "broken_mod", "import no_such_module\n"),
    ]:
        info = site / f"{dist}-0.1.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[refine.rules]\n{entry} = {module}\n")
        (site / f"{module}.py").write_text(body)
        env = {**os.environ, "PYTHONPATH": str(site)}
        proc = subprocess.run([sys.executable, "-m", "refine", "plugins"], capture_output=True, text=True, env=env)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
        if dist == "clash":
            assert "'keep' of clash has the name of a built-in rule" in proc.stderr
            shutil.rmtree(info)
        else:
            assert (
                "rule plugin 'broken' (broken, entry point broken_mod) failed to load: ModuleNotFoundError"
                in proc.stderr
            )
            assert "--disable broken" in proc.stderr
            listed = subprocess.run(
                [sys.executable, "-m", "refine", "plugins", "--disable", "broken"],
                capture_output=True,
                text=True,
                env=env,
            )
            assert listed.returncode == 0 and "protect" in listed.stdout, listed.stderr
            ok = subprocess.run(
                [sys.executable, "-m", "refine", "next-space", path, "--dry-run", "--disable", "broken"],
                capture_output=True,
                text=True,
                env=env,
            )
            assert ok.returncode == 0, ok.stderr


def test_plugin_evidence_reaches_both_rationales_as_json(study_factory, tmp_path):
    class Cost:
        @refine.hookimpl
        def refine_add_evidence(self):
            return {"*": {"gpu_hours": np.float64(3.5), "per_run": np.arange(3)}, "x": {"seen": {2, 1}}}

    path = study_factory(_space(x=FloatParam(low=0, high=1)), lambda c: c["x"], 30)
    result = refine.next_space(path, config=False, plugins=[Cost()])
    assert json.loads(json.dumps(result.rationale, allow_nan=False))["study_evidence"] == {
        "gpu_hours": 3.5,
        "per_run": [0, 1, 2],
    }
    assert result.rationale["evidence"]["x"]["stats"]["extra"] == {"seen": [1, 2]}
    page = result.markdown()
    assert "## Evidence added by plugins" in page and "- gpu_hours: 3.5" in page and "- `x` seen: [1, 2]" in page


def test_protect_plugin_takes_part_through_its_entry_point(study_factory):
    space = _space(opt=CategoricalParam(choices=("adam", "sgd")), x=FloatParam(low=0, high=1))
    rng = np.random.default_rng(8)
    path = study_factory(space, lambda c: (2.0 if c["opt"] == "adam" else 1.0) + rng.normal(0, 0.05), 100)
    plain = refine.next_space(path, config=False)
    protected = refine.next_space(path, config=False, **{"protect.params": "opt"})
    assert _decision(plain, "opt").action == "fix"
    d = _decision(protected, "opt")
    assert d.action == "protect" and d.rule == "protect" and "opt" in protected.space.params
    assert any(p.action == "fix" for p, _ in d.vetoed)
    listed = _cli("plugins", "--json")
    assert any(p["name"] == "protect" and p["version"] == "0.1.0" for p in json.loads(listed.stdout)["plugins"])


def test_disabled_rule_takes_no_part(study_factory):
    space = _space(depth=IntParam(low=2, high=6))
    path = study_factory(space, lambda c: float(c["depth"]), 100)
    result = refine.next_space(path, config=False, disabled=("expand",))
    assert _decision(result, "depth").action != "expand"
    with pytest.raises(PluginError, match="unknown rule"):
        refine.next_space(path, config=False, disabled=("nonesuch",))


def test_a_plugin_can_add_evidence_that_rules_read(study_factory):
    class Budget:
        @refine.hookimpl
        def refine_add_evidence(self, evidence):
            return {"x": {"cost_per_trial": 3.5}, "*": {"gpu_hours": 12}}

        @refine.hookimpl
        def refine_propose(self, name, evidence, study_evidence, param):
            if "cost_per_trial" in evidence.extra:
                return refine.Proposal(
                    param=name,
                    action="budget",
                    rule="budget",
                    new=param,
                    reason=f"costs {evidence.extra['cost_per_trial']} h a trial of "
                    f"{study_evidence.extra['gpu_hours']} h",
                )
            return None

    space = _space(x=FloatParam(low=0, high=1), y=FloatParam(low=0, high=1))
    path = study_factory(space, lambda c: c["y"], 30)
    result = refine.next_space(path, config=False, plugins=[Budget()])
    assert _decision(result, "x").action == "budget" and "3.5 h" in _decision(result, "x").reason
    assert _decision(result, "y").action != "budget"
