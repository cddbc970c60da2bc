"""A quick analytic objective that behaves like a small training run.

Validation accuracy (to maximize) of an imaginary classifier: best near
lr = 3e-3, more depth helps up to 9 (beyond the v1 range), dropout matters a
little, `adam` beats `sgd`, momentum only applies to `sgd`, and `seed_offset`
is irrelevant. A little noise makes it honest.
"""

from __future__ import annotations

import math
import random
import zlib


def objective(params: dict) -> float:
    # noise seeded by the configuration itself (crc32, not hash(): str hashes change between runs)
    rng = random.Random(zlib.crc32(repr(sorted((k, str(v)) for k, v in params.items())).encode()))
    lr_term = -0.08 * (math.log10(params["lr"]) - math.log10(3e-3)) ** 2
    depth_term = 0.02 * min(params["depth"], 9)
    dropout_term = -0.1 * (params["dropout"] - 0.2) ** 2
    opt_term = 0.0 if params["optimizer"] == "adam" else -0.04 + 0.03 * params.get("momentum", 0.0)
    return 0.7 + lr_term + depth_term + dropout_term + opt_term + rng.gauss(0, 0.004)
