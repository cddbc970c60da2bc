"""What the rules share (refine/rules/_common.py): Holm-corrected levels, grid snapping."""

from __future__ import annotations

import pytest

from refine.space import FloatParam


@pytest.mark.parametrize(
    "ps, significant",
    [
        # m = 5 (the categorical counts): 0.001 < 0.1/5, 0.02 < 0.1/4, 0.03 < 0.1/3, 0.5 >= 0.1/2;
        # Bonferroni (0.1/5 for all) would pass only the first
        ((0.001, 0.02, 0.03, 0.5), (True, True, True, False)),
        # the step-down stops at the first failure: 0.04 >= 0.1/4, so 0.045 and 0.05 fail too (0.05 < 0.1/2)
        ((0.001, 0.04, 0.045, 0.05), (True, False, False, False)),
        ((float("nan"), 0.2, 0.3, 0.01), (False, False, False, True)),
    ],
)
def test_p_thresholds_are_holm_corrected_over_the_searched_parameters(ps, significant):
    from types import SimpleNamespace

    from refine.rules._common import alpha, p_value
    from refine.settings import Settings

    params = {f"x{i}": SimpleNamespace(kind="numeric", ks_p=p) for i, p in enumerate(ps)}
    params["c"] = SimpleNamespace(kind="categorical", p=0.0)  # another test's p-value: counts in m as 1.0
    ev = SimpleNamespace(space=SimpleNamespace(params=dict.fromkeys(params)), params=params)
    on, off = Settings(), Settings(multiple_testing=False)
    for i, (p, expected) in enumerate(zip(ps, significant)):
        assert (p < alpha(0.1, ev, on, f"x{i}", p_value("ks_p", "numeric"))) is expected
        assert (p < alpha(0.1, ev, off, f"x{i}", p_value("ks_p", "numeric"))) is (p < 0.1)


def test_a_stepped_range_moves_only_to_grid_points_inside_its_limits():
    from refine.rules._common import snap

    p = FloatParam(low=0.1, high=0.4, step=0.1, limits=(0.0, 0.45))
    assert snap(p, 0.1, 0.625) == (0.1, 0.4)  # 0.45 is off the grid: the last point inside is 0.4
    assert snap(p, -0.125, 0.4) == (0.0, 0.4)
    FloatParam(low=0.0, high=0.4, step=0.1, limits=(0.0, 0.45))  # and the result is a valid parameter
