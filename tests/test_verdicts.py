"""The verdict suite: refine against what a careful person reads in public Optuna studies (issue 20).

The files are studies people committed to their own GitHub repositories
(``scripts/fetch_real_studies.py`` says where from and fetches them into
``tests/data/real/``; they are not committed here). Each test below writes
down the verdict reached by reading a study's elites, then checks refine's
next space against it.

Each verdict runs twice: on the real file, skipped where it was not fetched
(CI has no network), and on its replica (``tests/data/make_replicas.py``):
a study with the same names, distributions, states and structure, built
from seeded draws on first use, so that the verdict runs everywhere. Where
a verdict names numbers read off the elites, each source has its own.

Every command must leave the files byte-identical; they are read-only.
"""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import pytest

import refine
from refine.study import read_study

DATA = Path(__file__).parent / "data"
REAL = DATA / "real"
sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
from fetch_real_studies import SOURCES  # noqa: E402

sys.path.insert(0, str(DATA))
import make_replicas  # noqa: E402

#: each builds or reads studies of hundreds of trials
pytestmark = pytest.mark.slow

#: where the replicas are built: a folder per version of the script that builds them (ignored by git)
REPLICA = DATA / "replica" / hashlib.sha256(Path(make_replicas.__file__).read_bytes()).hexdigest()[:12]


@pytest.fixture(params=["real", "replica"])
def source(request) -> str:
    return request.param


def _file(name: str, source: str = "real") -> Path:
    if source == "replica":
        if name not in make_replicas.REPLICAS:
            pytest.skip(f"{name} has no replica")
        return make_replicas.build(name, REPLICA)
    path = REAL / name
    if not path.exists():
        pytest.skip(f"{name} not fetched (python scripts/fetch_real_studies.py)")
    expected = SOURCES[name][3]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == expected, f"{path} is not the pinned file (sha256 {digest})"
    return path


