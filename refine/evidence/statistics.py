"""Named statistics: how every number of the evidence is declared, computed (lazily) and asked for.

Each number a rule reads about a parameter (``ev.rho``, ``ev.ks_p``,
``ev.fix_p`` ...) is a field of a named statistic (``spearman``, ``cluster``,
``rivals`` ...) declared on a :class:`StatisticsRegistry`. The built-in ones
(:mod:`refine.evidence.numeric`, :mod:`refine.evidence.categorical`) are
declared by the evidence itself; a plugin declares its own through the hook
``refine_add_statistics(registry)``, in the same way and with the same
standing (``refine/hookspecs.py``). A statistic is computed the first time a
rule asks for it (``ev.statistic("cluster")``, or reading one of its fields,
``ev.ks_p``) and then kept; the rationale lists every statistic of every
parameter.

A per-parameter statistic gets the parameter's evidence (:class:`ParamEvidence`)
whose ``trials`` (:class:`ParamTrials`) hold the numpy inputs every statistic
shares: the ranked trials where it was active, their values, positions and
scores, the elites, the trials run alongside the elites. A study-wide one
(``scope="study"``) gets the study's :class:`~refine.evidence.Evidence`.
"""

from __future__ import annotations

import math
import warnings
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Mapping

import attrs
import numpy as np
from attrs import frozen

from refine.errors import PluginError
from refine.space import CategoricalParam, FloatParam, IntParam

if TYPE_CHECKING:
    from refine.evidence.core import Evidence

__all__ = [
    "CategoricalEvidence",
    "ChoiceStats",
    "NumericEvidence",
    "ParamEvidence",
    "ParamTrials",
    "SCOPES",
    "Statistic",
    "StatisticsRegistry",
    "builtin_statistics",
]

#: where a statistic applies: a numeric parameter, a categorical one, or the whole study
SCOPES = ("numeric", "categorical", "study")
#: the plugin name the evidence's own statistics are declared under
CORE = "evidence"


@frozen
class Statistic:
    """One declared statistic.

    Attributes:
        name: What rules ask for (``ev.statistic(name)``); unique across scopes.
        compute: ``compute(ev) -> {field: value}`` for a parameter's evidence, or
            ``compute(evidence) -> mapping`` for ``scope="study"``.
        scope: ``numeric``, ``categorical`` or ``study``.
        fields: The keys ``compute`` returns, each readable as ``ev.<field>``.
        help: One line: what it measures.
        plugin: The plugin that declared it (``evidence`` for the built-in ones).
    """

    name: str
    compute: Callable[[Any], Mapping[str, Any]]
    scope: str
    fields: tuple[str, ...] = ()
    help: str = ""
    plugin: str = CORE


