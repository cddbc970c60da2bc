"""Evidence: what a study says about each parameter, in numbers.

Pure numpy/scipy on the columnar :class:`~refine.study.StudyData`, in rooms:

* :mod:`~refine.evidence.core`: which trials rank and which are the elites
  (ordered by :func:`refine.ranking.order_rows`; Pareto fronts in order for
  several objectives), the noise from repeated configurations, the group of
  trials a changed space is refined from, and :func:`gather_evidence`;
* :mod:`~refine.evidence.statistics`: named statistics, declared on a
  :class:`StatisticsRegistry` by the evidence and by plugins alike (hook
  ``refine_add_statistics``) and computed when a rule first asks for them;
* :mod:`~refine.evidence.numeric`: a number's statistics (Spearman against
  the score controlling for trial order, trends near the bounds, the elites'
  crowd at each edge, their cluster, the value they settled on);
* :mod:`~refine.evidence.categorical`: per choice, trials, values and elites,
  Kruskal-Wallis across the choices, the top choice against its rivals;
* :mod:`~refine.evidence.significance`: the tests they share.
"""

from refine.evidence.core import Evidence, gather_evidence
from refine.evidence.significance import MIN_CONTEMPORARIES
from refine.evidence.statistics import (
    CategoricalEvidence,
    ChoiceStats,
    NumericEvidence,
    ParamEvidence,
    ParamTrials,
    Statistic,
    StatisticsRegistry,
    builtin_statistics,
)
from refine.evidence.statistics import (
    _transform as _transform,
)

__all__ = [
    "CategoricalEvidence",
    "ChoiceStats",
    "Evidence",
    "MIN_CONTEMPORARIES",
    "NumericEvidence",
    "ParamEvidence",
    "ParamTrials",
    "Statistic",
    "StatisticsRegistry",
    "builtin_statistics",
    "gather_evidence",
]
