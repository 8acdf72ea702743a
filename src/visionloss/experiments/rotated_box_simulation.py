"""rotated-box-simulation: oriented boxes regressed by gradient descent with smooth L1 on
``(cx, cy, w, h, angle)``, GWD, KLD and ProbIoU; final error against the target's angle and
aspect ratio.

In the spirit of the DIoU paper's simulation and of the KLD paper's analysis (Yang et al.,
NeurIPS 2021, Sec. 3): targets of area 1 centred at the origin, with aspect ratios 1 (square)
to 4 and angles across the le90 range ``[-90, 90)`` degrees; anchors around each target at
random centre offsets (within half a side), areas (0.5 to 2 times the target's), aspect
ratios (1/3 to 3) and angles (the target's +-60 degrees). Both are written in the le90
convention (long edge first, angle in ``[-pi/2, pi/2)``), the parameters a detector regresses.
Each anchor's ``(cx, cy, log w, log h, angle)`` is optimised by Adam (elementwise: the cases
are independent) for a fixed number of steps with a cosine-decaying step size, under each loss.

The final error is measured independently of any angle convention: the mean distance between
the box's corners and the target's, under the best cyclic matching of the four corners, in
units of the target's side ``sqrt(w h)``. Where smooth L1 sees the angle jump from ``+90`` to
``-90`` degrees (a target near the le90 boundary, an anchor across it: the boundary
discontinuity) or ``w`` and ``h`` swap with a quarter turn (a nearly square box: the square-box
problem), its gradient points away from the nearby geometric solution; the Gaussian losses
depend on the boxes only and do not see either.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..boxes import gwd_loss, kld_loss, probiou_loss, regularize_rotated_boxes
from ..errors import ExperimentError
from ..regression import smooth_l1_loss
from . import ExperimentResult, register_experiment
from ._common import pyplot, save_figure
from ._progress import progress

LOSSES = ("smooth_l1", "gwd", "kld", "probiou")
ASPECTS = (1.0, 1.5, 2.0, 4.0)
BOUNDARY_DEG = 75.0  # |target angle| above this: within 15 degrees of the le90 boundary
SUCCESS = 0.05  # a case converged when its corner error is below 5% of the target's side
EARLY = 30  # the step of the early error columns


def _loss_fns() -> dict[str, Callable[[Tensor, Tensor], Tensor]]:
    return {
        "smooth_l1": lambda p, t: smooth_l1_loss(p, t, reduction="none").sum(-1),
        "gwd": lambda p, t: gwd_loss(p, t, reduction="none"),
        "kld": lambda p, t: kld_loss(p, t, reduction="none"),
        "probiou": lambda p, t: probiou_loss(p, t, reduction="none"),
    }


def cases(n_angles: int, n_anchors: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(anchors, targets)`` ``(A * n_angles * n_anchors, 5)`` le90 boxes, float64."""
    gen = torch.Generator().manual_seed(seed)
    angles = -math.pi / 2 + math.pi * (torch.arange(n_angles, dtype=torch.float64) + 0.5) / n_angles
    targets = []
    for aspect in ASPECTS:
        w, h = math.sqrt(aspect), 1 / math.sqrt(aspect)
        for a in angles.tolist():
            targets.append([0.0, 0.0, w, h, a])
    target = torch.tensor(targets, dtype=torch.float64).repeat_interleave(n_anchors, 0)
    n = target.shape[0]
    r = 0.5 * torch.rand(n, generator=gen, dtype=torch.float64).sqrt()
    phi = 2 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
    area = torch.exp(math.log(2) * (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1))
    ratio = torch.exp(math.log(3) * (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1))
    turn = math.radians(60) * (2 * torch.rand(n, generator=gen, dtype=torch.float64) - 1)
    anchor = torch.stack(
        [r * torch.cos(phi), r * torch.sin(phi), (area * ratio).sqrt(), (area / ratio).sqrt(),
         target[:, 4] + turn], -1,
    )  # fmt: skip
    return regularize_rotated_boxes(anchor), regularize_rotated_boxes(target)


