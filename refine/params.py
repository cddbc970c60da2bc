"""The parameters of a search space: frozen values that cannot hold an invalid parameter.

Each searched parameter is a :class:`FloatParam`, :class:`IntParam` or
:class:`CategoricalParam`; a :class:`Condition` (``when``) makes it active only
for some values of another parameter. Invariants live in validators and raise
:class:`InvalidParam` (a :class:`~refine.errors.SpaceError`); the file reader
adds the file name. Optuna objects come in through named constructors such as
:meth:`FloatParam.from_distribution`. The space that holds them is
:class:`refine.space.Space`.
"""

from __future__ import annotations

import decimal
import math
import sys
from typing import TYPE_CHECKING, Any, ClassVar, Union

import attrs
from attrs import field, frozen

from refine.errors import SpaceError

if TYPE_CHECKING:  # optuna is heavy: import it only where a distribution is built
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

__all__ = [
    "CategoricalParam",
    "Condition",
    "FloatParam",
    "IntParam",
    "InvalidParam",
    "Param",
    "PARAM_KINDS",
    "takes",
]

Scalar = Union[str, int, float, bool, None]


class InvalidParam(SpaceError):
    """An invariant of a parameter or space does not hold.

    The message states the invariant, then where and the values, then the fix:
    "`low < high` must hold for 'lr' in v2.yaml, got low=0.1, high=0.01; swap them".
    """

    def __init__(
        self,
        invariant: str,
        got: str = "",
        fix: str = "",
        *,
        param: str | None = None,
        where: str | None = None,
    ) -> None:
        self.invariant, self.got, self.fix = invariant, got, fix
        self.param, self.where = param, where
        super().__init__(str(self))

    def located(self, param: str | None = None, where: str | None = None) -> "InvalidParam":
        """Return the same error, naming the parameter and/or the file."""
        return InvalidParam(
            self.invariant,
            self.got,
            self.fix,
            param=self.param if param is None else param,
            where=self.where if where is None else where,
        )

    def __str__(self) -> str:
        text = self.invariant
        if self.param is not None:
            text += f" for '{self.param}'"
        if self.where is not None:
            text += f" in {self.where}"
        if self.got:
            text += f", got {self.got}"
        if self.fix:
            text += f"; {self.fix}"
        return text


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def takes(p: Any, value: Any) -> bool:
    """Whether parameter ``p`` can take ``value``: one of its choices, or a number in its range and on its grid."""
    if not p.contains(value):
        return False
    step = getattr(p, "step", None)
    if not step or not _is_number(value):
        return True
    k = (value - p.low) / step
    return abs(k - round(k)) < 1e-9


def _as_scalar_tuple(values: Any) -> tuple:
    if isinstance(values, (list, tuple)):
        return tuple(values)
    return (values,)


@frozen
class Condition:
    """``when: {parent: value}``: the parameter is active only for these parent values."""

    parent: str
    values: tuple = field(converter=_as_scalar_tuple)

    @values.validator
    def _check_values(self, _: attrs.Attribute, values: tuple) -> None:
        if not values:
            raise InvalidParam(
                "`when` needs at least one value of its parent",
                f"when: {{{self.parent}: []}}",
                "list the parent values for which the parameter is sampled",
            )

    def allows(self, value: Any, step: float | None = None) -> bool:
        """True when a parent taking ``value`` activates the parameter.

        ``step``: the parent's grid, when it is a stepped float; values within a
        billionth of a step are the same grid point (Optuna samples
        0.30000000000000004 for 0.3). Otherwise the comparison is exact.
        """
        if step and _is_number(value):
            return any(_is_number(v) and abs(value - v) < 1e-9 * step for v in self.values)
        return any(_same(value, v) for v in self.values)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1`` (YAML and Optuna keep them apart too), and NaN the same as NaN:
    ``nan != nan``, yet a NaN choice is one choice (Optuna stores it and matches it so)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b or (_is_nan(a) and _is_nan(b))


def _check_limits(p: "FloatParam | IntParam") -> None:
    if p.limits is None:
        return
    lo, hi = p.limits
    if not lo < hi:
        raise InvalidParam(
            "`limits: [lo, hi]` needs lo < hi", f"limits=[{lo}, {hi}]", "write the hard domain bounds in order"
        )
    if p.low < lo or p.high > hi:
        raise InvalidParam(
            "the range must lie inside `limits`",
            f"low={p.low}, high={p.high}, limits=[{lo}, {hi}]",
            "widen the limits or move the range inside them",
        )


def _check_range(p: "FloatParam | IntParam") -> None:
    if not (math.isfinite(p.low) and math.isfinite(p.high)):
        raise InvalidParam("`low` and `high` must be finite numbers", f"low={p.low}, high={p.high}")
    if not p.low < p.high:
        raise InvalidParam(
            "`low < high` must hold",
            f"low={p.low}, high={p.high}",
            "a single value belongs in `fixed`" if p.low == p.high else "swap them",
        )
    if p.log and p.low <= 0:
        raise InvalidParam("`log: true` needs low > 0", f"low={p.low}", "raise `low` above 0 or drop `log`")


