"""The quick demo: two stages of the refine loop on an analytic objective, in well under two minutes.

stage 1: run space v1 -> refine.next_space -> v2 (+ rationale) -> diff table
stage 2: run v2, warm-started from stage 1 -> refine.next_space -> v3

Everything lands in out/demo/ (removed at the start, so the demo can run again),
including the HTML report of both stages, out/demo/report.html.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from objective import objective  # noqa: E402

import refine  # noqa: E402
from refine.commands._common import console, table  # noqa: E402
from refine.diff import diff_spaces  # noqa: E402


def main(out: Path = Path("out/demo"), trials: int = 60) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    screen = console()
    storage = f"sqlite:///{out / 'quick.db'}"
    space = refine.load_space(HERE / "space.v1.yaml")
    previous_study, studies = None, []
    for stage in (1, 2):
        name = f"quick-v{space.version}"
        screen.rule(f"stage {stage}: {trials} trials of {space.name} v{space.version}")
        refine.run(
            space,
            objective,
            storage=storage,
            study=name,
            trials=trials,
            seed=stage,
            from_=f"{storage}:{previous_study}" if previous_study else None,
            quiet=True,
        )
        result = refine.next_space(storage, study=name, space=space, config=False).save(out)
        rows = diff_spaces(result.previous, result.space)
        decided = {d.param: d for d in result.decisions}
        screen.print(
            table(
                f"{space.name} v{result.previous.version} -> v{result.space.version} (best "
                f"{result.rationale['best']['value']:.4f})",
                ["param", "old", "new", "change", "rule"],
                [
                    (
                        r["param"],
                        r["old"],
                        r["new"],
                        r["change"],
                        decided[r["param"]].rule if r["param"] in decided else "",
                    )
                    for r in rows
                ],
            )
        )
        for flag in result.rationale["red_flags"]:
            screen.print(f"red flag: {flag}")
        screen.print(f"wrote {result.space_path} and its rationale {result.rationale_path}")
        previous_study, space = name, result.space
        studies.append(name)
    screen.print(f"\nstudies in {out / 'quick.db'}; try: refine inspect {out / 'quick.db'}")
    try:
        from refine.report import write_report

        screen.print(f"report: {write_report(storage, studies, out=out / 'report.html')} (open it in a browser)")
    except refine.RefineError as exc:  # plotly missing: the loop itself is done
        screen.print(f"no report: {exc}")


if __name__ == "__main__":
    main(trials=int(sys.argv[1]) if len(sys.argv) > 1 else 60)
