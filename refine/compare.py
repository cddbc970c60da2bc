"""The decision gate and the champion: ``refine compare``, ``refine best`` (and ``--promote``).

:func:`compare` chooses between stages (or spaces) the way a careful team
does: best value per study, consistency across seeds, a preference for the
simpler space unless the richer one wins by a margin, and a refusal to rank
studies whose metric, direction or evaluation settings (``fixed``) differ.

:func:`best_config` is the winning configuration, params plus fixed, and
:func:`promote` writes it where a sweep reads its constants. Validating a
champion under changed settings (``refine rerun``) is :mod:`refine.reruns`.
"""

from __future__ import annotations

import math
import re
import statistics
from typing import Any, Mapping, Sequence

import attrs
from attrs import frozen

from refine.errors import RefineError, StudyError
from refine.executor.attributes import study_space
from refine.ranking import (
    Ranking,
    best_of,
    maximizes,
    metric_value,
    objective_labels,
    pareto_size,
    ranked_trials,
    why_none,
)
from refine.space import CategoricalParam, Space
from refine.storage import load_study, redact, study_names

__all__ = [
    "Comparison",
    "GroupSummary",
    "compare",
    "best_config",
    "promote",
    "resolve_group",
]


@frozen
class GroupSummary:
    """One compared entry: a study, or the studies ``NAME-s<seed>`` of one name."""

    name: str
    studies: tuple[str, ...]
    bests: tuple[float, ...]
    score: float
    spread: float
    param_distance: float | None
    searched: int
    direction: str
    trials: int = 0

    def to_json(self) -> dict:
        return attrs.asdict(self)


@frozen
class Comparison:
    """The verdict of :func:`compare`."""

    groups: tuple[GroupSummary, ...]
    winner: str | None
    reasons: tuple[str, ...]
    refused: str | None = None
    settled: bool = True
    ranking: str = ""

    def to_json(self) -> dict:
        return {
            "groups": [g.to_json() for g in self.groups],
            "winner": self.winner,
            "reasons": list(self.reasons),
            "refused": self.refused,
            "settled": self.settled,
            "ranking": self.ranking,
        }


def _expand(names: Sequence[str], held: Sequence[str], storage: str = "the storage") -> list[tuple[str, list[str]]]:
    groups = []
    for name in names:
        if name in held:
            groups.append((name, [name]))
            continue
        seeded = sorted(
            (h for h in held if re.fullmatch(re.escape(name) + r"-s\d+", h)), key=lambda h: int(h.rsplit("-s", 1)[1])
        )
        if not seeded:
            raise StudyError(
                f"no study '{name}' (nor '{name}-s<seed>') in {storage}; it holds: "
                f"{', '.join(sorted(held)) or 'no study'}"
            )
        groups.append((name, seeded))
    return groups


def resolve_group(storage: str, name: str | None) -> tuple[str | None, list[str]]:
    """A study name, or a seed group's (``stage3`` for ``stage3-s60``, ``stage3-s61``): (the name, its studies).

    Raises:
        StudyError: Neither a study nor a seed group of that name.
    """
    if name is None:
        return None, [None]  # type: ignore[list-item]
    [(found, members)] = _expand([name], study_names(storage), redact(storage))
    return found, members


def _distance(space: Space | None, configs: Sequence[Mapping[str, Any]]) -> float | None:
    """Mean pairwise distance of configurations in the unit cube (categorical mismatch = 1), in [0, 1]."""
    if space is None or len(configs) < 2 or not space.params:
        return None
    total, pairs = 0.0, 0
    for i, a in enumerate(configs):
        for b in configs[i + 1 :]:
            parts = []
            for name, p in space.params.items():
                if name not in a and name not in b:
                    continue
                if name not in a or name not in b:
                    parts.append(1.0)
                elif isinstance(p, CategoricalParam):
                    parts.append(0.0 if a[name] == b[name] else 1.0)
                else:
                    parts.append(abs(p.to_unit(a[name]) - p.to_unit(b[name])))
            total += math.sqrt(sum(x * x for x in parts) / max(len(parts), 1))
            pairs += 1
    return total / pairs


