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

import attrs
import pluggy

from refine import hookspecs
from refine.errors import PluginError

__all__ = ["BUILTIN_RULES", "ENTRY_POINT_GROUP", "Hooks", "get_plugin_manager", "list_plugins"]

ENTRY_POINT_GROUP = "refine.rules"
#: Built-in rules: module names under refine.rules, registered after entry points.
BUILTIN_RULES = ("fix", "bias", "expand", "narrow", "model", "keep", "drop", "merge")


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
        _load_entry_points(pm)
    for name in BUILTIN_RULES:
        if pm.is_blocked(name):
            continue
        if pm.has_plugin(name):
            dist = next(
                (d.project_name for p, d in pm.list_plugin_distinfo() if p is pm.get_plugin(name)),
                "an installed package",
            )
            raise PluginError(
                f"the rule plugin '{name}' of {dist} has the name of a built-in rule; rename its entry point in group "
                f"'{ENTRY_POINT_GROUP}' (built-in rules: {', '.join(BUILTIN_RULES)})"
            )
        _register(pm, importlib.import_module(f"refine.rules.{name}"), name)
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        if pm.has_plugin(name):
            raise PluginError(
                f"a plugin given to plugins= is named '{name}', like a rule already loaded; give it another name"
            )
        _register(pm, plugin, name)
    known = {n for n, p in pm.list_name_plugin() if p is not None} | set(BUILTIN_RULES) | _entry_point_names()
    unknown = [n for n in disabled if n not in known]
    if unknown:
        raise PluginError(
            f"cannot disable unknown rule(s) {', '.join(unknown)}; loaded rules: {', '.join(sorted(known))}"
        )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise PluginError(
            f"rule plugin '{pm.get_name(e.plugin) or e.plugin}' implements an unknown hook: {e}"
        ) from None
    return pm


def _failed(plugin: str, hook_name: str, e: Exception) -> PluginError:
    """The one-line error for a plugin whose hook raised."""
    return PluginError(f"rule plugin '{plugin}' failed in {hook_name}: {type(e).__name__}: {e}")


