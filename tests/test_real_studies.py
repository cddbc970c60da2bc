"""Suggestions a person reading the elites would accept, on realistic studies run without refine (issue 20).

Each test writes a study the way people's own Optuna scripts leave them (no
space file, so the space is inferred): XGBoost-like fractions and toggles,
PID gains on a dozen trials, a bi-objective trade-off front, define-by-run
layers, a study whose space changed mid-way, a classifier with diverged runs.
"""

from __future__ import annotations

import math
import re

import numpy as np
import optuna
import pytest
import yaml

import refine
from refine.space import CategoricalParam, FloatParam, IntParam, Space
from tests.conftest import run_cli, write_study


def _decision(result, name):
    return next(d for d in result.decisions if d.param == name)


def _space(direction="maximize", **params):
    return Space(name="s", version=1, directions=(direction,), params=params)


# --------------------------------------------------------------------------- natural bounds


XGB = _space(
    subsample=FloatParam(low=0.6, high=1.0),
    colsample_bytree=FloatParam(low=0.5, high=1.0),
    use_a=IntParam(low=0, high=1),
    use_b=IntParam(low=0, high=1),
    latent_dim=IntParam(low=8, high=64, step=8),
    max_depth=IntParam(low=3, high=10),
)


def _xgb(c):
    return (
        0.7
        + 0.2 * c["subsample"]
        + 0.05 * c["colsample_bytree"]
        + 0.03 * c["use_a"]
        + 0.03 * c["use_b"]
        - 0.002 * c["latent_dim"]
        + 0.003 * c["max_depth"]
    )


@pytest.fixture
def xgb_study(tmp_path):
    return write_study(tmp_path / "xgb.db", XGB, _xgb, 120, seed=3)


def test_an_inferred_space_keeps_fractions_toggles_and_steps_within_their_natural_bounds(xgb_study):
    result = refine.next_space(xgb_study, config=False)
    new = result.space
    for name in ("subsample", "colsample_bytree"):
        assert 0 <= new.params[name].low and new.params[name].high <= 1, new.params[name]
    for name in ("use_a", "use_b"):
        assert (new.params[name].low, new.params[name].high) == (0, 1)
        assert "toggle" in _decision(result, name).reason and "limits" in _decision(result, name).reason
    assert new.params["latent_dim"].low >= 8
    assert new.params["max_depth"].low >= 1
    note = next(n for n in result.rationale["notes"] if n.startswith("natural bounds"))
    assert "subsample [0, 1]" in note and "latent_dim [8, ...]" in note and "`limits`" in note


def test_limits_in_a_space_file_override_the_natural_bounds(xgb_study, tmp_path):
    code = run_cli_subprocess("show", xgb_study, "-o", tmp_path / "v1.yaml")
    assert code.returncode == 0, code.stderr
    doc = yaml.safe_load((tmp_path / "v1.yaml").read_text())
    assert doc["params"]["subsample"]["limits"] == [0.0, 1.0]
    assert doc["params"]["use_a"]["limits"] == [0, 1]
    assert "limits" not in doc["params"]["max_depth"]  # one-sided: not a `limits` pair
    # a person widens the toggle's limits: it may now expand
    doc["params"]["use_a"]["limits"] = [0, 3]
    doc["params"]["use_b"]["limits"] = [0, 3]
    (tmp_path / "v1.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    result = refine.next_space(xgb_study, space=tmp_path / "v1.yaml", config=False)
    assert any(result.space.params[n].high > 1 for n in ("use_a", "use_b")), [d.reason for d in result.decisions]
    assert result.space.params["subsample"].high <= 1


def run_cli_subprocess(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "refine", *map(str, args)], capture_output=True, text=True)