class StatisticsRegistry:
    """What ``refine_add_statistics`` declares statistics on (like :class:`refine.settings.PluginSettings`)::

    @hookimpl
    def refine_add_statistics(registry):
        registry.add("budget", compute=lambda ev: {"cost_rho": ...}, scope="numeric", fields=("cost_rho",))
    """

    def __init__(self) -> None:
        self.declared: dict[str, Statistic] = {}
        #: the plugin whose declarations are being read (set by the engine for each plugin in turn)
        self.plugin = CORE

    def add(
        self,
        name: str,
        compute: Callable[[Any], Mapping[str, Any]],
        *,
        scope: str,
        fields: tuple[str, ...] | list[str] = (),
        help: str = "",
    ) -> None:
        """Declare the statistic ``name``.

        Args:
            name: What rules ask for; a plugin's own statistics are best named after it (``budget``, ``protect.x``).
            compute: Called once, on first request, with a parameter's evidence
                (``ev.trials`` holds the inputs; ``ev.statistic(other)`` builds on
                another statistic) or, for ``scope="study"``, the study's evidence.
                Returns a mapping with at least every key of ``fields``.
            scope: ``numeric``, ``categorical`` or ``study``.
            fields: The keys a parameter's statistic returns, each then readable
                as an attribute of that parameter's evidence (``ev.cost_rho``).
            help: One line on what it measures.

        Raises:
            ValueError: A name or field declared twice, a field that is already an
                attribute of the evidence, or an unknown scope (the engine reports
                it as the plugin's failure, by its name).
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a statistic needs a name (a non-empty string), got {name!r}")
        if scope not in SCOPES:
            raise ValueError(f"the statistic '{name}' has scope {scope!r}; expected one of {', '.join(SCOPES)}")
        if not callable(compute):
            raise ValueError(f"the statistic '{name}' needs a function compute(ev), got {type(compute).__name__}")
        if name in self.declared:
            raise ValueError(
                f"the statistic '{name}' is declared twice (already by '{self.declared[name].plugin}'); "
                "name a plugin's statistics after the plugin"
            )
        fields = tuple(fields)
        if scope == "study" and fields:
            raise ValueError(f"the study-wide statistic '{name}' has no fields: rules read its mapping")
        cls = NumericEvidence if scope == "numeric" else CategoricalEvidence
        for f in fields:
            owner = self.owner(scope, f)
            if owner is not None or not f.isidentifier() or f.startswith("_") or hasattr(cls, f):
                why = f"statistic '{owner.name}' has it" if owner is not None else "the evidence has that attribute"
                raise ValueError(f"the statistic '{name}' declares the field {f!r}, which it cannot have: {why}")
        self.declared[name] = Statistic(name, compute, scope, fields, help, self.plugin)

    def owner(self, scope: str, field: str) -> Statistic | None:
        """The statistic of ``scope`` that provides ``field`` (None when none does)."""
        for s in self.declared.values():
            if s.scope == scope and field in s.fields:
                return s
        return None

    def of(self, scope: str) -> list[Statistic]:
        """The statistics of ``scope``, in the order they were declared."""
        return [s for s in self.declared.values() if s.scope == scope]

    def get(self, name: str, scope: str | None = None) -> Statistic:
        """The statistic ``name`` (of ``scope`` when given); an unknown one is a :class:`PluginError` listing the
        known."""
        s = self.declared.get(name)
        if s is None or (scope is not None and s.scope != scope):
            known = ", ".join(n for n, d in self.declared.items() if scope is None or d.scope == scope) or "none"
            where = f" for a {scope} parameter" if scope in ("numeric", "categorical") else ""
            raise PluginError(
                f"no statistic '{name}'{where} is declared (known: {known}); a plugin declares its own in "
                "refine_add_statistics, and a disabled rule's statistics are gone with it"
            )
        return s

    def compute(self, s: Statistic, target: Any) -> dict[str, Any]:
        """Run ``s.compute(target)``: SciPy's small-sample warnings silenced, a plugin's failure named."""
        # SciPy warns on ties and small samples (exact KS falling back to asymptotic, all-tied groups);
        # the p-values it returns are still right, and the user's terminal is not the place for them.
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            if s.plugin == CORE:
                out = s.compute(target)
            else:
                try:
                    out = s.compute(target)
                except PluginError:
                    raise
                except Exception as e:  # noqa: BLE001 - a plugin's failure is reported by its name
                    raise PluginError(
                        f"rule plugin '{s.plugin}' failed in its statistic '{s.name}': {type(e).__name__}: {e}"
                    ) from e
        if not isinstance(out, Mapping) or any(f not in out for f in s.fields):
            missing = [f for f in s.fields if not isinstance(out, Mapping) or f not in out]
            raise PluginError(
                f"rule plugin '{s.plugin}' returned {out!r:.80} from its statistic '{s.name}'; expected a mapping "
                f"with {', '.join(missing)}"
            )
        return dict(out)


def builtin_statistics() -> StatisticsRegistry:
    """A registry with the evidence's own statistics declared (the engine adds every plugin's)."""
    from refine.evidence import categorical, numeric

    registry = StatisticsRegistry()
    numeric.declare(registry)
    categorical.declare(registry)
    return registry


@frozen
class ChoiceStats:
    """One choice of a categorical parameter."""

    value: Any
    trials: int
    mean: float
    median: float
    elite_share: float
    effect: float
    fair: bool


def _alongside(study: Any, elites: np.ndarray) -> np.ndarray:
    """The trials run alongside the elites: from the first quartile of the elites' trial numbers on."""
    return study.numbers >= np.quantile(study.numbers[elites], 0.25)


def _transform(p: FloatParam | IntParam, x: np.ndarray) -> np.ndarray:
    """Position of ``x`` in [0, 1] of the range (log scale for log params)."""
    if p.log:
        lo, hi = math.log(p.low), math.log(p.high)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.log(np.where(x > 0, x, np.nan)) - lo) / (hi - lo)
    return (x / 2 - p.low / 2) / (p.high / 2 - p.low / 2)  # halved: exact, and no overflow near +-1.8e308


