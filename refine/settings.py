"""Every threshold of the engine and the rules, with its default and meaning.

Settings come from, in increasing priority: the defaults below, a config file
(``[tool.refine]`` in ``pyproject.toml`` or a ``refine.toml`` in the current
directory), API keyword arguments, and CLI flags (``--set key=value``). Plugins
read their own keys (``name.key``) from :attr:`Settings.extra`; a plugin that
declares them (hook ``refine_add_settings``, :class:`PluginSettings`) gets
their defaults filled in, their values converted, and its users' typos refused.
"""

from __future__ import annotations

import functools
import math
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import attrs
from attrs import field, frozen

from refine.errors import RefineError

if TYPE_CHECKING:
    from refine.plugin_settings import (
        Declared,
        PluginSettings,
        apply_plugin_settings,
    )

__all__ = [
    "Settings",
    "Setting",
    "engine_settings",
    "PluginSettings",
    "Declared",
    "load_settings",
    "apply_plugin_settings",
    "DOCS",
]

# What a plugin declares lives in refine.plugin_settings; its names are still read from here.
_PLUGIN_SETTINGS = ("Declared", "PluginSettings", "apply_plugin_settings", "declare_builtin", "engine_setting")

#: The values a number may take: (low, high, low included, high included); None: unbounded.
Range = tuple[float | None, float | None, bool, bool]

_INTERVAL = re.compile(r"([\[(])(-inf|[-+.\d]+), (inf|[-+.\d]+)([\])])")


def _interval(text: str) -> Range:
    """``"(0, 1]"`` as ``(0.0, 1.0, False, True)``; ``inf`` and ``-inf`` are unbounded ends."""
    match = _INTERVAL.fullmatch(text)
    if match is None:
        raise ValueError(f"a setting's range is an interval such as '(0, 1]' or '[1, inf)', got {text!r}")
    opening, low, high, closing = match.groups()
    return (
        None if low == "-inf" else float(low),
        None if high == "inf" else float(high),
        opening == "[",
        closing == "]",
    )


def _setting(
    default: Any,
    owner: str,
    *,
    help: str,
    range: str | None = None,
    flag: str | None = None,
    shown: str | None = None,
    **kwargs: Any,
) -> Any:
    """Declare a setting, once: its default, owning rule, meaning, valid range (an interval: ``"(0, 1]"``),
    CLI flag, and how its default is shown where the value is not what a user reads (``shown``).

    ``--help`` (next-space's epilog), ``refine plugins``, the range checks, the
    error messages and the README's settings table (:func:`settings_table`) are
    all read from here, through :func:`engine_settings`.
    """
    if range is not None:
        _interval(range)  # a malformed range fails at import, not when a user sets the value
    meta = {"help": help, "owner": owner, "range": range, "flag": flag, "shown": shown}
    return field(default=default, metadata={"refine": meta}, **kwargs)