def _check_grid(p: "FloatParam | IntParam", step: float) -> None:
    # Optuna silently moves `high` down onto the grid; the file must say what runs.
    n = (p.high - p.low) / step
    if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
        top = p.low + math.floor(n + 1e-9) * step
        top = int(top) if isinstance(p, IntParam) else float(f"{top:.12g}")
        raise InvalidParam(
            "`high - low` must be a multiple of `step`",
            f"low={p.low}, high={p.high}, step={p.step}",
            f"Optuna would never sample above {top}; write high: {top}",
        )


class _UnitScale:
    """A number's range as the unit interval, on the log scale for a log parameter (``FloatParam``, ``IntParam``)."""

    __slots__ = ()  # the attrs classes below stay slotted
    low: Any
    high: Any
    log: bool

    def to_unit(self, x: float) -> float:
        """Position of ``x`` in the range as a share in [0, 1], on the log scale for a log parameter."""
        if self.log:
            return (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        # halved: exact, and no overflow on a range near +-1.8e308
        return (x / 2 - self.low / 2) / (self.high / 2 - self.low / 2)

    def from_unit(self, u: float) -> float:
        """The value at share ``u`` of the range (the inverse of :meth:`to_unit`; ``u`` may leave [0, 1])."""
        if self.log:
            v = float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        else:
            v = 2.0 * (self.low / 2 + u * (self.high / 2 - self.low / 2))
            if not math.isfinite(v):
                v = math.copysign(sys.float_info.max, v)
        if 0 <= u <= 1:  # inside the range stays inside, whatever exp(log(x)) rounds to
            v = min(max(v, self.low), self.high)
        return v


@frozen(kw_only=True)
class FloatParam(_UnitScale):
    """A float in ``[low, high]``, optionally on a log scale or on a grid of ``step``."""

    kind: ClassVar[str] = "float"
    low: float = field(converter=float)
    high: float = field(converter=float)
    log: bool = False
    step: float | None = field(default=None, converter=attrs.converters.optional(float))
    limits: tuple[float, float] | None = field(
        default=None, converter=attrs.converters.optional(lambda v: (float(v[0]), float(v[1])))
    )
    when: Condition | None = None

    def __attrs_post_init__(self) -> None:
        _check_range(self)
        if self.step is not None:
            if self.log:
                raise InvalidParam(
                    "`log` and `step` are exclusive", f"log=true, step={self.step}", "remove one of them"
                )
            if not self.step > 0:
                raise InvalidParam("`step` must be > 0", f"step={self.step}")
            _check_grid(self, self.step)
        _check_limits(self)

    @classmethod
    def from_distribution(cls, d: Any, *, when: Condition | None = None) -> "FloatParam":
        """Build from an Optuna ``FloatDistribution`` (or a legacy uniform, log-uniform or discrete one)."""
        return cls(low=d.low, high=d.high, log=bool(getattr(d, "log", False)), step=getattr(d, "step", None), when=when)

    def to_distribution(self) -> "FloatDistribution":
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: Any) -> bool:
        return _is_number(value) and self.low <= value <= self.high

    def grid_high(self) -> float:
        """The highest value Optuna can sample (``high`` moved down onto the ``step`` grid).

        Optuna's own arithmetic (``FloatDistribution`` moves ``high`` this way),
        without importing Optuna: that import costs a third of a second, on every
        ``next-space`` since the rationale lists the gaps.
        """
        if self.step is None:
            return float(self.high)
        d_low, d_high, d_step = (decimal.Decimal(str(v)) for v in (self.low, self.high, self.step))
        d_r = d_high - d_low
        return float(self.high) if d_r % d_step == 0 else float((d_r // d_step) * d_step + d_low)

    def snap(self, value: float) -> float:
        """``value`` clipped into ``[low, grid_high()]`` and, with a ``step``, moved to the nearest grid point."""
        low, high = self.low, self.grid_high()
        value = min(max(value, low), high)
        if self.step is not None:
            value = min(max(low + round((value - low) / self.step) * self.step, low), high)
            return float(round(value, 12))
        return float(value)


@frozen(kw_only=True)
class IntParam(_UnitScale):
    """An integer in ``[low, high]`` on a grid of ``step`` (default 1), optionally log-scaled."""

    kind: ClassVar[str] = "int"
    low: int = field()
    high: int = field()
    log: bool = False
    step: int = 1
    limits: tuple[int, int] | None = field(default=None, converter=attrs.converters.optional(lambda v: (v[0], v[1])))
    when: Condition | None = None

    @low.validator
    @high.validator
    def _check_int(self, attribute: attrs.Attribute, value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidParam(
                f"`{attribute.name}` of an int parameter must be an integer", f"{attribute.name}={value!r}"
            )
        if abs(value) > 2**53:  # Optuna and its exports handle ints through floats, exact only up to 2**53
            raise InvalidParam(
                f"`{attribute.name}` of an int parameter must lie within ±2**53 ({2**53})",
                f"{attribute.name}={value!r}",
                "use a float parameter (log: true) for so wide a range",
            )

    def __attrs_post_init__(self) -> None:
        _check_range(self)
        if not isinstance(self.step, int) or isinstance(self.step, bool) or self.step < 1:
            raise InvalidParam("`step` of an int parameter must be an integer >= 1", f"step={self.step!r}")
        if self.log and self.step != 1:
            raise InvalidParam("`log` and `step` are exclusive", f"log=true, step={self.step}", "remove one of them")
        _check_grid(self, self.step)
        _check_limits(self)

    @classmethod
    def from_distribution(cls, d: Any, *, when: Condition | None = None) -> "IntParam":
        """Build from an Optuna ``IntDistribution`` (or a legacy int one)."""
        return cls(
            low=int(d.low),
            high=int(d.high),
            log=bool(getattr(d, "log", False)),
            step=int(getattr(d, "step", 1) or 1),
            when=when,
        )

    def to_distribution(self) -> "IntDistribution":
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: Any) -> bool:
        return _is_number(value) and float(value).is_integer() and self.low <= value <= self.high

    def grid_high(self) -> int:
        """The highest value Optuna can sample (``high`` moved down onto the ``step`` grid), as
        ``IntDistribution`` moves it."""
        r = int(self.high) - int(self.low)
        return int(self.high) if r % self.step == 0 else r // self.step * self.step + int(self.low)

    def snap(self, value: float) -> int:
        """``value`` clipped into ``[low, grid_high()]`` and moved to the nearest grid point."""
        low, high = self.low, self.grid_high()
        value = min(max(value, low), high)
        return int(min(max(low + round((value - low) / self.step) * self.step, low), high))


@frozen(kw_only=True)
class CategoricalParam:
    """One of ``choices``; ``weights`` give each choice's share of exploration trials."""

    kind: ClassVar[str] = "categorical"
    choices: tuple = field(converter=tuple)
    weights: tuple[float, ...] | None = field(
        default=None, converter=attrs.converters.optional(lambda w: tuple(float(x) for x in w))
    )
    when: Condition | None = None

    @choices.validator
    def _check_choices(self, _: attrs.Attribute, choices: tuple) -> None:
        if not choices:
            raise InvalidParam("`choices` must not be empty", "choices=[]", "list at least one choice")
        for c in choices:
            if c is not None and not isinstance(c, (str, int, float, bool)):
                raise InvalidParam("choices must be strings, numbers, booleans or null", f"{c!r}")
        for i, c in enumerate(choices):
            if any(_same(c, d) for d in choices[:i]):
                raise InvalidParam("choices must be distinct", f"{c!r} twice", "remove the repeated choice")

    @weights.validator
    def _check_weights(self, _: attrs.Attribute, weights: tuple | None) -> None:
        if weights is None:
            return
        if len(weights) != len(self.choices):
            raise InvalidParam(
                "`weights` needs one weight per choice",
                f"{len(weights)} weights for {len(self.choices)} choices",
                "give one weight per choice, in the order of `choices`",
            )
        if any(not math.isfinite(w) or w < 0 for w in weights):
            raise InvalidParam(
                "weights must be finite and non-negative", f"weights={list(weights)}", "make every weight a number >= 0"
            )
        if sum(weights) <= 0:
            raise InvalidParam(
                "weights must not all be zero", f"weights={list(weights)}", "give at least one choice a weight > 0"
            )

    @classmethod
    def from_distribution(cls, d: Any, *, when: Condition | None = None) -> "CategoricalParam":
        """Build from an Optuna ``CategoricalDistribution``."""
        return cls(choices=tuple(d.choices), when=when)

    def to_distribution(self) -> "CategoricalDistribution":
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.choices)

    @staticmethod
    def same(a: Any, b: Any) -> bool:
        """Whether ``a`` and ``b`` are the same choice, strictly: equal values of one type (``1`` is not ``1.0``
        nor ``True``), NaN the same as NaN."""
        return type(a) is type(b) and (a == b or _is_nan(a) and _is_nan(b))

    @property
    def ordered(self) -> bool:
        """True when every choice is a number (not a bool, nor NaN, which has no place in an order): an ordered
        progression such as batch sizes."""
        return len(self.choices) > 1 and all(_is_number(c) and not _is_nan(c) for c in self.choices)

    def index(self, value: Any) -> int:
        for i, c in enumerate(self.choices):
            if _same(c, value):
                return i
        raise ValueError(value)

    def contains(self, value: Any) -> bool:
        return any(_same(c, value) for c in self.choices)

    def normalized_weights(self) -> tuple[float, ...]:
        """The weights as shares summing to 1 (uniform when none are given)."""
        if self.weights is None:
            return tuple(1.0 / len(self.choices) for _ in self.choices)
        total = sum(self.weights)
        return tuple(w / total for w in self.weights)


Param = Union[FloatParam, IntParam, CategoricalParam]


PARAM_KINDS: dict[str, type] = {cls.kind: cls for cls in (FloatParam, IntParam, CategoricalParam)}
