"""Every example runs (a smoke run with tiny trial counts), so none rots; spaces/ holds a valid lineage."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from refine.spacefile import load_space

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(*args: str, cwd: Path, timeout: int = 120) -> str:
    """Run an example script as a user would; return its output, failing the test on a non-zero exit."""
    env = {**os.environ, "COLUMNS": "160", "REFINE_DEVICE": "cpu"}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
def test_quick_demo_runs_two_stages_and_writes_the_report(tmp_path):
    pytest.importorskip("plotly")
    out = run_example(str(EXAMPLES / "quick" / "demo.py"), "12", cwd=tmp_path)
    demo = tmp_path / "out" / "demo"
    assert (demo / "quick.v2.yaml").exists() and (demo / "quick.v3.yaml").exists()
    assert "quick v1 -> v2" in out and "quick v2 -> v3" in out
    assert f"report: {Path('out/demo/report.html')}" in out
    assert (demo / "report.html").stat().st_size > 1_000_000


@pytest.mark.slow
def test_sweep_api_runs_three_stages_and_the_decision_gate(tmp_path):
    out = run_example(
        str(EXAMPLES / "sweep_api.py"),
        "--trials",
        "10",
        "--seeds",
        "0,1",
        "--extremes",
        "0",
        "--out",
        "sweep",
        "--no-report",
        cwd=tmp_path,
    )
    for version in (1, 2, 3, 4):
        assert (tmp_path / "sweep" / f"quick.v{version}.yaml").exists()
    assert "quick v3 -> v4" in out
    assert "decision gate" in out and re.search(r"verdict: keep quick-v\d", out)
    assert "winning configuration" in out


@pytest.mark.slow
def test_vision_objective_trains_both_encoders_and_records_attributes():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    import optuna

    from refine.executor import load_objective

    objective = load_objective(f"{EXAMPLES / 'vision' / 'objective.py'}:objective")
    base = {
        "lr": 3e-3,
        "weight_decay": 1e-4,
        "dropout": 0.1,
        "depth": 2,
        "width": 1.0,
        "batch_size": 64,
        "label_smoothing": 0.1,
        "use_scheduler": True,
        "epochs": 1,
        "train_samples": 200,
        "device": "cpu",
    }
    study = optuna.create_study(direction="maximize")
    for extra in ({"encoder": "cnn"}, {"encoder": "context", "ctx_layers": 2, "ctx_heads": 4}):
        study.optimize(lambda t, extra=extra: objective({**base, **extra}, t), n_trials=1)
    for t in study.trials:
        assert t.state.name == "COMPLETE"
        assert 0.0 <= t.value <= 1.0
        assert t.user_attrs["device"] == "cpu" and t.user_attrs["seconds"] > 0


@pytest.mark.slow
def test_vision_objective_runs_from_the_command_line(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    space = load_space(EXAMPLES / "vision" / "space.v1.yaml")
    small = tmp_path / "digits.v1.yaml"
    small.write_text((EXAMPLES / "vision" / "space.v1.yaml").read_text().replace("epochs: 8", "epochs: 1"))
    assert load_space(small).fixed["epochs"] == 1 and space.fixed["epochs"] == 8
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "refine",
            "run",
            str(small),
            "--objective",
            "examples/vision/objective.py:objective",
            "--storage",
            str(tmp_path / "s.db"),
            "--trials",
            "2",
            "--quiet",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "REFINE_DEVICE": "cpu"},
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["complete"] == 2


@pytest.mark.slow
def test_vision_sweep_runs_three_stages_on_cpu(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    out = run_example(
        str(EXAMPLES / "vision" / "sweep.py"),
        "--trials",
        "3",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out",
        "vision",
        "--no-report",
        cwd=tmp_path,
    )
    assert "device: cpu" in out
    for stage in (1, 2, 3):
        assert f"stage {stage}: 3 trials of digits_cnn v{stage}" in out
    for version in (1, 2, 3, 4):
        assert (tmp_path / "vision" / f"digits_cnn.v{version}.yaml").exists()
    assert "verdict:" in out or "not ranked:" in out


def test_spaces_holds_a_lineage_written_by_the_tools():
    spaces = ROOT / "spaces"
    files = sorted(spaces.glob("*.v*.yaml"), key=lambda p: int(re.search(r"\.v(\d+)\.yaml$", p.name).group(1)))
    assert len(files) >= 3, "spaces/ holds v1, v2 and v3 at least"
    previous = None
    for path in files:
        space = load_space(path)
        assert path.name == f"{space.name}.v{space.version}.yaml"
        if previous is not None:
            assert space.parent == previous.version and space.name == previous.name
            rationale = json.loads(path.with_suffix(".json").read_text())
            assert rationale["space"]["to_version"] == space.version
            assert path.with_suffix(".md").exists()
        previous = space
    readme = (spaces / "README.md").read_text()
    assert "examples/vision/sweep.py" in readme


def test_the_showcase_is_not_stale():
    # spaces/, the README's numbers and docs/report.png come from `make showcase`; a change to the example or
    # the rules that was not followed by it leaves them showing what refine no longer does
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import showcase
    finally:
        sys.path.pop(0)
    why = showcase.stale()
    assert why is None, f"{why}: run `make showcase` and commit spaces/, README.md and docs/report.png"
    assert (ROOT / "docs" / "report.png").stat().st_size < 300_000
    for readme in (ROOT / "README.md", ROOT / "spaces" / "README.md"):
        block = readme.read_text().split("<!-- showcase:begin")[1].split("<!-- showcase:end -->")[0]
        assert "| `digits_cnn-v1` |" in block and "| `digits_cnn-v2` |" in block
