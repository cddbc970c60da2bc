"""Three stages of the refine loop on the torch digits classifier: v1 -> v2 (warm-started) -> v3.

    python examples/vision/sweep.py                        # 30 trials per stage, about two minutes on 2 CPU cores
    python examples/vision/sweep.py --device cuda --trials 40 --epochs 15
    python examples/vision/sweep.py --spaces spaces        # regenerate the lineage kept in spaces/

Each stage runs ``objective.py:objective`` (a small CNN on scikit-learn's
bundled 8x8 digits) on a space, then ``refine.next_space`` writes the next
version with its rationale and prints the diff table. The decision gate and
an HTML report of the lineage (``out/vision/report.html``) close the run.
``--device auto`` (the default) trains on CUDA when present, else on the CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import attrs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sweep_api import sweep  # noqa: E402

import refine  # noqa: E402
from refine.executor import load_objective  # noqa: E402

OBJECTIVE = f"{HERE / 'objective.py'}:objective"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30, help="complete trials per stage [default: 30]")
    parser.add_argument("--stages", type=int, default=3, help="stages to run [default: 3]")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs per trial [default: the space's, 8]")
    parser.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1, mps ... [default: auto]",
    )
    parser.add_argument("--seed", type=int, default=0, help="the sampler's seed [default: 0]")
    parser.add_argument(
        "--out", default="out/vision", help="directory for the study and the report [default: out/vision]"
    )
    parser.add_argument(
        "--spaces", default=None, help="directory for the space versions and rationales [default: --out]"
    )
    parser.add_argument(
        "--space", default=str(HERE / "space.v1.yaml"), help="the first space [default: examples/vision/space.v1.yaml]"
    )
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    args = parser.parse_args(argv)

    # The objective reads the device from the environment, so that it stays out of the
    # space's `fixed` values: where a model trains is no evaluation setting.
    os.environ["REFINE_DEVICE"] = args.device
    # Imported as refine run imports it (torch loads only once the arguments are parsed).
    module = sys.modules[load_objective(OBJECTIVE).__module__]
    space = refine.load_space(args.space)
    if args.epochs is not None:
        space = attrs.evolve(space, fixed={**space.fixed, "epochs": args.epochs})
    print(f"device: {module.pick_device(args.device)}; {args.trials} trials per stage, {args.stages} stages")
    start = time.perf_counter()
    try:
        sweep(
            space,
            OBJECTIVE,
            out=args.out,
            spaces_dir=args.spaces,
            trials=args.trials,
            stages=args.stages,
            seeds=[args.seed],
            extremes=2,
            report=not args.no_report,
        )
    except refine.RefineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
