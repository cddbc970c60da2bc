"""A model of the objective given the parameters: evidence that holds when an adaptive sampler grew the study.

An adaptive sampler (TPE, CMA-ES, a GP) chooses where to look from what it has
seen, so its late trials cluster where the early ones did well, whether or not
a parameter matters. Tests that compare where the elites sit with where the
other trials sit treat the trials as exchangeable draws, and under adaptive
sampling they are not. A regression of the objective on the parameters stays
valid: where the sampler looked depends only on values already observed.

Two pieces, both on scikit-learn and SciPy (imported lazily):

* :func:`drift_test`: do the study's first and last thirds (by trial number)
  sample the parameters alike? Two-sample KS for a number, chi-square for a categorical,
  Fisher's combination over the parameters. A random or grid sampler's thirds do; an adaptive
  sampler's drift.
* :func:`fit_model`: a Gaussian process (Matern 5/2 with one length scale per
  input, plus white noise) on the normal scores of the ranks of the objective
  (higher is better), with each parameter's likelihood-ratio test against the
  model without it: a categorical as its one-hot columns, a parent together
  with its conditional children. The model without a parameter keeps the full
  model's other length scales and refits only its amplitude and noise. The
  training set is capped (a seeded random subset) so that large studies stay
  fast.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from attrs import field, frozen

from refine.space import CategoricalParam, Space

__all__ = ["DriftTest", "ModelFit", "ParamEffect", "drift_test", "fit_model", "MAX_TRAIN"]

#: the most trials the Gaussian process is fitted on (a seeded random subset beyond)
MAX_TRAIN = 120
#: the most iterations of the full model's fit (L-BFGS-B from length scales of 0.5)
FULL_MAXITER = 100
#: the full model's fit stops when an iteration improves the negative log marginal likelihood by less than this
#: fraction of it (L-BFGS-B's ``ftol``; SciPy's default is 2.2e-9): at about 60 that is 0.0006, a likelihood ratio
#: off by about 0.001. It stops the fit of a 120-trial, 12-parameter study after about 50 iterations instead of 100
FULL_FTOL = 1e-5
#: the most iterations of a reduced model's fit (it converges in 4-10: only its amplitude and noise are free)
REDUCED_MAXITER = 20
#: a length scale this long (inputs in [0, 1]) means the model ignores the input: its test needs no refit
IGNORED_SCALE = 100.0
#: the fewest ranked trials a model is fitted on
MIN_TRAIN = 12


@frozen
class DriftTest:
    """Whether the study's first and last thirds sampled the parameters alike.

    ``p`` is Fisher's combination of the parameters' p-values (1.0 when
    nothing could be tested); ``per_param`` the raw p-value of each.
    """

    p: float
    per_param: dict[str, float] = field(hash=False)
    parts: tuple[int, int] = (0, 0)

    @property
    def worst(self) -> str | None:
        return min(self.per_param, key=self.per_param.__getitem__) if self.per_param else None


@frozen
class ParamEffect:
    """One parameter in the model: its likelihood-ratio test and the model's curve through the incumbent.

    ``curve`` holds (position or choice, predicted normal score, its SD) with
    the other parameters at the best trial's values; ``best_at`` is where the
    curve peaks (a position in [0, 1] of the range, or a choice), ``effect``
    the curve's spread (peak minus trough, in normal-score units) and
    ``effect_sd`` the SD of that difference's two ends. ``worse_z`` holds, per
    point of the curve, how many SDs it lies below the peak (the SD of the
    difference, from the posterior's joint covariance: 0 at the peak), and
    ``p_best`` (a categorical's) the posterior probability that each choice is
    the best at the incumbent (joint draws from the posterior).
    """

    name: str
    lr: float
    df: int
    p: float
    length_scales: tuple[float, ...]
    dropped_with: tuple[str, ...] = ()
    curve: tuple[tuple[Any, float, float], ...] = ()
    best_at: Any = None
    effect: float = 0.0
    effect_sd: float = 0.0
    worse_z: tuple[float, ...] = ()
    p_best: tuple[float, ...] = ()


@frozen
class ModelFit:
    """The fitted model and every parameter's test."""

    n: int
    n_ranked: int
    log_likelihood: float
    noise: float
    signal: float
    params: dict[str, ParamEffect] = field(hash=False)


def _fisher(pvalues: list[float]) -> float:
    """Fisher's combination of the parameters' p-values: an adaptive sampler moves every parameter at once, a little
    each, and this test adds that evidence up (Holm's minimum waits for one parameter to stand out). Under a random or
    grid sampler the parameters are drawn independently, so the p-values are independent and uniform, as it needs."""
    from scipy import stats

    if not pvalues:
        return 1.0
    return float(stats.combine_pvalues([min(max(v, 1e-300), 1.0) for v in pvalues], method="fisher").pvalue)


def _codes(study: Any, name: str, p: CategoricalParam, col: np.ndarray) -> np.ndarray:
    """Index of each trial's choice in ``p.choices`` (-1 inactive or unknown)."""
    inferred = study.inferred.params.get(name)
    seen = inferred.choices if isinstance(inferred, CategoricalParam) else ()
    out = np.full(len(col), -1)
    valid = ~np.isnan(col)
    if seen:
        mapping = []
        for c in seen:
            try:
                mapping.append(p.index(c))
            except ValueError:
                mapping.append(-1)
        out[valid] = np.array(mapping)[col[valid].astype(int)]
    return out


def drift_test(study: Any, space: Space, ranked: np.ndarray) -> DriftTest:
    """Compare the first and the last third of the ranked trials (by trial number), parameter by parameter.

    Thirds rather than halves: an adaptive sampler's drift grows with time, and
    leaving the middle out contrasts its random start-up with where it went
    (on the efficacy problems at 60 TPE trials this detected 17 of 18
    studies against 10 of 18 for halves; of 18 random studies, 1 either way,
    the nominal 5 %).
    """
    from scipy import stats

    rows = np.flatnonzero(ranked)
    rows = rows[np.argsort(study.numbers[rows], kind="stable")]
    third = len(rows) // 3
    first, second = rows[:third], rows[len(rows) - third :]
    per: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, p in space.params.items():
            col = study.columns.get(name)
            if col is None:
                continue
            if isinstance(p, CategoricalParam):
                codes = _codes(study, name, p, col)
                a, b = codes[first], codes[second]
                a, b = a[a >= 0], b[b >= 0]
                if len(a) < 5 or len(b) < 5:
                    continue
                k = len(p.choices)
                table = np.array([np.bincount(a, minlength=k), np.bincount(b, minlength=k)])
                table = table[:, table.sum(axis=0) > 0]
                if table.shape[1] < 2:
                    continue
                per[name] = float(stats.chi2_contingency(table, correction=False).pvalue)
            else:
                a, b = col[first], col[second]
                a, b = a[~np.isnan(a)], b[~np.isnan(b)]
                if len(a) < 5 or len(b) < 5:
                    continue
                per[name] = float(stats.ks_2samp(a, b).pvalue)
    per = {k: (v if math.isfinite(v) else 1.0) for k, v in per.items()}
    return DriftTest(p=_fisher(list(per.values())), per_param=per, parts=(len(first), len(second)))


def _design(
    study: Any, space: Space, rows: np.ndarray
) -> tuple[np.ndarray, dict[str, list[int]], dict[str, list[Any]]]:
    """Inputs in [0, 1]: a number's position on its own scale (0.5 where inactive), a categorical one-hot."""
    from refine.evidence import _transform

    blocks: list[np.ndarray] = []
    groups: dict[str, list[int]] = {}
    labels: dict[str, list[Any]] = {}
    width = 0
    for name, p in space.params.items():
        col = study.columns.get(name)
        if col is None:
            continue
        col = col[rows]
        if isinstance(p, CategoricalParam):
            codes = _codes(study, name, p, col)
            used = sorted(set(codes[codes >= 0].tolist()))
            if len(used) < 2:
                continue
            block = np.stack([(codes == c).astype(float) for c in used], axis=1)
            labels[name] = [p.choices[c] for c in used]
        else:
            with np.errstate(all="ignore"):
                u = _transform(p, col)
            u = np.where(np.isfinite(u), u, 0.5)
            if np.ptp(u) == 0:
                continue
            block = u[:, None]
        groups[name] = list(range(width, width + block.shape[1]))
        width += block.shape[1]
        blocks.append(block)
    X = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(rows), 0))
    return X, groups, labels


