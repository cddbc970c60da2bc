"""Fetch the public Optuna study files the verdict suite (tests/test_verdicts.py) judges refine on.

They are SQLite files that people committed to their own GitHub
repositories. Their terms are not ours to grant, so they are not committed
here: this script clones each repository (blobs on demand) at a pinned commit
and copies the one file out, into ``tests/data/real/`` (ignored by git, save
its SOURCES.md: each file's license and why it is not committed) or ``--dest``.
The suite runs the tests of the files it finds and skips the rest; each verdict
also runs on a replica (``tests/data/make_replicas.py``), so that CI, which
cannot fetch, still judges refine on every study but the Optuna 2.x one.

    python scripts/fetch_real_studies.py            # all of them (a few MB)
    python scripts/fetch_real_studies.py --list     # where each comes from

The copies are made read-only (0444): the suite also checks that every
command leaves them byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / "tests" / "data" / "real"

#: local name -> (repository, commit, path in it, sha256 of the file, what it holds)
SOURCES: dict[str, tuple[str, str, str, str, str]] = {
    "rvfl.db": (
        "annabelkner/RVFL",
        "93df391d5b1c4fec14b40732cf1aec478b65107c",
        "optuna.db",
        "9bd259554e4a3132aab5d051569daa5ea3c023796a96597a11681c5ca6159bb4",
        "3 studies: a random-vector functional-link net (7 params, pruned), an sklearn MLP with "
        "define-by-run layers n_units_l{i} (13 complete of 50), a one-layer MLP",
    ),
    "sailboat-pid.db": (
        "lucasmrdt/sailboat-drl",
        "b7e37e68fc880b594975578b2525c3d46c78411f",
        "optuna.pid+s0.db",
        "063f7e8276c6c53248d65613c092421cb768fc78e1827e8b0b95248a8fe4d410",
        "40 studies: PID gains (log) for a sailboat at several headings, tiny ones with failures, "
        "an SB3 PPO agent (mostly categorical)",
    ),
    "crypto-xgb.db": (
        "txuglassop/crypto_xgb",
        "5fc5be80b020b88c27808f00134cd68dfd0caff8",
        "src/optuna.db",
        "c5c157b921d4ba35eb488c4a79f161c7a4a52c290d9052d6ed9aa751ddd5c5fe",
        "XGBoost (subsample, colsample_bytree) with 17 trials left RUNNING and 24 pruned",
    ),
    "flow-matching.db": (
        "LukeCPadmore/flow-matching-mnist",
        "6e12632b9805b1f359334cd7856f541b8ab05ad4",
        "optuna.db",
        "37c3a09de8bbb867b5a6173ccfd85a80a289f34a86d617e97a76bd8168cbaf26",
        "a flow-matching UNet, mostly pruned (79 of 106), stepped ints and numeric categoricals",
    ),
    "slotted-channels.db": (
        "Simwanda/Local-buckling-of-slotted-channels-using-ML",
        "d74d92e88ddfe4a82481232763c10d2defdac5d6",
        "optuna.db",
        "e15f946790268a8c15179a3c21b477d29848e5633f9d5ddfa52fbf0bddf9ca43",
        "a random forest (80 trials): n_estimators, max_depth, min_samples_split/leaf, max_features, bootstrap",
    ),
    "bank-boosting.db": (
        "alvarog2491/bank-client-subscription-classifier",
        "8b572709f81262ed85103e14588b08c4169dcaae",
        "optuna.db",
        "6d52ec92fab1f5c582fc059d33901b9951c8545c0309598db7dec8653309ee56",
        "LightGBM, CatBoost and XGBoost studies; the XGBoost one gained scale_pos_weight after 127 trials",
    ),
    "toxic-comment.db": (
        "Jaejun02/ToxicComment",
        "ab87a237fcf1b2e10dee498c45e6cd1ef06483ff",
        "optuna.db",
        "699110b359172e9d90b3828fc37995c3ef4086e403ba0f3af4737fd11d6940a3",
        "DistilBERT fine-tuning (79 trials): learning rate (log) and dropout",
    ),
    "energy-xgb.db": (
        "tjespe/anvendt-data-science",
        "35ab24c0906bc7a20116fbe9e287a74e46960e04",
        "optuna.db",
        "c6302638e453e38f62c246329b88bc3cbdf2e403bc21d23d536a68e0b6b90e08",
        "bi-objective XGBoost for energy use (887 trials, 344 failed, a space changed mid-study) and a "
        "feature selection of 38 0/1 toggles (300 trials)",
    ),
    "dist-pred.db": (
        "izzak98/dist-pred",
        "bf0a6554054735448ea02910e0ced335c7481969",
        "optuna.db",
        "51b47f2e34174905e9dbf3f8bb132bc63e3c185d92ff0144171d52837cd646bc",
        "LSTM and dense networks with define-by-run layers (raw_hidden_layer_{i} for i < n_raw_hidden_layers), "
        "numeric categoricals, a 0/1 categorical",
    ),
    "als.db": (
        "johnsutor/DSGA-Big-Data-Final-Project",
        "329d3672bd046689927479f6b5824bde3d1f6306",
        "optuna.db",
        "e81cb9c6d131d4c5c9c3e1c962cf0f9a1730e698de2648882a883798670f5416",
        "Spark ALS (48 complete): rank, alpha and regParam over many decades; unnamed studies of one trial",
    ),
    "citation-intent.db": (
        "KoH-H/citation_intent_classification",
        "bf2f4681b1983afe20cda7764181bb2903b91916",
        "optuna.db",
        "656f7379e21078f28e654e5234542fb2ca026d73afb1fb933e23d883b0dbf24e",
        "written by Optuna 2.x (alembic v2.6.0.a, LogUniformDistribution): 3 complete trials of a citation "
        "classifier (lr, au_weight, mix_w, all log); the file was deleted from the repository two commits later",
    ),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(name: str, dest: Path) -> Path:
    repo, commit, path, _, _ = SOURCES[name]
    target = dest / name
    if target.exists():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(
            [
                "git",
                "clone",
                "--quiet",
                "--filter=blob:none",
                "--no-checkout",
                f"https://github.com/{repo}",
                str(clone),
            ],
            check=True,
        )
        blob = subprocess.run(
            ["git", "-C", str(clone), "show", f"{commit}:{path}"], check=True, capture_output=True
        ).stdout
    partial = target.with_suffix(".part")
    partial.write_bytes(blob)
    partial.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    shutil.move(partial, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEST, help="where to put the files (default: %(default)s)")
    parser.add_argument("--list", action="store_true", help="print where each file comes from, fetch nothing")
    args = parser.parse_args()
    for name, (repo, commit, path, _, what) in SOURCES.items():
        if args.list:
            print(f"{name}: github.com/{repo} @ {commit[:12]} : {path} — {what}")
            continue
        try:
            got = fetch(name, args.dest)
        except subprocess.CalledProcessError as e:
            print(f"{name}: could not fetch github.com/{repo} ({e})", file=sys.stderr)
            continue
        print(f"{got} ({got.stat().st_size} bytes, sha256 {sha256(got)[:16]}...)")


if __name__ == "__main__":
    main()