def _next(name: str, study: str, source: str = "real"):
    path = _file(name, source)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = refine.next_space(str(path), study, config=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    return result


def _d(result, param):
    return next(d for d in result.decisions if d.param == param)


def _decades(a: float, b: float) -> float:
    return abs(math.log10(b) - math.log10(a))


def _no_move_beyond_evidence(result):
    """Below fair_trial ranked trials: a log bound moves at most a decade, a linear one at most a range width."""
    if result.evidence.n_ranked >= result.evidence.settings.fair_trial:
        return
    for d in result.decisions:
        if d.action != "expand" or not hasattr(d.old, "low"):
            continue
        if d.old.log:
            assert _decades(d.old.low, d.new.low) <= 1 + 1e-9 and _decades(d.old.high, d.new.high) <= 1 + 1e-9, d.reason
        else:
            width = d.old.high - d.old.low
            assert d.old.low - d.new.low <= width + 1e-9 and d.new.high - d.old.high <= width + 1e-9, d.reason


# --------------------------------------------------------------------------- RVFL (annabelkner/RVFL)


def test_rvfl_narrows_scale_and_alpha_to_the_elites_and_weights_relu(source):
    # 35 complete of 50. Read: every elite has scale in 0.08-0.2 and alpha in 3e-4-7e-4 (both log, from
    # four and seven decades); relu holds every elite but sigmoid ran once and tanh 8 times: too few to drop.
    # The replica's elites: scale 0.085-0.19, alpha 2.1e-4-9.3e-4.
    elites = {"real": (0.0756, 0.2018, 0.000284, 0.000698), "replica": (0.0853, 0.1853, 0.000209, 0.000929)}
    lo_scale, hi_scale, lo_alpha, hi_alpha = elites[source]
    r = _next("rvfl.db", "study_rvfl", source)
    scale, alpha = r.space.params["scale"], r.space.params["alpha"]
    assert _d(r, "scale").action == "narrow" and scale.low <= lo_scale and scale.high >= hi_scale
    assert _d(r, "alpha").action == "narrow" and alpha.low <= lo_alpha and alpha.high >= hi_alpha
    act = r.space.params["activation"]
    assert set(act.choices) == {"relu", "sigmoid", "tanh"}  # nothing removed before a fair trial


def test_rvfl_weights_relu_up():
    # relu holds all 7 elites and the best median (Kruskal-Wallis p=0.0002); sigmoid ran once, tanh 8 times.
    # The elites alone cannot say it (no rival ran alongside them, as for test_model.py's irrelevant act under
    # TPE, which stays uniform); the model's probability that relu is best does (bias by the model, issue 19)
    r = _next("rvfl.db", "study_rvfl")
    act = r.space.params["activation"]
    assert set(act.choices) == {"relu", "sigmoid", "tanh"}  # nothing removed before a fair trial
    w = dict(zip(act.choices, act.normalized_weights()))
    assert w["relu"] > w["tanh"] and w["relu"] > w["sigmoid"]


def test_rvfl_mlp_define_by_run_layers_and_a_tiny_study_moves_little(source):
    # 13 complete trials for 10 params (37 pruned). Read: too few to move anything far; n_units_l3 is
    # only there with 4 or 5 layers; n_units_l4 never ran in a complete trial, only in pruned ones with
    # 5 layers: when it is sampled is known, how good it is is not.
    data = read_study(_file("rvfl.db", source), "study_mlp")
    when = data.space.params["n_units_l3"].when
    assert when is not None and when.parent == "n_layers" and when.values == (4, 5)
    when = data.space.params["n_units_l4"].when
    assert when is not None and when.parent == "n_layers" and when.values == (5,)
    r = _next("rvfl.db", "study_mlp", source)
    _no_move_beyond_evidence(r)
    assert _d(r, "n_units_l4").action == "keep"
    assert _d(r, "n_layers").action == "keep"


def test_rvfl_single_mlp_expands_the_learning_rate_by_at_most_a_decade(source):
    # 41 complete. Read: the elites sit at the top of learning_rate_init [0.001, 0.01] and the trend
    # rises toward it: look above 0.01, but not a hundred times above.
    r = _next("rvfl.db", "study_mlp_single", source)
    d = _d(r, "learning_rate_init")
    assert d.action == "expand" and d.new.high > 0.01 and _decades(0.01, d.new.high) <= 1 + 1e-9
    assert "justified by" in d.reason
    assert d.new.low <= r.evidence.best_config["learning_rate_init"] <= d.new.high


# --------------------------------------------------------------------------- sailboat PID (lucasmrdt/sailboat-drl)


def test_sailboat_pid_narrows_kp_kd_and_keeps_the_best_inside(source):
    # 286 complete. Read: Kp's elites sit in 0.2-0.33 and Kd's in 0.002-0.06 out of [2e-4, 2]; Ki's
    # elites crowd its low edge; los_radius elites in ~200-325 of [0.1, 400].
    r = _next("sailboat-pid.db", "pid-coeffs-tuning-upnquick-4-trials-135deg", source)
    best = r.evidence.best_config
    for name in ("Kp", "Kd", "los_radius"):
        assert _d(r, name).action == "narrow", _d(r, name).reason
    for name, p in r.space.params.items():
        assert p.low <= best[name] <= p.high, name
        assert p.low > 0, name  # gains stay positive
    ki = _d(r, "Ki")
    assert ki.action in ("expand", "keep")
    if ki.action == "expand":
        assert _decades(ki.old.low, ki.new.low) <= 1 + 1e-9


def test_sailboat_tiny_studies_change_nothing_and_say_why(source):
    # 6 complete (3 failed): nothing to learn. 12 complete of 24 (12 failed): no parameter stands out.
    tiny = _next("sailboat-pid.db", "08-31-pid-xte-shared", source)
    assert all(d.action == "keep" for d in tiny.decisions)
    assert any("min_complete" in f for f in tiny.rationale["red_flags"])
    small = _next("sailboat-pid.db", "08-31-reward-tuning", source)
    assert all(d.action == "keep" for d in small.decisions), [d.reason for d in small.decisions]
    assert any("many failed trials" in f for f in small.rationale["red_flags"])


def test_sailboat_ppo_keeps_every_untried_choice_and_narrows_the_learning_rate(source):
    # 356 complete, mostly categorical. Read: n_epochs 10 wins outright; learning rate elites below 1e-3;
    # for gamma, n_steps, gae_lambda one value dominates but some rivals ran only a few times.
    r = _next("sailboat-pid.db", "sb3-tuning-coktailjet-7-trials", source)
    assert _d(r, "n_epochs").action == "fix" and r.space.fixed["n_epochs"] == 10
    lr = r.space.params["learning_rate"]
    assert lr.high < 0.01 and lr.low <= 1.31e-05
    for name in ("gamma", "n_steps", "gae_lambda"):
        p = r.space.params[name]
        assert len(p.choices) == len(_d(r, name).old.choices), name  # weighted, nothing removed


def test_a_wrong_study_name_in_a_file_of_forty_lists_the_closest_first(source):
    path = _file("sailboat-pid.db", source)
    run = subprocess.run(
        [sys.executable, "-m", "refine", "show", str(path), "--study", "pid-coeffs-tuning-135deg"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    line = run.stderr.strip()
    assert len(line.splitlines()) == 1 and "closest: 'pid-coeffs-tuning-upnquick-4-trials-135deg'" in line, line


# --------------------------------------------------------------------------- XGBoost (txuglassop/crypto_xgb)


def test_crypto_xgb_keeps_fractions_in_their_natural_bounds(source):
    # 15 complete, 24 pruned, 17 left RUNNING. Read: too few complete trials to move anything far; a
    # subsample or colsample above 1 is meaningless.
    r = _next("crypto-xgb.db", "xgboost", source)
    _no_move_beyond_evidence(r)
    for name in ("subsample", "colsample_bytree"):
        p = r.space.params[name]
        assert 0 <= p.low and p.high <= 1
    assert any("RUNNING" in f for f in r.rationale["red_flags"])


# --------------------------------------------------------------------------- flow matching (LukeCPadmore)


def test_flow_matching_keeps_stepped_ints_on_their_grid_and_above_their_step(source):
    # 22 complete, 79 pruned. Read: base_channels (step 16) elites at its top: looking higher is fair,
    # never below 16; d_time's elites choose its smallest value.
    r = _next("flow-matching.db", "smoke-test", source)
    _no_move_beyond_evidence(r)
    for name in ("unet.base_channels", "unet.base"):
        p = r.space.params[name]
        assert p.low >= 16 and p.step == 16 and (p.high - p.low) % 16 == 0
    assert any("mostly pruned" in f for f in r.rationale["red_flags"])


def test_every_command_leaves_every_file_byte_identical(source):
    if source == "real":
        present = [REAL / n for n in SOURCES if (REAL / n).exists()]
        if not present:
            pytest.skip("no real study fetched")
    else:
        present = [_file(n, source) for n in make_replicas.REPLICAS]
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in present}
    for path in present:
        for args in (["inspect", str(path)], ["inspect", str(path), "--json"]):
            run = subprocess.run([sys.executable, "-m", "refine", *args], capture_output=True, text=True)
            assert run.returncode == 0, run.stderr
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in present} == before


# --------------------------------------------------------------------------- random forest (Simwanda)


def test_random_forest_min_samples_split_stays_at_least_2(source):
    # 80 complete. Read: every elite has min_samples_split 2 or 3 and min_samples_leaf 1, max_depth 8-17;
    # sklearn refuses a split size below 2; log2 and bootstrap=True ran 12-13 times: too few to drop.
    r = _next("slotted-channels.db", "my_study", source)
    split = r.space.params["min_samples_split"]
    assert split.low == 2 and split.high < 20
    assert r.space.params["min_samples_leaf"].low >= 1
    for name in ("max_features", "bootstrap"):
        assert len(r.space.params[name].choices) == 2  # nothing removed before a fair trial


def test_random_forest_narrows_max_depth_and_weights_the_winning_choices(source):
    # max_depth's elites sit in 8-17 of [5, 30] (KS p=0.004); sqrt and bootstrap=False hold every elite
    r = _next("slotted-channels.db", "my_study", source)
    depth = r.space.params["max_depth"]
    assert depth.low <= 8 and depth.high >= 17 and depth.high < 30
    for name in ("max_features", "bootstrap"):
        assert _d(r, name).action == "bias" and len(r.space.params[name].choices) == 2


# --------------------------------------------------------------------------- boosting (alvarog2491)


def test_boosting_study_that_gained_a_parameter_is_flagged_and_weights_stay_positive(source):
    # XGBoost, 356 complete: scale_pos_weight was added after trial 127. Read: two experiments in one
    # study; in the later one the elites crowd scale_pos_weight's low edge (1.0), subsample near 1,
    # max_depth at its top. A class weight of 0, or a subsample above 1, is no answer.
    r = _next("bank-boosting.db", "xgboost_optimization", source)
    flag = next(f for f in r.rationale["red_flags"] if f.startswith("the search space changed mid-study"))
    assert "127 trials (numbers 0-126) did not search scale_pos_weight" in flag
    assert r.evidence.n_ranked == 229
    spw = r.space.params["scale_pos_weight"]
    assert 0 < spw.low < 1.0 and spw.high < 15
    sub = r.space.params["subsample"]  # the elites' lowest subsample: 0.914 (the replica's: 0.649)
    assert sub.high <= 1 and sub.low <= {"real": 0.914, "replica": 0.6486}[source]
    assert r.space.params["max_depth"].high > 10
    small = _next("bank-boosting.db", "lightgbm_optimization", source)  # 36 complete, 5 params: little moves
    _no_move_beyond_evidence(small)
    assert all(d.action in ("keep", "narrow") for d in small.decisions)


# --------------------------------------------------------------------------- DistilBERT (Jaejun02)


def test_distilbert_expands_the_learning_rate_a_little_and_narrows_dropout(source):
    # 79 complete. Read: the elites crowd the top of lr [1e-5, 5e-5] (the usual fine-tuning range is
    # wider), dropout's elites sit in 0.10-0.19 of [0.1, 0.4].
    r = _next("toxic-comment.db", "distilbert_study", source)
    lr = _d(r, "lr")
    assert lr.action == "expand" and 5e-5 < lr.new.high and _decades(5e-5, lr.new.high) <= 1 + 1e-9
    assert "justified by" in lr.reason
    # narrowed to the elites' side (and, with the trend toward 0, opened below); the replica's elites: 0.10-0.17
    low, high = {"real": (0.1004, 0.1893), "replica": (0.1005, 0.1735)}[source]
    dropout = r.space.params["dropout"]
    assert 0 <= dropout.low <= low and high <= dropout.high < 0.4, _d(r, "dropout").reason


# --------------------------------------------------------------------------- energy XGBoost, bi-objective (tjespe)


def test_energy_feature_selection_toggles_stay_toggles_on_a_pareto_front(source):
    # 300 complete, two objectives, 38 features each a 0/1 int. Read: a toggle is on or off, nothing
    # else; many features are clearly on (or off) in the front, none is "more than on".
    r = _next("energy-xgb.db", "XGBoost consumption prediction feature selection NoneType", source)
    assert not any("same value" in f for f in r.rationale["red_flags"])
    toggles = [n for n in r.space.params if n.startswith("use_feature_")]
    assert len(toggles) >= 30
    for name in toggles:
        p = r.space.params[name]
        assert (p.low, p.high) == (0, 1), name
        d = _d(r, name)
        assert "keeps its sign" not in d.reason, d.reason  # a toggle's low side is a toggle too
    assert any("toggle" in _d(r, n).reason for n in toggles)


def test_energy_study_with_failures_and_a_changed_space_keeps_fractions_in_0_1(source):
    # 887 trials, 344 failed, and the parameters searched changed twice. Read: two experiments at least;
    # subsample and colsample are fractions.
    r = _next("energy-xgb.db", "XGBoost consumption prediction NoneType", source)
    assert any(f.startswith("the search space changed mid-study") for f in r.rationale["red_flags"])
    assert any("many failed trials" in f for f in r.rationale["red_flags"])
    for name in ("subsample", "colsample_bytree"):
        p = r.space.params[name]
        assert 0 < p.low and p.high <= 1, (name, p)


# --------------------------------------------------------------------------- define-by-run networks (izzak98)


def test_dense_network_layers_are_conditional_and_a_binary_choice_is_not_extended(source):
    # 100 complete. Read: raw_hidden_layer_{i} exists only when n_raw_hidden_layers > i; the elites
    # use 3 layers, so a fifth layer is no longer searched; layer_norm is 0 or 1, never -1.
    data = read_study(_file("dist-pred.db", source), "Dense")
    for i in range(1, 5):
        when = data.space.params[f"raw_hidden_layer_{i}"].when
        assert when.parent == "n_raw_hidden_layers" and when.values == tuple(range(i + 1, 6)), (i, when)
    r = _next("dist-pred.db", "Dense", source)
    layer_norm = r.space.params.get("layer_norm")
    assert layer_norm is None or set(layer_norm.choices) == {0, 1}


def test_dense_network_narrows_its_layers_and_drops_the_fifth(source):
    # every elite has 3 raw hidden layers: a fifth layer is no longer worth searching. The model sees no effect
    # (TPE ran few other depths late), but a unanimous cluster of 100 ranked trials is strong alone (model.strong);
    # its span test resamples past the 0.002 floor of 499 permutations, which was above the soft path's level
    r = _next("dist-pred.db", "Dense", source)
    layers = r.space.params["n_raw_hidden_layers"]
    assert layers.low <= 3 <= layers.high < 5
    assert _d(r, "raw_hidden_layer_4").action == "drop"


# --------------------------------------------------------------------------- Spark ALS (johnsutor)


def test_als_moves_reg_param_toward_its_crowded_low_edge_and_keeps_unnamed_studies_apart(source):
    # 48 complete. Read: every elite has regParam at the bottom of [0.01, 1e5] with a strong trend
    # (lower is better): look a decade lower; rank's elites crowd its top (50).
    r = _next("als.db", "als_search", source)
    reg = _d(r, "regParam")
    assert reg.action == "expand" and reg.new.low < 0.01 and _decades(reg.new.low, 0.01) <= 1 + 1e-9
    assert reg.new.low <= r.evidence.best_config["regParam"] <= reg.new.high
    assert r.space.params["rank"].high > 50
    run = subprocess.run(
        [sys.executable, "-m", "refine", "show", str(_file("als.db", source)), "--study", "als"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "closest: 'als_search'" in run.stderr, run.stderr


# --------------------------------------------------------------------------- an Optuna 2.x file (KoH-H)


def test_an_optuna_2_file_reads_as_written_and_three_trials_change_nothing():
    # Written by Optuna 2.x in February 2022 (alembic v2.6.0.a, log floats stored as LogUniformDistribution).
    # Read: three complete trials of a classifier: nothing to learn, and nothing must be lost reading it.
    # No replica: one written today would not have the old schema (tests/data/legacy/optuna-2.10.1.db,
    # made by Optuna 2.10.1 itself, covers that schema in CI).
    path = _file("citation-intent.db")
    data = read_study(path, "studyname")
    assert data.space.directions == ("maximize",)
    for name, (low, high) in {"lr": (1e-4, 1e-3), "au_weight": (1e-3, 1e-2), "mix_w": (0.04, 0.1)}.items():
        p = data.space.params[name]
        assert (p.low, p.high, p.log) == (low, high, True), (name, p)
    r = _next("citation-intent.db", "studyname")
    assert r.evidence.n_ranked == 3 and all(d.action == "keep" for d in r.decisions)
    assert any("min_complete" in f for f in r.rationale["red_flags"])
    best = r.evidence.best_config  # the third trial's (0.447), each value read from the old schema
    assert all(low <= best[name] <= high for name, (low, high) in {"lr": (1e-4, 1e-3), "mix_w": (0.04, 0.1)}.items())