def _register(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    """Register one plugin; a hook whose arguments the spec does not have is the plugin's error, by its name."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as e:
        raise PluginError(
            f"rule plugin '{name}': {' '.join(str(e).split())} (refine/hookspecs.py lists each hook's arguments)"
        ) from None
    except ValueError as e:  # the same object twice
        raise PluginError(f"rule plugin '{name}' cannot be registered: {e}") from None


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    """Load the ``refine.rules`` entry points; one that fails to load is named with its package."""
    from importlib.metadata import entry_points

    try:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        return
    except pluggy.PluginValidationError as e:
        raise PluginError(f"rule plugin '{pm.get_name(e.plugin) or e.plugin}': {' '.join(str(e).split())}") from None
    except Exception as e:  # noqa: BLE001 - a broken third-party plugin is the user's to fix: find which one
        failure = e
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed package"
        try:
            ep.load()
        except Exception as e:  # noqa: BLE001 - see above
            raise PluginError(
                f"rule plugin '{ep.name}' ({dist}, entry point {ep.value}) failed to load: {type(e).__name__}: {e}; "
                f"fix or uninstall it, or leave it out with --disable {ep.name}"
            ) from None
    raise PluginError(
        f"a rule plugin of group '{ENTRY_POINT_GROUP}' failed to load: {type(failure).__name__}: {failure}"
    ) from None


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

    def _each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of a hook one at a time, in pluggy's order: (plugin name, answer) for each
        answer that is not None, so that a failure or a wrong answer names its plugin without guessing. A hook
        with a wrapper registered goes through pluggy as a whole (the wrapper must see the call)."""
        caller = getattr(self.pm.hook, hook_name)
        impls = self._in_call_order(hook_name)
        if len(impls) < len(caller.get_hookimpls()):  # _in_call_order leaves wrappers out: one is registered
            try:
                return [("", r) for r in caller(**kwargs)]
            except PluginError:
                raise
            except Exception as e:  # noqa: BLE001 - a plugin's failure is reported by its name
                raise _failed(self._culprit(caller, sys.exc_info()[2]), hook_name, e) from e
        out = []
        for impl in impls:
            answer = self._call_one(impl, hook_name, **kwargs)
            if answer is not None:
                out.append((impl.plugin_name, answer))
        return out

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
        names = {n for n, p in self.pm.list_name_plugin() if p is not None}
        for impl in reversed(self.pm.hook.refine_add_settings.get_hookimpls()):  # in registration order, one at a time
            before = set(registry.declared)
            self._call_one(impl, "refine_add_settings", registry=registry)
            for key in set(registry.declared) - before:
                namespace = key.partition(".")[0]
                if namespace != impl.plugin_name and namespace in names | set(BUILTIN_RULES):
                    raise PluginError(
                        f"rule plugin '{impl.plugin_name}' declared the setting '{key}' in the namespace of rule "
                        f"'{namespace}'; a plugin declares its settings under its own name"
                    )
                registry.declared[key] = attrs.evolve(registry.declared[key], plugin=impl.plugin_name)
        return registry

    def statistics(self) -> Any:
        """The statistics declared: the evidence's own, then every plugin's (``refine_add_statistics``), in
        registration order, each attributed to its plugin."""
        from refine.evidence import builtin_statistics

        registry = builtin_statistics()
        for impl in reversed(self.pm.hook.refine_add_statistics.get_hookimpls()):
            registry.plugin = impl.plugin_name
            self._call_one(impl, "refine_add_statistics", registry=registry)
        registry.plugin = "evidence"
        return registry

    def merge(self, *, name: str, param: Any, winner: Any, others: list[Any], settings: Any) -> Any:
        """The first :class:`~refine.decisions.Merge` an implementation of ``refine_merge_proposals`` returns (in
        pluggy's order: a plugin's before the built-in ``trylast`` one), checked, with the name of the plugin that
        returned it; None when none merges."""
        from refine.decisions import Merge

        for impl in self._in_call_order("refine_merge_proposals"):
            out = self._call_one(
                impl, "refine_merge_proposals", name=name, param=param, winner=winner, others=others, settings=settings
            )
            if out is None:
                continue
            if not isinstance(out, Merge):
                raise PluginError(
                    f"rule plugin '{impl.plugin_name}' returned {out!r:.80} from refine_merge_proposals; "
                    "expected a refine.Merge or None"
                )
            if out.new is None:
                raise PluginError(
                    f"rule plugin '{impl.plugin_name}' returned a Merge without a new definition for '{name}' from "
                    "refine_merge_proposals; return None to merge nothing"
                )
            stray = [p for p in out.applied if not any(p is o for o in others)]
            if stray:
                raise PluginError(
                    f"rule plugin '{impl.plugin_name}' merged into '{name}' a proposal that was not among the others "
                    f"offered ({stray[0].rule}'s {stray[0].action}); Merge.applied lists proposals of `others`"
                )
            return out, impl.plugin_name
        return None

    def _in_call_order(self, hook_name: str) -> list[Any]:
        """A hook's implementations in the order pluggy calls them (tryfirst first, trylast last), wrappers left
        out."""
        impls = getattr(self.pm.hook, hook_name).get_hookimpls()
        return [i for i in reversed(impls) if not (getattr(i, "hookwrapper", False) or getattr(i, "wrapper", False))]

    def _call_one(self, impl: Any, hook_name: str, **kwargs: Any) -> Any:
        """Call one plugin's implementation of a hook (to know which plugin did what); its failure names it."""
        try:
            return impl.function(**{k: kwargs[k] for k in impl.argnames})
        except PluginError:
            raise
        except Exception as e:  # noqa: BLE001 - a plugin's failure is reported by its name
            raise _failed(impl.plugin_name, hook_name, e) from e

    def add_evidence(self, *, evidence: Any, settings: Any) -> list[dict]:
        out = []
        for who, r in self._each("refine_add_evidence", evidence=evidence, settings=settings):
            if not r:
                continue
            ok = isinstance(r, dict) and all(isinstance(k, str) and isinstance(v, dict) for k, v in r.items())
            if not ok:
                raise PluginError(
                    f"{_named(who)} returned {r!r:.80} from refine_add_evidence; "
                    "expected {param_name or '*': {key: value}}"
                )
            unknown = [k for k in r if k != "*" and k not in evidence.params]
            if unknown:
                raise PluginError(
                    f"{_named(who)} added evidence for {', '.join(repr(k) for k in unknown)}, "
                    f"not a parameter of the space ({', '.join(sorted(evidence.params)[:8])}); use '*' for "
                    "study-wide evidence"
                )
            out.append(r)
        return out

    def propose(
        self, *, name: str, param: Any, evidence: Any, study_evidence: Any, space: Any, settings: Any
    ) -> list[Any]:
        out: list[Any] = []
        for _, r in self._each(
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
        out = []
        for who, r in self._each("refine_review", proposal=proposal, study_evidence=study_evidence, settings=settings):
            if not r:
                continue
            if not isinstance(r, str):
                raise PluginError(
                    f"{_named(who)} returned {r!r:.80} from refine_review; a veto is a reason "
                    "(a string), and None lets the proposal stand"
                )
            out.append(r)
        return out

    def finalize(self, *, space: Any, previous: Any, decisions: Any, settings: Any) -> list[Any]:
        out: list[Any] = []
        for _, r in self._each(
            "refine_finalize", space=space, previous=previous, decisions=decisions, settings=settings
        ):
            out.extend(r if isinstance(r, (list, tuple)) else [r])
        return out


def _named(plugin: str) -> str:
    """A plugin as an error names it (``""``: a hook called through a wrapper, where pluggy hides who answered)."""
    return f"rule plugin '{plugin}'" if plugin else "a rule plugin"
