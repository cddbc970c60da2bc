"""ConfigSpace (SMAC and other AutoML tools): ConfigSpace's own JSON or YAML serialization.

``log``, ``int`` and categorical ``weights`` are native, ``when`` becomes an
``EQ``/``IN`` condition and ``fixed`` values become constants. ConfigSpace 1.x
has no quantization (``q``): a ``step`` is kept in the hyperparameter's
``meta`` (and a warning says ConfigSpace samples off the grid), as are
``limits``. What a ConfigSpace cannot say of a whole space (version, parent,
directions, metric, order) travels in a top-level ``meta`` key that
ConfigSpace itself ignores, so that space -> ConfigSpace -> space gives the
same space back.

ConfigSpace is an optional dependency (``pip install 'refine[interop]'``),
imported only when a ConfigSpace is read or written.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import yaml

from refine.errors import RefineError, SpaceError
from refine.interop._common import (
    Exported,
    Imported,
    _build_param,
    _build_space,
    _grid_step,
    _is_number,
    _label,
    _read_document,
    sanitize_name,
)
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, InvalidParam, Param, Space
from refine.yamlfile import PlainDumper

if TYPE_CHECKING:
    from ConfigSpace import ConfigurationSpace

__all__ = ["META_KEY", "to_configspace", "from_configspace", "dump_configspace", "load_configspace"]

#: The key under which refine keeps what a ConfigSpace cannot hold, in ``meta``.
META_KEY = "refine"


def _configspace() -> Any:
    try:
        import ConfigSpace
    except ImportError:
        raise RefineError(
            "reading or writing a ConfigSpace needs the ConfigSpace package, which is not installed; "
            "install it with pip install 'refine[interop]'"
        ) from None
    return ConfigSpace


def _space_meta(space: Space) -> dict[str, Any]:
    return {
        "version": space.version,
        "parent": space.parent,
        "directions": list(space.directions),
        "metric": list(space.metric) if isinstance(space.metric, tuple) else space.metric,
        "params": list(space.params),
        "fixed": list(space.fixed),
    }


def _param_meta(p: FloatParam | IntParam) -> dict[str, Any] | None:
    extra: dict[str, Any] = {}
    step = _grid_step(p)
    if step is not None:
        extra["step"] = step
    if p.limits is not None:
        extra["limits"] = list(p.limits)
    return {META_KEY: extra} if extra else None


def to_configspace(space: Space, *, where: str | None = None) -> tuple["ConfigurationSpace", tuple[str, ...]]:
    """Build a ConfigSpace ``ConfigurationSpace`` holding ``space``.

    Args:
        space: The space to convert.
        where: The space file, for messages.

    Returns:
        The configuration space and the warnings (steps that ConfigSpace
        samples off the grid).

    Raises:
        RefineError: ConfigSpace is not installed.
        SpaceError: A parameter has no ConfigSpace equivalent.
    """
    CS = _configspace()
    label = _label(space, where)
    warnings: list[str] = []
    cs = CS.ConfigurationSpace(name=space.name, meta={META_KEY: _space_meta(space)})
    hyperparameters = [_configspace_call(name, label, CS.Constant, name, value) for name, value in space.fixed.items()]
    for name, p in space.params.items():
        hyperparameters.append(_configspace_call(name, label, _hyperparameter, CS, name, p))
        step = _grid_step(p)
        if step is not None:
            warnings.append(
                f"ConfigSpace has no step (`q` was removed in ConfigSpace 1.0): step={step} of '{name}' "
                "is kept in the hyperparameter's meta, but ConfigSpace samplers draw off the grid"
            )
    cs.add(hyperparameters)
    for name, p in space.params.items():
        if p.when is not None:
            cs.add(_configspace_call(name, label, _condition, CS, cs, name, p.when))
    return cs, tuple(warnings)


def _configspace_call(name: str, label: str, build: Callable[..., Any], *args: Any) -> Any:
    try:
        return build(*args)
    except (ValueError, TypeError, KeyError) as e:
        raise SpaceError(
            f"ConfigSpace cannot hold '{name}' of {label}: {' '.join(str(e).split())}; change '{name}' so that "
            "ConfigSpace accepts it"
        ) from None


def _hyperparameter(CS: Any, name: str, p: Param) -> Any:
    if isinstance(p, CategoricalParam):
        for i, c in enumerate(p.choices):
            for d in p.choices[:i]:
                if c == d:
                    raise ValueError(
                        f"ConfigSpace treats the choices {d!r} and {c!r} as one choice; keep only one of them"
                    )
        return CS.CategoricalHyperparameter(
            name, list(p.choices), weights=None if p.weights is None else list(p.weights)
        )
    if isinstance(p, IntParam):
        return CS.UniformIntegerHyperparameter(name, p.low, p.high, log=p.log, meta=_param_meta(p))
    hp = CS.UniformFloatHyperparameter(name, p.low, p.high, log=p.log, meta=_param_meta(p))
    if (hp.lower, hp.upper) == (p.low, p.high):
        return hp
    # ConfigSpace rounds float bounds to a fixed number of decimals; keep the exact ones for the way back.
    meta = _param_meta(p) or {META_KEY: {}}
    meta[META_KEY].update(low=p.low, high=p.high)
    return CS.UniformFloatHyperparameter(name, p.low, p.high, log=p.log, meta=meta)


def _exact(rounded: float, exact: Any) -> float:
    """The exact bound kept in meta when it agrees with ConfigSpace's rounded one (the file was not edited)."""
    if _is_number(exact) and math.isclose(exact, rounded, rel_tol=1e-9, abs_tol=1e-12):
        return float(exact)
    return float(rounded)