def compare(
    storage: str,
    names: Sequence[str],
    *,
    margin: float = 0.0,
    max_distance: float = 0.3,
    ranking: Ranking | None = None,
    across: bool = False,
) -> Comparison:
    """Rank studies (or seed groups) by the trials each ran itself, and choose one, with the reasons.

    A warm-started stage is judged by its own trials: the history it inherited
    from its parent is the parent's result, not its own.

    Args:
        storage: Where the studies live.
        names: Study names; a name also matches its seeds ``NAME-s<seed>``.
        margin: How much better (in the objective's units) a space that
            searches more parameters must be to beat a simpler one; the seeds'
            spread is added when it is larger.
        max_distance: Seeds whose best params lie further apart than this
            (0 = the same point, 1 = opposite corners) have not settled on one
            optimum: such a group does not win against one whose seeds agree
            unless it is better by more than the tolerance, and a verdict for
            it is marked unsettled.
        ranking: The metric (and tie-breakers, conditions) trials are ranked by.
        across: Compare studies whose evaluation settings (``fixed``) differ,
            on purpose (tiers of a budget); the settings are named in the reasons.

    Raises:
        StudyError: A study is missing, ran no ranked trial of its own, or the
            studies cannot be compared (the reason is in the message).
    """
    if len(names) < 2:
        raise RefineError("--studies needs at least two studies to compare")
    if not margin >= 0 or not math.isfinite(margin):
        raise RefineError(f"--margin must be a finite number >= 0, got {margin}")
    if not 0 <= max_distance <= 1:
        raise RefineError(
            f"--max-distance must be in [0, 1] (0 = the same point, 1 = opposite corners), got {max_distance}"
        )
    twice = sorted({n for n in names if list(names).count(n) > 1})
    if twice:
        raise RefineError(f"--studies names {', '.join(repr(n) for n in twice)} twice: list each study once")
    held = study_names(storage)
    groups = _expand(names, held, redact(storage))
    summaries: list[GroupSummary] = []
    spaces: list[tuple[str, Space | None]] = []
    maximize = None
    for name, members in groups:
        bests: list[float] = []
        configs, space, direction, own = [], None, "", 0  # direction: set by each member (a group has one or more)
        for member in members:
            study = load_study(storage, member)
            if len(study.directions) > 1 and (ranking is None or ranking.keys[0][0] is None):
                raise StudyError(
                    f"study '{member}' is multi-objective: compare ranks single-objective studies only (or by --metric)"
                )
            ranked = ranked_trials(study, ranking, own=True)
            if not ranked:
                raise StudyError(f"{why_none(study, ranking, own=True)}: nothing to compare")
            key = ranking.keys[0][0] if ranking else None
            best = metric_value(ranked[0], key, objective_labels(study))
            assert best is not None  # a ranked trial has a value of the metric it is ranked by
            bests.append(best)
            configs.append(ranked[0].params)
            own += len(ranked)
            space = space or study_space(study)
            maximize = maximizes(study, ranking)
            direction = "maximize" if maximize else "minimize"
        score = statistics.fmean(bests)
        spread = (max(bests) - min(bests)) if len(bests) > 1 else 0.0
        searched = len(space.params) if space else len(configs[0])
        summaries.append(
            GroupSummary(
                name, tuple(members), tuple(bests), score, spread, _distance(space, configs), searched, direction, own
            )
        )
        spaces.append((name, space))
    shown = ranking.describe() if ranking else ""
    refused = _incomparable(summaries, spaces, across=across)
    if refused:
        return Comparison(tuple(summaries), None, (), refused, ranking=shown)
    sign = 1 if summaries[0].direction == "minimize" else -1
    ranked_groups = sorted(summaries, key=lambda g: sign * g.score)
    top = ranked_groups[0]

    def agrees(g: GroupSummary) -> bool:
        return g.param_distance is None or g.param_distance <= max_distance

    what = "the best mean of its seeds’ best values" if len(top.studies) > 1 else "the best value"
    reasons = [f"'{top.name}' has {what}, {top.score:.6g}, over its own {top.trials} trials"]
    if shown:
        reasons.append(f"trials ranked {shown}")
    if across:
        reasons.append("compared across evaluation settings on purpose (--across): " + _settings_named(spaces))
    winner = top
    for g in sorted(summaries, key=lambda g: (g.searched, sign * g.score)):
        if g is top or g.searched >= top.searched:
            continue
        tolerance = max(margin, top.spread, g.spread)
        if sign * (g.score - top.score) <= tolerance:
            winner = g
            reasons.append(
                f"'{g.name}' searches {g.searched} params against {top.searched} and is within "
                f"{tolerance:.4g} of '{top.name}' ({g.score:.6g} vs {top.score:.6g}): the simpler space wins"
            )
            break
    else:
        if not agrees(top):
            rival = next(
                (
                    g
                    for g in ranked_groups[1:]
                    if agrees(g) and sign * (g.score - top.score) <= max(margin, top.spread, g.spread)
                ),
                None,
            )
            if rival is not None:
                winner = rival
                reasons.append(
                    f"'{top.name}' seeds' best params lie {top.param_distance:.3f} apart (> --max-distance "
                    f"{max_distance:g}): "
                    f"they did not settle on one optimum, and '{rival.name}' ({rival.score:.6g}), whose seeds agree, "
                    f"is within {max(margin, top.spread, rival.spread):.4g} of it"
                )
        if winner is top and len(ranked_groups) > 1:
            second = ranked_groups[1]
            reasons.append(f"it beats '{second.name}' ({second.score:.6g}) by {abs(top.score - second.score):.4g}")
    for g in summaries:
        if len(g.studies) > 1:
            shown_d = "n/a" if g.param_distance is None else f"{g.param_distance:.3f}"
            reasons.append(
                f"'{g.name}': {len(g.studies)} seeds, spread of best values {g.spread:.4g}, distance between "
                f"best params {shown_d}"
            )
    settled = agrees(winner)
    if not settled:
        reasons.append(
            f"unsettled: the seeds of '{winner.name}' found optima {winner.param_distance:.3f} apart (> --max-distance "
            f"{max_distance:g}); run more trials or narrow the space before promoting its best"
        )
    if len(winner.studies) == 1:
        reasons.append("a single seed: run again with --seeds to tell a real gain from a lucky run")
    return Comparison(tuple(summaries), winner.name, tuple(reasons), settled=settled, ranking=shown)


