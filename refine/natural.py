"""Natural bounds: where a parameter of an inferred space may go when nobody wrote its `limits`.

A study run without refine carries no space file, so its space is inferred
from the trials' distributions and has no `limits`. Refinement must still not
suggest what a person would never accept: a `subsample` of 1.3, a 0/1 toggle
that reaches 2, a `latent_dim` of 0. :func:`natural_bounds` reads what the
range and the name say:

* a float in ``[a, 1]`` with ``a >= 0``, or a float inside ``[0, 1]`` whose
  name says fraction, ratio, probability, subsample, dropout (or a rate of a
  whole: drop rate, mutation rate...), stays within ``[0, 1]``;
* an int ``[0, 1]`` is a toggle and never expands;
* a stepped int starting at or above its step stays ``>= step``;
* an int from 1 on, or a count (layers, units, estimators, heads, depth...),
  stays ``>= 1``; a minimum split size (``min_samples_split``) from 2 on stays ``>= 2``.

They hold only where the space was inferred (SPEC: without `limits` a space
file implies nothing but ``> 0`` for a log parameter); `limits` in a space file
override them, and ``refine show STUDY --study S -o v1.yaml`` writes the
inferred space with them as `limits` to edit.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["NaturalBounds", "natural_bounds", "natural_limits"]

#: name tokens that say the value is a share of a whole
_FRACTION = {
    "fraction",
    "frac",
    "ratio",
    "prob",
    "probability",
    "proba",
    "subsample",
    "subsampling",
    "colsample",
    "dropout",
    "portion",
    "share",
}
#: a "rate" is a share of a whole after one of these (a learning rate is not)
_RATE_OF = {
    "drop",
    "dropout",
    "mask",
    "mutation",
    "crossover",
    "keep",
    "bagging",
    "sample",
    "sampling",
    "feature",
    "label",
    "smoothing",
}
#: name tokens that say the value is a count of things (at least one of them)
_COUNT = {
    "layers",
    "layer",
    "units",
    "unit",
    "estimators",
    "estimator",
    "heads",
    "head",
    "depth",
    "neurons",
    "filters",
    "channels",
    "blocks",
    "trees",
    "leaves",
    "hidden",
    "experts",
    "components",
    "clusters",
    "neighbors",
    "neighbours",
    "kernels",
    "stages",
    "rounds",
    "epochs",
}


class NaturalBounds(tuple):
    """``(low, high, why)``: the bounds (``-inf``/``inf`` where none) and what they come from."""

    __slots__ = ()

    def __new__(cls, low: float, high: float, why: str) -> "NaturalBounds":
        return super().__new__(cls, (low, high, why))

    @property
    def low(self) -> float:
        return self[0]

    @property
    def high(self) -> float:
        return self[1]

    @property
    def why(self) -> str:
        return self[2]

    def limits_text(self) -> str:
        lo = "..." if math.isinf(self.low) else _num(self.low)
        hi = "..." if math.isinf(self.high) else _num(self.high)
        return f"[{lo}, {hi}]"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [t for t in re.split(r"[^A-Za-z]+", spaced.lower()) if t]


def _says_fraction(name: str) -> bool:
    tokens = _tokens(name)
    if any(t in _FRACTION or t.startswith("colsample") or t.startswith("subsample") for t in tokens):
        return True
    return any(t in ("rate", "p") and i and tokens[i - 1] in _RATE_OF for i, t in enumerate(tokens))


def _says_count(name: str) -> bool:
    tokens = _tokens(name)
    return any(t in _COUNT for t in tokens) or (tokens[:1] in (["n"], ["num"]) and len(tokens) > 1)


def natural_bounds(name: str, param: Any) -> NaturalBounds | None:
    """The natural bounds of a float or int parameter without `limits`, or None where nothing is implied."""
    if getattr(param, "limits", None) is not None or not hasattr(param, "low"):
        return None
    low, high = param.low, param.high
    if param.kind == "float":
        if 0 <= low and high <= 1 and (high == 1 or _says_fraction(name)):
            what = (
                "a fraction by its name"
                if _says_fraction(name)
                else "a float in [a, 1] with a >= 0 reads as a fraction"
            )
            return NaturalBounds(0.0, 1.0, f"{what}: it stays in [0, 1]")
        return None
    if low == 0 and high == 1 and param.step == 1:
        return NaturalBounds(0, 1, "an int [0, 1] is a toggle: it never expands")
    if param.step > 1 and low >= param.step:
        return NaturalBounds(
            param.step, math.inf, f"a stepped int from {low} (step {param.step}) stays >= its step {param.step}"
        )
    if low >= 2 and "split" in _tokens(name):
        return NaturalBounds(
            2, math.inf, "a minimum split size (min_samples_split) stays >= 2: a node of one sample cannot split"
        )
    if low >= 1:
        if _says_count(name):
            return NaturalBounds(
                1, math.inf, "a count by its name: it stays >= 1 (0 layers, units or heads is another model)"
            )
        return NaturalBounds(1, math.inf, "an int range from 1 or more: it stays >= 1")
    return None


def natural_limits(name: str, param: Any) -> tuple[float, float] | None:
    """The natural bounds as a finite `limits` pair a space file can hold, where both sides are bounded."""
    nb = natural_bounds(name, param)
    if nb is None or math.isinf(nb.low) or math.isinf(nb.high):
        return None
    return (nb.low, nb.high)


def clamp(param: Any, nb: NaturalBounds, low: float, high: float) -> tuple[float, float]:
    """``low``/``high`` kept within ``nb``, on ``param``'s grid where it has one."""
    step = getattr(param, "step", None)
    if low < nb.low:
        if step:
            k = math.ceil((nb.low - param.low) / step - 1e-9)
            low = param.low + k * step
            low = int(low) if param.kind == "int" else float(f"{low:.12g}")
        else:
            low = nb.low
    if high > nb.high:
        if step:
            k = math.floor((nb.high - param.low) / step + 1e-9)
            high = param.low + k * step
            high = int(high) if param.kind == "int" else float(f"{high:.12g}")
        else:
            high = nb.high
    return low, high


def with_natural_limits(space: Any) -> Any:
    """``space`` with each two-sided natural bound written as `limits` (an inferred space made editable)."""
    import attrs

    params = {}
    for name, p in space.params.items():
        limits = natural_limits(name, p)
        params[name] = p if limits is None else attrs.evolve(p, limits=limits)
    return attrs.evolve(space, params=params)


def describe_natural(space: Any) -> str | None:
    """One note listing the natural bounds of an inferred space, or None when it has none."""
    found = [(name, nb) for name, p in space.params.items() if (nb := natural_bounds(name, p)) is not None]
    if not found:
        return None
    listed = "; ".join(f"{name} {nb.limits_text()} ({nb.why})" for name, nb in found)
    return (
        f"natural bounds assumed for the inferred space (it has no `limits`): {listed}. "
        "Expansions stay within them; `limits` in a space file override them "
        "(refine show STUDY --study S -o v1.yaml writes the space to edit)"
    )
