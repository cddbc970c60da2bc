"""The settings rule plugins declare (hook ``refine_add_settings``), beside the engine's own (:mod:`refine.settings`).

A plugin reads its keys (``name.key``) from :attr:`Settings.extra`; one that
declares them gets their defaults filled in, their values converted, and its
users' typos refused. The built-in rules declare theirs the same way, under
their own names, the engine's old names kept as aliases.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import attrs
from attrs import frozen

from refine.errors import RefineError
from refine.settings import DOCS, Settings, check_setting, coerce_setting, unknown_setting

__all__ = ["Declared", "PluginSettings", "apply_plugin_settings", "engine_setting", "declare_builtin"]


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
                unknown_setting(
                    f"unknown setting '{key}' ({where})", key, same, f"plugin '{namespace}' reads: {', '.join(same)}"
                )
            )
        elif namespace not in names:
            raise RefineError(
                unknown_setting(
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
        value = coerce_setting(name, value, "its value")
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
