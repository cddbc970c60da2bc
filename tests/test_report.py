"""The HTML report: what it holds, the command line, and how it renders in a real browser."""

from __future__ import annotations

import importlib.util
import math
import os
import re
import sys
from pathlib import Path

import optuna
import pytest

pytest.importorskip("plotly")
pytest.importorskip("jinja2")

from markupsafe import escape  # noqa: E402

import refine  # noqa: E402
from refine.report import build_report, lineage_order, write_report  # noqa: E402
from refine.spacefile import load_space  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

SPACE = """
name: toy
version: 1
direction: maximize
metric: score
fixed: {epochs: 3}
params:
  lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}
  depth: {type: int, low: 1, high: 4, limits: [1, 16]}
  dropout: {type: float, low: 0.0, high: 0.6, limits: [0.0, 1.0]}
  encoder: {type: categorical, choices: [cnn, context]}
  ctx_layers: {type: int, low: 1, high: 3, when: {encoder: context}}
"""


def toy(params: dict) -> float:
    """Best near lr=3e-3, deeper is better (beyond the range), cnn a little better than context."""
    lr = -0.1 * (math.log10(params["lr"]) - math.log10(3e-3)) ** 2
    encoder = 0.0 if params["encoder"] == "cnn" else -0.02 + 0.005 * params["ctx_layers"]
    return 0.8 + lr + 0.03 * params["depth"] - 0.05 * params["dropout"] + encoder


@pytest.fixture(scope="module")
def lineage(tmp_path_factory) -> tuple[str, list[str]]:
    """Two stages of the real loop: toy-v1 (16 trials), then toy-v2 warm-started from it."""
    out = tmp_path_factory.mktemp("report")
    (out / "toy.v1.yaml").write_text(SPACE)
    storage = f"sqlite:///{out / 'study.db'}"
    space = load_space(out / "toy.v1.yaml")
    refine.run(space, toy, storage=storage, study="toy-v1", trials=16, seed=1, heartbeat=None, quiet=True)
    v2 = refine.next_space(storage, study="toy-v1", config=False).space
    refine.run(
        v2,
        toy,
        storage=storage,
        study="toy-v2",
        trials=16,
        seed=2,
        from_=f"{storage}:toy-v1",
        heartbeat=None,
        quiet=True,
    )
    return storage, ["toy-v1", "toy-v2"]


@pytest.fixture(scope="module")
def page(lineage, tmp_path_factory) -> Path:
    storage, _ = lineage
    return write_report(storage, out=tmp_path_factory.mktemp("page") / "report.html")


def test_report_is_one_self_contained_file(page):
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]+src=", text), "every script is inlined"
    assert not re.search(r"<link[^>]+href=", text)
    assert "Plotly" in text and len(text) > 1_000_000, "plotly.js is inlined, so the page opens offline"


def test_report_has_the_lineage_plot_and_one_plot_per_parameter_and_stage(page):
    text = page.read_text(encoding="utf-8")
    plots = set(re.findall(r'id="(refine-plot-\d+)"', text))
    # lineage + 5 params of v1 + 5 params of v2 (ctx_layers stays, conditional)
    assert len(plots) == 11
    assert "data-refine-expected='11'" in text
    assert "Best value per stage" in text


def test_report_shows_each_stage_diff_table_and_red_flags(lineage, page):
    storage, names = lineage
    text = page.read_text(encoding="utf-8")
    for name in names:
        rationale = refine.next_space(storage, study=name, config=False).rationale
        for d in rationale["decisions"]:
            assert f"<b>{d['param']}</b>" in text
        for flag in rationale["red_flags"]:
            assert str(escape(flag)) in text
    assert "Next space: v2" in text and "Next space: v3" in text


def test_report_orders_a_lineage_parents_first(lineage):
    storage, names = lineage
    assert lineage_order(storage) == names
    assert lineage_order(storage, ["toy-v2", "toy-v1"]) == ["toy-v2", "toy-v1"]


def test_report_of_a_study_refine_did_not_run(tmp_path):
    storage = f"sqlite:///{tmp_path / 'plain.db'}"
    study = optuna.create_study(storage=storage, study_name="plain", direction="minimize")
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.2) ** 2 + t.suggest_int("n", 1, 5), n_trials=12)
    text = build_report(storage)
    assert "space inferred from the trials" in text
    assert "data-refine-expected='3'" in text


