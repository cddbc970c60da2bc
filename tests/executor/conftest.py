"""What the executor's tests share: the objectives' file, a demo space, and the trials a run left."""

from __future__ import annotations

import collections
import sys
from pathlib import Path

from refine.executor import load_study
from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Space
from refine.spacefile import save_space

OBJ = str(Path(__file__).parents[1] / "objectives.py")


def space_v1(**kw) -> Space:
    return Space(
        name="demo",
        version=1,
        fixed={"epochs": 20},
        params={
            "x": FloatParam(low=0.0, high=1.0),
            "depth": IntParam(low=1, high=4),
            "encoder": CategoricalParam(choices=("cnn", "context"), weights=(0.75, 0.25)),
            "ctx": IntParam(low=1, high=5, when=Condition("encoder", "context")),
        },
        **kw,
    )


def run_argv(tmp_path: Path, objective: str, storage: str | Path, *args: str) -> list[str]:
    """The arguments of `refine run` on ``space_v1()`` (kept in ``tmp_path/v1.yaml``) and ``OBJ:objective``."""
    space_file = tmp_path / "v1.yaml"
    if not space_file.exists():
        save_space(space_v1(), space_file)
    return ["run", str(space_file), "--objective", f"{OBJ}:{objective}", "--storage", str(storage), *args]


def run_cmd(tmp_path: Path, objective: str, storage: str | Path, *args: str) -> list[str]:
    """``run_argv`` as a command line for a subprocess: ``python -m refine run ...`` with this interpreter."""
    return [sys.executable, "-m", "refine", *run_argv(tmp_path, objective, storage, *args)]


def trials_of(storage: str, study: str):
    return load_study(storage, study).get_trials(deepcopy=False)


def states(storage: str, study: str) -> collections.Counter:
    return collections.Counter(t.state.name for t in trials_of(storage, study))