def _condition(CS: Any, cs: Any, name: str, when: Condition) -> Any:
    child, parent = cs[name], cs[when.parent]
    if len(when.values) == 1:
        return CS.EqualsCondition(child, parent, when.values[0])
    return CS.InCondition(child, parent, list(when.values))


def _configspace_document(cs: "ConfigurationSpace") -> dict[str, Any]:
    doc = cs.to_serialized_dict()
    # ConfigSpace 1.2 does not serialize a space's own meta, and ignores the key when reading.
    doc["meta"] = cs.meta
    # A JSON round trip turns tuples and numpy scalars into plain data that safe YAML can write.
    return json.loads(json.dumps(doc, default=_plain))


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot serialize {value!r}")


def dump_configspace(space: Space, *, fmt: str = "json", where: str | None = None) -> Exported:
    """The ConfigSpace serialization of ``space``, as JSON (``fmt="json"``) or YAML (``fmt="yaml"``)."""
    cs, warnings = to_configspace(space, where=where)
    doc = _configspace_document(cs)
    if fmt == "yaml":
        text = yaml.dump(doc, Dumper=PlainDumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
    else:
        text = json.dumps(doc, indent=2) + "\n"
    return Exported(text, warnings)


def from_configspace(cs: "ConfigurationSpace", *, name: str | None = None, where: str | None = None) -> Imported:
    """Build a space from a ConfigSpace ``ConfigurationSpace``.

    Args:
        cs: The configuration space. Its ``meta["refine"]`` (written by
            :func:`to_configspace`) restores version, parent, directions,
            metric and order; without it the space is version 1.
        name: The space's name; default: the configuration space's name.
        where: The file it came from, for messages.

    Raises:
        SpaceError: ``cs`` holds what a refine space cannot express (forbidden
            clauses, OR/AND of conditions on several parents, LT/GT/NEQ
            conditions, normal or beta hyperparameters).
    """
    CS = _configspace()
    where = where or "the ConfigSpace"
    warnings: list[str] = []
    for clause in cs.forbidden_clauses:
        raise SpaceError(
            f"forbidden clauses cannot be expressed in a refine space, got `{clause}` in {where}; "
            "remove the clause (refine has no forbidden combinations) or express it with `when`"
        )
    whens = {c.child.name: _when_from_condition(CS, c, where) for c in cs.conditions}
    meta = (cs.meta or {}).get(META_KEY) or {}
    if not meta:
        warnings.append(
            f"{where} does not say the objective's direction; the space says minimize, edit `direction` if you maximize"
        )
    fixed: dict[str, Any] = {}
    params: dict[str, Param] = {}
    for hp in cs.values():
        if isinstance(hp, CS.Constant):
            if hp.name in whens:
                raise InvalidParam(
                    "a fixed value cannot be conditional",
                    f"constant with condition `{whens[hp.name].parent}`",
                    "remove the condition or make the constant a categorical with one choice",
                    param=hp.name,
                    where=where,
                )
            fixed[hp.name] = hp.value
        else:
            params[hp.name] = _param_from_hyperparameter(CS, hp, whens.get(hp.name), where, warnings)
    params = _ordered(params, meta.get("params"))
    fixed = _ordered(fixed, meta.get("fixed"))
    space = _build_space(
        where,
        name=name if name is not None else sanitize_name(cs.name) if cs.name else "space",
        version=meta.get("version", 1),
        parent=meta.get("parent"),
        directions=tuple(meta.get("directions") or ("minimize",)),
        metric=meta.get("metric"),
        fixed=fixed,
        params=params,
    )
    return Imported(space, tuple(warnings))


def _ordered(items: dict[str, Any], order: Any) -> dict[str, Any]:
    if not isinstance(order, list):
        return items
    rank = {n: i for i, n in enumerate(order)}
    return dict(sorted(items.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def _when_from_condition(CS: Any, cond: Any, where: str) -> Condition:
    child = cond.child.name
    if isinstance(cond, CS.OrConjunction):
        # An OR of EQ/IN on one parent is an IN; an OR of ranges or of several parents is not.
        simple = all(isinstance(c, (CS.EqualsCondition, CS.InCondition)) for c in cond.components)
        parts = [_when_from_condition(CS, c, where) for c in cond.components] if simple else []
        if parts and len({p.parent for p in parts}) == 1:
            values: list[Any] = []
            for part in parts:
                values.extend(v for v in part.values if v not in values)
            return Condition(parts[0].parent, values)
        raise InvalidParam(
            "a `when` is one EQ or IN condition on one parent, so an OR of ranges or of several parents cannot "
            "be expressed",
            f"`{cond}`",
            "keep one parent with the values that activate the parameter, or remove the condition",
            param=child,
            where=where,
        )
    if isinstance(cond, CS.AndConjunction):
        raise InvalidParam(
            "a `when` has one parent, so an AND of conditions cannot be expressed",
            f"`{cond}`",
            "keep one EQ or IN condition, or nest the parameters (a `when` on a conditional parent implies the "
            "parent's)",
            param=child,
            where=where,
        )
    if isinstance(cond, CS.InCondition):
        return Condition(cond.parent.name, list(cond.values))
    if isinstance(cond, CS.EqualsCondition):
        return Condition(cond.parent.name, cond.value)
    raise InvalidParam(
        "only EQ and IN conditions can be expressed as `when`",
        f"`{cond}` ({type(cond).__name__})",
        "replace it with an EQ or IN condition on the parent's values",
        param=child,
        where=where,
    )


def _param_from_hyperparameter(CS: Any, hp: Any, when: Condition | None, where: str, warnings: list[str]) -> Param:
    extra = hp.meta.get(META_KEY) if isinstance(hp.meta, Mapping) else None
    if not isinstance(extra, Mapping):
        extra = {}
    if isinstance(hp, CS.CategoricalHyperparameter):
        weights = None if hp.weights is None else [float(w) for w in hp.weights]
        return _build_param(CategoricalParam, hp.name, where, choices=tuple(hp.choices), weights=weights, when=when)
    if isinstance(hp, CS.OrdinalHyperparameter):
        warnings.append(
            f"ordinal '{hp.name}' in {where} became a categorical: refine keeps the order of its choices but "
            "samples them unordered"
        )
        return _build_param(CategoricalParam, hp.name, where, choices=tuple(hp.sequence), when=when)
    if isinstance(hp, CS.UniformFloatHyperparameter):
        return _build_param(
            FloatParam,
            hp.name,
            where,
            low=_exact(hp.lower, extra.get("low")),
            high=_exact(hp.upper, extra.get("high")),
            log=bool(hp.log),
            step=extra.get("step"),
            limits=extra.get("limits"),
            when=when,
        )
    if isinstance(hp, CS.UniformIntegerHyperparameter):
        return _build_param(
            IntParam,
            hp.name,
            where,
            low=int(hp.lower),
            high=int(hp.upper),
            log=bool(hp.log),
            step=extra.get("step", 1),
            limits=extra.get("limits"),
            when=when,
        )
    raise InvalidParam(
        "refine spaces hold uniform or log-uniform ranges and categoricals",
        f"a {type(hp).__name__}",
        "replace it with a uniform float or integer hyperparameter over the same bounds",
        param=hp.name,
        where=where,
    )


def load_configspace(path: str | os.PathLike, *, name: str | None = None) -> Imported:
    """Read a ConfigSpace JSON or YAML serialization as a space.

    Files written by ConfigSpace before 1.0 may carry ``q``: it is read as ``step``.

    Args:
        path: The file (``.json``, or ``.yaml``/``.yml``).
        name: The space's name; default: the configuration space's name, else the file's stem.

    Raises:
        SpaceError: The file is not a ConfigSpace serialization, or holds what
            a refine space cannot express.
    """
    CS = _configspace()
    path = Path(path)
    doc = _read_document(path, "ConfigSpace")
    if not isinstance(doc, Mapping) or not isinstance(doc.get("hyperparameters"), list):
        raise SpaceError(
            f"{path} is not a ConfigSpace serialization: it has no `hyperparameters` list; export it with "
            "ConfigurationSpace.to_json"
        )
    doc = json.loads(json.dumps(doc))
    for item in doc["hyperparameters"]:
        if (
            isinstance(item, dict)
            and item.get("q") is not None
            and item.get("type") in ("uniform_float", "uniform_int")
        ):
            q = item.pop("q")
            meta = item["meta"] if isinstance(item.get("meta"), dict) else {}
            meta.setdefault(META_KEY, {}).setdefault("step", q)
            item["meta"] = meta
    try:
        cs = CS.ConfigurationSpace.from_serialized_dict(doc)
    except (ValueError, TypeError, KeyError) as e:
        raise SpaceError(
            f"{path} could not be read as a ConfigSpace: {' '.join(str(e).split())}; check the file against "
            "ConfigSpace's serialization format"
        ) from None
    cs.meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else None
    if name is None:
        name = sanitize_name(cs.name) if cs.name else sanitize_name(path.stem)
    return from_configspace(cs, name=name, where=str(path))
