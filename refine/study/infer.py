"""Space inference: the search space a study's trials describe, when none was remembered.

Each parameter's distributions are united first (:mod:`refine._distributions`);
here a parameter sampled in some finished trials only gets the ``when``
condition that explains it (a categorical parent's choices, or an int parent
above a threshold, as in Optuna's ``n_units_l{i}`` examples), and float bounds
with machine noise are rounded outward to be read. What could not be
explained is said in a note.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, Iterator, Mapping, Sequence

import attrs
import numpy as np

from refine import _distributions
from refine.rules._common import snap
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Param, Space
from refine.study.data import COMPLETE, PRUNED, RUNNING


def safe_name(name: str, *, strip: str = "._", default: str = "study") -> str:
    """A space name (and file name) made from any study name: ``[A-Za-z0-9_.-]+``.

    Accented letters lose their accents (``étude`` → ``etude``); any other
    run of characters outside the set becomes one ``_``.
    """
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", ascii_text).strip(strip) or default


def infer_space(
    name: str,
    directions: Sequence[str],
    params: Mapping[str, Any],
    columns: Mapping[str, np.ndarray],
    states: np.ndarray,
    numbers: np.ndarray,
    notes: list[str],
) -> Space:
    """The space the trials' distributions describe, conditionals included."""
    finished = states == COMPLETE
    if not finished.any():
        finished = (states == PRUNED) | (states == COMPLETE)
    if not finished.any():
        finished = states != RUNNING
    searched: dict[str, Param] = {}
    fixed: dict[str, Any] = {}
    for pname, p in params.items():
        if isinstance(p, _distributions.Fixed):
            fixed[pname] = p.value
        else:
            searched[pname] = p
    present = {k: ~np.isnan(columns[k]) & finished for k in searched}
    # A pruned trial sampled its params like a complete one: where it holds a child, the parent's value there
    # activates the child (a child present only when the parent exceeds k may show only in pruned trials).
    # Its absences prove nothing (it may have been pruned before sampling the child): those come from the
    # finished trials alone.
    with_pruned = finished | (states == PRUNED)
    sampled = _Sampled(searched, columns, present, {k: ~np.isnan(columns[k]) & with_pruned for k in searched})
    out: dict[str, Param] = {}
    for pname, p in searched.items():
        here = present[pname]
        if here.sum() == finished.sum() or not sampled.seen[pname].any():
            out[pname] = p
            continue
        cond = sampled.exact_condition(pname)
        if cond is None:
            cond = _int_condition(pname, sampled)
        if cond is not None:
            out[pname] = attrs.evolve(p, when=cond)
            continue
        if not here.any():  # sampled in pruned trials only, and no parent explains when
            out[pname] = p
            continue
        seen = numbers[finished & here]
        absent = numbers[finished & ~here]
        if len(seen) and len(absent) and (absent.max() < seen.min() or absent.min() > seen.max()):
            notes.append(
                f"'{pname}' is absent in trials {absent.min()}-{absent.max()} and present in "
                f"{seen.min()}-{seen.max()}: "
                "the search space changed mid-study; not inferred as a `when` condition"
            )
        else:
            cond = sampled.necessary_condition(pname)
            if cond is not None:
                notes.append(
                    f"'{pname}' was sampled only when {cond.parent} was {', '.join(map(repr, cond.values))}, but not "
                    f"always then (it depends on more than {cond.parent}); inferred `when: {{{cond.parent}: ...}}`, "
                    "the condition its trials share"
                )
                out[pname] = attrs.evolve(p, when=cond)
                continue
            notes.append(
                f"'{pname}' was sampled in {int(here.sum())} of {int(finished.sum())} finished trials and no "
                "categorical parameter, nor an int one by a threshold, explains when; treated as unconditional"
            )
        out[pname] = p
    out = {pname: _readable(pname, p, notes) for pname, p in out.items()}
    return Space(
        name=safe_name(name), version=1, directions=tuple(directions) or ("minimize",), params=out, fixed=fixed
    )


def _readable(pname: str, p: Param, notes: list[str]) -> Param:
    """A float range whose bounds carry machine noise (``high: 32.41587556853305``), rounded outward to
    3 significant digits: every trial stays inside, and a person can read it. Clean bounds are kept."""
    if not isinstance(p, FloatParam) or p.step is not None:
        return p

    def noisy(x: float) -> bool:
        return x != 0 and math.isfinite(x) and float(f"{x:.6g}") != x

    if not (noisy(p.low) or noisy(p.high)):
        return p
    snapped = snap(p, p.low, p.high)
    if snapped is None:
        return p
    low = snapped[0] if noisy(p.low) else p.low
    high = snapped[1] if noisy(p.high) else p.high
    if p.log and low <= 0 or (p.low >= 0 and low < 0):
        return p
    notes.append(
        f"'{pname}' ranged over [{p.low!r}, {p.high!r}]; inferred as [{low:g}, {high:g}], rounded outward to be read"
    )
    return attrs.evolve(p, low=low, high=high)