def _kernel(length_scales: np.ndarray, amplitude: float = 1.0, noise: float = 0.2, fixed: bool = False) -> Any:
    """Amplitude x Matern 5/2 with one length scale per input, plus white noise; ``fixed`` holds the length scales."""
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    return ConstantKernel(amplitude, (1e-2, 1e2)) * Matern(
        length_scale=length_scales, length_scale_bounds="fixed" if fixed else (2e-2, 1e3), nu=2.5
    ) + WhiteKernel(noise, (1e-4, 2.0))


def _optimizer(maxiter: int, ftol: float | None = None):
    """L-BFGS-B as scikit-learn's default, with a cap on iterations and, optionally, a looser ``ftol``."""

    def run(obj_func, initial_theta, bounds):
        from scipy.optimize import minimize

        result = minimize(
            obj_func,
            initial_theta,
            method="L-BFGS-B",
            jac=True,
            bounds=bounds,
            options={"maxiter": maxiter} if ftol is None else {"maxiter": maxiter, "ftol": ftol},
        )
        return result.x, result.fun

    return run


def _fit(X: np.ndarray, y: np.ndarray, kernel: Any, maxiter: int = 100, ftol: float | None = None) -> Any:
    from sklearn.gaussian_process import GaussianProcessRegressor

    gp = GaussianProcessRegressor(
        kernel=kernel, normalize_y=False, n_restarts_optimizer=0, random_state=0, optimizer=_optimizer(maxiter, ftol)
    )
    gp.fit(X, y)
    return gp