def _settings_named(spaces: Sequence[tuple[str, Space | None]]) -> str:
    keys = sorted({k for _, s in spaces if s is not None for k in s.fixed})
    parts = []
    for name, s in spaces:
        if s is not None:
            differing = [k for k in keys if len({repr(o.fixed.get(k)) for _, o in spaces if o is not None}) > 1]
            parts.append(
                f"{name}: " + (", ".join(f"{k}={s.fixed.get(k, '<unset>')!r}" for k in differing) or "same settings")
            )
    return "; ".join(parts)


def _incomparable(
    groups: Sequence[GroupSummary], spaces: Sequence[tuple[str, Space | None]], *, across: bool = False
) -> str | None:
    directions = {g.direction for g in groups}
    if len(directions) > 1:
        return "the studies optimize different directions: " + ", ".join(f"{g.name}={g.direction}" for g in groups)
    known = [(n, s) for n, s in spaces if s is not None]
    metrics = {s.metric for _, s in known if s.metric}
    if len(metrics) > 1:
        return "the studies measure different metrics: " + ", ".join(f"{n}={s.metric_label}" for n, s in known)
    for i, (n1, s1) in enumerate(known):
        for n2, s2 in known[i + 1 :]:
            for key in sorted(set(s1.fixed) | set(s2.fixed)):
                # A fixed value the other space searches is a search decision; anything else is an evaluation setting.
                if key in s1.params or key in s2.params:
                    continue
                if s1.fixed.get(key, "<unset>") != s2.fixed.get(key, "<unset>") and not across:
                    return (
                        f"the evaluation settings differ: {key}={s1.fixed.get(key, '<unset>')!r} in '{n1}' "
                        f"but {key}={s2.fixed.get(key, '<unset>')!r} in '{n2}'; their values are not comparable "
                        "(--across compares tiers of a budget on purpose)"
                    )
    return None