class ParamTrials:
    """One parameter's trials: the numpy inputs every statistic of it shares, each computed once on first use.

    Masks run over every trial of the study (``evidence.study``); ``values``,
    ``scores``, ``positions`` and ``order`` over the ``active`` ones only.
    """

    def __init__(self, name: str, param: Any, evidence: Evidence) -> None:
        self.name = name
        self.param = param
        self.evidence = evidence
        self.study = evidence.study
        self.settings = evidence.settings
        col = self.study.columns.get(name)
        #: the parameter's value per trial (NaN where it was not active, or not searched)
        self.column = np.full(self.study.n_trials, np.nan) if col is None else col

    @cached_property
    def valid(self) -> np.ndarray:
        """Trials where the parameter has a value."""
        return ~np.isnan(self.column)

    @cached_property
    def active(self) -> np.ndarray:
        """Ranked trials where the parameter was active."""
        return self.evidence.ranked & self.valid

    @cached_property
    def values(self) -> np.ndarray:
        return self.column[self.active]

    @cached_property
    def scores(self) -> np.ndarray:
        """The active trials' scores (higher is better)."""
        return self.evidence.scores[self.active]

    @cached_property
    def order(self) -> np.ndarray:
        """The active trials' numbers (as floats): the order the sampler ran them in."""
        return self.study.numbers[self.active].astype(float)

    @cached_property
    def score_and_order_ranks(self) -> tuple[np.ndarray, np.ndarray]:
        """``scipy.stats.rankdata`` of ``scores`` and of ``order``: the same for every parameter active in the same
        trials, so ranked once per study (each is a sort of every trial) and shared."""
        return self.evidence.ranks_where(self.active)

    @cached_property
    def elites(self) -> np.ndarray:
        """Elite trials where the parameter was active."""
        return self.evidence.elites & self.valid

    @cached_property
    def n_elites(self) -> int:
        return int(self.elites.sum())

    @cached_property
    def elite_values(self) -> np.ndarray:
        return self.column[self.elites]

    @cached_property
    def alongside(self) -> np.ndarray | None:
        """Trials run alongside the elites (``contemporary_reference``), None when off or without elites."""
        if not self.settings.contemporary_reference or not self.n_elites:
            return None
        return _alongside(self.study, self.elites)

    def positions_of(self, x: np.ndarray) -> np.ndarray:
        """Positions of values ``x`` in [0, 1] of a number's range, on its own scale (log for a log parameter)."""
        return _transform(self.param, x)

    @cached_property
    def positions(self) -> np.ndarray:
        """The active trials' positions (a number's)."""
        return self.positions_of(self.values)

    @cached_property
    def elite_positions(self) -> np.ndarray:
        return self.positions_of(self.elite_values)

    @cached_property
    def codes(self) -> np.ndarray:
        """Per trial, the index of its choice in the parameter's choices (-1: none of them; a categorical's)."""
        inferred = self.study.inferred.params.get(self.name)
        seen = inferred.choices if isinstance(inferred, CategoricalParam) else ()
        codes = np.full(len(self.column), -1)
        if seen:
            mapping = np.array([_index_or(self.param, c) for c in seen])
            codes[self.valid] = mapping[self.column[self.valid].astype(int)]
        return codes


def _index_or(p: CategoricalParam, value: Any) -> int:
    try:
        return p.index(value)
    except ValueError:
        return -1


class ParamEvidence:
    """One parameter's evidence: ``name``, ``n`` (ranked trials where it was active), ``extra`` (what
    ``refine_add_evidence`` added), and every field of every statistic of its kind, computed on first request.

    ``ev.statistic("cluster")`` is the statistic's mapping; ``ev.ks_p`` one of its fields.
    """

    kind = ""
    #: the built-in fields, in the order the JSON rationale lists them (``extra`` among them)
    FIELDS: tuple[str, ...] = ()

    def __init__(self, trials: ParamTrials, registry: StatisticsRegistry) -> None:
        self.trials = trials
        self.name = trials.name
        self.n = int(trials.active.sum())
        self.extra: dict[str, Any] = {}
        self._registry = registry
        self._cache: dict[str, dict[str, Any]] = {}
        self._busy: set[str] = set()

    def statistic(self, name: str) -> dict[str, Any]:
        """The statistic ``name`` of this parameter, computed once (a :class:`PluginError` when none is declared)."""
        found = self._cache.get(name)
        if found is not None:
            return found
        s = self._registry.get(name, self.kind)
        if name in self._busy:
            raise PluginError(f"rule plugin '{s.plugin}': the statistic '{name}' asks for itself (a cycle)")
        self._busy.add(name)
        try:
            found = self._cache[name] = self._registry.compute(s, self)
        finally:
            self._busy.discard(name)
        return found

    def __getattr__(self, field: str) -> Any:
        if field.startswith("_") or "_registry" not in self.__dict__:
            raise AttributeError(field)
        s = self._registry.owner(self.kind, field)
        if s is None:
            raise AttributeError(f"'{type(self).__name__}' has no field '{field}' (no statistic declares it)")
        return self.statistic(s.name)[field]

    def as_dict(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """Every statistic's fields as plain data (the JSON rationale's ``stats``): the built-in fields in their
        order, then a plugin's; the fields in ``exclude`` left out (and not computed)."""
        out: dict[str, Any] = {}
        for f in self.FIELDS:
            if f not in exclude:
                out[f] = _plain(getattr(self, f))
        for s in self._registry.of(self.kind):
            for f in s.fields:
                if f not in out and f not in exclude:
                    out[f] = _plain(self.statistic(s.name)[f])
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, n={self.n})"


