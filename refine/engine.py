"""The refinement engine: study + current space -> decisions -> next space.

:func:`next_space` is the programmatic entry point (``refine.next_space``) and
what ``refine next-space`` runs. It reads the study read-only, computes the
evidence, asks every rule plugin for proposals, keeps one decision per
parameter (:mod:`refine.decisions` documents the precedence), builds the next
version and its rationale. :meth:`Refinement.save` writes the space and the
rationale atomically, never over an existing version.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import attrs
from attrs import field, frozen

from refine.decisions import Decision, Proposal
from refine.errors import PluginError, SpaceError, StudyError
from refine.settings import Settings, load_settings
from refine.space import CategoricalParam, IntParam, InvalidParam, Param, Space, takes
from refine.study import StudyData, read_study

__all__ = ["Refinement", "next_space", "refine_study"]


@frozen(kw_only=True)
class Refinement:
    """The result of one refinement.

    Attributes:
        space: The next version.
        previous: The version it was refined from.
        decisions: One decision per parameter of either version, in order.
        rationale: The rationale as a JSON-ready dict.
        evidence: The evidence the rules saw.
        space_path: Where the space was written (None until saved).
        rationale_path: Where the Markdown rationale was written.
        json_path: Where the JSON rationale was written.
    """

    space: Space
    previous: Space
    decisions: tuple[Decision, ...]
    rationale: dict[str, Any] = field(hash=False)
    evidence: Any = field(hash=False, repr=False)
    space_path: Path | None = None
    rationale_path: Path | None = None
    json_path: Path | None = None

    @property
    def changed(self) -> bool:
        return any(d.action != "keep" for d in self.decisions)

    def markdown(self) -> str:
        from refine.rationale import to_markdown

        return to_markdown(self.rationale)

    def file_stem(self) -> str:
        from refine.study import safe_name

        return f"{safe_name(self.space.name)}.v{self.space.version}"

    def save(self, directory: str | os.PathLike = ".") -> "Refinement":
        """Write ``<name>.v<N>.yaml``, ``.md`` and ``.json`` into ``directory``.

        Raises:
            SpaceError: One of the files exists already (nothing is written).
        """
        from refine.spacefile import atomic_write, dump_space, new_folders, remove_folders

        directory = Path(directory)
        stem = self.file_stem()
        paths = [directory / f"{stem}.yaml", directory / f"{stem}.md", directory / f"{stem}.json"]
        for p in paths:
            if p.exists():
                raise SpaceError(
                    f"{p} already exists; refine never overwrites a version (remove it, or write elsewhere with --out)"
                )
        rationale = dict(self.rationale)
        rationale["files"] = {"space": str(paths[0]), "markdown": str(paths[1]), "json": str(paths[2])}
        from refine.rationale import to_json, to_markdown

        written: list[Path] = []
        made = new_folders(directory)
        try:
            for path, text in zip(paths, (dump_space(self.space), to_markdown(rationale), to_json(rationale))):
                written.append(atomic_write(path, text))
        except BaseException:
            for p in written:
                p.unlink(missing_ok=True)
            remove_folders(made)  # a full disk leaves no empty output folder
            raise
        return attrs.evolve(self, rationale=rationale, space_path=paths[0], rationale_path=paths[1], json_path=paths[2])


def next_space(
    storage: str | os.PathLike | StudyData,
    study: str | None = None,
    space: Space | str | os.PathLike | None = None,
    *,
    plugins: Iterable[Any] = (),
    entry_points: bool = True,
    config: bool = True,
    **settings: Any,
) -> Refinement:
    """Refine a study's space into the next version.

    Args:
        storage: A SQLite file, storage URL, journal file, or an already read
            :class:`~refine.study.StudyData`.
        study: The study's name (optional when the storage holds one).
        space: The current space (a :class:`Space` or a file); default: the
            space the study remembers, else the one inferred from it.
        plugins: Extra rule plugin objects to register.
        entry_points: Load installed rule plugins (group ``refine.rules``).
        config: Read ``[tool.refine]`` / ``refine.toml`` from the current directory.
        **settings: Any field of :class:`~refine.settings.Settings`.

    Returns:
        The :class:`Refinement`; call :meth:`Refinement.save` to write it.

    Raises:
        RefineError: Bad input: unreadable storage, no COMPLETE trial, a bad
            space file, an unknown setting, or a plugin that failed.
    """
    from refine.plugins import get_plugin_manager

    resolved = load_settings(settings, config=config)
    if isinstance(storage, StudyData) and study is not None and study != storage.name:
        raise StudyError(f"study '{study}' was asked for, but the StudyData given is study '{storage.name}'")
    data = (
        storage
        if isinstance(storage, StudyData)
        else read_study(
            storage,
            study,
            # what ranks the trials and nothing more: user attributes for a metric or a key, the last intermediate
            # values for PRUNED trials ranked by them (each is a scan of its table: 0.2 s of CPU at 100k trials)
            user_attrs=bool(resolved.metric or resolved.then or resolved.where),
            intermediate=resolved.include_pruned,
        )
    )
    if space is None:
        current = data.space
    elif isinstance(space, Space):
        current = space
    else:
        from refine.spacefile import load_space

        current = load_space(space)
    if space is not None:
        data = attrs.evolve(data, space=current, space_source="given")
    pm = get_plugin_manager(resolved.disabled, entry_points=entry_points, plugins=plugins)
    return refine_study(data, current, resolved, pm)


def _nothing_to_refine(data: StudyData) -> None:
    counts = data.counts()
    if counts.get("COMPLETE", 0) == 0:
        listed = ", ".join(f"{v} {k}" for k, v in counts.items()) or "no trials"
        raise StudyError(f"nothing to refine: study '{data.name}' has no COMPLETE trial ({listed})")


def refine_study(data: StudyData, current: Space, settings: Settings, pm: Any) -> Refinement:
    """The engine proper, on an already read study and a plugin manager."""
    from refine.evidence import gather_evidence
    from refine.plugins import Hooks
    from refine.rationale import build_rationale
    from refine.settings import apply_plugin_settings

    hooks = Hooks(pm)
    settings = apply_plugin_settings(settings, hooks.declared_settings(), (n for n, _ in pm.list_name_plugin()))
    _nothing_to_refine(data)
    if len(current.directions) != len(data.directions):
        raise SpaceError(
            f"the space '{current.name}' has {len(current.directions)} objective(s) but study '{data.name}' has "
            f"{len(data.directions)}; compare like with like"
        )
    if tuple(current.directions) != tuple(data.directions):
        raise SpaceError(
            f"the space '{current.name}' v{current.version} says {', '.join(current.directions)} but study "
            f"'{data.name}' was run to {', '.join(data.directions)}; compare like with like "
            "(fix 'direction' in the space file, or give the space the study was run with)"
        )
    searched = [n for n in current.params if n in data.columns]
    if current.params and data.columns and not searched:
        raise SpaceError(
            f"none of the space's parameters ({', '.join(sorted(current.params)[:8])}) was searched by study "
            f"'{data.name}' (it searched {', '.join(sorted(data.columns)[:8])}); give the space this study was run with"
        )
    evidence = gather_evidence(data, current, settings, hooks.statistics())
    if evidence.n_ranked == 0:
        complete = data.counts().get("COMPLETE", 0)
        raise StudyError(
            f"nothing to refine: none of the {complete} COMPLETE trial(s) of study '{data.name}' has a finite value"
            + (f" for the metric '{settings.metric}'" if settings.metric else "")
            + (" within the study's constraints" if data.infeasible is not None and data.infeasible.any() else "")
            + " (NaN or infinite values rank nothing)"
        )
    for extra in hooks.add_evidence(evidence=evidence, settings=settings):
        for key, values in extra.items():
            target = evidence.extra if key == "*" else evidence.params[key].extra
            target.update(values)
    decisions: dict[str, Decision] = {}
    for name, param in current.params.items():
        proposals = hooks.propose(
            name=name,
            param=param,
            evidence=evidence.params[name],
            study_evidence=evidence,
            space=current,
            settings=settings,
        )
        decisions[name] = _decide(name, param, proposals, hooks, evidence, settings)
    new = _build(current, decisions)
    for proposal in hooks.finalize(space=new, previous=current, decisions=decisions, settings=settings):
        if not isinstance(proposal, Proposal) or proposal.param not in current.params:
            what = f"'{proposal.param}'" if isinstance(proposal, Proposal) else type(proposal).__name__
            raise PluginError(
                f"a rule's refine_finalize proposed for {what}, not a refine.Proposal for a parameter of the space "
                f"({', '.join(list(current.params)[:8])})"
            )
        old = decisions.get(proposal.param)
        decisions[proposal.param] = Decision(
            param=proposal.param,
            action=proposal.action,
            rule=proposal.rule,
            old=current.params.get(proposal.param),
            new=proposal.new,
            fixed_value=_checked_fix(proposal, current.params[proposal.param])
            if proposal.action == "fix"
            else proposal.fixed_value,
            reason=proposal.reason,
            evidence=proposal.evidence,
            overridden=(() if old is None else (_as_proposal(old),)),
        )
        new = _build(current, decisions)
    for name in current.params:
        gone = name not in new.params and name not in new.fixed
        if gone and decisions[name].action not in ("drop", "fix"):
            decisions[name] = attrs.evolve(
                decisions[name],
                action="drop",
                rule="engine",
                new=None,
                reason="dropped: its `when` can no longer hold in the next space",
                overridden=(_as_proposal(decisions[name]),),
            )
    rationale = build_rationale(evidence, current, new, decisions)
    ordered = tuple(decisions[n] for n in current.params)
    return Refinement(space=new, previous=current, decisions=ordered, rationale=rationale, evidence=evidence)


def _as_proposal(d: Decision) -> Proposal:
    return Proposal(param=d.param, action=d.action, rule=d.rule, new=d.new, reason=d.reason, fixed_value=d.fixed_value)


def _decide(
    name: str, param: Param, proposals: list[Proposal], hooks: Any, evidence: Any, settings: Settings
) -> Decision:
    accepted, vetoed = [], []
    for p in proposals:
        if not isinstance(p, Proposal):
            raise PluginError(f"a rule returned {type(p).__name__} for '{name}' instead of a refine.Proposal")
        if p.param != name:
            raise PluginError(f"rule '{p.rule}' was asked about '{name}' but proposed '{p.action}' for '{p.param}'")
        reasons = hooks.review(proposal=p, study_evidence=evidence, settings=settings) if p.action != "keep" else []
        if reasons:
            vetoed.append((p, "; ".join(reasons)))
        else:
            accepted.append(p)
    if not accepted:
        accepted = [Proposal(param=name, action="keep", rule="engine", new=param, reason="no rule proposed a change")]
    # the default keep (rule 'keep') comes last among keeps: a rule's own keep says what stopped its change
    accepted.sort(key=lambda p: (*p.sort_key()[:2], p.action == "keep" and p.rule == "keep", p.rule))
    winner = accepted[0]
    rest = tuple(accepted[1:])
    new = winner.new
    reason = winner.reason
    if winner.action == "keep" and vetoed:
        reason = _kept_because(vetoed, reason)
    checked = winner
    if rest:  # the winner may fold others in (refine_merge_proposals; the built-in rule 'merge')
        if new is not None:
            _check_new(winner, param, new)  # a bad definition is its proposer's, whoever merges it
        offered = winner if reason == winner.reason else attrs.evolve(winner, reason=reason)
        merged = hooks.merge(name=name, param=param, winner=offered, others=list(rest), settings=settings)
        if merged is not None:
            merge, merger = merged
            new, reason = merge.new, merge.reason
            rest = tuple(p for p in rest if not any(p is a for a in merge.applied))  # applied, not set aside
            checked = attrs.evolve(winner, rule=merger) if merger != winner.rule else winner
    if winner.action not in ("fix", "drop") and new is None:
        raise PluginError(f"rule '{winner.rule}' proposed '{winner.action}' for '{name}' without a new definition")
    if new is not None:
        _check_new(checked, param, new)
    return Decision(
        param=name,
        action=winner.action,
        rule=winner.rule,
        old=param,
        new=new,
        fixed_value=_checked_fix(winner, param) if winner.action == "fix" else winner.fixed_value,
        reason=reason,
        evidence=dict(winner.evidence),
        overridden=rest,
        vetoed=tuple(vetoed),
    )


def _kept_because(vetoed: list[tuple[Proposal, str]], reason: str) -> str:
    """A keep whose change was vetoed says so: the proposed change and what stopped it, never 'no clear signal'."""
    stopped = "; ".join(f"{p.rule} proposed {p.action} ({p.reason}), but {why}" for p, why in vetoed)
    return f"kept: {stopped}"


def _check_new(p: Proposal, param: Param, new: Any) -> None:
    """A rule refines a parameter: the same kind, its hard `limits` kept, and the range inside them."""
    if type(new) is not type(param):
        what = getattr(new, "kind", type(new).__name__)
        raise PluginError(
            f"rule '{p.rule}' proposed '{p.action}' for '{p.param}' of type {what}, but it is of type "
            f"{param.kind}; a rule refines a parameter's range or choices, it does not retype it"
        )
    if isinstance(param, CategoricalParam) or isinstance(new, CategoricalParam) or param.limits is None:
        return  # (new is of param's type, checked above)
    if new.limits != param.limits:
        raise PluginError(
            f"rule '{p.rule}' proposed '{p.action}' for '{p.param}' with limits "
            f"{list(new.limits) if new.limits else None} "
            f"instead of its hard limits {list(param.limits)}; a rule keeps the user's limits (attrs.evolve keeps them)"
        )


def _checked_fix(p: Proposal, param: Param) -> Any:
    """The value ``p`` fixes ``param`` to, as plain data, when the parameter could take it (within its `limits`)."""
    value = (
        p.fixed_value.item() if hasattr(p.fixed_value, "item") and hasattr(p.fixed_value, "dtype") else p.fixed_value
    )
    problem = None
    if isinstance(param, CategoricalParam):
        if not param.contains(value):
            problem = f"not one of its choices {list(param.choices)}"
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problem = "not a finite number"
    elif param.log and value <= 0:
        problem = "not positive, on a log scale"
    elif isinstance(param, IntParam) and not float(value).is_integer():
        problem = "not an integer"
    elif param.limits is not None and not param.limits[0] <= value <= param.limits[1]:
        problem = f"outside its limits [{param.limits[0]:g}, {param.limits[1]:g}]"
    if problem:
        raise PluginError(f"rule '{p.rule}' fixed '{p.param}' to {value!r}: {problem}")
    return int(value) if isinstance(param, IntParam) else value


def _build(current: Space, decisions: Mapping[str, Decision]) -> Space:
    params: dict[str, Param] = {}
    fixed = dict(current.fixed)
    for name, param in current.params.items():
        d = decisions.get(name)
        if d is None:
            params[name] = param
        elif d.action == "fix":
            fixed[name] = d.fixed_value
        elif d.action == "drop" or d.new is None:
            continue
        else:
            params[name] = d.new
    params = _prune_conditions(params, fixed)
    try:
        return attrs.evolve(current, version=current.version + 1, parent=current.version, params=params, fixed=fixed)
    except InvalidParam as e:
        culprits = {d.rule for d in decisions.values() if d.param == e.param} or {"unknown"}
        raise PluginError(f"rule '{', '.join(sorted(culprits))}' produced an invalid space: {e}") from None


def _prune_conditions(params: dict[str, Param], fixed: Mapping[str, Any]) -> dict[str, Param]:
    """Make every ``when`` hold what the new space can still offer.

    A condition on a parent fixed to an allowed value is always true (removed);
    one whose parent no longer exists, is fixed to another value, or offers
    none of its values (choices, or numbers in its range) can never hold: the
    parameter leaves (the drop rule says why). Values the parent no longer
    offers are trimmed from the condition.
    """
    params = dict(params)
    changed = True
    while changed:
        changed = False
        for name, p in list(params.items()):
            if p.when is None:
                continue
            parent = p.when.parent
            if parent in fixed:
                if p.when.allows(fixed[parent]):
                    params[name] = attrs.evolve(p, when=None)
                else:
                    del params[name]
                changed = True
            elif parent not in params:
                del params[name]
                changed = True
            else:  # a categorical's choices, or an int's (or grid float's) range
                values = tuple(v for v in p.when.values if takes(params[parent], v))
                if not values:
                    del params[name]
                    changed = True
                elif values != p.when.values:
                    params[name] = attrs.evolve(p, when=attrs.evolve(p.when, values=values))
                    changed = True
    return params