@frozen(kw_only=True)
class Settings:
    """Thresholds of the evidence and the built-in rules (all configurable), each declared once."""

    elite_fraction: float = _setting(
        0.2, "evidence", range="(0, 1]", flag="--elite-fraction", help="share of COMPLETE trials that are elites"
    )
    min_elites: int = _setting(5, "evidence", range="[1, inf)", help="at least this many elites")
    metric: str | None = _setting(
        None, "evidence", flag="--metric", help="rank by a trial user attribute instead of the objective"
    )
    metric_direction: str | None = _setting(
        None,
        "evidence",
        flag="--metric-direction",
        shown="the study's",
        help="`maximize` or `minimize`: which way the metric is better (required for a multi-objective study)",
    )
    then: tuple[str, ...] = _setting(
        (),
        "evidence",
        flag="--then",
        converter=lambda v: _names(v),
        help="break ties of the metric by these keys in turn, `NAME` or `NAME:max` / `NAME:min` (repeatable; `,` "
        "between several in `--set`)",
    )
    where: tuple[str, ...] = _setting(
        (),
        "evidence",
        flag="--where",
        converter=lambda v: _names(v, sep=";"),
        help='rank only trials keeping these conditions, `"recall >= 0.5"` (repeatable; `;` between several in '
        "`--set`)",
    )
    fair_trial: int = _setting(
        20,
        "engine",
        range="[1, inf)",
        flag="--fair-trial",
        help="trials a choice needs before it is judged; `refine run` also reserves a weighted choice "
        "min(`fair_trial`, its weight's share) of a stage",
    )
    min_complete: int = _setting(10, "engine", range="[1, inf)", help="below this many ranked trials nothing changes")
    fix_convergence: float = _setting(1.0, "fix", range="(0, 1]", help="share of elites on one value needed to fix")
    fix_effect: float = _setting(
        0.05,
        "fix",
        range="[0, inf)",
        help="relative effect vs the closest rival needed to fix: the difference of medians over the best one's "
        "size, so 0.05 is 5 % of the metric (an objective near 0, or offset by a constant, wants its own "
        "value)",
    )
    fix_p: float = _setting(0.10, "fix", range="(0, 1]", help="p-value needed to fix (Kruskal-Wallis / Mann-Whitney)")
    overwhelming_p: float = _setting(
        0.001, "fix", range="(0, 1]", help="with such p, 90 % convergence is enough to fix"
    )
    edge_zone: float = _setting(0.1, "evidence", range="(0, 0.5)", help="share of a range at each end that is its edge")
    expand_crowd: float = _setting(
        0.3, "expand", range="(0, 1]", help="share of elites in an edge zone that counts as crowding"
    )
    expand_factor: float = _setting(
        0.75, "expand", range="(0, 10]", help="how far a bound moves, as a share of the width (log-aware)"
    )
    expand_p: float = _setting(
        0.2,
        "expand",
        range="(0, 1]",
        help="p of the trend toward the boundary needed to expand (without a trend: the best trial at that edge, "
        "twice `expand_crowd` there, and that crowd beyond chance at the same p)",
    )
    narrow_p: float = _setting(0.10, "narrow", range="(0, 1]", help="p (elites vs the rest, KS) needed to narrow")
    narrow_margin: float = _setting(
        0.25, "narrow", range="[0, inf)", help="margin around the elite interval, share of its width"
    )
    narrow_min_margin: float = _setting(
        0.1, "narrow", range="[0, 0.5)", help="the least margin on each side, share of the whole range"
    )
    narrow_min_shrink: float = _setting(
        0.2, "narrow", range="[0, 1)", help="narrow only if the range shrinks by this share"
    )
    narrow_keep_elites: bool = _setting(
        True,
        "narrow",
        help="a narrowed range contains every elite (false: the central 90 % of them; always the best trial)",
    )
    bias_weight: float = _setting(0.75, "bias", range="(0, 1)", help="weight of a dominant categorical choice")
    bias_dominance: float = _setting(0.6, "bias", range="(0, 1]", help="share of elites that makes a choice dominant")
    bias_p: float = _setting(
        0.10,
        "bias",
        range="(0, 1]",
        help="p needed to raise a choice's weight above its share of the trials: its elite share beats that share "
        "(binomial), or it has the best median and the choices differ (Kruskal-Wallis)",
    )
    expand_max_decades: float = _setting(
        1.0, "expand", range="(0, 10]", help="the most a log bound moves in one step, in decades"
    )
    multiple_testing: bool = _setting(
        True,
        "evidence",
        help="correct every p threshold over the searched parameters (Holm's step-down: the smallest p must beat "
        "threshold / m, the next threshold / (m - 1), ...)",
    )
    noise_ratio: float = _setting(
        0.5,
        "evidence",
        range="[0, inf)",
        help="best - median below this share of the noise spread is flagged (the spread of repeated "
        "configurations, else the elites' interquartile range; never every trial's, which failed runs "
        "inflate)",
    )
    baseline: float | None = _setting(
        None, "evidence", range="(-inf, inf)", flag="--baseline", help="chance level; a best value near it is flagged"
    )
    include_pruned: bool = _setting(False, "evidence", help="rank PRUNED trials by their last intermediate value")
    contemporary_reference: bool = _setting(
        True,
        "evidence",
        help="compare elites with the trials run alongside them, not early exploration (edge crowding, and a fix: "
        "judged against the trials at other values or choices run alongside the elites (at least 3))",
    )
    disabled: tuple[str, ...] = _setting((), "engine", flag="--disable", converter=tuple, help="rules to leave out")
    extra: dict[str, Any] = field(factory=dict, hash=False)
    #: where each key of ``extra`` was set (a config file's path, or the flags/API), for error messages
    origins: dict[str, str] = field(factory=dict, hash=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.metric is not None and (not isinstance(self.metric, str) or not self.metric.strip()):
            raise RefineError(f"setting 'metric' must name a user attribute of the trials, got {self.metric!r}")
        if self.metric_direction is not None:
            if self.metric_direction not in ("minimize", "maximize"):
                raise RefineError(
                    f"setting 'metric_direction' must be minimize or maximize, got {self.metric_direction!r}"
                )
            if self.metric is None:
                raise RefineError(
                    "setting 'metric_direction' says which way the metric is better: give 'metric' too (--metric NAME)"
                )
        if self.then or self.where:
            from refine.ranking import Ranking

            Ranking.parse(self.metric, self.then, self.where, self.metric_direction)  # a malformed key is bad input
        for name in _RANGES:
            problem = check_setting(name, getattr(self, name))
            if problem:
                raise RefineError(problem)


def _names(value: Any, sep: str = ",") -> tuple[str, ...]:
    """A tuple of strings from a tuple, a list, or one string separated by ``sep`` (as ``--set then=recall,f1`` gives
    it)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(sep) if v.strip())
    return tuple(str(v) for v in value)


@frozen
class Setting:
    """One engine setting as declared (:func:`_setting`): what ``--help``, ``refine plugins`` and the README show."""

    name: str
    default: Any
    owner: str
    help: str
    #: the values a number may take, as an interval (``"(0, 1]"``); None: any value of its type
    range: str | None = None
    flag: str | None = None
    #: the default as a reader sees it: ``–`` for None, ``true``/``false``, or what the declaration says
    shown: str = ""


def _shown(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@functools.cache
def engine_settings() -> tuple[Setting, ...]:
    """The engine's settings, in declaration order, each as it was declared once in :class:`Settings`."""
    out = []
    for f in attrs.fields(Settings):
        d = f.metadata.get("refine")
        if d is not None:
            shown = d["shown"] or _shown(f.default)
            out.append(Setting(f.name, f.default, d["owner"], d["help"], d["range"], d["flag"], shown))
    return tuple(out)


_RANGES: dict[str, Range] = {s.name: _interval(s.range) for s in engine_settings() if s.range is not None}

#: Each setting's meaning, as declared.
DOCS: dict[str, str] = {s.name: s.help for s in engine_settings()}


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
        span = next(s.range for s in engine_settings() if s.name == name)
        return f"setting '{name}' ({DOCS.get(name, '')}) must be in {span}, got {value!r}"
    return None


def settings_table() -> str:
    """The README's settings table (Markdown), made from the declarations: the engine's, then the built-in rules'.

    ``tests/test_settings.py`` fails when README.md holds another; rewrite it
    with ``python scripts/settings_table.py``.
    """
    lines = ["| setting | default | range | rule | meaning |", "|---|---|---|---|---|"]
    for s in engine_settings():
        meaning = s.help + (f" (`{s.flag}`)" if s.flag else "")
        lines.append(f"| `{s.name}` | {s.shown} | {s.range or ''} | {s.owner} | {meaning} |")
    from refine.plugins import BUILTIN_RULES, Hooks, get_plugin_manager

    # a built-in rule declares its own settings through the hook a third party uses; those that are
    # the new names of the settings above are listed in one row, the others one by one
    declared = [
        d for d in Hooks(get_plugin_manager()).declared_settings().declared.values() if d.plugin in BUILTIN_RULES
    ]
    renamed = [d for d in declared if d.alias is not None]
    if renamed:
        names = ", ".join(f"`{d.key}` (`{d.alias}`)" for d in renamed)
        lines.append(
            f"| {', '.join(f'`{d.key}`' for d in renamed[:2])}, ... | | | rules | each built-in rule also declares its "
            f"settings under its own name (`refine_add_settings`, as a plugin does): {names}. The names above stay "
            "aliases: either sets both, and setting both to different values is an error |"
        )
    for d in declared:
        if d.alias is None:
            lines.append(f"| `{d.key}` | {_shown(d.default)} | | {d.plugin} | {d.help} |")
    return "\n".join(lines)


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


def coerce_setting(name: str, value: Any, where: str) -> Any:
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
    origins: dict[str, str] = {}
    sources: list[tuple[str, Mapping[str, Any]]] = []
    if config:
        config_doc = _read_config(Path(cwd or Path.cwd()))
        if config_doc:
            sources.append((config_doc.pop("__file__"), config_doc))
    if overrides:
        sources.append(("from --set, a flag or the API", overrides))
    for where, doc in sources:
        for key, value in doc.items():
            key = key.replace("-", "_") if "." not in key else key
            if isinstance(value, Mapping) and key not in known:
                for sub, v in value.items():
                    extra[f"{key}.{sub}"] = v
                    origins[f"{key}.{sub}"] = where
                continue
            if key in known and key not in ("extra", "origins"):
                origins[key] = where
                values[key] = coerce_setting(key, value, where)
                problem = check_setting(key, values[key])
                if problem:
                    raise RefineError(f"{problem} ({where})")
            elif "." in key:
                extra[key] = value
                origins[key] = where
            else:
                names = [k for k in known if k not in ("extra", "origins")]
                raise RefineError(
                    unknown_setting(
                        f"unknown setting '{key}' ({where})", key, names, f"known settings: {', '.join(names)}"
                    )
                )
    try:
        return Settings(**values, extra=extra, origins=origins)
    except (TypeError, ValueError) as e:
        raise RefineError(f"invalid settings: {e}") from None


def unknown_setting(message: str, key: str, candidates: Iterable[str], rest: str) -> str:
    """``message``, the nearest of ``candidates`` to ``key`` as a question when there is one, then ``rest``."""
    import difflib

    close = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.75)
    if close:
        return f"{message}; did you mean '{close[0]}'? {rest[:1].upper()}{rest[1:]}"
    return f"{message}; {rest}"


def __getattr__(name: str) -> Any:
    """The plugin-settings names, from :mod:`refine.plugin_settings` (imported on first use: it imports this module)."""
    if name in _PLUGIN_SETTINGS:
        from refine import plugin_settings

        return getattr(plugin_settings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
