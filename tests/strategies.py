"""Hypothesis strategies for valid search spaces (SPEC section 1).

:func:`spaces` draws a :class:`~refine.space.Space` that the model accepts:
float, int and categorical parameters with ``log``, ``step``, ``limits`` and
``weights``, ``when`` conditions on earlier categorical parameters (so never
a cycle), fixed values, one or several directions and an optional metric.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from refine.space import DIRECTIONS, CategoricalParam, Condition, FloatParam, IntParam, Space, _same

__all__ = [
    "categorical_params",
    "choices",
    "float_params",
    "int_params",
    "names",
    "scalars",
    "spaces",
]

_NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"

#: Names as SPEC section 1 allows them, including ones YAML would read as other types.
names = st.one_of(
    st.text(_NAME_ALPHABET, min_size=1, max_size=12),
    st.sampled_from(["true", "null", "1", "1.5", "-", ".inf", "no", "1e3", "0x1f"]),
)

#: Finite floats over many magnitudes (repr must read back equal).
finite_floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)

#: Text, with the characters YAML treats specially drawn often.
texts = st.text(st.characters() | st.sampled_from("\x85\u2028\u2029\r\n\t:#'\"-?&*!|>%@` "), max_size=12)

scalars = st.one_of(
    texts,
    st.integers(min_value=-(2**70), max_value=2**70),
    finite_floats,
    st.booleans(),
    st.none(),
)


def _distinct(values: list) -> list:
    out: list = []
    for v in values:
        if not any(_same(v, w) or v == w for w in out):  # 0 == False: Optuna cannot keep them apart
            out.append(v)
    return out


#: Distinct choices of a categorical: strings, numbers, booleans, null.
choices = st.lists(scalars, min_size=1, max_size=6).map(_distinct)


@st.composite
def _range(draw: st.DrawFn, *, integer: bool, log: bool) -> tuple[Any, Any]:
    if integer:
        lo_min = 1 if log else -(10**6)
        low = draw(st.integers(min_value=lo_min, max_value=10**6))
        high = draw(st.integers(min_value=low + 1, max_value=low + 10**6))
        return low, high
    if log:
        low = draw(st.floats(min_value=1e-12, max_value=1e6, allow_subnormal=False))
    else:
        low = draw(st.floats(min_value=-1e6, max_value=1e6))
    high = draw(st.floats(min_value=low, max_value=max(low * 2, low + 1e6)).filter(lambda h: h > low))
    return low, high


@st.composite
def _limits(draw: st.DrawFn, low: Any, high: Any, *, integer: bool, log: bool) -> Any:
    if not draw(st.booleans()):
        return None
    if integer:
        lo = draw(st.integers(min_value=1 if log else low - 100, max_value=low))
        hi = draw(st.integers(min_value=high, max_value=high + 100))
    else:
        lo = draw(st.sampled_from([low, 0.0 if low >= 0 else low, low - 1.0] if not log else [low, low / 2]))
        hi = draw(st.sampled_from([high, high + 1.0, float("inf")]))
    return (lo, hi)


@st.composite
def float_params(draw: st.DrawFn, when: Condition | None = None) -> FloatParam:
    log = draw(st.booleans())
    low, high = draw(_range(integer=False, log=log))
    step = None
    if not log and draw(st.booleans()):
        # On Optuna's decimal grid, high = low + k * step, as files write steps
        # (0.05, 0.1, 25); Optuna would shrink any other high.
        exponent = draw(st.integers(min_value=-4, max_value=2))
        step_d = Decimal(draw(st.integers(min_value=1, max_value=99))).scaleb(exponent)
        low_d = Decimal(draw(st.integers(min_value=-(10**6), max_value=10**6))).scaleb(exponent)
        high_d = low_d + draw(st.integers(min_value=1, max_value=1000)) * step_d
        low, high, step = float(low_d), float(high_d), float(step_d)
    limits = draw(_limits(low, high, integer=False, log=log))
    return FloatParam(low=low, high=high, log=log, step=step, limits=limits, when=when)


@st.composite
def int_params(draw: st.DrawFn, when: Condition | None = None) -> IntParam:
    log = draw(st.booleans())
    low, high = draw(_range(integer=True, log=log))
    step = 1
    if not log and draw(st.booleans()):
        step = draw(st.integers(min_value=1, max_value=1000))
        high = low + draw(st.integers(min_value=1, max_value=1000)) * step
    limits = draw(_limits(low, high, integer=True, log=log))
    return IntParam(low=low, high=high, log=log, step=step, limits=limits, when=when)


@st.composite
def categorical_params(draw: st.DrawFn, when: Condition | None = None) -> CategoricalParam:
    cs = draw(choices)
    weights = None
    if draw(st.booleans()):
        weights = draw(
            st.lists(st.floats(min_value=0, max_value=1e6), min_size=len(cs), max_size=len(cs)).filter(
                lambda w: sum(w) > 0
            )
        )
    return CategoricalParam(choices=tuple(cs), weights=weights, when=when)


@st.composite
def _condition(draw: st.DrawFn, parents: dict[str, CategoricalParam]) -> Condition | None:
    if not parents or not draw(st.booleans()):
        return None
    parent = draw(st.sampled_from(sorted(parents)))
    cs = parents[parent].choices
    picked = draw(st.lists(st.sampled_from(range(len(cs))), min_size=1, max_size=len(cs), unique=True))
    return Condition(parent, [cs[i] for i in picked])


@st.composite
def spaces(draw: st.DrawFn, *, max_params: int = 6, conditional: bool = True) -> Space:
    """A valid space; ``when`` conditions name earlier categoricals, so there is never a cycle."""
    param_names = draw(st.lists(names, max_size=max_params, unique=True))
    params: dict[str, Any] = {}
    categoricals: dict[str, CategoricalParam] = {}
    for name in param_names:
        when = draw(_condition(categoricals)) if conditional else None
        kind = draw(st.sampled_from(["float", "int", "categorical"]))
        if kind == "float":
            params[name] = draw(float_params(when))
        elif kind == "int":
            params[name] = draw(int_params(when))
        else:
            params[name] = categoricals[name] = draw(categorical_params(when))
    fixed_names = draw(st.lists(names.filter(lambda n: n not in params), max_size=3, unique=True))
    fixed = {n: draw(st.one_of(scalars, st.lists(scalars, max_size=3))) for n in fixed_names}
    version = draw(st.integers(min_value=1, max_value=1000))
    parent = draw(st.none() | st.integers(min_value=1, max_value=version - 1)) if version > 1 else None
    directions = draw(
        st.one_of(
            st.tuples(st.sampled_from(DIRECTIONS)),
            st.lists(st.sampled_from(DIRECTIONS), min_size=2, max_size=3).map(tuple),
        )
    )
    metric = draw(st.none() | texts)
    return Space(
        name=draw(names),
        version=version,
        parent=parent,
        directions=directions,
        metric=metric,
        fixed=fixed,
        params=params,
    )
