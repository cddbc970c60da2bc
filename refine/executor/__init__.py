"""The trial executor: run a space's trials against an objective (``refine run``).

This closes the loop study -> next space -> run -> study. :func:`run` creates
(or resumes) an Optuna study that remembers its space (SPEC section 3), then

1. carries a previous stage over (``from_``): its best configurations,
   projected into the new space, are enqueued first, and its trials that lie
   inside the new space are added as completed history;
2. enqueues forced extremes (untested edges of numeric ranges) and gap
   fillers (ranges and choices never tested);
3. runs trials until exactly ``trials`` are complete.

The rooms, each a module of this package:

- :mod:`~refine.executor.runner`: :func:`run` itself, its arguments checked,
  the study created or resumed, and its :class:`RunResult`;
- :mod:`~refine.executor.objective`: importing the objective, sampling its
  parameters, checking its value;
- :mod:`~refine.executor.sampling`: the samplers, categorical weights and each
  weighted choice's fair share of a stage;
- :mod:`~refine.executor.warm`: warm start, projection, extremes;
- :mod:`~refine.executor.queue`: the ticket queue (exactly ``trials`` with any
  number of workers), its lock, retries, waiting, the progress bar;
- :mod:`~refine.executor.workers`: worker processes and their coordinator;
- :mod:`~refine.executor.interrupts`: Ctrl-C, SIGTERM and heartbeats, and the
  only module that touches Optuna's private API;
- :mod:`~refine.executor.attributes`: the user attributes written on studies
  and trials.

Storages are opened and named by :mod:`refine.storage`; this package
re-exports the names scripts import from it.
"""

from __future__ import annotations

from refine.coverage import Gap, coverage_gaps
from refine.executor.attributes import (
    ATTR_EXTREMES,
    ATTR_GAPS,
    ATTR_PARENT,
    ATTR_SHARE,
    ATTR_SPACE,
    ATTR_VERSION,
    ATTR_WARM,
    TRIAL_DIED,
    TRIAL_ERROR,
    TRIAL_SET,
    study_space,
)
from refine.executor.interrupts import late_signals_held
from refine.executor.objective import ObjectiveError, load_objective, suggest
from refine.executor.runner import MORE_FAILURES, RunResult, run
from refine.executor.sampling import SAMPLERS, fair_shares, make_sampler
from refine.executor.warm import project
from refine.storage import load_study, open_storage, parse_study_ref, redact, study_names

__all__ = [
    "ObjectiveError",
    "RunResult",
    "Gap",
    "open_storage",
    "redact",
    "parse_study_ref",
    "load_objective",
    "load_study",
    "study_names",
    "project",
    "coverage_gaps",
    "run",
    "SAMPLERS",
    "ATTR_EXTREMES",
    "ATTR_GAPS",
    "ATTR_PARENT",
    "ATTR_SHARE",
    "ATTR_SPACE",
    "ATTR_VERSION",
    "ATTR_WARM",
    "MORE_FAILURES",
    "TRIAL_DIED",
    "TRIAL_ERROR",
    "TRIAL_SET",
    "fair_shares",
    "late_signals_held",
    "make_sampler",
    "study_space",
    "suggest",
]
