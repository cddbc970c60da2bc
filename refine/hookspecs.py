"""The plugin author's guide: every hook a rule plugin can implement.

A rule plugin is a module or object with functions marked ``@hookimpl``
(``from refine import hookimpl``), made known through the entry point group
``refine.rules`` in its ``pyproject.toml``::

    [project.entry-points."refine.rules"]
    protect = "refine_protect"

The built-in rules (``refine/rules/``: fix, expand, narrow, bias, model, keep,
drop, merge) are plugins of exactly this kind, registered after the entry points by
the same plugin manager; disable any of them by name (``--disable narrow``).
They use only public hooks, so a plugin can do everything they do:

* declare settings under its own name (:func:`refine_add_settings`:
  ``expand.p``, ``narrow.margin``, ``model.p`` ...; the engine's old names,
  ``expand_p``, stay aliases through ``registry.add(..., alias=...)``);
* ask for a named statistic of a parameter (``evidence.statistic("cluster")``,
  or one of its fields, ``evidence.ks_p``) or of the study
  (``study_evidence.statistic("model")``), each computed once, on first
  request; and declare its own the same way
  (:func:`refine_add_statistics`: the evidence declares ``range``,
  ``elites``, ``spearman``, ``trend``, ``edges``, ``cluster``, ``mode`` for a
  number, ``choices``, ``kruskal``, ``rivals`` for a categorical; the ``model``
  rule declares the study-wide ``model``, its model of the objective);
* propose (:func:`refine_propose`), veto (:func:`refine_review`: ``model``
  vetoes changes its model does not support), combine the winning proposal
  with others (:func:`refine_merge_proposals`: ``merge`` combines an
  expansion with a narrowing of the other side, and a bias with an expansion
  of the same ordered categorical) and finish (:func:`refine_finalize`: ``drop``).

How a refinement runs:

0. :func:`refine_add_settings` declares each plugin's settings; the engine
   checks what the user set against them. :func:`refine_add_statistics`
   declares each plugin's statistics.
1. The engine reads the study and computes the evidence
   (:class:`refine.evidence.Evidence`: which trials rank, the elites and
   scores; per parameter a :class:`~refine.evidence.NumericEvidence` or a
   :class:`~refine.evidence.CategoricalEvidence`, whose docstrings list every
   built-in statistic and its fields); :func:`refine_add_evidence` may add to
   its ``extra``.
2. For every searched parameter, :func:`refine_propose` is called on every
   plugin; each returns proposals (:class:`refine.Proposal`) or None.
3. :func:`refine_review` sees every proposal except ``keep`` and may veto it
   by returning a reason.
4. The engine keeps one proposal per parameter and builds the next space.
   The highest ``priority`` wins (built-ins use 0); among equals the action
   precedence drop > fix > bias > expand > narrow > a plugin's own action >
   keep decides, so a new action word beats only ``keep`` unless its
   proposal has ``priority=1`` or more. :func:`refine_merge_proposals` may
   then fold other accepted proposals into the winner (an expand and a narrow
   of one range combine). Everything set aside or vetoed is listed in the
   rationale.
5. :func:`refine_finalize` sees the result and may propose more; these
   proposals are applied as they are, without review. The built-in ``drop``
   rule removes parameters whose ``when`` can no longer hold (their parent
   was fixed to another value): a consequence, not a judgement, so to keep
   such a parameter, veto the fix of its parent.

A :class:`refine.Proposal` names the parameter it was asked about
(``param``), its ``action`` and ``rule`` (the plugin's name), a ``reason``
with the numbers that decided, and ``evidence`` (plain data, shown in the
JSON rationale). ``new`` is the parameter's next definition (a
:class:`~refine.space.FloatParam`, ``IntParam`` or ``CategoricalParam``),
required for every action except ``fix`` (give ``fixed_value``: a value the
parameter can take, inside its ``limits``) and ``drop``. A proposal that
breaks these rules, or a space that breaks the space file's contract, stops
the refinement with an error naming the rule.

Plugins may accept fewer arguments than a spec lists (pluggy passes only the
ones named), so specs grow by adding arguments, never by changing them. A
plugin that raises stops the refinement with an error naming it (exit 2).
Settings a plugin reads come from ``Settings.extra`` (``--set name.key=value``
or a ``[tool.refine.name]`` table); declare them in :func:`refine_add_settings`
so that they get defaults, conversion, a listing and typo checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from refine.decisions import Decision, Merge, Proposal
    from refine.evidence import CategoricalEvidence, Evidence, NumericEvidence, StatisticsRegistry
    from refine.settings import PluginSettings, Settings
    from refine.space import Param, Space

hookspec = pluggy.HookspecMarker("refine")


@hookspec
def refine_add_settings(registry: "PluginSettings") -> None:
    """Declare the settings this plugin reads, before anything else runs.

    Call ``registry.add("name.key", default=..., help=..., convert=...)``
    (:class:`refine.settings.PluginSettings`) for each key, namespaced by
    the plugin's name. Declared keys then have their default in
    ``settings.extra`` when nobody sets them, their values converted, and a
    user's typo under the namespace (``--set protect.parms=lr``) is refused
    with the nearest declared key; ``refine plugins`` lists them. A plugin
    that declares nothing still reads whatever its users set under its name.

    Args:
        registry: Where to declare the settings.
    """


@hookspec
def refine_add_statistics(registry: "StatisticsRegistry") -> None:
    """Declare the statistics this plugin computes, before the evidence is gathered.

    Call ``registry.add(name, compute, scope=..., fields=(...), help=...)``
    (:class:`refine.evidence.StatisticsRegistry`), exactly as the evidence
    declares its own (``refine/evidence/numeric.py``). ``scope="numeric"`` or
    ``"categorical"``: ``compute(ev)`` gets a parameter's evidence, whose
    ``trials`` (:class:`refine.evidence.ParamTrials`) hold the inputs the
    built-in statistics use (the ranked trials where it was active, their
    values, positions and scores, the elites, the trials run alongside them),
    and may build on another statistic (``ev.statistic("edges")``); it returns
    ``{field: value}`` with every declared field, each then readable as
    ``ev.<field>`` and listed in the JSON rationale. ``scope="study"``:
    ``compute(evidence)`` gets the study's evidence and returns any mapping,
    read by ``evidence.statistic(name)``. A statistic is computed once, when
    first asked for; one that raises stops the refinement with an error naming
    the plugin.

    Args:
        registry: Where to declare the statistics.
    """


@hookspec
def refine_add_evidence(evidence: "Evidence", settings: "Settings") -> "dict[str, dict[str, Any]] | None":
    """Add evidence before rules run.

    Args:
        evidence: The evidence computed so far (read-only).
        settings: The thresholds in force.

    Returns:
        ``{param_name: {key: value}}`` merged into that parameter's
        ``extra`` evidence (use the key ``"*"`` for study-wide evidence), or
        None to add nothing.
    """


@hookspec
def refine_propose(
    name: str,
    param: "Param",
    evidence: "NumericEvidence | CategoricalEvidence",
    study_evidence: "Evidence",
    space: "Space",
    settings: "Settings",
) -> "Proposal | list[Proposal] | None":
    """Propose what to do with one searched parameter.

    Args:
        name: The parameter's name.
        param: Its current definition.
        evidence: Its evidence (numeric or categorical).
        study_evidence: The whole study's evidence (elites, scores, other params).
        space: The current space.
        settings: The thresholds in force.

    Returns:
        One proposal, several, or None when this rule has nothing to say.
    """


@hookspec
def refine_review(proposal: "Proposal", study_evidence: "Evidence", settings: "Settings") -> "str | None":
    """Veto a proposal (any action but ``keep``; :func:`refine_finalize`'s are not reviewed).

    Returns:
        A reason (str) to veto the proposal, or None to let it stand.
    """


@hookspec(firstresult=True)
def refine_merge_proposals(
    name: str, param: "Param", winner: "Proposal", others: "list[Proposal]", settings: "Settings"
) -> "Merge | None":
    """Fold other accepted proposals for one parameter into the winning one.

    Called once per parameter that has other accepted proposals beside the
    winner (after review and precedence). The first implementation that
    returns a :class:`refine.Merge` decides (pluggy's ``firstresult``); a
    plugin's is asked before the built-in one (rule ``merge``, marked
    ``trylast``), so a plugin extends the merging by answering the cases it
    knows and returning None for the rest, or replaces it by always answering
    (``Merge(new=winner.new, reason=winner.reason)`` merges nothing).

    Args:
        name: The parameter's name.
        param: Its current definition.
        winner: The proposal that won.
        others: The other accepted proposals, best first.
        settings: The thresholds in force.

    Returns:
        A :class:`refine.Merge` (the next definition, the reason, and which of
        ``others`` it applied), or None to leave it to the next implementation
        (the winner then stands alone).
    """


@hookspec
def refine_finalize(
    space: "Space", previous: "Space", decisions: "dict[str, Decision]", settings: "Settings"
) -> "list[Proposal] | None":
    """Look at the next space once every parameter is decided, and propose more.

    Proposals returned here are applied on top of the decisions (the built-in
    ``drop`` rule uses it). Return None to propose nothing.
    """
