"""Optuna code: a ``def suggest(trial) -> dict`` function to paste into an existing script (export only)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from refine.errors import SpaceError
from refine.interop._common import Exported, _is_number, _label
from refine.space import CategoricalParam, FloatParam, IntParam, Param, Space

__all__ = ["dump_optuna"]


def _literal(value: Any, what: str) -> str:
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else '-float("inf")'
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v, what) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_literal(k, what)}: {_literal(v, what)}" for k, v in value.items()) + "}"
    raise SpaceError(
        f"{what} cannot be written as Python code, got {value!r} ({type(value).__name__}); use plain numbers, "
        "strings, lists or mappings"
    )


def _test(var: str, values: tuple, parent_values: tuple | None) -> str:
    """A Python test that ``var`` is one of ``values``, keeping ``True`` apart from ``1`` as refine does."""
    has_bool = parent_values is not None and any(isinstance(v, bool) for v in parent_values)

    def one(v: Any) -> str:
        if v is None or isinstance(v, bool):
            return f"{var} is {v!r}"
        if has_bool and _is_number(v):
            return f"({var} == {_literal(v, var)} and not isinstance({var}, bool))"
        return f"{var} == {_literal(v, var)}"

    if len(values) > 1 and not has_bool and not any(v is None or isinstance(v, bool) for v in values):
        return f"{var} in ({', '.join(_literal(v, var) for v in values)})"
    return " or ".join(one(v) for v in values)


def _suggest_call(name: str, p: Param) -> str:
    n = _literal(name, f"the name '{name}'")
    if isinstance(p, CategoricalParam):
        return f"trial.suggest_categorical({n}, {_literal(list(p.choices), f'the choices of {name!r}')})"
    method = "suggest_float" if isinstance(p, FloatParam) else "suggest_int"
    args = [n, _literal(p.low, name), _literal(p.high, name)]
    if isinstance(p, FloatParam) and p.step is not None:
        args.append(f"step={_literal(p.step, name)}")
    if isinstance(p, IntParam) and p.step != 1:
        args.append(f"step={p.step}")
    if p.log:
        args.append("log=True")
    return f"trial.{method}({', '.join(args)})"


def dump_optuna(space: Space, *, where: str | None = None) -> Exported:
    """Python code defining ``suggest(trial) -> dict``, the ``trial.suggest_*`` calls of ``space``.

    Conditional parameters are sampled inside ``if`` blocks on their parent;
    fixed values are in the returned dict. Optuna has no per-choice weights: they
    become a comment and a warning.
    """
    label = _label(space, where)
    warnings: list[str] = []
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for name, p in space.params.items():
        if p.when is not None and p.when.parent in space.params:
            children.setdefault(p.when.parent, []).append(name)
        else:
            roots.append(name)

    def parent_values(parent: str) -> tuple | None:
        pp = space.params.get(parent)
        if isinstance(pp, CategoricalParam):
            return pp.choices
        if parent in space.fixed:
            return (space.fixed[parent],)
        return None

    def emit(names: list[str], indent: str) -> list[str]:
        out: list[str] = []
        # A `when` on a fixed parent is decided by the fixed value; group such parameters under one `if`.
        on_fixed: dict[tuple, list[str]] = {}
        for name in names:
            when = space.params[name].when
            if when is not None and when.parent in space.fixed:
                on_fixed.setdefault((when.parent, when.values), []).append(name)
            else:
                out += emit_one(name, indent)
        for (parent, values), group in on_fixed.items():
            out.append(f"{indent}if {_test(f'config[{_literal(parent, parent)}]', values, parent_values(parent))}:")
            for name in group:
                out += emit_one(name, indent + "    ")
        return out

    def emit_one(name: str, indent: str) -> list[str]:
        p = space.params[name]
        out: list[str] = []
        if isinstance(p, CategoricalParam) and p.weights is not None:
            msg = f"weights {list(p.weights)} of '{name}': Optuna's samplers have no per-choice weights"
            out.append(f"{indent}# NOT EXPRESSED: {msg}")
            warnings.append(msg)
        var = f"config[{_literal(name, name)}]"
        out.append(f"{indent}{var} = {_suggest_call(name, p)}")
        groups: dict[tuple, list[str]] = {}
        for child in children.get(name, []):
            when = space.params[child].when
            assert when is not None
            groups.setdefault(when.values, []).append(child)
        for values, group in groups.items():
            out.append(f"{indent}if {_test(var, values, parent_values(name))}:")
            for child in group:
                out += emit_one(child, indent + "    ")
        return out

    fixed = [
        f"        {_literal(k, k)}: {_literal(v, f'fixed value {k!r} of {label}')}," for k, v in space.fixed.items()
    ]
    body = ["    config = {", *fixed, "    }"] if fixed else ["    config = {}"]
    body += emit(roots, "    ")
    objective = ", ".join(space.directions) + (f" {space.metric_label}" if space.metric else "")
    lines = [
        f'"""Search space \'{space.name}\' v{space.version} ({objective}) as Optuna code, exported by refine."""',
        "",
        "",
        "def suggest(trial) -> dict:",
        '    """Sample one configuration with ``trial.suggest_*``; fixed values are included."""',
        *body,
        "    return config",
    ]
    return Exported("\n".join(lines) + "\n", tuple(warnings))
