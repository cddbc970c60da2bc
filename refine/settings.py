"""Every threshold of the engine and the rules, with its default and meaning.

Settings come from, in increasing priority: the defaults below, a config file
(``[tool.refine]`` in ``pyproject.toml`` or a ``refine.toml`` in the current
directory), API keyword arguments, and CLI flags (``--set key=value``). Plugins
read their own keys (``name.key``) from :attr:`Settings.extra`; a plugin that
declares them (hook ``refine_add_settings``, :class:`PluginSettings`) gets
their defaults filled in, their values converted, and its users' typos refused.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import attrs
from attrs import field, frozen

from refine.errors import RefineError

__all__ = ["Settings", "PluginSettings", "Declared", "load_settings", "apply_plugin_settings", "DOCS"]


# the values each number may take: (low, high, low included, high included); None: unbounded
_P = (0.0, 1.0, False, True)
_SHARE = (0.0, 1.0, False, True)
Range = tuple[float | None, float | None, bool, bool]


def _setting(
    default: Any,
    help: str,
    *,
    owner: str,
    range: Range | None = None,
    flag: str | None = None,
    shown: str | None = None,
    **kwargs: Any,
) -> Any:
    """Declare a setting, once: its default, meaning, owning rule, valid range and CLI flag.

    ``--help`` (next-space's epilog), the range checks, the error messages and
    the README's settings table (:func:`settings_table`) are all read from here.
    """
    meta = {"help": help, "owner": owner, "range": range, "flag": flag, "shown": shown}
    return field(default=default, metadata={"refine": meta}, **kwargs)


@frozen(kw_only=True)
class Settings:
    """Thresholds of the evidence and the built-in rules (all configurable), each declared once."""

    elite_fraction: float = _setting(
        0.2,
        "share of COMPLETE trials that are elites",
        owner="evidence",
        range=_SHARE,
        flag="--elite-fraction",
    )
    min_elites: int = _setting(
        5,
        "at least this many elites",
        owner="evidence",
        range=(1, None, True, False),
    )
    metric: str | None = _setting(
        None,
        "rank by a trial user attribute instead of the objective",
        owner="evidence",
        flag="--metric",
    )
    metric_direction: str | None = _setting(
        None,
        "`maximize` or `minimize`: which way the metric is better (required for a multi-objective study)",
        owner="evidence",
        flag="--metric-direction",
        shown="the study's",
    )
    then: tuple[str, ...] = _setting(
        (),
        "break ties of the metric by these keys in turn, `NAME` or `NAME:max` / `NAME:min` (repeatable; `,` "
        "between several in `--set`)",
        owner="evidence",
        flag="--then",
        converter=lambda v: _names(v),
    )
    where: tuple[str, ...] = _setting(
        (),
        'rank only trials keeping these conditions, `"recall >= 0.5"` (repeatable; `;` between several in `--set`)',
        owner="evidence",
        flag="--where",
        converter=lambda v: _names(v, sep=";"),
    )
    fair_trial: int = _setting(
        20,
        "trials a choice needs before it is judged; `refine run` also reserves a weighted choice min(`fair_trial`, its "
        "weight's share) of a stage",
        owner="engine",
        range=(1, None, True, False),
        flag="--fair-trial",
    )
    min_complete: int = _setting(
        10,
        "below this many ranked trials nothing changes",
        owner="engine",
        range=(1, None, True, False),
    )
    fix_convergence: float = _setting(
        1.0,
        "share of elites on one value needed to fix",
        owner="fix",
        range=_SHARE,
    )
    fix_effect: float = _setting(
        0.05,
        "relative effect vs the closest rival needed to fix: the difference of medians over the best one's "
        "size, so 0.05 is 5 % of the metric (an objective near 0, or offset by a constant, wants its own "
        "value)",
        owner="fix",
        range=(0.0, None, True, False),
    )
    fix_p: float = _setting(
        0.10,
        "p-value needed to fix (Kruskal-Wallis / Mann-Whitney)",
        owner="fix",
        range=_P,
    )
    overwhelming_p: float = _setting(
        0.001,
        "with such p, 90 % convergence is enough to fix",
        owner="fix",
        range=_P,
    )
    edge_zone: float = _setting(
        0.1,
        "share of a range at each end that is its edge",
        owner="evidence",
        range=(0.0, 0.5, False, False),
    )
    expand_crowd: float = _setting(
        0.3,
        "share of elites in an edge zone that counts as crowding",
        owner="expand",
        range=_SHARE,
    )
    expand_factor: float = _setting(
        0.75,
        "how far a bound moves, as a share of the width (log-aware)",
        owner="expand",
        range=(0.0, 10.0, False, True),
    )
    expand_p: float = _setting(
        0.2,
        "p of the trend toward the boundary needed to expand (without a trend: the best trial at that edge, "
        "twice `expand_crowd` there, and that crowd beyond chance at the same p)",
        owner="expand",
        range=_P,
    )
    narrow_p: float = _setting(
        0.10,
        "p (elites vs the rest, KS) needed to narrow",
        owner="narrow",
        range=_P,
    )
    narrow_margin: float = _setting(
        0.25,
        "margin around the elite interval, share of its width",
        owner="narrow",
        range=(0.0, None, True, False),
    )
    narrow_min_margin: float = _setting(
        0.1,
        "the least margin on each side, share of the whole range",
        owner="narrow",
        range=(0.0, 0.5, True, False),
    )
    narrow_min_shrink: float = _setting(
        0.2,
        "narrow only if the range shrinks by this share",
        owner="narrow",
        range=(0.0, 1.0, True, False),
    )
    narrow_keep_elites: bool = _setting(
        True,
        "a narrowed range contains every elite (false: the central 90 % of them; always the best trial)",
        owner="narrow",
    )
    bias_weight: float = _setting(
        0.75,
        "weight of a dominant categorical choice",
        owner="bias",
        range=(0.0, 1.0, False, False),
    )
    bias_dominance: float = _setting(
        0.6,
        "share of elites that makes a choice dominant",
        owner="bias",
        range=_SHARE,
    )
    bias_p: float = _setting(
        0.10,
        "p needed to raise a choice's weight above its share of the trials: its elite share beats that share "
        "(binomial), or it has the best median and the choices differ (Kruskal-Wallis)",
        owner="bias",
        range=_P,
    )
    expand_max_decades: float = _setting(
        1.0,
        "the most a log bound moves in one step, in decades",
        owner="expand",
        range=(0.0, 10.0, False, True),
    )
    multiple_testing: bool = _setting(
        True,
        "correct every p threshold over the searched parameters (Holm's step-down: the smallest p must beat "
        "threshold / m, the next threshold / (m - 1), ...)",
        owner="evidence",
    )
    noise_ratio: float = _setting(
        0.5,
        "best - median below this share of the noise spread is flagged (the spread of repeated "
        "configurations, else the elites' interquartile range; never every trial's, which failed runs "
        "inflate)",
        owner="evidence",
        range=(0.0, None, True, False),
    )
    baseline: float | None = _setting(
        None,
        "chance level; a best value near it is flagged",
        owner="evidence",
        range=(None, None, False, False),
        flag="--baseline",
    )
    include_pruned: bool = _setting(
        False,
        "rank PRUNED trials by their last intermediate value",
        owner="evidence",
    )
    contemporary_reference: bool = _setting(
        True,
        "compare elites with the trials run alongside them, not early exploration (edge crowding, and a fix: "
        "judged against the trials at other values or choices run alongside the elites (at least 3))",
        owner="evidence",
    )
    disabled: tuple[str, ...] = _setting(
        (),
        "rules to leave out",
        owner="engine",
        flag="--disable",
        converter=tuple,
    )
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


def _declarations() -> dict[str, dict[str, Any]]:
    return {f.name: f.metadata["refine"] for f in attrs.fields(Settings) if "refine" in f.metadata}


_RANGES: dict[str, Range] = {name: d["range"] for name, d in _declarations().items() if d["range"] is not None}

#: Each setting's meaning, as declared.
DOCS: dict[str, str] = {name: d["help"] for name, d in _declarations().items()}


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


def _shown(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def settings_table() -> str:
    """The README's settings table (Markdown), made from the declarations: the engine's, then the built-in rules'.

    ``tests/test_settings.py`` fails when README.md holds another; rewrite it
    with ``python -m refine.settings --write-readme``.
    """
    lines = ["| setting | default | rule | meaning |", "|---|---|---|---|"]
    for f in attrs.fields(Settings):
        d = f.metadata.get("refine")
        if d is None:
            continue
        default = d["shown"] or _shown(f.default)
        meaning = d["help"] + (f" (`{d['flag']}`)" if d["flag"] else "")
        lines.append(f"| `{f.name}` | {default} | {d['owner']} | {meaning} |")
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
            f"| {', '.join(f'`{d.key}`' for d in renamed[:2])}, ... | | rules | each built-in rule also declares its "
            f"settings under its own name (`refine_add_settings`, as a plugin does): {names}. The names above stay "
            "aliases: either sets both, and setting both to different values is an error |"
        )
    for d in declared:
        if d.alias is None:
            lines.append(f"| `{d.key}` | {_shown(d.default)} | {d.plugin} | {d.help} |")
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
    origins: dict[str, str] = {}
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
                    origins[f"{key}.{sub}"] = where
                continue
            if key in known and key not in ("extra", "origins"):
                origins[key] = where
                values[key] = _coerce(key, value, where)
                problem = check_setting(key, values[key])
                if problem:
                    raise RefineError(f"{problem} ({where})")
            elif "." in key:
                extra[key] = value
                origins[key] = where
            else:
                names = [k for k in known if k not in ("extra", "origins")]
                raise RefineError(
                    _unknown(f"unknown setting '{key}' ({where})", key, names, f"known settings: {', '.join(names)}")
                )
    try:
        return Settings(**values, extra=extra, origins=origins)
    except (TypeError, ValueError) as e:
        raise RefineError(f"invalid settings: {e}") from None


def _unknown(message: str, key: str, candidates: Iterable[str], rest: str) -> str:
    """``message``, the nearest of ``candidates`` to ``key`` as a question when there is one, then ``rest``."""
    import difflib

    close = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.75)
    if close:
        return f"{message}; did you mean '{close[0]}'? {rest[:1].upper()}{rest[1:]}"
    return f"{message}; {rest}"


@frozen
class Declared:
    """One setting a plugin declared: its key, default, meaning and converter."""

    key: str
    default: Any
    help: str
    convert: Callable[[Any], Any] | None = None
    plugin: str | None = None
    #: the engine setting (a :class:`Settings` field) this key is the new name of, kept as an alias
    alias: str | None = None


class PluginSettings:
    """What a rule plugin's ``refine_add_settings`` hook declares its settings on.

    Like pytest's ``parser.addini``::

        @hookimpl
        def refine_add_settings(registry):
            registry.add("protect.params", default=(), help="parameters never fixed", convert=names)

    A declared key is filled with its default when nobody sets it, its value
    (from ``--set``, a config table or an API keyword) goes through
    ``convert``, and a key under a declared namespace (``protect.``) that no
    plugin declared is refused as a typo, with the nearest declared key.
    """

    def __init__(self) -> None:
        self.declared: dict[str, Declared] = {}

    def add(
        self,
        key: str,
        *,
        default: Any = None,
        help: str = "",
        convert: Callable[[Any], Any] | None = None,
        alias: str | None = None,
    ) -> None:
        """Declare the setting ``key`` (``"<namespace>.<name>"``, e.g. ``"protect.params"``).

        Args:
            key: Namespaced by the plugin's name; the engine's own settings
                have no dot, so the two never collide.
            default: The value when nobody sets it (not converted).
            help: One line, shown by ``refine plugins``.
            convert: Called with every value a user sets (a string from
                ``--set``, any TOML value from a config table); returns the
                value the plugin reads. Raise ``ValueError`` or ``TypeError``
                to refuse it: the message reaches the user.
            alias: For a built-in rule: the engine setting (a field of
                :class:`Settings`, e.g. ``expand_p``) that is this key's old
                name. Either name sets both; the default is the field's.

        Raises:
            ValueError: A key without a namespace, or declared twice (the
                engine reports it as the plugin's failure, by its name).
        """
        if not isinstance(key, str) or not all(key.partition(".")):
            raise ValueError(
                f"the setting {key!r} has no namespace: a plugin's setting is 'name.key', e.g. 'protect.params'"
            )
        if key in self.declared:
            raise ValueError(f"the setting '{key}' is declared twice (do two plugins share a namespace?)")
        if alias is not None and alias not in attrs.fields_dict(Settings):
            raise ValueError(f"the setting '{key}' names an alias '{alias}' that is no engine setting")
        self.declared[key] = Declared(key=key, default=default, help=help, convert=convert, alias=alias)

    @property
    def namespaces(self) -> set[str]:
        return {key.partition(".")[0] for key in self.declared}


def apply_plugin_settings(settings: Settings, declared: PluginSettings, plugin_names: Iterable[str]) -> Settings:
    """Check, convert and complete the plugins' keys of ``settings.extra``.

    Args:
        settings: As :func:`load_settings` made them.
        declared: What the loaded plugins declared.
        plugin_names: The loaded (and the disabled) plugins' names: a key
            under one of them that declares nothing is passed on as it is.

    Raises:
        RefineError: A key under a declared namespace that is not declared
            (a typo), a key no loaded plugin can read, or a value its
            plugin's converter refused.
    """
    names = set(plugin_names)
    extra: dict[str, Any] = {}
    for key, value in settings.extra.items():
        where = settings.origins.get(key, "from --set, a flag or the API")
        namespace = key.partition(".")[0]
        if key in declared.declared:
            convert = declared.declared[key].convert
            if convert is not None:
                try:
                    value = convert(value)
                except (TypeError, ValueError) as e:
                    raise RefineError(f"setting '{key}' ({where}): {e}") from None
        elif namespace in declared.namespaces:
            same = sorted(k for k in declared.declared if k.startswith(namespace + "."))
            raise RefineError(
                _unknown(
                    f"unknown setting '{key}' ({where})", key, same, f"plugin '{namespace}' reads: {', '.join(same)}"
                )
            )
        elif namespace not in names:
            raise RefineError(
                _unknown(
                    f"setting '{key}' ({where}) is read by no loaded rule plugin (none is named '{namespace}')",
                    key,
                    declared.declared,
                    "install or enable the plugin, or remove the setting (`refine plugins` lists what is loaded)",
                )
            )
        extra[key] = value
    fields: dict[str, Any] = {}
    for key, d in declared.declared.items():
        if d.alias is None:
            extra.setdefault(key, d.default)
            continue
        old = getattr(settings, d.alias)
        if key in settings.extra:  # the new name was set: it sets the old one too, unless both were set apart
            if d.alias in settings.origins and extra[key] != old:
                raise RefineError(
                    f"setting '{key}' ({settings.origins.get(key, 'from --set, a flag or the API')}) and its old name "
                    f"'{d.alias}' ({settings.origins[d.alias]}) disagree: {extra[key]!r} against {old!r}; give one"
                )
            fields[d.alias] = extra[key]
        else:
            extra[key] = old
    settings = attrs.evolve(settings, extra=extra)
    if fields:
        try:
            settings = attrs.evolve(settings, **fields)
        except (TypeError, ValueError) as e:
            raise RefineError(f"invalid settings: {e}") from None
    return settings


def engine_setting(name: str) -> Callable[[Any], Any]:
    """A converter for a rule's new setting name that checks it as its old engine setting ``name``."""

    def convert(value: Any) -> Any:
        value = _coerce(name, value, "its value")
        problem = check_setting(name, value)
        if problem:
            raise ValueError(problem.replace(f"setting '{name}' ", "", 1))
        return value

    return convert


def declare_builtin(registry: "PluginSettings", rule: str, names: Iterable[str]) -> None:
    """Declare a built-in rule's settings as ``<rule>.<name>``, each the new name of the engine setting
    ``<rule>_<name>`` (or ``<name>`` itself when it has no such prefix), with its default, meaning and checks."""
    for name in names:
        alias = name if name in attrs.fields_dict(Settings) else f"{rule}_{name}"
        key = f"{rule}.{name.removeprefix(rule + '_')}"
        default = attrs.fields_dict(Settings)[alias].default
        registry.add(
            key,
            default=default,
            help=f"{DOCS.get(alias, '')} (old name: {alias})",
            convert=engine_setting(alias),
            alias=alias,
        )
