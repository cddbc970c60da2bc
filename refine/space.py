"""The search space: frozen values that cannot hold an invalid space.

A :class:`Space` is one version of a search space (SPEC section 1): a name, a
version number, the direction(s) of the objective, the constants handed to
every trial (``fixed``) and the searched parameters (``params``). Each
parameter is a :class:`FloatParam`, :class:`IntParam` or
:class:`CategoricalParam` (:mod:`refine.params`, re-exported here, where most
code imports them from); a :class:`Condition` (``when``) makes it active only
for some values of another parameter.

Values are immutable: a refined space is built with :func:`attrs.evolve`.
Invariants live in validators and raise :class:`InvalidParam` (a
:class:`~refine.errors.SpaceError`); the file reader adds the file name.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, Literal, Mapping

from attrs import field, frozen

from refine.params import (
    PARAM_KINDS,
    CategoricalParam,
    Condition,
    FloatParam,
    IntParam,
    InvalidParam,
    Param,
    _same,
    takes,
)

__all__ = [
    "CategoricalParam",
    "Condition",
    "FloatParam",
    "IntParam",
    "InvalidParam",
    "Param",
    "Space",
    "DIRECTIONS",
    "PARAM_KINDS",
    "takes",
]

DIRECTIONS = ("minimize", "maximize")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _dict_copy(value: Mapping) -> dict:
    return dict(value)


def _as_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@frozen(kw_only=True, eq=True)
class Space:
    """One version of a search space.

    Attributes:
        name: The space's name, ``[A-Za-z0-9_.-]+``; files are ``<name>.v<version>.yaml``.
        version: Integer >= 1.
        params: Searched parameters by name, in the file's order.
        fixed: Constants handed to every trial unchanged.
        parent: The version this one was derived from, if any.
        directions: One direction per objective (``minimize`` / ``maximize``).
        metric: A label for the objective value(s): one string, or for a
            multi-objective space one label per direction (a tuple).
    """

    name: str
    version: int
    params: dict[str, Param] = field(factory=dict, converter=_dict_copy, hash=False)
    fixed: dict[str, Any] = field(factory=dict, converter=_dict_copy, hash=False)
    parent: int | None = None
    directions: tuple[Literal["minimize", "maximize"], ...] = field(default=("minimize",), converter=_as_tuple)
    metric: str | tuple[str, ...] | None = field(
        default=None, converter=lambda m: tuple(m) if isinstance(m, list) else m
    )

    @property
    def metric_label(self) -> str | None:
        """The metric as one line of text (labels joined by ', ')."""
        return ", ".join(self.metric) if isinstance(self.metric, tuple) else self.metric

    @property
    def metric_names(self) -> list[str] | None:
        """One name per objective (Optuna's ``set_metric_names``), when the space gives them."""
        if isinstance(self.metric, tuple):
            return list(self.metric)
        return [self.metric] if self.metric and len(self.directions) == 1 else None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidParam(
                "`name` must match [A-Za-z0-9_.-]+", f"name={self.name!r}", "use letters, digits, '_', '.' or '-'"
            )
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            raise InvalidParam("`version` must be an integer >= 1", f"version={self.version!r}")
        if self.parent is not None and (
            not isinstance(self.parent, int)
            or isinstance(self.parent, bool)
            or self.parent < 1
            or self.parent >= self.version
        ):
            raise InvalidParam(
                "`parent` must be an earlier version (an integer >= 1 below `version`)",
                f"parent={self.parent!r}, version={self.version!r}",
            )
        if isinstance(self.metric, tuple):
            if (
                not all(isinstance(m, str) and m for m in self.metric)
                or len(self.metric) != len(self.directions)
                or len(self.metric) < 2
            ):
                raise InvalidParam(
                    "`metric` must be a label, or one label per direction of a multi-objective space",
                    f"metric={list(self.metric)!r}, directions={list(self.directions)!r}",
                    "write e.g. `metric: val_loss`, or `metric: [val_loss, latency]` with `directions: "
                    "[minimize, minimize]`",
                )
        elif self.metric is not None and not isinstance(self.metric, str):
            raise InvalidParam(
                "`metric` must be a label (a string)", f"metric={self.metric!r}", "write e.g. `metric: val_loss`"
            )
        if not self.directions or any(d not in DIRECTIONS for d in self.directions):
            raise InvalidParam(
                "each direction must be 'minimize' or 'maximize'",
                f"{list(self.directions)}",
                "write `direction: minimize`, `direction: maximize` or `directions: [...]` of those",
            )
        for name in self.params:
            if name in self.fixed:
                raise InvalidParam(
                    "a parameter is in `params` or in `fixed`, never both",
                    f"'{name}' in both",
                    "remove it from one of them",
                    param=name,
                )
        self._check_conditions()

    def _check_conditions(self) -> None:
        for name, p in self.params.items():
            if p.when is None:
                continue
            parent = p.when.parent
            if parent == name:
                raise InvalidParam("`when` must name another parameter", f"when: {{{parent}: ...}}", param=name)
            if parent not in self.params and parent not in self.fixed:
                raise InvalidParam(
                    "`when` must name a parameter of the space",
                    f"unknown parent '{parent}'",
                    f"use one of {sorted(n for n in (*self.params, *self.fixed) if n != name)}",
                    param=name,
                )
            parent_param = self.params.get(parent)
            if parent not in self.params and not any(_same(self.fixed[parent], v) for v in p.when.values):
                raise InvalidParam(
                    "`when` never holds: its parent is fixed to another value",
                    f"'{parent}' is fixed to {self.fixed[parent]!r}, `when` wants {list(p.when.values)}",
                    f"drop '{name}', or fix '{parent}' to one of {list(p.when.values)}",
                    param=name,
                )
            if isinstance(parent_param, FloatParam) and parent_param.step is None:
                raise InvalidParam(
                    "`when` cannot depend on a continuous float: it would almost never hold",
                    f"when: {{{parent}: {list(p.when.values)}}}",
                    f"make '{parent}' categorical (or give it a `step`)",
                    param=name,
                )
            if parent_param is not None:
                for v in p.when.values:
                    if not takes(parent_param, v):
                        offers = (
                            list(parent_param.choices)
                            if isinstance(parent_param, CategoricalParam)
                            else f"[{parent_param.low}, {parent_param.high}]"
                            + (f" in steps of {parent_param.step}" if parent_param.step not in (None, 1) else "")
                            + (" (integers)" if isinstance(parent_param, IntParam) else "")
                        )
                        raise InvalidParam(
                            "`when` values must be values the parent takes"
                            if not isinstance(parent_param, CategoricalParam)
                            else "`when` values must be choices of the parent",
                            f"{v!r} is not "
                            f"{'a choice' if isinstance(parent_param, CategoricalParam) else 'a value'} of "
                            f"'{parent}' {offers}",
                            param=name,
                        )
        for name in self.params:
            seen = [name]
            cursor = self.params[name].when
            while cursor is not None and cursor.parent in self.params:
                if cursor.parent in seen:
                    cycle = " -> ".join(seen + [cursor.parent])
                    raise InvalidParam("`when` conditions must not form a cycle", cycle, "break the cycle", param=name)
                seen.append(cursor.parent)
                cursor = self.params[cursor.parent].when

    @property
    def direction(self) -> str:
        """The single direction of a single-objective space."""
        return self.directions[0]

    @property
    def multi_objective(self) -> bool:
        return len(self.directions) > 1

    def __iter__(self) -> Iterator[tuple[str, Param]]:
        return iter(self.params.items())

    def is_active(self, name: str, config: Mapping[str, Any]) -> bool:
        """True when ``name``'s ``when`` (and its parent's, recursively) holds for ``config``."""
        p = self.params[name]
        if p.when is None:
            return True
        parent = p.when.parent
        value = config.get(parent, self.fixed.get(parent, _MISSING))
        if value is _MISSING:
            return False
        if parent in self.params and not self.is_active(parent, config):
            return False
        grid = self.params.get(parent)
        return p.when.allows(value, grid.step if isinstance(grid, FloatParam) else None)

    def contains(self, config: Mapping[str, Any]) -> bool:
        """True when ``config`` (params only) is a point of this space."""
        for name, p in self.params.items():
            if not self.is_active(name, config):
                continue
            if name not in config or not p.contains(config[name]):
                return False
        return True


_MISSING = object()
