"""refine: read a finished Optuna study and write the next, better search space.

The public API. Heavy modules (optuna, scipy) are imported on first use, so
that ``import refine`` and ``refine --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

import pluggy

from refine.errors import PluginError, RefineError, SpaceError, StudyError

__version__ = "0.1.0"

#: Marker for rule plugins: ``from refine import hookimpl``.
hookimpl = pluggy.HookimplMarker("refine")

_LAZY = {
    "Space": "refine.space",
    "FloatParam": "refine.space",
    "IntParam": "refine.space",
    "CategoricalParam": "refine.space",
    "Condition": "refine.space",
    "load_space": "refine.spacefile",
    "save_space": "refine.spacefile",
    "dump_space": "refine.spacefile",
    "read_study": "refine.study",
    "StudyData": "refine.study",
    "next_space": "refine.engine",
    "Refinement": "refine.engine",
    "Decision": "refine.decisions",
    "Proposal": "refine.decisions",
    "Merge": "refine.decisions",
    "Settings": "refine.settings",
    "run": "refine.executor",
    "compare": "refine.compare",
    "best_config": "refine.compare",
    "rerun": "refine.reruns",
    "rerun_budgets": "refine.reruns",
    "promote": "refine.compare",
    "Ranking": "refine.ranking",
    "ranked_trials": "refine.ranking",
}

__all__ = [
    "__version__",
    "hookimpl",
    "RefineError",
    "SpaceError",
    "StudyError",
    "PluginError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'refine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