def corners(boxes: Tensor) -> Tensor:
    """``(N, 4, 2)`` corners in counter-clockwise order."""
    x, y, w, h, a = boxes.unbind(-1)
    c, s = torch.cos(a), torch.sin(a)
    signs = torch.tensor([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=boxes.dtype)
    dx = 0.5 * w[:, None] * signs[:, 0]
    dy = 0.5 * h[:, None] * signs[:, 1]
    return torch.stack([x[:, None] + c[:, None] * dx - s[:, None] * dy,
                        y[:, None] + s[:, None] * dx + c[:, None] * dy], -1)  # fmt: skip


def corner_error(pred: Tensor, target: Tensor) -> Tensor:
    """Mean corner distance under the best cyclic matching, over the target's ``sqrt(w h)``."""
    cp, ct = corners(pred), corners(target)
    errors = torch.stack(
        [(cp - ct.roll(k, dims=1)).norm(dim=-1).mean(-1) for k in range(4)], -1
    ).amin(-1)
    return errors / (target[:, 2] * target[:, 3]).sqrt()


def simulate(loss: Callable[[Tensor, Tensor], Tensor], anchor: Tensor, target: Tensor, *,
             steps: int, lr: float) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Adam on ``(cx, cy, log w, log h, angle)``, cosine-decaying step: the final boxes and the
    ``(steps + 1, N)`` corner errors along the way."""
    params = torch.cat([anchor[:, :2], anchor[:, 2:4].log(), anchor[:, 4:]], -1)
    params = params.clone().requires_grad_(True)
    opt = torch.optim.Adam([params], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    history = [corner_error(anchor, target)]
    for _ in range(steps):
        boxes = torch.cat([params[:, :2], params[:, 2:4].exp(), params[:, 4:]], -1)
        value = loss(boxes, target).sum()
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            final = torch.cat([params[:, :2], params[:, 2:4].exp(), params[:, 4:]], -1)
            history.append(corner_error(final, target))
    return final, torch.stack(history)


@register_experiment(
    "rotated-box-simulation",
    summary="oriented-box regression: smooth L1 on (cx, cy, w, h, angle) vs GWD, KLD, ProbIoU",
    family="boxes",
    reference="Yang et al., Learning High-Precision Bounding Box for Rotated Object Detection "
    "via Kullback-Leibler Divergence, NeurIPS 2021, arXiv:2106.01883",
    losses=LOSSES,
    metric=("error@30 |angle|>75", "min"),
    arguments=[
        (
            ("--steps",),
            {
                "type": int,
                "default": None,
                "help": "optimisation steps (default 150 quick, 400 full)",
            },
        ),
        (
            ("--angles",),
            {
                "type": int,
                "default": None,
                "help": "target angles per aspect ratio (default 12 quick, 36 full)",
            },
        ),
        (
            ("--anchors",),
            {
                "type": int,
                "default": None,
                "help": "anchors per target (default 12 quick, 60 full)",
            },
        ),
    ],  # fmt: skip
)
def rotated_box_simulation(
    quick: bool,
    out: Path,
    steps: int | None = None,
    angles: int | None = None,
    anchors: int | None = None,
) -> ExperimentResult:
    steps = steps if steps is not None else (150 if quick else 400)
    angles = angles if angles is not None else (12 if quick else 36)
    anchors = anchors if anchors is not None else (12 if quick else 60)
    if steps < 1 or angles < 1 or anchors < 1:
        raise ExperimentError(
            f"rotated-box-simulation: expected steps, angles and anchors >= 1, got "
            f"steps={steps}, angles={angles}, anchors={anchors}"
        )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small elementwise work: more threads only synchronise
    try:
        return _run(out, steps, angles, anchors)
    finally:
        torch.set_num_threads(threads)


def _run(out: Path, steps: int, n_angles: int, n_anchors: int) -> ExperimentResult:
    anchor, target = cases(n_angles, n_anchors)
    errors, curves, turned = {}, {}, {}
    fns = _loss_fns()
    for name in progress(LOSSES, desc="rotated-box-simulation"):
        final, history = simulate(fns[name], anchor, target, steps=steps, lr=0.05)
        errors[name], curves[name] = history[-1], history
        # net rotation of more than 90 degrees: the long way round (every anchor starts within
        # 60 degrees of its target's orientation, modulo pi)
        turned[name] = (final[:, 4] - anchor[:, 4]).abs() > math.pi / 2
    start = corner_error(anchor, target)
    angle_deg = torch.rad2deg(target[:, 4])
    aspect = target[:, 2] / target[:, 3]
    square = (aspect - 1).abs() < 1e-9
    # the angle groups leave the squares out (a square's angle is the Gaussian losses' blind
    # spot, reported in its own column)
    boundary = (angle_deg.abs() > BOUNDARY_DEG) & ~square
    inner = (angle_deg.abs() <= BOUNDARY_DEG) & ~square
    long = (aspect - 4).abs() < 1e-9
    early = min(steps, EARLY)
    rows = []
    for name in LOSSES:
        e = errors[name]
        e_early = curves[name][early]
        rows.append([
            name, float(e.mean()), float(e_early[boundary].mean()),
            float(e_early[inner].mean()), float(e[boundary].mean()),
            float(e[square].mean()), float(e[long].mean()),
            float((e < SUCCESS).double().mean()), float(turned[name].double().mean()),
        ])  # fmt: skip
    columns = ["loss", "error", f"error@{early} |angle|>75", f"error@{early} |angle|<=75",
               "error |angle|>75", "error square", "error 4:1", f"converged (<{SUCCESS})",
               "turned >90deg"]  # fmt: skip
    figures = _figures(out, errors, curves, angle_deg, aspect, boundary, inner)
    return ExperimentResult(
        title=(
            f"rotated-box simulation: {anchor.shape[0]:,} cases ({len(ASPECTS)} aspect ratios x "
            f"{n_angles} angles x {n_anchors} anchors), {steps} Adam steps"
        ),
        columns=columns,
        rows=rows,
        figures=figures,
        notes=(
            "error: mean corner distance (best cyclic corner matching) over the target's side "
            f"sqrt(w h), after all steps or after step {early} (@{early}); the angle columns "
            "leave the square targets out; initial mean error "
            f"{float(start.mean()):.3f}. Boxes and targets in the le90 convention; smooth L1 "
            "regresses those parameters (beta 1), the Gaussian losses use their defaults (GWD, "
            "KLD: log1p, tau 1; ProbIoU: l1). turned >90deg: the fraction of cases whose angle "
            "moved by more than 90 degrees (the long way round across the le90 boundary). A "
            "square's Gaussian is isotropic: the Gaussian losses leave a square's angle where "
            "the anchor had it."
        ),
        data={
            "steps": steps,
            "cases": int(anchor.shape[0]),
            "initial_error": float(start.mean()),
            "errors": {k: v.tolist() for k, v in errors.items()},
        },
    )


def _figures(
    out: Path,
    errors: dict[str, Tensor],
    curves: dict[str, Tensor],
    angle_deg: Tensor,
    aspect: Tensor,
    boundary: Tensor,
    inner: Tensor,
) -> list[Path]:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4), layout="constrained")
    centres = torch.unique(angle_deg)
    for name, e in errors.items():
        per_angle = [float(e[(angle_deg == a) & (boundary | inner)].mean()) for a in centres]
        axes[0].plot(centres.numpy(), per_angle, marker="o", markersize=3, label=name)
        per_aspect = [float(e[(aspect - r).abs() < 1e-9].mean()) for r in ASPECTS]
        axes[1].plot(ASPECTS, per_aspect, marker="o", label=name)
        line = axes[2].plot(curves[name][:, boundary].mean(1).numpy(), label=f"{name}, |angle|>75")
        axes[2].plot(curves[name][:, inner].mean(1).numpy(), linestyle="--",
                     color=line[0].get_color())  # fmt: skip
    axes[0].set_xlabel("target angle (degrees, le90)")
    axes[0].set_ylabel("mean final corner error / side")
    axes[0].set_yscale("log")
    axes[0].set_title("final error vs angle, non-square targets (le90 boundary: +-90)")
    axes[1].set_xlabel("target aspect ratio w:h")
    axes[1].set_yscale("log")
    axes[1].set_title("final error vs aspect ratio (1: square)")
    axes[1].legend()
    axes[2].set_xlabel("step")
    axes[2].set_yscale("log")
    axes[2].set_title("mean error, non-square targets: |angle| > 75 (solid), <= 75 (dashed)")
    axes[2].legend(fontsize=7)
    path = save_figure(fig, out / "error_vs_angle_and_aspect.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.logspace(-6, 1, 36)
    for name, e in errors.items():
        ax.hist(e.clamp_min(1e-6).numpy(), bins=bins, histtype="step", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("final corner error / side")
    ax.set_ylabel("cases")
    ax.legend()
    hist = save_figure(fig, out / "error_histogram.png")
    return [path, hist]