def test_show_writes_the_inferred_space_once_and_diff_takes_a_study(xgb_study, tmp_path):
    out = tmp_path / "v1.yaml"
    first = run_cli_subprocess("show", xgb_study, "--study", "s", "-o", out)
    assert first.returncode == 0 and f"wrote {out}" in first.stdout, first.stderr
    again = run_cli_subprocess("show", xgb_study, "-o", out)
    assert again.returncode == 2 and again.stderr.startswith("error:") and "already exists" in again.stderr
    v2 = refine.next_space(xgb_study, config=False).save(tmp_path)
    diff = run_cli_subprocess("diff", xgb_study, v2.space_path, "--json")
    assert diff.returncode == 0, diff.stderr
    import json

    rows = {r["param"]: r["change"] for r in json.loads(diff.stdout)["params"]}
    assert rows["latent_dim"] == "narrowed"
    same = run_cli_subprocess("diff", xgb_study, out, "--json")
    assert same.returncode == 0, same.stderr
    changed = {r["param"] for r in json.loads(same.stdout)["params"] if r["change"] != "kept"}
    assert changed == {"subsample", "colsample_bytree", "use_a", "use_b"}, same.stdout  # only the limits written


# --------------------------------------------------------------------------- small studies


def _pid_study(tmp_path, n=14, seed=0):
    """A PID controller tuned on a dozen trials: the cost falls as Kp grows toward the top of its range."""
    space = _space(
        "minimize",
        Kp=FloatParam(low=1e-3, high=1e3, log=True),
        Ki=FloatParam(low=1e-3, high=1e3, log=True),
        Kd=FloatParam(low=1e-3, high=1e3, log=True),
    )
    rng = np.random.default_rng(seed)

    def cost(c):
        return -math.log10(c["Kp"]) + 0.1 * abs(math.log10(c["Ki"])) + 0.05 * rng.normal()

    return space, write_study(tmp_path / "pid.db", space, cost, n, seed=seed)


def test_a_small_study_moves_a_log_bound_by_at_most_a_decade_and_says_why(tmp_path):
    space, path = _pid_study(tmp_path)
    result = refine.next_space(path, config=False, expand_max_decades=3.0)
    for d in result.decisions:
        if d.action == "expand":
            old, new = d.old, d.new
            assert math.log10(old.low / new.low) <= 1 + 1e-9 and math.log10(new.high / old.high) <= 1 + 1e-9, d.reason
            assert "justified by" in d.reason and "per stage" in d.reason


def test_a_crowd_against_the_trend_does_not_expand(tmp_path):
    # the elites sit at the high edge of x (a plateau of 10 good trials there), but over the range
    # higher x is worse: the trend points away from the crowd
    rng = np.random.default_rng(5)
    xs = np.concatenate([rng.uniform(0.0, 1.8, 40), rng.uniform(1.86, 2.0, 10)])
    space = _space("minimize", x=FloatParam(low=0.0, high=2.0))

    def value(c):
        return 1 + c["x"] if c["x"] < 1.85 else 0.5 + rng.normal(0, 0.01)

    path = write_study(tmp_path / "against.db", space, value, len(xs), configs=[{"x": float(x)} for x in xs])
    result = refine.next_space(path, config=False)
    ev = result.evidence.params["x"]
    assert ev.edge_high_share == 1.0 and ev.rho < 0 and ev.trend_high > 0  # the crowd, against the trend
    d = _decision(result, "x")
    assert d.action != "expand" and result.space.params["x"].high == 2.0, d.reason


# --------------------------------------------------------------------------- multi-objective


def _front_study(tmp_path):
    """A bi-objective trade-off: x moves along the front; act='bad' is dominated everywhere."""
    space = Space(
        name="mo",
        version=1,
        directions=("minimize", "minimize"),
        params={"x": FloatParam(low=0.0, high=1.0), "act": CategoricalParam(choices=("relu", "tanh", "bad"))},
    )
    rng = np.random.default_rng(2)
    configs = []
    for i in range(38):
        act = "bad" if i % 4 == 3 else ("relu" if i % 2 else "tanh")
        configs.append({"x": float(rng.uniform()), "act": act})

    def values(c):
        penalty = 0.5 if c["act"] == "bad" else 0.0
        return (c["x"] + penalty, 1 - c["x"] + penalty)

    return write_study(tmp_path / "mo.db", space, values, len(configs), configs=configs)