def best_config(storage: str, study: str | None = None, *, ranking: Ranking | None = None) -> dict:
    """The winning configuration of a study, or of a seed group (``stage3`` for ``stage3-s60``, ``stage3-s61``, …).

    Returns ``params`` + ``fixed`` and ``config`` (both merged), judged by the
    trials the stage ran itself (a warm start's history is its parent's). For
    a seed group, ``study`` is the seed whose best won and ``group`` and
    ``seeds`` say what was searched.

    Raises:
        StudyError: No ranked trial of its own, or no such study or group.
    """
    group, members = resolve_group(storage, study)
    studies = [load_study(storage, m) for m in members]
    if len(studies) == 1:
        s = studies[0]
        ranked = ranked_trials(s, ranking, own=True)
        if not ranked:
            raise StudyError(why_none(s, ranking, own=True))
        top = ranked[0]
    else:
        found = best_of(studies, ranking, own=True)
        if found is None:
            raise StudyError(
                f"no seed of '{group}' ran a ranked trial of its own: " + why_none(studies[0], ranking, own=True)
            )
        s, top = found
    try:
        space = study_space(s)
    except RefineError as e:  # the fixed values are in that space: a config without them would launch the wrong run
        raise StudyError(
            f"{e}; best needs the space the study remembers for its fixed values (`refine show` lists the trials' "
            "params without it)"
        ) from None
    fixed = dict(space.fixed) if space else {}
    out: dict[str, Any] = {
        "study": s.study_name,
        "storage": redact(storage),
        "trial": top.number,
        "values" if len(top.values) > 1 else "value": list(top.values) if len(top.values) > 1 else top.values[0],
        "params": dict(top.params),
        "fixed": fixed,
        "config": {**fixed, **top.params},
    }
    if len(studies) > 1:
        out["group"] = group
        out["seeds"] = [m.study_name for m in studies]
    if ranking is not None and not ranking.default:
        out["ranked"] = ranking.describe()
        out["metrics"] = {n: metric_value(top, n, objective_labels(s)) for n, _ in ranking.keys if n is not None}
    if space is not None:
        out["space"] = f"{space.name} v{space.version}"
    if len(s.directions) > 1:
        out["pareto_front"] = pareto_size(s, own=True)
    return out


_PY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def promote(config: Mapping[str, Any], path: str) -> list[str]:
    """Write ``config`` into a constants file where the seeds' sweep reads it: YAML, JSON or Python, by extension.

    A YAML or JSON file keeps its other keys (it must hold a mapping); a
    Python file keeps everything but the assignments of these names (``lr``
    is written as ``LR`` when the file spells its constants in capitals), and
    gains the ones it lacks at its end. The file is replaced whole, never
    half-written.

    Returns:
        The keys written.

    Raises:
        RefineError: Unknown extension, a file that is not a mapping or not valid Python, or a key that is no Python
        name.
    """
    import json
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    suffix = target.suffix.lower()
    text = target.read_text() if target.exists() else ""
    if suffix in (".yaml", ".yml", ".json"):
        import yaml

        try:
            current = (json.loads(text) if suffix == ".json" else yaml.safe_load(text)) if text.strip() else {}
        except (ValueError, yaml.YAMLError) as e:
            raise RefineError(
                f"--promote {path}: not valid {suffix[1:].upper()} ({str(e).splitlines()[0]}); fix or remove it"
            ) from None
        if not isinstance(current, dict):
            raise RefineError(
                f"--promote {path} holds a {type(current).__name__}, not a mapping of constants; give another file"
            )
        current.update(config)
        new = (
            json.dumps(current, indent=2, default=str) + "\n"
            if suffix == ".json"
            else yaml.safe_dump(current, sort_keys=False)
        )
    elif suffix == ".py":
        new = _promote_python(text, config, path)
    else:
        raise RefineError(
            f"--promote {path}: the file must end in .yaml, .yml, .json or .py (the format is chosen by it)"
        )
    fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(new)
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o777)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return list(config)


def _promote_python(text: str, config: Mapping[str, Any], path: str) -> str:
    import ast

    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise RefineError(f"--promote {path}: not valid Python (line {e.lineno}: {e.msg}); fix it first") from None
    for key in config:
        if not _PY_NAME.match(key):
            raise RefineError(f"--promote {path}: '{key}' is no Python name; promote into a YAML or JSON file instead")
    assigned: dict[str, tuple[int, int]] = {}
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if len(targets) == 1 and isinstance(targets[0], ast.Name):
            assigned[targets[0].id] = (node.lineno, node.end_lineno or node.lineno)
    upper = sum(n.isupper() for n in assigned) > len(assigned) / 2
    lines = text.splitlines()
    missing, spans = [], []
    for key, value in config.items():
        name = key if key in assigned else key.upper() if key.upper() in assigned else None
        if name is None:
            missing.append(f"{key.upper() if upper else key} = {value!r}")
            continue
        start, end = assigned[name]
        first = lines[start - 1]
        head = first[: first.index("=")].rstrip() if "=" in first else name
        spans.append((start, end, f"{head} = {value!r}"))
    for start, end, line in sorted(spans, reverse=True):
        lines[start - 1 : end] = [line]
    lines += missing
    return "\n".join(lines) + "\n"
