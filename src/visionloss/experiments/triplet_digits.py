"""triplet-digits: metric-learning losses on scikit-learn's 8x8 digits.

The same small MLP (64 -> 128 -> 64 -> ``dim``) is trained from the same initialisation with
batch-hard triplet, semi-hard triplet (FaceNet / TF-Addons semantics), contrastive (Hadsell et
al.) and softmax + center loss (Wen et al.), plus plain softmax as a baseline, on P x K batches
(every class, K samples each, so every anchor has positives and negatives). The table reports,
on the held-out 40%, recall@1 (the nearest other test embedding has the same digit) and kNN
accuracy (5 nearest training embeddings vote), mean over seeds; one PNG per loss scatters the
test embeddings in 2-D (the embedding itself for ``--dim 2``, its first two principal
components otherwise), the picture of seed 002 / Hadsell et al.'s Fig. 3 and Wen et al.'s Fig. 3.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ExperimentError
from ..metric import CenterLoss, batch_triplet_loss, contrastive_loss, pairwise_distance
from . import ExperimentResult, register_experiment
from ._common import digits_split, limit_threads, pyplot, save_figure, seed_everything
from ._progress import progress

CLASSES = 10
# name -> (needs the classifier head, center-loss weight)
LOSSES = {
    "batch-hard triplet": (False, 0.0),
    "semi-hard triplet": (False, 0.0),
    "contrastive": (False, 0.0),
    "softmax + center": (True, 0.1),
    "softmax only": (True, 0.0),
}


class _Net(nn.Module):
    def __init__(self, dim: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, dim)
        )
        self.classify = nn.Linear(dim, CLASSES)


def _loss_fn(name: str, net: _Net, dim: int, margin: float) -> Callable[[Tensor, Tensor], Tensor]:
    if name == "batch-hard triplet":
        return lambda z, y: batch_triplet_loss(z, y, mining="hard", margin=margin)
    if name == "semi-hard triplet":
        return lambda z, y: batch_triplet_loss(z, y, mining="semihard", margin=margin)
    if name == "contrastive":  # Hadsell et al. with the margin at twice the triplet margin
        return lambda z, y: contrastive_loss(z, y, margin=2.0 * margin)
    weight = LOSSES[name][1]
    center = CenterLoss(CLASSES, dim, alpha=0.5)
    ce = nn.CrossEntropyLoss()

    def softmax_center(z: Tensor, y: Tensor) -> Tensor:
        loss = ce(net.classify(z), y)
        return loss + weight * center(z, y) if weight > 0 else loss

    return softmax_center


def _batches(y: Tensor, k: int, steps: int, gen: torch.Generator):
    """``steps`` P x K batches: every class, ``k`` random samples of each."""
    members = [torch.nonzero(y == c).squeeze(1) for c in range(CLASSES)]
    for _ in range(steps):
        yield torch.cat([m[torch.randint(len(m), (k,), generator=gen)] for m in members])


def _train(
    name: str,
    x: Tensor,
    y: Tensor,
    *,
    dim: int,
    margin: float,
    steps: int,
    k: int,
    seed: int,
    lr: float = 2e-3,
) -> _Net:
    net = _Net(dim, seed)
    loss_fn = _loss_fn(name, net, dim, margin)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for idx in _batches(y, k, steps, gen):
        loss = loss_fn(net.embed(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net


@torch.no_grad()
def _scores(z_tr: Tensor, y_tr: Tensor, z_te: Tensor, y_te: Tensor, knn: int = 5):
    d = pairwise_distance(z_te)
    d.fill_diagonal_(float("inf"))
    recall1 = float((y_te[d.argmin(1)] == y_te).float().mean())
    near = pairwise_distance(z_te, z_tr).topk(knn, dim=1, largest=False).indices
    votes = torch.nn.functional.one_hot(y_tr[near], CLASSES).sum(1)
    accuracy = float((votes.argmax(1) == y_te).float().mean())
    return recall1, accuracy


def _project(z: Tensor) -> np.ndarray:
    z = z - z.mean(0)
    if z.shape[1] == 2:
        return z.numpy()
    _, _, v = torch.linalg.svd(z, full_matrices=False)
    return (z @ v[:2].T).numpy()


def _scatter(z: Tensor, y: Tensor, name: str, recall1: float, path: Path) -> Path:
    plt = pyplot()
    xy = _project(z)
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    points = ax.scatter(
        xy[:, 0], xy[:, 1], c=y.numpy(), cmap="tab10", s=7, alpha=0.8, vmin=-0.5, vmax=9.5
    )
    cbar = fig.colorbar(points, ax=ax, ticks=range(CLASSES))
    cbar.set_label("digit")
    axes = "embedding" if z.shape[1] == 2 else "first two principal components"
    ax.set(title=f"{name} (test recall@1 {recall1:.3f})", xlabel=f"{axes} 1", ylabel=f"{axes} 2")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


@register_experiment(
    "triplet-digits",
    losses=("batch_triplet", "contrastive", "center"),
    metric=("recall@1", "max"),
    summary="batch-hard / semi-hard triplet, contrastive and center loss on digits embeddings",
    family="metric",
    reference="Hermans et al. arXiv:1703.07737; Schroff et al. arXiv:1503.03832; "
    "Hadsell et al. CVPR 2006; Wen et al. ECCV 2016",
    arguments=[
        (
            ("--steps",),
            {
                "type": int,
                "default": None,
                "help": "training steps per run (default 600 quick, 2000 full)",
            },
        ),
        (
            ("--seeds",),
            {"type": int, "default": None, "help": "runs per loss (default 1 quick, 3 full)"},
        ),
        (
            ("--dim",),
            {
                "type": int,
                "default": 2,
                "help": "embedding size (default 2: the scatter is the embedding)",
            },
        ),
        (
            ("--margin",),
            {
                "type": float,
                "default": 1.0,
                "help": "triplet margin; contrastive uses twice it (default 1.0)",
            },
        ),
        (
            ("--k",),
            {
                "type": int,
                "default": 8,
                "help": "samples per class in a batch (P = 10 classes; default 8)",
            },
        ),
    ],
)
def triplet_digits(
    quick: bool,
    out: Path,
    steps: int | None = None,
    seeds: int | None = None,
    dim: int = 2,
    margin: float = 1.0,
    k: int = 8,
) -> ExperimentResult:
    limit_threads()
    threads = torch.get_num_threads()
    # the matrices are tiny: one thread is faster than two (no spin-waiting between them)
    torch.set_num_threads(1)
    try:
        return _run(out, steps, seeds, dim, margin, k, quick)
    finally:
        torch.set_num_threads(threads)


def _run(
    out: Path, steps: int | None, seeds: int | None, dim: int, margin: float, k: int, quick: bool
) -> ExperimentResult:
    steps = steps if steps is not None else (600 if quick else 2000)
    seeds = seeds if seeds is not None else (1 if quick else 3)
    if steps < 1 or seeds < 1 or dim < 1 or k < 2 or margin < 0:
        raise ExperimentError(
            f"triplet-digits: expected steps >= 1, seeds >= 1, dim >= 1, k >= 2 "
            f"and margin >= 0, got steps={steps}, seeds={seeds}, dim={dim}, k={k}, "
            f"margin={margin}"
        )
    x_tr, y_tr, x_te, y_te = digits_split("triplet-digits")
    runs = [(name, s) for name in LOSSES for s in range(seeds)]
    scores: dict[str, list[tuple[float, float]]] = {name: [] for name in LOSSES}
    figures = []
    for name, s in progress(runs, desc="triplet-digits"):
        seed_everything(s)
        net = _train(name, x_tr, y_tr, dim=dim, margin=margin, steps=steps, k=k, seed=s)
        with torch.no_grad():
            z_tr, z_te = net.embed(x_tr), net.embed(x_te)
        recall1, accuracy = _scores(z_tr, y_tr, z_te, y_te)
        scores[name].append((recall1, accuracy))
        if s == 0:
            slug = name.replace(" + ", "-").replace(" ", "-")
            figures.append(_scatter(z_te, y_te, name, recall1, out / f"embedding_{slug}.png"))
    rows = []
    for name in LOSSES:
        r = np.array(scores[name])
        rows.append([name, float(r[:, 0].mean()), float(r[:, 0].std()), float(r[:, 1].mean())])
    return ExperimentResult(
        title=f"triplet-digits: {dim}-D embeddings of 8x8 digits, {seeds} seed(s) x {steps} steps "
        f"of {CLASSES}x{k} batches",
        columns=["loss", "recall@1", "recall@1 std", "5-NN accuracy"],
        rows=rows,
        figures=figures,
        notes=(
            f"Held-out 40% of the 1,797 digits. recall@1: the nearest other test embedding "
            f"shares the digit; 5-NN: majority vote of the 5 nearest training embeddings. "
            f"Triplet margin {margin} (Euclidean), contrastive margin {2 * margin} (Hadsell "
            f"et al., 1/2 squared hinges), center loss weight {LOSSES['softmax + center'][1]} "
            f"with alpha 0.5 on top of softmax cross entropy."
        ),
        data={
            "per_seed": scores,
            "steps": steps,
            "seeds": seeds,
            "dim": dim,
            "margin": margin,
            "k": k,
        },
    )