def test_a_trade_off_front_is_not_flat_and_a_choice_off_every_front_has_an_effect(tmp_path):
    result = refine.next_space(_front_study(tmp_path), config=False)
    flags = " ".join(result.rationale["red_flags"])
    assert "same value" not in flags
    ev = result.evidence.params["act"]
    bad = ev.stats("bad")
    assert bad.elite_share == 0 and bad.effect > 0.05, bad
    d = _decision(result, "act")
    assert d.action in ("bias", "narrow"), d.reason
    if d.action == "bias":
        w = dict(zip(d.new.choices, d.new.normalized_weights()))
        assert w["bad"] < 1 / 3
    else:
        assert "bad" not in d.new.choices
    # the front spans x from end to end: it stays wide
    x = result.space.params["x"]
    assert (x.low, x.high) == (0.0, 1.0), _decision(result, "x").reason


# --------------------------------------------------------------------------- define-by-run


def _define_by_run(tmp_path, n=160):
    """Optuna's own example: n_units_l{i} for i in range(n_layers); fewer layers are better."""
    storage = f"sqlite:///{tmp_path / 'dbr.db'}"
    study = optuna.create_study(
        storage=storage, study_name="dbr", direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0)
    )

    def objective(trial):
        n_layers = trial.suggest_int("n_layers", 1, 8)
        total = 0.0
        for i in range(n_layers):
            total += math.log2(trial.suggest_int(f"n_units_l{i}", 4, 128, log=True))
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        return n_layers + 0.01 * total + abs(math.log10(lr) + 2)

    study.optimize(objective, n_trials=n)
    return str(tmp_path / "dbr.db")


def test_define_by_run_children_get_a_when_on_their_int_parent_and_leave_with_it(tmp_path):
    path = _define_by_run(tmp_path)
    data = refine.read_study(path) if hasattr(refine, "read_study") else None
    from refine.study import read_study

    data = read_study(path)
    assert data.space.params["n_units_l0"].when is None
    when = data.space.params["n_units_l5"].when
    assert when.parent == "n_layers" and when.values == (6, 7, 8)
    assert data.space.params["n_units_l1"].when.values == tuple(range(2, 9))
    assert not any("treated as unconditional" in n for n in data.notes)
    result = refine.next_space(path, config=False)
    layers = result.space.params.get("n_layers")
    assert layers is not None and layers.high < 8, _decision(result, "n_layers").reason
    for i in range(layers.high, 8):
        assert f"n_units_l{i}" not in result.space.params
        assert _decision(result, f"n_units_l{i}").action == "drop"
    for i in range(layers.high):
        assert f"n_units_l{i}" in result.space.params