@attrs.frozen
class _Sampled:
    """Which finished trials sampled each searched parameter, and its values: what a ``when`` is inferred from."""

    searched: Mapping[str, Param]
    columns: Mapping[str, np.ndarray]
    present: Mapping[str, np.ndarray]  # per parameter, the finished trials that sampled it
    seen: Mapping[str, np.ndarray]  # per parameter, the finished or pruned trials that sampled it

    def categorical_parents(
        self, pname: str, among: Mapping[str, np.ndarray] | None = None
    ) -> Iterator[tuple[str, CategoricalParam, set[int], np.ndarray]]:
        """(parent, its param, the choices trials with ``pname`` took, its choice per trial that sampled it) for each
        categorical sampled in every trial that sampled ``pname``, among the finished trials (or ``among``)."""
        among = self.present if among is None else among
        here = among[pname]
        for parent, pp in self.searched.items():
            if parent == pname or not isinstance(pp, CategoricalParam):
                continue
            parent_here = among[parent]
            if not (here & ~parent_here).any():
                col = self.columns[parent]
                yield parent, pp, set(col[here].astype(int).tolist()), col[parent_here].astype(int)

    def exact_condition(self, pname: str) -> Condition | None:
        """A categorical whose choices with ``pname`` (in finished or pruned trials) and without it (in finished
        ones) do not overlap."""
        here = self.present[pname]
        for parent, pp, on, _ in self.categorical_parents(pname, self.seen):
            col = self.columns[parent]
            off = set(col[self.present[parent] & ~here].astype(int).tolist())
            if on and not (on & off) and off:
                return Condition(parent, [pp.choices[i] for i in sorted(on)])
        return None

    def necessary_condition(self, pname: str, min_trials: int = 5) -> Condition | None:
        """A categorical whose every trial with ``pname`` took some of its choices, and whose other choices,
        each tried at least ``min_trials`` times, never came with it (a nested condition: ``enc`` and more)."""
        for parent, pp, on, tried in self.categorical_parents(pname):
            never = {int(i) for i in set(tried.tolist()) - on}
            if on and never and all((tried == i).sum() >= min_trials for i in never):
                return Condition(parent, [pp.choices[i] for i in sorted(on)])
        return None


#: the most values an inferred ``when`` on an int parent lists
_MAX_WHEN_VALUES = 64


def _int_condition(pname: str, sampled: _Sampled) -> Condition | None:
    """A define-by-run condition on an int parent: ``pname`` was sampled exactly when the parent exceeded some k.

    Optuna's own examples write ``n_units_l{i}`` for ``i in range(n_layers)``:
    ``n_units_l5`` is there exactly when ``n_layers >= 6``. The condition lists
    every value of the parent's grid above k (``when: {n_layers: [6, 7, ..., 20]}``),
    the tried and the untried ones. Among several ints that split the trials so,
    the one whose name shares most with ``pname`` wins (``n_layers_encoder`` for
    ``n_units_encoder_l5``), then the one with most trials on both sides.
    Where the child was sampled comes from finished and pruned trials, where it
    was not from finished ones; a pruned trial without it below every parent
    value that had it moves k up to its value.
    """
    here, with_child = sampled.present[pname], sampled.seen[pname]
    found = []
    for parent, pp in sampled.searched.items():
        if parent == pname or not isinstance(pp, IntParam) or pp.when is not None and pp.when.parent == pname:
            continue
        if (with_child & ~sampled.seen[parent]).any():
            continue
        col = sampled.columns[parent]
        on = col[with_child]
        off = col[sampled.present[parent] & ~here]
        if len(on) < 2 or len(off) < 2 or on.min() <= off.max():
            continue
        # a pruned trial without the child below every value that had it was not pruned before sampling it
        pruned_off = col[sampled.seen[parent] & ~with_child]
        k = max(off.max(), pruned_off[pruned_off < on.min()].max(initial=off.max()))
        values = [v for v in range(pp.low, pp.high + 1, pp.step) if v > k]
        if not values or len(values) > _MAX_WHEN_VALUES:
            continue
        shared = len(set(_name_tokens(parent)) & set(_name_tokens(pname)))
        found.append((shared, min(len(on), len(off)), parent, values))
    if not found:
        return None
    found.sort(key=lambda f: (-f[0], -f[1]))
    return Condition(found[0][2], found[0][3])


def _name_tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z]+", name.lower()) if t and t not in ("n", "num", "l")]