def _parts(kernel: Any) -> tuple[float, np.ndarray, float]:
    amplitude = float(kernel.k1.k1.constant_value)
    ls = np.atleast_1d(np.asarray(kernel.k1.k2.length_scale, dtype=float))
    return amplitude, ls, float(kernel.k2.noise_level)


def fit_model(
    study: Any, space: Space, ranked: np.ndarray, scores: np.ndarray, best_row: int | None
) -> ModelFit | None:
    """Fit the model on the ranked trials and test every parameter; None when too few trials or nothing varies."""
    from threadpoolctl import threadpool_limits

    # matrices of a few hundred rows: BLAS threads cost more than they give (on a busy machine, tens of times more),
    # so one limit around every fit, prediction and inversion (setting it costs a scan of the loaded libraries)
    with threadpool_limits(1):
        return _fit_model(study, space, ranked, scores, best_row)


def _fit_model(
    study: Any, space: Space, ranked: np.ndarray, scores: np.ndarray, best_row: int | None
) -> ModelFit | None:
    from scipy import stats

    rows = np.flatnonzero(ranked & np.isfinite(scores))
    n_ranked = len(rows)
    if n_ranked < MIN_TRAIN:
        return None
    if n_ranked > MAX_TRAIN:
        keep = np.random.default_rng(0).choice(n_ranked, MAX_TRAIN, replace=False)
        keep = np.union1d(keep, np.flatnonzero(rows == best_row)) if best_row is not None else keep
        rows = rows[np.sort(keep)]
    X, groups, labels = _design(study, space, rows)
    if not groups:
        return None
    s = scores[rows]
    y = stats.norm.ppf((stats.rankdata(s) - 0.5) / len(s))
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # sklearn's ConvergenceWarning at a bound: a length scale at its ceiling is the answer
        full = _fit(X, y, _kernel(np.full(X.shape[1], 0.5)), maxiter=FULL_MAXITER, ftol=FULL_FTOL)
        amplitude, ls, noise = _parts(full.kernel_)
        lml = float(full.log_marginal_likelihood_value_)
        children: dict[str, list[str]] = {}
        for name, param in space.params.items():
            if param.when is not None and param.when.parent in groups and name in groups:
                children.setdefault(param.when.parent, []).append(name)
        x_best = (
            X[np.flatnonzero(rows == best_row)[0]]
            if best_row is not None and (rows == best_row).any()
            else X[int(np.argmax(y))]
        )
        effects: dict[str, ParamEffect] = {}
        for name, cols in groups.items():
            with_ = [c for c in children.get(name, []) if c in groups]
            drop = set(cols) | {c for child in with_ for c in groups[child]}
            keep_cols = [j for j in range(X.shape[1]) if j not in drop]
            if keep_cols and min(ls[sorted(drop)]) >= IGNORED_SCALE:
                # the model already ignores these inputs (length scales near their ceiling): the model without them is
                # itself
                reduced, lml0 = _Without(full, keep_cols), lml
            elif keep_cols:
                # the reduced model keeps the full model's other length scales and refits its amplitude and noise
                # alone: no gradient over the length scales, the costly part of a fit (0.02 s against 0.5-1 s for
                # 20 iterations of every hyperparameter on 120 trials, as before)
                reduced = _fit(
                    X[:, keep_cols],
                    y,
                    _kernel(ls[keep_cols], amplitude, noise, fixed=True),
                    maxiter=REDUCED_MAXITER,
                )
                lml0 = float(reduced.log_marginal_likelihood_value_)
            else:
                lml0 = float(np.sum(stats.norm.logpdf(y, 0, np.std(y) or 1.0)))
            lr = max(0.0, 2.0 * (lml - lml0))
            df = len(drop)
            p = float(stats.chi2.sf(lr, df))
            if name in labels and keep_cols:
                # a categorical's effect shares the model's one amplitude with every other input, which can hide a small
                # one: its choices are also compared on the reduced model's leave-one-out residuals (Bonferroni over the
                # two)
                base = X if isinstance(reduced, _Without) else X[:, keep_cols]
                p = min(1.0, 2.0 * min(p, _residual_p(reduced, base, y, X[:, cols])))
            curve, best_at, effect, effect_sd, worse_z, p_best = _curve(full, x_best, cols, labels.get(name))
            effects[name] = ParamEffect(
                name=name,
                lr=lr,
                df=df,
                p=p,
                length_scales=tuple(float(v) for v in ls[cols]),
                dropped_with=tuple(with_),
                curve=curve,
                best_at=best_at,
                effect=effect,
                effect_sd=effect_sd,
                worse_z=worse_z,
                p_best=p_best,
            )
    return ModelFit(n=len(rows), n_ranked=n_ranked, log_likelihood=lml, noise=noise, signal=amplitude, params=effects)


