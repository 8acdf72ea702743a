"""focal-imbalance: BCE, class-weighted BCE and focal loss on a 1-in-10 imbalanced task.

scikit-learn's 8x8 digits (shipped with scikit-learn, no download) become a binary task,
"is it digit D?" (about 1 sample in 10 is positive). The same small MLP is trained from the
same initialisation with each loss; the table reports the test average precision (mean and
standard deviation over seeds) and the recall and precision at the 0.5 threshold, and
``pr_curves.png`` draws the precision-recall curves of the first seed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..classification import binary_cross_entropy_loss, focal_loss
from ..errors import ExperimentError
from . import ExperimentResult, register_experiment
from ._common import digits_split, pyplot, save_figure, seed_everything, sklearn_module
from ._progress import progress

LossFn = Callable[[Tensor, Tensor], Tensor]


def _losses(pos_weight: float) -> list[tuple[str, LossFn]]:
    """(label, loss(logits, targets)) for every compared loss."""
    pw = torch.tensor(pos_weight)
    return [
        ("BCE", lambda x, y: binary_cross_entropy_loss(x, y)),
        (
            f"BCE, pos_weight={pos_weight:.1f}",
            lambda x, y: binary_cross_entropy_loss(x, y, pos_weight=pw),
        ),
        ("focal gamma=1", lambda x, y: focal_loss(x, y, alpha=None, gamma=1.0)),
        ("focal gamma=2", lambda x, y: focal_loss(x, y, alpha=None, gamma=2.0)),
        ("focal gamma=5", lambda x, y: focal_loss(x, y, alpha=None, gamma=5.0)),
        ("focal gamma=2, alpha=0.25", lambda x, y: focal_loss(x, y, alpha=0.25, gamma=2.0)),
    ]


def _data(positive: int, seed: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Digits split stratified by digit; targets 1.0 for ``positive`` else 0.0."""
    x_tr, d_tr, x_te, d_te = digits_split("focal-imbalance", seed=seed)
    return x_tr, (d_tr == positive).float(), x_te, (d_te == positive).float()


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))


def _train(
    loss_fn: LossFn,
    x: Tensor,
    y: Tensor,
    *,
    seed: int,
    epochs: int,
    batch_size: int = 64,
    lr: float = 3e-3,
) -> nn.Module:
    model = _model(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=order).split(batch_size):
            loss = loss_fn(model(x[idx]).squeeze(1), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model


@register_experiment(
    "focal-imbalance",
    losses=("binary_cross_entropy", "focal"),
    metric=("AP", "max"),
    summary="BCE vs class-weighted BCE vs focal loss on 1-in-10 imbalanced digits",
    family="classification",
    reference="Lin et al., Focal Loss for Dense Object Detection, ICCV 2017, arXiv:1708.02002",
    arguments=[
        (
            ("--epochs",),
            {
                "type": int,
                "default": None,
                "help": "training epochs per run (default 8 quick, 40 full)",
            },
        ),
        (
            ("--seeds",),
            {"type": int, "default": None, "help": "runs per loss (default 2 quick, 5 full)"},
        ),
        (
            ("--positive",),
            {
                "type": int,
                "default": 8,
                "choices": range(10),
                "help": "the digit that is the positive class (default 8)",
            },
        ),
    ],
)
def focal_imbalance(
    quick: bool, out: Path, epochs: int | None = None, seeds: int | None = None, positive: int = 8
) -> ExperimentResult:
    epochs = epochs if epochs is not None else (8 if quick else 40)
    seeds = seeds if seeds is not None else (2 if quick else 5)
    if epochs < 1 or seeds < 1:
        raise ExperimentError(
            f"focal-imbalance: expected epochs >= 1 and seeds >= 1, "
            f"got epochs={epochs}, seeds={seeds}"
        )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 64-32-1 MLP: more threads only add synchronisation
    try:
        return _run(out, epochs, seeds, positive)
    finally:
        torch.set_num_threads(threads)


def _run(out: Path, epochs: int, seeds: int, positive: int) -> ExperimentResult:
    metrics = sklearn_module("metrics", "focal-imbalance")
    x_tr, y_tr, x_te, y_te = _data(positive)
    n_pos = int(y_tr.sum())
    pos_weight = (len(y_tr) - n_pos) / n_pos
    losses = _losses(pos_weight)
    runs = [(name, fn, s) for name, fn in losses for s in range(seeds)]
    scores: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in losses}
    curves: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    y_true = y_te.numpy()
    for name, fn, s in progress(runs, desc="focal-imbalance"):
        seed_everything(s)
        model = _train(fn, x_tr, y_tr, seed=s, epochs=epochs)
        with torch.no_grad():
            prob = torch.sigmoid(model(x_te).squeeze(1)).numpy()
        pred = prob >= 0.5
        scores[name].append(
            {
                "seed": s,
                "average_precision": float(metrics.average_precision_score(y_true, prob)),
                "recall": float(metrics.recall_score(y_true, pred, zero_division=0)),
                "precision": float(metrics.precision_score(y_true, pred, zero_division=0)),
            }
        )
        if s == 0:
            precision, recall, _ = metrics.precision_recall_curve(y_true, prob)
            curves[name] = (recall, precision, scores[name][-1]["average_precision"])
    rows = []
    for name, _ in losses:
        ap = np.array([r["average_precision"] for r in scores[name]])
        rows.append(
            [
                name,
                float(ap.mean()),
                float(ap.std()),
                float(np.mean([r["recall"] for r in scores[name]])),
                float(np.mean([r["precision"] for r in scores[name]])),
            ]
        )
    figure = _plot(curves, out / "pr_curves.png", positive, float(y_te.mean()))
    return ExperimentResult(
        title=f"focal-imbalance: digit {positive} vs rest "
        f"({n_pos} of {len(y_tr)} training samples positive), {seeds} seed(s) x "
        f"{epochs} epochs",
        columns=["loss", "AP", "AP std", "recall@0.5", "precision@0.5"],
        rows=rows,
        figures=[figure],
        notes=(
            "AP: average precision on the held-out 40% (threshold-free); recall and "
            "precision at probability 0.5. pos_weight = negatives / positives of the "
            "training split; alpha weights the positives (1 - alpha the negatives)."
        ),
        data={
            "per_seed": scores,
            "pos_weight": pos_weight,
            "epochs": epochs,
            "seeds": seeds,
            "positive_digit": positive,
            "test_positive_rate": float(y_te.mean()),
        },
    )


def _plot(curves, path: Path, positive: int, base_rate: float) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    for name, (recall, precision, ap) in curves.items():
        ax.step(recall, precision, where="post", label=f"{name} (AP {ap:.3f})")
    ax.axhline(base_rate, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set(
        xlabel="recall",
        ylabel="precision",
        xlim=(0, 1.01),
        ylim=(0, 1.02),
        title=f"Precision-recall, digit {positive} vs rest (seed 0)",
    )
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
