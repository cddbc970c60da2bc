"""The plugin manager: hookspecs, entry points, built-in rules, and a typed facade.

:func:`get_plugin_manager` builds a fresh manager (one per refinement, so tests
never share state): it adds the specs of :mod:`refine.hookspecs`, blocks the
rules the user disabled, loads the entry points of group ``refine.rules`` and
then registers the built-in rules exactly like a third party's. :class:`Hooks`
is the one place that calls hooks; it names the plugin whose code raised.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any, Iterable

import pluggy

from refine import hookspecs
from refine.errors import PluginError

__all__ = ["BUILTIN_RULES", "ENTRY_POINT_GROUP", "Hooks", "get_plugin_manager", "list_plugins"]

ENTRY_POINT_GROUP = "refine.rules"
#: Built-in rules: module names under refine.rules, registered after entry points.
BUILTIN_RULES = ("fix", "bias", "expand", "narrow", "keep", "drop")


def get_plugin_manager(
    disabled: Iterable[str] = (),
    *,
    entry_points: bool = True,
    plugins: Iterable[Any] = (),
) -> pluggy.PluginManager:
    """A fresh plugin manager with the built-in rules and installed plugins.

    Args:
        disabled: Rule names to leave out (built-in or entry point names).
        entry_points: Load third-party rules from the ``refine.rules`` group.
        plugins: Extra plugin objects to register (the API's ``plugins=``).

    Raises:
        PluginError: A plugin failed to load, or a disabled name is unknown.
    """
    pm = pluggy.PluginManager("refine")
    pm.add_hookspecs(hookspecs)
    disabled = list(disabled)
    for name in disabled:
        pm.set_blocked(name)
    if entry_points:
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as e:  # noqa: BLE001 - a broken third-party plugin is the user's to fix
            raise PluginError(f"a rule plugin of group '{ENTRY_POINT_GROUP}' failed to load: {type(e).__name__}: {e}") from None
    for name in BUILTIN_RULES:
        if pm.is_blocked(name):
            continue
        pm.register(importlib.import_module(f"refine.rules.{name}"), name=name)
    for plugin in plugins:
        pm.register(plugin, name=getattr(plugin, "__name__", None) or type(plugin).__name__)
    known = {n for n, p in pm.list_name_plugin() if p is not None} | set(BUILTIN_RULES) | _entry_point_names()
    unknown = [n for n in disabled if n not in known]
    if unknown:
        raise PluginError(f"cannot disable unknown rule(s) {', '.join(unknown)}; loaded rules: {', '.join(sorted(known))}")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise PluginError(f"rule plugin '{e.plugin}' implements an unknown hook: {e}") from None
    return pm


def _entry_point_names() -> set[str]:
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}


def list_plugins(pm: pluggy.PluginManager) -> list[dict[str, str]]:
    """Loaded rules: name, where they come from and their version."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        if dist is not None:
            source, version = dist.project_name, dist.version
        elif name in BUILTIN_RULES:
            from refine import __version__

            source, version = "refine (built-in)", __version__
        else:
            source, version = getattr(plugin, "__name__", type(plugin).__name__), ""
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        rows.append({"name": name, "source": source, "version": version, "hooks": ", ".join(hooks)})
    return rows


class Hooks:
    """The typed facade over the plugin manager: every hook call goes through here."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    def _call(self, hook_name: str, **kwargs: Any) -> list[Any]:
        caller = getattr(self.pm.hook, hook_name)
        try:
            return caller(**kwargs)
        except PluginError:
            raise
        except Exception as e:  # noqa: BLE001 - a plugin's failure is reported by its name
            culprit = self._culprit(caller, sys.exc_info()[2])
            raise PluginError(f"rule plugin '{culprit}' failed in {hook_name}: {type(e).__name__}: {e}") from e

    @staticmethod
    def _culprit(caller: Any, tb: types.TracebackType | None) -> str:
        codes = set()
        while tb is not None:
            codes.add(tb.tb_frame.f_code)
            tb = tb.tb_next
        for impl in caller.get_hookimpls():
            if getattr(impl.function, "__code__", None) in codes:
                return impl.plugin_name
        return "unknown"

    def declared_settings(self) -> Any:
        """The settings every loaded plugin declares (:class:`refine.settings.PluginSettings`)."""
        from refine.settings import PluginSettings

        registry = PluginSettings()
        self._call("refine_add_settings", registry=registry)
        return registry

    def add_evidence(self, *, evidence: Any, settings: Any) -> list[dict]:
        return [r for r in self._call("refine_add_evidence", evidence=evidence, settings=settings) if r]

    def propose(self, *, name: str, param: Any, evidence: Any, study_evidence: Any, space: Any, settings: Any) -> list[Any]:
        out = []
        for r in self._call(
            "refine_propose",
            name=name,
            param=param,
            evidence=evidence,
            study_evidence=study_evidence,
            space=space,
            settings=settings,
        ):
            out.extend(r if isinstance(r, (list, tuple)) else [r])
        return out

    def review(self, *, proposal: Any, study_evidence: Any, settings: Any) -> list[str]:
        return [r for r in self._call("refine_review", proposal=proposal, study_evidence=study_evidence, settings=settings) if r]

    def finalize(self, *, space: Any, previous: Any, decisions: Any, settings: Any) -> list[Any]:
        out = []
        for r in self._call("refine_finalize", space=space, previous=previous, decisions=decisions, settings=settings):
            out.extend(r if isinstance(r, (list, tuple)) else [r])
        return out