def test_a_condition_shown_only_by_pruned_trials_is_inferred(tmp_path):
    # A real Optuna run with a pruner's verdict: every network of 6 layers or more is pruned at its first
    # report, so n_units_l5..l7 show only in PRUNED trials. They were sampled exactly when n_layers > 5:
    # the completes alone cannot say so (no complete has them), the pruned ones can.
    path = tmp_path / "pruned.db"
    study = optuna.create_study(
        storage=f"sqlite:///{path}", study_name="pruned", sampler=optuna.samplers.RandomSampler(seed=1)
    )

    def objective(trial):
        n_layers = trial.suggest_int("n_layers", 1, 8)
        width = sum(math.log2(trial.suggest_int(f"n_units_l{i}", 4, 128, log=True)) for i in range(n_layers))
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        loss = abs(math.log10(lr) + 2) + 0.01 * width + 0.1 * n_layers
        trial.report(loss, step=0)
        if n_layers >= 6 or loss > 1.5:  # deep nets diverge early; so do bad learning rates
            raise optuna.TrialPruned()
        return loss

    study.optimize(objective, n_trials=120)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) > 30
    assert not any("n_units_l5" in t.params for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    from refine.study import read_study

    data = read_study(str(path))
    for i in range(1, 8):  # l1..l4 from completes (and pruned), l5..l7 from pruned trials alone
        when = data.space.params[f"n_units_l{i}"].when
        assert when is not None and when.parent == "n_layers" and when.values == tuple(range(i + 1, 9)), (i, when)
    assert data.space.params["n_units_l0"].when is None
    result = refine.next_space(str(path), config=False)
    layers = result.space.params.get("n_layers")
    high = layers.high if layers is not None else result.space.fixed["n_layers"]
    for i in range(high, 8):  # a layer the parent can no longer reach is dropped, not searched in every trial
        assert f"n_units_l{i}" not in result.space.params, _decision(result, f"n_units_l{i}").reason


# --------------------------------------------------------------------------- a space changed mid-study


def test_a_space_changed_mid_study_is_a_red_flag_and_the_elites_group_is_refined(tmp_path):
    storage = f"sqlite:///{tmp_path / 'mixed.db'}"
    study = optuna.create_study(storage=storage, study_name="mixed", direction="minimize")
    rng = np.random.default_rng(0)
    trials = []
    for _ in range(60):  # the first run: a and b, poor values
        a, b = float(rng.uniform(0, 10)), float(rng.uniform(0, 10))
        trials.append(
            optuna.trial.create_trial(
                params={"a": a, "b": b},
                distributions={
                    "a": optuna.distributions.FloatDistribution(0, 10),
                    "b": optuna.distributions.FloatDistribution(0, 10),
                },
                values=[10 + a],
            )
        )
    for _ in range(60):  # the second run: c and d; c near 2 is best
        c, d = float(rng.uniform(0, 10)), float(rng.uniform(0, 10))
        trials.append(
            optuna.trial.create_trial(
                params={"c": c, "d": d},
                distributions={
                    "c": optuna.distributions.FloatDistribution(0, 10),
                    "d": optuna.distributions.FloatDistribution(0, 10),
                },
                values=[abs(c - 2)],
            )
        )
    study.add_trials(trials)
    result = refine.next_space(str(tmp_path / "mixed.db"), config=False)
    flag = next(f for f in result.rationale["red_flags"] if f.startswith("the search space changed mid-study"))
    assert "60 trials (numbers 0-59) searched a, b" in flag and "60 trials (numbers 60-119) searched c, d" in flag
    assert "numbers 60-119); parameters it did not search were kept" in flag
    ev = result.evidence
    assert ev.ranked[:60].sum() == 0 and ev.ranked[60:].sum() == 60
    assert result.space.params["c"].high < 10  # refined from the second group
    assert _decision(result, "a").action == "keep"


# --------------------------------------------------------------------------- rationale


def test_bias_reason_states_the_weights_written(tmp_path):
    space = _space(opt=CategoricalParam(choices=("adam", "sgd", "rmsprop", "adagrad")), x=FloatParam(low=0, high=1))
    rng = np.random.default_rng(1)
    configs = [
        {"opt": ("adam", "sgd", "rmsprop", "adagrad")[i % 4] if i % 3 else "adam", "x": float(rng.uniform())}
        for i in range(45)
    ]
    path = write_study(
        tmp_path / "b.db", space, lambda c: (1.0 if c["opt"] == "adam" else 0.2) + 0.1 * c["x"], 45, configs=configs
    )
    result = refine.next_space(path, config=False)
    d = _decision(result, "opt")
    assert d.action == "bias", d.reason
    w = dict(zip(d.new.choices, d.new.normalized_weights()))
    assert f"'adam' {w['adam']:.0%}" in d.reason and f"the rivals {w['sgd']:.0%} each" in d.reason, d.reason


def test_set_aside_never_lists_what_was_applied():
    from refine.decisions import Proposal
    from refine.engine import _decide
    from refine.settings import Settings

    class Hooks:
        def review(self, **_):
            return []

        def merge(self, *, param, winner, others, **_):  # the built-in merge rule, as the facade calls it
            from refine.rules.merge import refine_merge_proposals

            merged = refine_merge_proposals(param, winner, others)
            return None if merged is None else (merged, "merge")

    param = FloatParam(low=0.0, high=10.0)
    expand = Proposal(
        param="x",
        action="expand",
        rule="expand",
        new=FloatParam(low=0.0, high=17.5),
        reason="up",
        evidence={"sides": ["high"]},
    )
    narrow = Proposal(param="x", action="narrow", rule="narrow", new=FloatParam(low=4.0, high=10.0), reason="cluster")
    d = _decide("x", param, [narrow, expand], Hooks(), None, Settings())
    assert (d.action, d.new.low, d.new.high) == ("expand", 4.0, 17.5)
    assert "the other side narrowed: cluster" in d.reason
    assert not any(p.action == "narrow" for p in d.overridden)


def test_the_rationale_shows_the_levels_after_holm(xgb_study):
    text = refine.next_space(xgb_study, config=False).markdown()
    assert "## Significance" in text and "Holm" in text
    assert re.search(r"`latent_dim` narrow .*p=\S+ vs level \S+ \(rank 1\): significant", text), text


def test_a_wrong_study_name_lists_the_closest_names_first(tmp_path, capsys):
    path = tmp_path / "many.db"
    for name in ["alpha", "beta", "pid-kp-small", "pid-ki", "xgb-final"] + [f"z{i}" for i in range(30)]:
        write_study(path, _space(x=FloatParam(low=0, high=1)), lambda c: c["x"], 3, study_name=name)
    code, _, err = run_cli(capsys, "show", str(path), "--study", "pid-kp")
    assert code == 2
    line = err.strip().splitlines()
    assert len(line) == 1, err
    closest = re.search(r"closest: (.*?);", line[0]).group(1)
    assert set(closest.split(", ")) == {"'pid-kp-small'", "'pid-ki'"}, err
    assert line[0].index("'pid-kp-small'") < line[0].index("'alpha'") and "z29" not in line[0]


def test_a_study_whose_completes_are_all_infinite_exits_2_like_one_with_no_complete(tmp_path, capsys):
    path = write_study(tmp_path / "inf.db", _space("minimize", x=FloatParam(low=0, high=1)), lambda c: math.inf, 12)
    code, _, err = run_cli(capsys, "next-space", path, "--out", str(tmp_path / "out"))
    assert code == 2 and err.startswith("error: nothing to refine") and "finite" in err, err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- noise and numbers


def test_diverged_runs_do_not_make_a_clear_best_look_like_noise(tmp_path):
    # a digits classifier: accuracy ~0.85-0.99 with lr, and a third of the runs diverge to chance (0.1)
    space = _space(lr=FloatParam(low=1e-4, high=1.0, log=True), width=IntParam(low=16, high=256, log=True))
    rng = np.random.default_rng(4)

    def acc(c):
        if c["lr"] > 0.05:
            return 0.1 + 0.01 * rng.uniform()
        return 0.99 - 0.05 * abs(math.log10(c["lr"]) + 2.5) + 0.005 * rng.normal()

    result = refine.next_space(write_study(tmp_path / "digits.db", space, acc, 60, seed=4), config=False)
    assert not any("within noise of the median" in f for f in result.rationale["red_flags"]), result.rationale[
        "red_flags"
    ]


def test_written_bounds_are_rounded_outward_and_keep_the_best_trial(tmp_path):
    high = 32.41587556853305
    space = _space("minimize", k=FloatParam(low=0.000123456, high=high), j=FloatParam(low=0.5, high=high))
    path = write_study(
        tmp_path / "r.db", space, lambda c: abs(c["k"] - 10.1234567) + abs(c["j"] - 0.6) * 0.01, 150, seed=9
    )
    result = refine.next_space(path, config=False)
    best = result.evidence.best_config
    for name, p in result.space.params.items():
        assert p.low <= best[name] <= p.high, (name, p, best[name])
        for bound, old in ((p.low, space.params[name].low), (p.high, space.params[name].high)):
            if bound != old:
                assert float(f"{bound:.3g}") == bound, (name, bound)
        assert p.low > 0, p


def test_a_positive_low_stays_positive_and_a_binary_choice_gains_no_minus_one(tmp_path):
    # an XGBoost class weight in [1, 15] whose elites crowd 1 with a trend toward it, and a 0/1
    # layer_norm choice where 0 wins: neither a weight of 0 nor a layer_norm of -1 is an answer
    space = _space(
        "maximize",
        scale_pos_weight=FloatParam(low=1.0, high=15.0),
        layer_norm=CategoricalParam(choices=(0, 1)),
    )
    rng = np.random.default_rng(8)

    def value(c):
        return 1.0 - 0.3 * c["scale_pos_weight"] - 0.3 * c["layer_norm"] + 0.01 * rng.normal()

    result = refine.next_space(write_study(tmp_path / "w.db", space, value, 80, seed=8), config=False)
    spw = result.space.params["scale_pos_weight"]
    assert _decision(result, "scale_pos_weight").action == "expand" and 0 < spw.low < 1.0, _decision(
        result, "scale_pos_weight"
    ).reason
    ln = result.space.params.get("layer_norm")
    assert ln is None or set(ln.choices) == {0, 1}, ln
