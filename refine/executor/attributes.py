"""The user attributes ``refine run`` writes on studies and trials (SPEC section 3 and lineage)."""

from __future__ import annotations

from typing import Any

from refine.space import Space

#: user attributes written on studies and trials (SPEC section 3 and lineage).
ATTR_SPACE = "refine:space"
ATTR_VERSION = "refine:version"
ATTR_PARENT = "refine:parent_study"
ATTR_WARM = "refine:warm_started"
ATTR_EXTREMES = "refine:extremes_done"
ATTR_GAPS = "refine:fill_gaps_done"
ATTR_SHARE = "refine:fair_share"
TRIAL_ERROR = "refine:error"
TRIAL_SET = "refine:set"
TRIAL_DIED = "refine:died"


def study_space(study: Any) -> Space | None:
    """The space a study was run with (SPEC section 3), or ``None``."""
    from refine.spacefile import space_from_json

    text = study.user_attrs.get(ATTR_SPACE)
    if not text:
        return None
    return space_from_json(text, where=f"study '{study.study_name}' ({ATTR_SPACE})")