def _plain(x: Any) -> Any:
    """Plain data, as ``attrs.asdict`` makes it (attrs instances as dicts, collections as lists)."""
    if x is None or type(x) in (float, int, str, bool):
        return x
    if attrs.has(type(x)):
        return attrs.asdict(x, recurse=True)
    if isinstance(x, (tuple, list, set, frozenset)):
        return [_plain(v) for v in x]
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


class NumericEvidence(ParamEvidence):
    """Evidence for a float or int parameter (positions ``u`` are in [0, 1] on its own scale).

    Fields, by the statistic that provides them:

    * ``range``: ``low``, ``high``, ``log`` (the current range), ``outside``
      (trials outside it);
    * ``elites``: ``elite_low``, ``elite_high``, ``elite_quantiles`` (10/50/90 %),
      ``elite_values``, ``best_value`` (the best trial's), ``near_best_values``
      (within two noise SDs of the best);
    * ``spearman``: ``rho``, ``p``: Spearman against the score, controlling for
      trial order (adaptive samplers drift), sign-corrected so rho > 0 means
      "larger is better";
    * ``trend``: ``trend_low``, ``trend_high``, ``trend_low_p``, ``trend_high_p``:
      Spearman within the outer thirds of the range;
    * ``edges``: ``edge_low_share``, ``edge_high_share`` (the elites in each
      ``edge_zone``), ``ref_low_share``, ``ref_high_share`` (the other trials
      run alongside them), ``edge_low_p``, ``edge_high_p`` (binomial p of the crowd);
    * ``cluster``: ``ks_p``, the p-value that the elites spread like the other
      trials: the smaller of the two-sample KS test's and a permutation test of
      the elites' span (which sees a tight cluster KS can miss);
    * ``mode``: ``mode_value``, ``mode_share`` (the elites' most common value),
      ``others_n`` (trials elsewhere), ``effect``, ``effect_p``, ``effect_others``:
      Mann-Whitney of the trials at the mode against the trials at other values
      (the elites' contemporaries with ``contemporary_reference``; with fewer than
      :data:`~refine.evidence.MIN_CONTEMPORARIES` no effect is computed: 0, p = 1).
    """

    kind = "numeric"
    FIELDS = (
        *("name", "n", "rho", "p", "low", "high", "log", "elite_low", "elite_high", "elite_quantiles", "best_value"),
        *("elite_values", "edge_low_share", "edge_high_share", "ref_low_share", "ref_high_share", "trend_low"),
        *("trend_high", "trend_low_p", "trend_high_p", "ks_p", "effect", "effect_p", "mode_value", "mode_share"),
        *("others_n", "outside", "effect_others", "near_best_values", "edge_low_p", "edge_high_p", "extra"),
    )


class CategoricalEvidence(ParamEvidence):
    """Evidence for a categorical parameter.

    Fields, by the statistic that provides them:

    * ``choices``: ``choices`` (a :class:`ChoiceStats` per choice: trials, mean
      and median objective, elite share, effect versus the best choice, fair
      trial), ``best_choice`` (best median), ``top_choice`` (most elites),
      ``elite_convergence`` (its share of the elites), ``best_value`` (the best
      trial's), ``ordered``, ``dominance_p`` (binomial p that the top choice holds
      that many elites by chance, given its share of the trials);
    * ``kruskal``: ``p``, Kruskal-Wallis across the choices;
    * ``rivals``: ``fix_p``, Mann-Whitney p that the top choice beats its rivals
      among the trials run alongside the elites (all trials without
      ``contemporary_reference``; 1 when fewer than 3 rival trials), and
      ``fix_others``, the rival trials it compares with.
    """

    kind = "categorical"
    FIELDS = (
        *("name", "n", "choices", "best_choice", "p", "elite_convergence", "top_choice", "best_value", "ordered"),
        *("dominance_p", "extra", "fix_p", "fix_others"),
    )

    def stats(self, value: Any) -> ChoiceStats:
        for c in self.choices:
            if CategoricalParam.same(c.value, value):
                return c
        raise KeyError(value)
