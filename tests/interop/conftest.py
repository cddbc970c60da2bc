"""What the interop tests share: a strategy of spaces every target can hold, the CLI in-process, an example space."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from refine.cli import main
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Space
from refine.spacefile import save_space

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


_PARAM_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)


_FINITE = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


# ConfigSpace refuses some control-character values such as "\x00" (refine then raises SpaceError, tested below)
_PRINTABLE = st.characters(blacklist_categories=("Cs", "Cc"))


def _scalars() -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(-1000, 1000), _FINITE, st.text(_PRINTABLE, max_size=6), st.booleans(), st.none())


def _choices() -> st.SearchStrategy[list]:
    # One kind per parameter, as users write them; mixing 1 and True is tested on its own.
    return st.one_of(
        st.lists(st.text(_PRINTABLE, max_size=6), min_size=1, max_size=5, unique=True),
        st.lists(st.integers(-100, 1000), min_size=1, max_size=5, unique=True),
        st.lists(_FINITE, min_size=1, max_size=4, unique=True),
        st.lists(st.booleans(), min_size=1, max_size=2, unique=True),
        st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=4, unique=True),
    )


@st.composite
def _params(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["float", "int", "categorical"]))
    if kind == "categorical":
        choices = draw(_choices())
        weights = draw(
            st.none()
            | st.lists(st.floats(0, 10), min_size=len(choices), max_size=len(choices)).filter(lambda w: sum(w) > 0)
        )
        return CategoricalParam(choices=choices, weights=weights)
    limits = draw(st.booleans())
    if kind == "float":
        if draw(st.booleans()):
            low = draw(st.floats(1e-6, 1e2))
            high = low * draw(st.floats(1.01, 1e4))
            p = FloatParam(low=low, high=high, log=True)
        else:
            low = draw(_FINITE)
            step = draw(st.none() | st.sampled_from([0.001, 0.01, 0.05, 0.25, 0.5, 1.0, 5.0]))
            if step is None:
                high = low + draw(st.floats(1e-2, 1e3))
            else:  # on Optuna's grid: `high - low` a multiple of `step`
                low = round(low, 3)
                high = float(f"{low + step * draw(st.integers(1, 200)):.12g}")
            p = FloatParam(low=low, high=high, step=step)
        return attrs.evolve(p, limits=(p.low - 1.0, p.high + 1.0)) if limits else p
    if draw(st.booleans()):
        low = draw(st.integers(1, 100))
        p = IntParam(low=low, high=low + draw(st.integers(1, 1000)), log=True)
    else:
        low = draw(st.integers(-100, 100))
        step = draw(st.integers(1, 5))
        p = IntParam(low=low, high=low + step * draw(st.integers(1, 40)), step=step)
    return attrs.evolve(p, limits=(p.low - 1, p.high + 1)) if limits else p


@st.composite
def spaces(draw: st.DrawFn, max_params: int = 6) -> Space:
    """Valid spaces: every parameter kind, log, step, limits, weights, fixed values and `when` (EQ and IN)."""
    names = draw(st.lists(_PARAM_NAMES, min_size=1, max_size=max_params + 2, unique=True))
    n_fixed = draw(st.integers(0, min(2, len(names) - 1)))
    fixed = {n: draw(_scalars()) for n in names[:n_fixed]}
    params: dict[str, Any] = {}
    for name in names[n_fixed:]:
        p = draw(_params())
        parents = [n for n, q in params.items() if isinstance(q, CategoricalParam)] + list(fixed)
        if parents and draw(st.booleans()):
            parent = draw(st.sampled_from(parents))
            if parent in fixed:
                values = [fixed[parent]]
            else:
                choices = params[parent].choices
                picked = draw(
                    st.lists(st.integers(0, len(choices) - 1), min_size=1, max_size=len(choices), unique=True)
                )
                values = [choices[i] for i in picked]
            p = attrs.evolve(p, when=Condition(parent, values))
        params[name] = p
    version = draw(st.integers(1, 4))
    return Space(
        name=draw(st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}", fullmatch=True)),
        version=version,
        parent=draw(st.none() | st.integers(1, version - 1)) if version > 1 else None,
        directions=draw(st.sampled_from([("minimize",), ("maximize",), ("minimize", "maximize")])),
        metric=draw(st.none() | st.from_regex(r"[a-z_]{1,8}", fullmatch=True)),
        fixed=fixed,
        params=params,
    )


def _run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process through ``main`` (which turns RefineError into exit 2)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _example_space() -> Space:
    return Space(
        name="visual_classifier",
        version=2,
        parent=1,
        directions=("maximize",),
        metric="val_acc",
        fixed={"epochs": 20, "encoder_type": "cnn"},
        params={
            "lr": FloatParam(low=5e-5, high=1e-2, log=True),
            "dropout": FloatParam(low=0.0, high=0.7, step=0.05, limits=(0.0, 1.0)),
            "depth": IntParam(low=2, high=6, limits=(1, 64)),
            "batch_size": CategoricalParam(choices=[8, 16, 32, 64]),
            "encoder": CategoricalParam(choices=["cnn", "context"], weights=[0.75, 0.25]),
            "ctx_layers": IntParam(low=1, high=5, when=Condition("encoder", "context")),
        },
    )


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    return save_space(_example_space(), tmp_path / "visual_classifier.v2.yaml")
