"""A small vision classifier on scikit-learn's bundled 8x8 digits, as a refine objective.

The kind of sweep refine was born from, shrunk to run on a laptop CPU: no
download (the 1,797 digits ship with scikit-learn), a trial in a second or
two. Use it from the command line or from Python::

    refine run examples/vision/space.v1.yaml --objective examples/vision/objective.py:objective \
        --storage out/vision/study.db --trials 20

The objective returns the validation accuracy (maximize) and records the
validation loss, the final training loss, the device and the seconds taken as
user attributes of the trial.

Parameters (see ``space.v1.yaml``): ``lr`` and ``weight_decay`` (AdamW, log
scale), ``dropout``, ``depth`` (conv blocks), ``width`` (a channel
multiplier), ``batch_size``, ``label_smoothing``, ``use_scheduler`` (cosine
decay), and ``encoder``: ``cnn`` (conv blocks only) or ``context`` (conv blocks
followed by ``ctx_layers`` self-attention layers with ``ctx_heads`` heads over
the 16 positions of the 4x4 feature map; both apply only to that encoder). Fixed settings:
``epochs``, ``train_samples`` (a small training set: the hyperparameters
matter more and a trial is quicker), ``val_fraction``, ``seed``.

The device is ``params["device"]`` when given, else the environment variable
``REFINE_DEVICE``, else ``auto``: CUDA when present, otherwise the CPU.
"""

from __future__ import annotations

import functools
import math
import os
import time
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["objective", "build_model", "pick_device", "load_digits_split"]


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; any other name as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@functools.lru_cache(maxsize=4)
def load_digits_split(
    val_fraction: float = 0.25, seed: int = 0, train_samples: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits as ``(x_train, y_train, x_val, y_val)``: images (N, 1, 8, 8) scaled to [0, 1], a stratified split.

    ``train_samples`` keeps that many of the training digits (stratified), which makes the
    task hard enough for the hyperparameters to matter and a trial fast.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=val_fraction, random_state=seed, stratify=y)
    if train_samples is not None and train_samples < len(x_tr):
        x_tr, _, y_tr, _ = train_test_split(x_tr, y_tr, train_size=train_samples, random_state=seed, stratify=y_tr)
    return x_tr, y_tr, x_va, y_va


class _ContextBlock(nn.Module):
    """Self-attention over the pixel positions, with a residual MLP (a pre-norm transformer layer)."""

    def __init__(self, channels: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(channels, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.norm1(tokens)
        tokens = tokens + self.attn(h, h, h, need_weights=False)[0]
        return tokens + self.mlp(self.norm2(tokens))


class DigitNet(nn.Module):
    """Conv blocks (3x3 conv, batch norm, ReLU; the first halves 8x8 to 4x4), an optional context encoder, a linear
    head."""

    def __init__(
        self, depth: int, width: float, dropout: float, encoder: str, ctx_layers: int = 1, ctx_heads: int = 1
    ) -> None:
        super().__init__()
        # Channels a multiple of 8 (at least 8) so that any head count up to 8 divides them.
        channels = max(8, int(round(16 * width / 8)) * 8)
        blocks: list[nn.Module] = []
        c_in = 1
        for i in range(depth):
            blocks += [nn.Conv2d(c_in, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU()]
            if i == 0:
                blocks.append(nn.MaxPool2d(2))
            c_in = channels
        self.features = nn.Sequential(*blocks)
        self.context = (
            nn.ModuleList(_ContextBlock(channels, ctx_heads, dropout) for _ in range(ctx_layers))
            if encoder == "context"
            else None
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        if self.context is not None:
            tokens = h.flatten(2).transpose(1, 2)
            for block in self.context:
                tokens = block(tokens)
            pooled = tokens.mean(dim=1)
        else:
            pooled = h.mean(dim=(2, 3))
        return self.head(self.dropout(pooled))


def build_model(params: dict[str, Any]) -> DigitNet:
    """The network a configuration describes."""
    return DigitNet(
        depth=int(params["depth"]),
        width=float(params["width"]),
        dropout=float(params["dropout"]),
        encoder=params["encoder"],
        ctx_layers=int(params.get("ctx_layers", 1)),
        ctx_heads=int(params.get("ctx_heads", 1)),
    )


def objective(params: dict[str, Any], trial: Any = None) -> float:
    """Train on the digits with ``params`` and return the validation accuracy.

    Args:
        params: The sampled parameters merged with the space's ``fixed`` values.
        trial: The Optuna trial (optional): receives user attributes
            ``val_loss``, ``train_loss``, ``device`` and ``seconds``.

    Returns:
        The share of validation digits classified correctly, in [0, 1].
    """
    start = time.perf_counter()
    device = pick_device(str(params.get("device") or os.environ.get("REFINE_DEVICE", "auto")))
    if device.type == "cpu":
        # A model this small trains faster on one thread than on many (and leaves cores to parallel workers).
        torch.set_num_threads(int(os.environ.get("REFINE_TORCH_THREADS", "1")))
    seed = int(params.get("seed", 0))
    torch.manual_seed(seed)
    train_samples = params.get("train_samples")
    x_tr, y_tr, x_va, y_va = load_digits_split(
        float(params.get("val_fraction", 0.25)), seed, None if train_samples is None else int(train_samples)
    )
    x_tr, y_tr = torch.from_numpy(x_tr).to(device), torch.from_numpy(y_tr).to(device)
    x_va, y_va = torch.from_numpy(x_va).to(device), torch.from_numpy(y_va).to(device)

    model = build_model(params).to(device)
    epochs = int(params.get("epochs", 8))
    batch = int(params["batch_size"])
    steps = epochs * math.ceil(len(x_tr) / batch)
    opt = torch.optim.AdamW(model.parameters(), lr=float(params["lr"]), weight_decay=float(params["weight_decay"]))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if params.get("use_scheduler") else None
    loss_fn = nn.CrossEntropyLoss(label_smoothing=float(params.get("label_smoothing", 0.0)))
    generator = torch.Generator(device="cpu").manual_seed(seed)

    train_loss = float("nan")
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_tr), generator=generator).to(device)
        total, seen = 0.0, 0
        for i in range(0, len(x_tr), batch):
            idx = order[i : i + batch]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_tr[idx]), y_tr[idx])
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        train_loss = total / max(seen, 1)
        if not math.isfinite(train_loss):
            break

    model.eval()
    with torch.no_grad():
        logits = model(x_va)
        val_loss = float(nn.functional.cross_entropy(logits, y_va))
        accuracy = float((logits.argmax(dim=1) == y_va).float().mean())
    if trial is not None:
        trial.set_user_attr("val_loss", val_loss if math.isfinite(val_loss) else None)
        trial.set_user_attr("train_loss", train_loss if math.isfinite(train_loss) else None)
        trial.set_user_attr("device", device.type)
        trial.set_user_attr("seconds", round(time.perf_counter() - start, 3))
    return accuracy
