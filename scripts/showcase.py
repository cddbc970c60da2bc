"""Regenerate the showcase: the vision example's lineage in spaces/, its numbers in the READMEs, and docs/report.png.

    python scripts/showcase.py            # or: make showcase (three stages of 30 trials on CPU, a few minutes)
    python scripts/showcase.py --check    # exit 1 when spaces/ is stale (what the test suite checks)

Steps: remove spaces/digits_cnn.v*, run examples/vision/sweep.py (3 stages,
30 trials each, CPU, seed 0) into out/vision with the versions written to
spaces/, write each stage's best value between the ``showcase`` markers of
README.md and spaces/README.md, screenshot the HTML report into
docs/report.png (kept under 300 KB), and record in spaces/SHOWCASE.sha256 the
hash of what decides the lineage: the example (its space, objective and
sweep) and the rules (refine/rules/), Python files by their syntax tree so that
reformatting or a comment changes nothing. A test compares that hash with the
files of the checkout, so a rule or example change that is not reflected in
spaces/ fails the suite until this script runs again.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMP = ROOT / "spaces" / "SHOWCASE.sha256"
INPUTS = (
    "examples/vision/space.v1.yaml",
    "examples/vision/objective.py",
    "examples/vision/sweep.py",
    "examples/sweep_api.py",
)
MAX_PNG = 300_000


def _content(path: Path) -> bytes:
    """What of a file decides the lineage: a Python file's syntax tree without docstrings, so that reformatting,
    a comment or a docstring is no change."""
    text = path.read_bytes().replace(b"\r\n", b"\n")
    if path.suffix != ".py":
        return text
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                body[0] = ast.Pass()  # a docstring is no change either
    return ast.dump(tree).encode()


def inputs_hash() -> str:
    """The hash of the files that decide the lineage: the example and the built-in rules."""
    files = [ROOT / p for p in INPUTS] + sorted((ROOT / "refine" / "rules").glob("*.py"))
    h = hashlib.sha256()
    for path in files:
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + _content(path) + b"\0")
    return h.hexdigest()


def stale() -> str | None:
    """Why spaces/ is stale, or None when its stamp matches the checkout."""
    if not STAMP.exists():
        return f"{STAMP.relative_to(ROOT)} is missing"
    recorded = STAMP.read_text().split()[0] if STAMP.read_text().strip() else ""
    if recorded != inputs_hash():
        return "the example or the rules changed since spaces/ and docs/report.png were made (run make showcase)"
    return None


def _bests(db: Path) -> list[tuple[str, int, float]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT s.study_name, COUNT(*), MAX(v.value) FROM studies s JOIN trials t ON t.study_id = s.study_id "
        "JOIN trial_values v ON v.trial_id = t.trial_id "
        "WHERE t.state = 'COMPLETE' AND t.trial_id NOT IN "
        "(SELECT trial_id FROM trial_user_attributes WHERE key = 'refine:history_from') "
        "GROUP BY s.study_id ORDER BY s.study_id"
    ).fetchall()
    con.close()
    return [(name, int(n), float(best)) for name, n, best in rows]


def _table(bests: list[tuple[str, int, float]]) -> str:
    lines = ["| stage | own trials | best val_acc | change |", "|---|---:|---:|---:|"]
    previous = None
    for name, n, best in bests:
        change = "" if previous is None else f"{best - previous:+.4f}"
        lines.append(f"| `{name}` | {n} | {best:.4f} | {change} |")
        previous = best
    return "\n".join(lines)


def _replace_block(path: Path, text: str) -> None:
    doc = path.read_text()
    block = f"<!-- showcase:begin (scripts/showcase.py writes this) -->\n{text}\n<!-- showcase:end -->"
    new, n = re.subn(r"<!-- showcase:begin.*?-->.*?<!-- showcase:end -->", lambda _: block, doc, flags=re.S)
    if n != 1:
        raise SystemExit(
            f"error: {path} needs one pair of showcase markers (<!-- showcase:begin --> ... <!-- showcase:end -->)"
        )
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="only say whether spaces/ is stale (exit 1 when it is)")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--no-screenshot", action="store_true", help="leave docs/report.png as it is (no Chromium here)")
    ap.add_argument(
        "--no-sweep",
        action="store_true",
        help="reuse the sweep of a previous run in out/vision (its spaces/ files stay); rewrite the report, numbers "
        "and picture",
    )
    args = ap.parse_args(argv)
    if args.check:
        why = stale()
        print(f"stale: {why}; run `make showcase`" if why else "spaces/ is current")
        return 1 if why else 0
    out = ROOT / "out" / "vision"
    if args.no_sweep:
        studies = [name for name, _, _ in _bests(out / "study.db")]
        cmd = [
            sys.executable,
            "-m",
            "refine",
            "report",
            f"sqlite:///{out / 'study.db'}",
            "-o",
            str(out / "report.html"),
        ]
        subprocess.run(cmd + [a for name in studies for a in ("--study", name)], check=True, cwd=ROOT)
    else:
        for old in (ROOT / "spaces").glob("digits_cnn.v*"):
            old.unlink()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "examples/vision/sweep.py"),
                "--trials",
                str(args.trials),
                "--device",
                "cpu",
                "--out",
                str(out),
                "--spaces",
                str(ROOT / "spaces"),
            ],
            check=True,
            cwd=ROOT,
        )
    table = _table(_bests(out / "study.db"))
    _replace_block(ROOT / "README.md", table)
    _replace_block(ROOT / "spaces" / "README.md", table)
    if not args.no_screenshot:
        png = ROOT / "docs" / "report.png"
        for width, height in ((1280, 2300), (1100, 2000), (1000, 1700)):
            subprocess.run(
                [
                    sys.executable,
                    str(ROOT / "scripts/render_report.py"),
                    str(out / "report.html"),
                    "--screenshot",
                    str(png),
                    "--width",
                    str(width),
                    "--height",
                    str(height),
                ],
                check=True,
                cwd=ROOT,
            )
            if png.stat().st_size < MAX_PNG:
                break
        else:
            raise SystemExit(f"error: {png} is {png.stat().st_size} bytes, over {MAX_PNG}: shrink the screenshot")
    STAMP.write_text(f"{inputs_hash()}  example + refine/rules (scripts/showcase.py)\n")
    print(json.dumps({"stages": _bests(out / "study.db")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
