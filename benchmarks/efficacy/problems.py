"""Synthetic problems with known ground truth for the quality benchmark.

Each problem is a :class:`Problem`: a name, the v1 :class:`~refine.space.Space`
a user would start from, a noise-free objective ``true(config)`` (minimize),
and the ground truth a benchmark needs: ``optimum`` (the best value reachable
inside the parameters' hard ``limits``), ``best`` (a configuration reaching
it) and ``relevant`` (parameter -> its optimal value or choice), against which
a refined space is checked for excluding the truth.

``Ordered numeric categoricals (widths, batch sizes) are smooth functions of
the value, so a refined space may add the next value of the progression.

``evaluate(config, rng)`` adds the problem's noise from the given generator,
so that a benchmark hands every strategy the same draws for the same trial
index. A conditional parameter that is inactive (or was dropped) is simply
absent from ``config``.

The shapes, one each (issue 7):

- ``boundary``: the optimum lies beyond the v1 range of two parameters
  (``depth`` [2, 6] with its optimum at 9, ``lr`` one decade too low), and
  ``dropout``'s optimum sits on its hard limit 0, where nothing can expand.
- ``irrelevant``: 3 parameters matter, 12 do not.
- ``sharp_log``: a narrow optimum (0.15 decades wide) in a 6-decade ``lr``.
- ``mixed_cond``: ints and categoricals, a conditional branch
  (``ctx_layers`` only for ``encoder: context``) whose winning choice gets
  15 % of the exploration (``weights``), and ``momentum`` only for ``sgd``.
- ``noisy``: noise as large as the whole signal: keeping broad is honest.
- ``vision``: an image-classifier-like space with interactions (the best
  ``lr`` follows batch size, optimizer and momentum), divergence past a
  learning-rate cliff, and rare heavy-tailed bad runs.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Callable, Mapping

import numpy as np
from attrs import field, frozen

from refine.space import CategoricalParam, Condition, FloatParam, IntParam, Space

__all__ = ["Problem", "PROBLEMS", "SYNTHETIC", "get", "sample_config", "normalized_regret"]


@frozen
class Problem:
    """A benchmark problem with known ground truth (minimize).

    Attributes:
        name: Short identifier.
        space: The v1 space a user starts from.
        true: The noise-free objective.
        noise: ``noise(config, rng) -> float`` added to ``true``.
        best: A configuration reaching ``optimum``.
        relevant: Parameter -> optimal value (numbers) or choice (categoricals).
        v1_best: The best true value reachable inside v1 (``None``: same as
            ``optimum``).
        reference: The median true value of random v1 configurations: regret
            is normalized so that ``reference`` is 1 and ``optimum`` is 0.
    """

    name: str
    space: Space
    true: Callable[[Mapping[str, Any]], float]
    noise: Callable[[Mapping[str, Any], np.random.Generator], float]
    best: dict = field(hash=False)
    relevant: dict = field(hash=False)
    v1_best: float | None = None
    reference: float = field(default=float("nan"))

    @property
    def optimum(self) -> float:
        return self.true(self.best)

    def evaluate(self, config: Mapping[str, Any], rng: np.random.Generator) -> float:
        """The noisy objective value of ``config`` (noise drawn from ``rng``)."""
        return self.true(config) + self.noise(config, rng)

    def regret(self, value: float) -> float:
        """Normalized regret of a true value: 0 at the optimum, 1 at the random-v1 median."""
        return normalized_regret(value, self.optimum, self.reference)


def normalized_regret(value: float, optimum: float, reference: float) -> float:
    return max(0.0, (value - optimum) / (reference - optimum))


def rng_for(*key: Any) -> np.random.Generator:
    """A generator seeded from a tuple of names and integers (stable across processes)."""
    words = [zlib.crc32(str(k).encode()) if not isinstance(k, int) else k for k in key]
    return np.random.default_rng(words)


def sample_config(space: Space, rng: np.random.Generator) -> dict:
    """A random configuration of ``space`` (weights honoured), inactive parameters left out."""
    config: dict = {}
    for name, p in space.params.items():
        if not space.is_active(name, {**space.fixed, **config}):
            continue
        if isinstance(p, CategoricalParam):
            config[name] = p.choices[rng.choice(len(p.choices), p=np.array(p.normalized_weights()))]
        elif isinstance(p, IntParam):
            if p.log:
                config[name] = int(
                    round(
                        math.exp(rng.uniform(math.log(p.low - 0.5 if p.low > 0.5 else p.low), math.log(p.high + 0.5)))
                    )
                )
                config[name] = min(max(config[name], p.low), p.high)
            else:
                config[name] = int(p.low + p.step * rng.integers(0, (p.high - p.low) // p.step + 1))
        else:
            if p.log:
                config[name] = math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
            elif p.step:
                config[name] = p.low + p.step * rng.integers(0, int(round((p.high - p.low) / p.step)) + 1)
            else:
                config[name] = rng.uniform(p.low, p.high)
    return {**space.fixed, **config}


def _gauss(sigma: float) -> Callable:
    return lambda config, rng: sigma * rng.standard_normal()


def _dlog(value: float, target: float) -> float:
    return math.log10(value) - math.log10(target)


def _with_reference(p: Problem, n: int = 4000) -> Problem:
    import attrs

    rng = rng_for("reference", p.name)
    values = [p.true(sample_config(p.space, rng)) for _ in range(n)]
    return attrs.evolve(p, reference=float(np.median(values)))


# --------------------------------------------------------------------------- boundary


def _boundary_true(c: Mapping[str, Any]) -> float:
    width = 0.01 * math.log2(c["width"] / 128) ** 2
    return 0.10 + 0.004 * (c["depth"] - 9) ** 2 + 0.03 * _dlog(c["lr"], 5e-3) ** 2 + 0.08 * c["dropout"] + width


def _boundary() -> Problem:
    space = Space(
        name="boundary",
        version=1,
        params={
            "depth": IntParam(low=2, high=6, limits=(1, 64)),
            "lr": FloatParam(low=1e-5, high=1e-3, log=True),
            "dropout": FloatParam(low=0.0, high=0.5, limits=(0.0, 1.0)),
            "width": CategoricalParam(choices=(32, 64, 128)),
        },
    )
    best = {"depth": 9, "lr": 5e-3, "dropout": 0.0, "width": 128}
    v1 = _boundary_true({"depth": 6, "lr": 1e-3, "dropout": 0.0, "width": 128})
    return Problem("boundary", space, _boundary_true, _gauss(0.003), best, dict(best), v1_best=v1)


# --------------------------------------------------------------------------- irrelevant


def _irrelevant_true(c: Mapping[str, Any]) -> float:
    return 0.1 + (c["x"] - 0.3) ** 2 + 0.05 * _dlog(c["lr"], 1e-3) ** 2 + 0.002 * (c["n"] - 14) ** 2


def _irrelevant() -> Problem:
    params: dict = {
        "x": FloatParam(low=0.0, high=1.0),
        "lr": FloatParam(low=1e-5, high=1e-1, log=True),
        "n": IntParam(low=1, high=20),
    }
    for i in range(9):
        params[f"z{i}"] = FloatParam(low=0.0, high=1.0)
    params["k0"] = IntParam(low=0, high=100)
    params["k1"] = IntParam(low=1, high=1000, log=True)
    params["c0"] = CategoricalParam(choices=("a", "b", "c", "d"))
    space = Space(name="irrelevant", version=1, params=params)
    best = {"x": 0.3, "lr": 1e-3, "n": 14, **{f"z{i}": 0.5 for i in range(9)}, "k0": 50, "k1": 30, "c0": "a"}
    return Problem("irrelevant", space, _irrelevant_true, _gauss(0.005), best, {"x": 0.3, "lr": 1e-3, "n": 14})


# --------------------------------------------------------------------------- sharp_log


def _sharp_true(c: Mapping[str, Any]) -> float:
    sharp = 0.5 * (1.0 - math.exp(-(_dlog(c["lr"], 3e-4) ** 2) / (2 * 0.15**2)))
    return (
        0.05
        + sharp
        + 0.02 * _dlog(c["wd"], 1e-4) ** 2
        + 0.1 * (c["momentum"] - 0.9) ** 2
        + 0.004 * math.log2(c["batch"] / 64) ** 2
    )


def _sharp_log() -> Problem:
    space = Space(
        name="sharp_log",
        version=1,
        params={
            "lr": FloatParam(low=1e-6, high=1.0, log=True),
            "wd": FloatParam(low=1e-7, high=1e-1, log=True),
            "momentum": FloatParam(low=0.0, high=0.99, limits=(0.0, 1.0)),
            "batch": CategoricalParam(choices=(16, 32, 64, 128)),
        },
    )
    best = {"lr": 3e-4, "wd": 1e-4, "momentum": 0.9, "batch": 64}
    return Problem("sharp_log", space, _sharp_true, _gauss(0.005), best, dict(best))


# --------------------------------------------------------------------------- mixed_cond


def _mixed_true(c: Mapping[str, Any]) -> float:
    if c["encoder"] == "context":
        enc = 0.06 * ((c.get("ctx_layers", 1) - 3) / 2) ** 2
    else:
        enc = 0.05
    opt = {"adam": 0.0, "rmsprop": 0.02}.get(c["optimizer"])
    if opt is None:
        opt = 0.04 - 0.04 * c.get("momentum", 0.0)
    return (
        0.2
        + enc
        + opt
        + 0.005 * (c["layers"] - 5) ** 2
        + 0.01 * math.log2(c["batch_size"] / 32) ** 2
        + {"relu": 0.005, "gelu": 0.0, "tanh": 0.03}[c["activation"]]
    )


def _mixed_cond() -> Problem:
    space = Space(
        name="mixed_cond",
        version=1,
        params={
            "encoder": CategoricalParam(choices=("cnn", "context"), weights=(0.85, 0.15)),
            "ctx_layers": IntParam(low=1, high=6, when=Condition("encoder", "context")),
            "optimizer": CategoricalParam(choices=("adam", "sgd", "rmsprop")),
            "momentum": FloatParam(low=0.0, high=0.99, limits=(0.0, 1.0), when=Condition("optimizer", "sgd")),
            "layers": IntParam(low=1, high=8, limits=(1, 64)),
            "batch_size": CategoricalParam(choices=(16, 32, 64, 128)),
            "activation": CategoricalParam(choices=("relu", "gelu", "tanh")),
        },
    )
    best = {
        "encoder": "context",
        "ctx_layers": 3,
        "optimizer": "adam",
        "layers": 5,
        "batch_size": 32,
        "activation": "gelu",
    }
    return Problem("mixed_cond", space, _mixed_true, _gauss(0.005), best, dict(best))


# --------------------------------------------------------------------------- noisy


def _noisy_true(c: Mapping[str, Any]) -> float:
    return (
        0.5
        + 0.03 * ((c["x"] - 0.8) ** 2 + (c["y"] - 0.2) ** 2)
        + 0.005 * _dlog(c["lr"], 3e-2) ** 2
        + {"a": 0.002, "b": 0.001, "c": 0.0}[c["k"]]
    )


def _noisy() -> Problem:
    space = Space(
        name="noisy",
        version=1,
        params={
            "x": FloatParam(low=0.0, high=1.0),
            "y": FloatParam(low=0.0, high=1.0),
            "lr": FloatParam(low=1e-4, high=1e-1, log=True),
            "k": CategoricalParam(choices=("a", "b", "c")),
        },
    )
    best = {"x": 0.8, "y": 0.2, "lr": 3e-2, "k": "c"}
    return Problem("noisy", space, _noisy_true, _gauss(0.02), best, {"x": 0.8, "y": 0.2, "lr": 3e-2})


# --------------------------------------------------------------------------- vision


def _vision_lr_star(c: Mapping[str, Any]) -> float:
    """The best learning rate for this batch size and optimizer (the linear-scaling folklore, softened)."""
    scale = math.sqrt(c["batch_size"] / 64)
    if c["optimizer"] == "sgd":
        return 0.1 * scale * (1.0 - min(c.get("momentum", 0.0), 0.99))
    return 1e-3 * scale


def _vision_width(width: float) -> float:
    """Too narrow hurts more than too wide; 256 is best."""
    d = math.log2(width / 256)
    return (0.008 if d < 0 else 0.002) * d * d


def _vision_true(c: Mapping[str, Any]) -> float:
    d_lr = _dlog(c["lr"], _vision_lr_star(c))
    cliff = 0.8 + 0.3 * c["warmup_epochs"] / 10
    if d_lr > cliff:
        return 0.9  # diverged: chance level of 10 classes
    wd_star = 1e-2 if c["optimizer"] == "adamw" else 1e-4
    drop_star = 0.05 if c["augment"] else 0.15
    err = (
        0.06
        + 0.04 * d_lr**2
        + 0.008 * _dlog(c["weight_decay"], wd_star) ** 2
        + {"adam": 0.01, "adamw": 0.0, "sgd": 0.005}[c["optimizer"]]
        + 0.15 * (c["dropout"] - drop_star) ** 2
        + 0.003 * (c["depth"] - 6) ** 2
        + _vision_width(c["width"])
        + (0.0 if c["augment"] else 0.015)
        + 0.1 * (c["label_smoothing"] - 0.1) ** 2
        + 0.0005 * abs(c["warmup_epochs"] - 3)
        + 0.002 * math.log2(c["batch_size"] / 64) ** 2
    )
    return min(err, 0.9)


def _vision_noise(c: Mapping[str, Any], rng: np.random.Generator) -> float:
    bad_seed = rng.random() < 0.03  # a rare run that goes wrong for no reason of its config
    return 0.004 * rng.standard_normal() + (0.25 * rng.random() if bad_seed else 0.0)


def _vision() -> Problem:
    space = Space(
        name="vision",
        version=1,
        params={
            "lr": FloatParam(low=1e-5, high=1e-1, log=True),
            "weight_decay": FloatParam(low=1e-6, high=1e-2, log=True),
            "batch_size": CategoricalParam(choices=(16, 32, 64, 128, 256)),
            "optimizer": CategoricalParam(choices=("adam", "adamw", "sgd")),
            "momentum": FloatParam(low=0.0, high=0.99, limits=(0.0, 1.0), when=Condition("optimizer", "sgd")),
            "dropout": FloatParam(low=0.0, high=0.7, limits=(0.0, 1.0)),
            "depth": IntParam(low=2, high=8, limits=(1, 32)),
            "width": CategoricalParam(choices=(64, 128, 256, 512)),
            "augment": CategoricalParam(choices=(True, False)),
            "label_smoothing": FloatParam(low=0.0, high=0.3, limits=(0.0, 1.0)),
            "warmup_epochs": IntParam(low=0, high=10, limits=(0, 100)),
        },
    )
    best = {
        "lr": 1e-3,
        "weight_decay": 1e-2,
        "batch_size": 64,
        "optimizer": "adamw",
        "dropout": 0.05,
        "depth": 6,
        "width": 256,
        "augment": True,
        "label_smoothing": 0.1,
        "warmup_epochs": 3,
    }
    relevant = {k: best[k] for k in ("lr", "optimizer", "depth", "width", "augment", "dropout")}
    return Problem("vision", space, _vision_true, _vision_noise, best, relevant)


PROBLEMS: dict[str, Problem] = {
    p.name: _with_reference(p) for p in (_boundary(), _irrelevant(), _sharp_log(), _mixed_cond(), _noisy(), _vision())
}
#: the synthetic group's names (the real-landscape surrogates register themselves beside them)
SYNTHETIC = tuple(PROBLEMS)


def get(name: str) -> Problem:
    return PROBLEMS[name]
