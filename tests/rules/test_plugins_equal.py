"""A third-party rule can do everything a built-in rule does (issue 19, "rules that stay equal to a third party's").

The plugin here, ``twin``, is registered the way an installed one is (the
plugin manager, through ``plugins=``): it declares settings, asks for the
statistics the built-in rules use (the elite cluster test, the edge crowd,
Spearman, the model of the objective), declares a statistic of its own,
proposes expansions and narrowings, and takes part in combining them.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import refine
from refine import Merge, Proposal
from refine.errors import PluginError
from refine.space import CategoricalParam, FloatParam, Space


class Twin:
    """Expand and narrow as the built-ins do, from the same statistics, asked for by name."""

    def __init__(self, merge=None) -> None:
        self.__name__ = "twin"
        self.computed: list[str] = []
        self.merge = merge
        self.merges: list[tuple[str, str, list[str]]] = []
        self.model_seen: dict[str, float] = {}

    @refine.hookimpl
    def refine_add_settings(self, registry):
        registry.add("twin.p", default=0.01, help="level of the cluster and trend tests", convert=float)

    @refine.hookimpl
    def refine_add_statistics(self, registry):
        registry.add(
            "twin",
            self._twin,
            scope="numeric",
            fields=("twin_median", "twin_cluster_p"),
            help="the elites' median position, and the built-in elite cluster test",
        )

    def _twin(self, ev):
        self.computed.append(ev.name)
        return {
            "twin_median": float(np.median(ev.trials.elite_positions)),  # its own, from the inputs the built-ins use
            "twin_cluster_p": ev.statistic("cluster")["ks_p"],  # a built-in statistic, asked for by name
        }

    @refine.hookimpl
    def refine_propose(self, name, param, evidence, study_evidence, settings):
        if evidence.kind != "numeric":
            return None
        model = study_evidence.statistic("model")
        if name in model:
            self.model_seen[name] = model[name]["p"]
        level, out = settings.extra["twin.p"], []
        crowded = evidence.statistic("edges")["edge_high_share"] >= settings.expand_crowd
        if crowded and evidence.rho > 0 and evidence.p < level and param.limits and param.high < param.limits[1]:
            high = min(param.high + (param.high - param.low), param.limits[1])
            new = type(param)(low=param.low, high=high, limits=param.limits)
            out.append(
                Proposal(
                    param=name,
                    action="expand",
                    rule="twin",
                    new=new,
                    reason="twin expanded",
                    evidence={"sides": ["high"]},
                )
            )
        if evidence.twin_cluster_p < level and evidence.elite_low > param.low:
            new = type(param)(low=evidence.elite_low, high=evidence.elite_high, limits=param.limits)
            out.append(Proposal(param=name, action="narrow", rule="twin", new=new, reason="twin narrowed"))
        return out or None

    @refine.hookimpl
    def refine_merge_proposals(self, name, winner, others):
        self.merges.append((name, winner.rule, [p.rule for p in others]))
        return self.merge(winner, others) if self.merge else None


def _study(study_factory, n=80):
    """x: better toward its high bound (limits allow more); y: a sharp optimum at 0.3; opt: no effect."""
    space = Space(
        name="s",
        version=1,
        directions=("maximize",),
        params={
            "x": FloatParam(low=0.0, high=1.0, limits=(0.0, 4.0)),
            "y": FloatParam(low=0.0, high=1.0, limits=(0.0, 1.0)),
            "opt": CategoricalParam(choices=("a", "b")),
        },
    )
    return study_factory(space, lambda c: 10 * c["x"] - 20 * (c["y"] - 0.3) ** 2, n), space


def _decision(result, name):
    return next(d for d in result.decisions if d.param == name)


def test_a_plugin_asks_for_the_built_in_statistics_and_adds_its_own(study_factory):
    path, space = _study(study_factory)
    twin = Twin()
    result = refine.next_space(path, space=space, config=False, plugins=[twin], **{"model.use": "always"})
    y = result.evidence.params["y"]
    # the built-in elite cluster test, as the narrow rule reads it, and its own statistic from the same inputs
    assert y.twin_cluster_p == y.ks_p == y.statistic("cluster")["ks_p"]
    positions = (np.array(y.elite_values) - 0.0) / 1.0
    assert y.twin_median == pytest.approx(float(np.median(positions)))
    # computed once per number, never for a categorical, and listed in the JSON rationale like a built-in's
    assert sorted(twin.computed) == ["x", "y"]
    stats = result.rationale["evidence"]["y"]["stats"]
    assert (
        stats["twin_cluster_p"] == stats["ks_p"] and "twin_median" not in result.rationale["evidence"]["opt"]["stats"]
    )
    # the surrogate model's test, as the built-in rules read it
    assert twin.model_seen and all(twin.model_seen[n] == result.evidence.params[n].extra["model"]["p"] for n in "xy")


def test_a_plugin_stands_in_for_expand_and_narrow_and_its_proposals_merge(study_factory):
    path, space = _study(study_factory)
    twin = Twin()
    result = refine.next_space(path, space=space, config=False, plugins=[twin], disabled=["expand", "narrow"])
    x = _decision(result, "x")
    # its expansion won, and the built-in merge took its narrowing of the other side in, as for a built-in's
    assert x.rule == "twin" and x.action == "expand"
    assert result.space.params["x"].high == 2.0 and result.space.params["x"].low > 0.0
    assert x.reason == "twin expanded; the other side narrowed: twin narrowed"
    assert [p.rule for p in x.overridden] == ["keep"]  # the narrowing was applied, not set aside
    assert any(n == "x" and w == "twin" and "twin" in o for n, w, o in twin.merges)  # asked first, left it to merge
    y = _decision(result, "y")
    assert y.rule == "twin" and y.action == "narrow" and y.new.low <= 0.3 <= y.new.high
    # its own setting decides: at a level no test reaches it proposes nothing
    quiet = refine.next_space(
        path, space=space, config=False, plugins=[Twin()], disabled=["expand", "narrow"], **{"twin.p": 1e-300}
    )
    assert {d.param: d.action for d in quiet.decisions if d.rule == "twin"} == {}


def test_a_plugin_merge_replaces_the_built_in_one(study_factory):
    path, space = _study(study_factory)

    def alone(winner, others):
        return Merge(new=winner.new, reason=f"{winner.reason}; merged by twin: nothing")

    twin = Twin(merge=alone)
    result = refine.next_space(path, space=space, config=False, plugins=[twin], disabled=["expand", "narrow"])
    x = _decision(result, "x")
    assert x.action == "expand" and result.space.params["x"].low == 0.0 and result.space.params["x"].high == 2.0
    assert x.reason.endswith("merged by twin: nothing")
    assert [p.action for p in x.overridden] == ["narrow", "keep"]  # not applied: set aside, the rationale says so


def test_the_built_in_rules_merge_as_before_with_a_plugin_asked_first(study_factory):
    space = Space(
        name="s",
        version=1,
        directions=("maximize",),
        params={
            "batch": CategoricalParam(choices=(32, 64, 128), weights=(0.8, 0.1, 0.1)),
            "x": FloatParam(low=0, high=1),
        },
    )
    rng = np.random.default_rng(13)
    path = study_factory(space, lambda c: -math.log2(c["batch"]) + 0.2 * c["x"] + rng.normal(0, 0.05), 60)
    twin = Twin()
    result = refine.next_space(path, space=space, config=False, plugins=[twin])
    d = _decision(result, "batch")
    assert d.action == "bias" and 16 in result.space.params["batch"].choices
    assert any(n == "batch" and w == "bias" and "expand" in o for n, w, o in twin.merges)
    without = refine.next_space(path, config=False, disabled=["merge"])
    assert 16 not in without.space.params["batch"].choices  # --disable merge: the bias stands alone


class _Bad(Twin):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    @refine.hookimpl
    def refine_add_statistics(self, registry):
        if self.mode == "field":
            registry.add("twin", self._twin, scope="numeric", fields=("ks_p",))
        elif self.mode == "raises":
            registry.add("twin", lambda ev: 1 / 0, scope="numeric", fields=("twin_x",))
        elif self.mode == "missing":
            registry.add("twin", lambda ev: {"other": 1}, scope="numeric", fields=("twin_x",))

    @refine.hookimpl
    def refine_propose(self, evidence):
        if self.mode == "unknown":
            evidence.statistic("clusters")
        elif self.mode in ("raises", "missing"):
            evidence.twin_x  # noqa: B018 - asking for it is the point

    @refine.hookimpl
    def refine_merge_proposals(self, winner):
        return winner if self.mode == "merge" else None


@pytest.mark.parametrize(
    "mode, message",
    [
        ("field", r"rule plugin 'twin' failed in refine_add_statistics: .*'ks_p'.*statistic 'cluster' has it"),
        ("raises", r"rule plugin 'twin' failed in its statistic 'twin': ZeroDivisionError"),
        ("missing", r"rule plugin 'twin' returned \{'other': 1\} from its statistic 'twin'; expected .* twin_x"),
        ("unknown", r"no statistic 'clusters' for a numeric parameter is declared \(known: range, elites, "),
        ("merge", r"rule plugin 'twin' returned Proposal\(.* from refine_merge_proposals; expected a refine.Merge"),
    ],
)
def test_a_plugin_breaking_the_statistics_or_merge_contract_is_named(study_factory, mode, message):
    path, space = _study(study_factory, n=40)
    with pytest.raises(PluginError, match=message):
        refine.next_space(path, space=space, config=False, plugins=[_Bad(mode)])


def test_refine_plugins_lists_every_statistic_with_its_plugin_and_fields():
    proc = subprocess.run([sys.executable, "-m", "refine", "plugins", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    listed = {s["name"]: s for s in json.loads(proc.stdout)["statistics"]}
    assert listed["cluster"]["plugin"] == "evidence" and listed["cluster"]["fields"] == ["ks_p"]
    assert listed["rivals"]["scope"] == "categorical" and listed["model"] == {**listed["model"], "plugin": "model"}
