"""Every threshold of the engine and the rules, with its default and meaning.

Settings come from, in increasing priority: the defaults below, a config file
(``[tool.refine]`` in ``pyproject.toml`` or a ``refine.toml`` in the current
directory), API keyword arguments, and CLI flags (``--set key=value``). Plugins
read their own keys from :attr:`Settings.extra`.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Mapping

import attrs
from attrs import field, frozen

from refine.errors import RefineError

__all__ = ["Settings", "load_settings", "DOCS"]


@frozen(kw_only=True)
class Settings:
    """Thresholds of the evidence and the built-in rules (all configurable)."""

    elite_fraction: float = 0.2
    min_elites: int = 5
    metric: str | None = None
    fair_trial: int = 20
    min_complete: int = 10
    fix_convergence: float = 1.0
    fix_effect: float = 0.05
    fix_p: float = 0.10
    overwhelming_p: float = 0.001
    edge_zone: float = 0.1
    expand_crowd: float = 0.3
    expand_factor: float = 0.75
    expand_p: float = 0.2
    narrow_p: float = 0.10
    narrow_margin: float = 0.25
    narrow_min_margin: float = 0.1
    narrow_min_shrink: float = 0.2
    narrow_keep_elites: bool = True
    bias_weight: float = 0.75
    bias_dominance: float = 0.6
    bias_p: float = 0.10
    expand_max_decades: float = 1.0
    multiple_testing: bool = True
    noise_ratio: float = 0.5
    baseline: float | None = None
    include_pruned: bool = False
    contemporary_reference: bool = True
    disabled: tuple[str, ...] = field(default=(), converter=tuple)
    extra: dict[str, Any] = field(factory=dict, hash=False)

    def __attrs_post_init__(self) -> None:
        for name in _RANGES:
            problem = check_setting(name, getattr(self, name))
            if problem:
                raise RefineError(problem)


# the values each number may take: (low, high, low included, high included); None: unbounded
_P = (0.0, 1.0, False, True)
_SHARE = (0.0, 1.0, False, True)
_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "elite_fraction": _SHARE,
    "min_elites": (1, None, True, False),
    "fair_trial": (1, None, True, False),
    "min_complete": (1, None, True, False),
    "fix_convergence": _SHARE,
    "fix_effect": (0.0, None, True, False),
    "fix_p": _P,
    "overwhelming_p": _P,
    "edge_zone": (0.0, 0.5, False, False),
    "expand_crowd": _SHARE,
    "expand_factor": (0.0, None, False, False),
    "expand_p": _P,
    "narrow_p": _P,
    "narrow_margin": (0.0, None, True, False),
    "narrow_min_margin": (0.0, 0.5, True, False),
    "narrow_min_shrink": (0.0, 1.0, True, False),
    "bias_weight": (0.0, 1.0, False, False),
    "bias_dominance": _SHARE,
    "bias_p": _P,
    "expand_max_decades": (0.0, None, False, False),
    "noise_ratio": (0.0, None, True, False),
    "baseline": (None, None, False, False),
}


def check_setting(name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``name`` (None when it is)."""
    if name not in _RANGES or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"setting '{name}' must be a number, got {value!r}"
    default = attrs.fields_dict(Settings)[name].default
    if isinstance(default, int) and not isinstance(value, int):
        return f"setting '{name}' must be an integer, got {value!r}"
    low, high, low_in, high_in = _RANGES[name]
    below = low is not None and (value < low or (value == low and not low_in))
    above = high is not None and (value > high or (value == high and not high_in))
    if not math.isfinite(value) or below or above:
        if low is None and high is None:
            return f"setting '{name}' must be a finite number, got {value!r}"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        span = f"{'[' if low_in else '('}{lo}, {hi}{']' if high_in else ')'}"
        return f"setting '{name}' ({DOCS.get(name, '')}) must be in {span}, got {value!r}"
    return None