def test_report_escapes_what_a_study_holds(tmp_path):
    storage = f"sqlite:///{tmp_path / 'names.db'}"
    name = "<script>alert('x')</script> & co"
    study = optuna.create_study(storage=storage, study_name=name, direction="minimize")
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.2) ** 2, n_trials=8)
    text = build_report(storage)
    assert name not in text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in text
    assert text.count("<script") == text.count("</script>")


def test_report_says_why_a_study_has_no_next_space(tmp_path):
    storage = f"sqlite:///{tmp_path / 'failed.db'}"
    study = optuna.create_study(storage=storage, study_name="failed")
    study.optimize(lambda t: t.suggest_float("x", 0, 1) * float("nan"), n_trials=3)  # NaN: every trial FAILs
    text = build_report(storage)
    assert "no next space:" in text


def test_report_command_writes_the_file(lineage, tmp_path, capsys):
    from tests.conftest import run_cli

    storage, _ = lineage
    code, out, err = run_cli(capsys, "report", storage, "--study", "toy-v1", "-o", str(tmp_path / "r.html"))
    assert code == 0, err
    assert (tmp_path / "r.html").exists()
    assert str(tmp_path / "r.html") in out


def test_report_command_unknown_study_exits_2(lineage, tmp_path, capsys):
    from tests.conftest import run_cli

    storage, _ = lineage
    code, out, err = run_cli(capsys, "report", storage, "--study", "nope", "-o", str(tmp_path / "r.html"))
    assert code == 2
    assert err.startswith("error:") and "nope" in err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("setting", ["nope=1", "fix_p=abc", "elite_fraction=3"])
def test_report_command_bad_setting_exits_2_and_writes_nothing(lineage, tmp_path, capsys, setting):
    from tests.conftest import run_cli

    storage, _ = lineage
    out = tmp_path / "new" / "r.html"
    code, _, err = run_cli(capsys, "report", storage, "-o", str(out), "--set", setting)
    assert code == 2 and err.startswith("error:") and setting.split("=")[0] in err
    assert not out.parent.exists()


def _renderer():
    spec = importlib.util.spec_from_file_location("render_report", ROOT / "scripts" / "render_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("render_report", module)
    spec.loader.exec_module(module)
    return module


def test_report_renders_in_headless_chromium_without_errors(page, tmp_path):
    render = _renderer()
    if render.find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run installs Debian's chromium")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    seen = render.render(page, screenshot=tmp_path / "shot.png", height=1200)
    assert seen.problems == []
    assert seen.status == "ready"
    assert seen.js_plotly_plots == seen.plots_expected == 11
    assert seen.main_svgs >= 11
    assert (tmp_path / "shot.png").stat().st_size > 10_000


def test_report_never_writes_over_its_own_storage(lineage):
    from refine.errors import SpaceError

    storage, _ = lineage
    path = storage.removeprefix("sqlite:///")
    before = Path(path).read_bytes()
    for given in (path, "sqlite:///" + path):
        with pytest.raises(SpaceError, match="is this command's input"):
            write_report(given, out=path)
    assert Path(path).read_bytes() == before


def test_report_replaces_an_earlier_report_but_no_other_file(lineage, tmp_path, capsys):
    from tests.conftest import run_cli

    storage, _ = lineage
    out = tmp_path / "r.html"
    for _ in range(2):  # the second run replaces the first report
        code, _, err = run_cli(capsys, "report", storage, "--study", "toy-v1", "-o", str(out))
        assert code == 0, err
    space = tmp_path / "toy.v2.yaml"
    space.write_text("name: toy\nversion: 2\nparams:\n  x: {type: float, low: 0, high: 1}\n")
    code, _, err = run_cli(capsys, "report", storage, "--study", "toy-v1", "-o", str(space))
    assert code == 2 and "is a refine space file" in err and "--force" in err
    assert space.read_text().startswith("name: toy")
    code, _, err = run_cli(capsys, "report", storage, "--study", "toy-v1", "-o", str(space), "--force")
    assert code == 0, err
    assert space.read_text().lstrip().lower().startswith("<!doctype html")