class _Without:
    """The full model standing in for the model without inputs it already ignores (for the residual test)."""

    def __init__(self, gp: Any, keep_cols: list[int]) -> None:
        self.kernel_ = gp.kernel_
        self.keep_cols = keep_cols


def _residual_p(gp: Any, X: np.ndarray, y: np.ndarray, onehot: np.ndarray) -> float:
    """Kruskal-Wallis p of the model's leave-one-out residuals across a categorical's choices."""
    from scipy import stats

    K = gp.kernel_(X)
    try:
        inv = np.linalg.inv(K)
    except np.linalg.LinAlgError:
        return 1.0
    residual = (inv @ y) / np.diag(inv)  # y_i minus the prediction without trial i (Rasmussen & Williams, eq. 5.12)
    active = onehot.sum(axis=1) > 0
    groups = [residual[active & (onehot[:, j] > 0)] for j in range(onehot.shape[1])]
    groups = [g for g in groups if len(g) >= 2]
    if len(groups) < 2:
        return 1.0
    try:
        p = float(stats.kruskal(*groups).pvalue)
    except ValueError:
        return 1.0
    return p if math.isfinite(p) else 1.0


#: joint posterior draws behind a categorical's probability of being best (seeded: the same study, the same answer)
P_BEST_DRAWS = 4000
#: two predictions closer than this (normal-score units) are a tie when counting which choice is best
TIE = 1e-3


def _curve(gp: Any, x_best: np.ndarray, cols: list[int], choices: list[Any] | None):
    """The model's prediction along one parameter with the others at the incumbent.

    Returns the curve, where it peaks, its spread and that spread's SD, each
    point's distance below the peak in SDs of the difference (the joint
    covariance: points near each other are correlated, so their difference is
    surer than their SDs alone say), and for a categorical each choice's
    posterior probability of being the best.
    """
    if choices is not None:
        grid = np.repeat(x_best[None, :], len(cols), axis=0)
        grid[:, cols] = np.eye(len(cols))
        labels: list[Any] = list(choices)
    else:
        grid = np.repeat(x_best[None, :], 21, axis=0)
        us = np.linspace(0.0, 1.0, 21)
        grid[:, cols[0]] = us
        labels = [float(u) for u in us]
    mean, cov = gp.predict(grid, return_cov=True)
    cov = (cov + cov.T) / 2
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    i, j = int(np.argmax(mean)), int(np.argmin(mean))
    curve = tuple((labels[k], float(mean[k]), float(sd[k])) for k in range(len(labels)))
    var_diff = np.clip(cov[i, i] + np.diag(cov) - 2 * cov[i, :], 1e-12, None)
    worse_z = tuple(float(v) for v in (mean[i] - mean) / np.sqrt(var_diff))
    p_best: tuple[float, ...] = ()
    if choices is not None:
        rng = np.random.default_rng(0)
        draws = rng.multivariate_normal(mean, cov + 1e-12 * np.eye(len(mean)), size=P_BEST_DRAWS, method="eigh")
        # choices within TIE of the draw's best share its win: a model that ignores a choice predicts it equal to its
        # rivals up to rounding, and argmax alone would hand every such tie to whichever happens to be first or larger
        top = draws >= draws.max(axis=1, keepdims=True) - TIE
        wins = (top / top.sum(axis=1, keepdims=True)).sum(axis=0)
        p_best = tuple(float(w) / P_BEST_DRAWS for w in wins)
    return curve, labels[i], float(mean[i] - mean[j]), float(math.hypot(sd[i], sd[j])), worse_z, p_best