DOCS: dict[str, str] = {
    "elite_fraction": "share of COMPLETE trials (by objective) that are elites",
    "min_elites": "at least this many elites (all trials when fewer)",
    "metric": "rank by this trial user attribute instead of the objective",
    "fair_trial": "trials a choice needs before it may be judged (removed or fixed against)",
    "min_complete": "below this many COMPLETE trials nothing changes (red flag)",
    "fix_convergence": "share of elites on one value needed to fix a parameter",
    "fix_effect": "relative effect (best choice vs the rest) needed to fix",
    "fix_p": "p-value below which the effect counts as real for fixing",
    "overwhelming_p": "p-value that counts as overwhelming evidence (fix with 90 % of the required convergence)",
    "edge_zone": "share of a range, at each end, that counts as its edge",
    "expand_crowd": "share of elites in an edge zone that counts as crowding the boundary",
    "expand_factor": "how far an expansion moves a bound, as a share of the range's width (log-aware)",
    "expand_p": "p-value of the trend toward a boundary needed to expand",
    "narrow_p": "p-value (elites vs the rest, KS test) needed to narrow",
    "narrow_margin": "margin added on each side of the elite interval, as a share of its width",
    "narrow_min_margin": "the least margin on each side, as a share of the whole range (own scale)",
    "narrow_min_shrink": "narrow only when the range shrinks by at least this share",
    "narrow_keep_elites": "the narrowed range contains every elite (else the central 90 %)",
    "bias_weight": "weight given to a dominant categorical choice",
    "bias_dominance": "share of elites on one choice that makes it dominant",
    "bias_p": "p-value needed to raise a choice's weight (binomial: more elites than its share of trials predicts; or Kruskal-Wallis with the best median)",
    "expand_max_decades": "the most a log parameter's bound moves in one step, in decades",
    "multiple_testing": "correct every p-value threshold over the searched parameters (Holm's step-down: the smallest p must beat threshold/m, the next threshold/(m-1), ...)",
    "noise_ratio": "best minus median within this share of the spread is a red flag (near noise)",
    "baseline": "an objective value that counts as chance level (red flag when the best is near it)",
    "include_pruned": "rank PRUNED trials by their last intermediate value as well",
    "contemporary_reference": "judge edge crowding against the non-elites run alongside the elites (from their first quartile of trial numbers on), not early exploration",
    "disabled": "rule plugins to leave out, by name",
}


def _read_config(cwd: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    for name, section in (("refine.toml", None), ("pyproject.toml", ("tool", "refine"))):
        path = cwd / name
        if not path.is_file():
            continue
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise RefineError(f"{path} is not valid TOML: {e}") from None
        if section is not None:
            for key in section:
                doc = doc.get(key, {})
                if not isinstance(doc, dict):
                    doc = {}
            if not doc:
                continue
        return {"__file__": str(path), **doc}
    return {}


def _coerce(name: str, value: Any, where: str) -> Any:
    fields = attrs.fields_dict(Settings)
    default = fields[name].default
    if isinstance(value, str):
        text = value.strip()
        if isinstance(default, bool):
            if text.lower() in ("true", "1", "yes", "on"):
                return True
            if text.lower() in ("false", "0", "no", "off"):
                return False
            raise RefineError(f"setting '{name}' must be true or false ({where}), got {value!r}")
        if name == "disabled":
            return tuple(s.strip() for s in text.split(",") if s.strip())
        if isinstance(default, int) and not isinstance(default, bool):
            try:
                return int(text)
            except ValueError:
                raise RefineError(f"setting '{name}' must be an integer ({where}), got {value!r}") from None
        if isinstance(default, float) or name == "baseline":
            try:
                return float(text)
            except ValueError:
                raise RefineError(f"setting '{name}' must be a number ({where}), got {value!r}") from None
        return text
    return value


def load_settings(
    overrides: Mapping[str, Any] | None = None, *, cwd: str | Path | None = None, config: bool = True
) -> Settings:
    """Build the settings: defaults, then the config file, then ``overrides``.

    Unknown keys that are not the engine's go to :attr:`Settings.extra` (for
    plugins) when they contain a dot (``protect.params``); any other unknown
    key is an error naming it.

    Raises:
        RefineError: An unknown key or a value of the wrong type.
    """
    known = attrs.fields_dict(Settings)
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    sources: list[tuple[str, Mapping[str, Any]]] = []
    if config:
        doc = _read_config(Path(cwd or Path.cwd()))
        if doc:
            where = doc.pop("__file__")
            sources.append((where, doc))
    if overrides:
        sources.append(("from --set, a flag or the API", overrides))
    for where, doc in sources:
        for key, value in doc.items():
            key = key.replace("-", "_") if "." not in key else key
            if isinstance(value, Mapping) and key not in known:
                for sub, v in value.items():
                    extra[f"{key}.{sub}"] = v
                continue
            if key in known and key != "extra":
                values[key] = _coerce(key, value, where)
                problem = check_setting(key, values[key])
                if problem:
                    raise RefineError(f"{problem} ({where})")
            elif "." in key:
                extra[key] = value
            else:
                raise RefineError(
                    f"unknown setting '{key}' ({where}); known settings: {', '.join(k for k in known if k != 'extra')}"
                )
    try:
        return Settings(**values, extra=extra)
    except (TypeError, ValueError) as e:
        raise RefineError(f"invalid settings: {e}") from None
