"""The simulation experiment of the DIoU paper (Zheng et al., AAAI 2020, Section "Simulation
Experiment"): 1,715,000 box-regression cases driven by gradient descent on IoU-based losses.

Setting (as the authors' MATLAB script ``test_1715k.m``):

* 7 target boxes centred at (10, 10), area 1, aspect ratios (w:h) 1:4, 1:3, 1:2, 1:1, 2:1,
  3:1, 4:1;
* 5,000 anchor centres uniform in the disc of radius 3 around (10, 10), drawn as
  ``r = 3 sqrt(u1)``, ``angle = 2 pi u2`` with MATLAB's default generator (Mersenne Twister,
  seed 5489, which ``numpy.random.RandomState(5489)`` reproduces): 5,000 ``u1`` then 5,000 ``u2``;
* at each centre, anchors of 7 scales (0.5, 0.67, 0.75, 1, 1.33, 1.5, 2 times the target's
  area) times the same 7 aspect ratios: 5000 x 7 x 7 x 7 cases;
* 200 steps of ``B <- B + eta (2 - IoU(B)) D(B)`` on ``B = (x, y, w, h)``, ``eta = 0.1``, then
  0.01 after step 160 and 0.001 after step 180; the error ``E(t) = sum_cases |B_t - B_gt|_1``.

Two ways to get the direction ``D``:

``paper``
    the authors' hand-derived "gradients" (``dIOU.m``, ``dGIOU.m``, ``dDIOU.m``, ``dCIOU.m``),
    reimplemented elementwise from their code. They are not the exact derivatives: the IoU and
    GIoU ones are taken in (top, bottom, left, right) and mapped with ``dw = dr - dl`` (twice
    the chain rule); the GIoU one uses the unclamped, possibly negative, intersection for
    disjoint boxes; the DIoU/CIoU centre terms flip the sign of the enclosing-diagonal part and
    mix the width and height derivatives of the enclosing box (and set ``dCw/dw = -1`` where the
    prediction spans the target); the CIoU aspect gradient omits the ``1 / (w^2 + h^2)`` factor.
``autograd``
    minus the exact gradient of this library's loss (any box loss of the registry whose only
    required options are the boxes; MPDIoU gets a 20 x 20 image). A loss that scales by a
    mean of ``1 - IoU`` (WIoU v2/v3's ``iou_mean``) gets, at every step, the mean over all the
    cases: the value one call on the whole set would use, whatever the chunking.

Cases are processed in chunks that stay in cache (each chunk runs all its steps at once; for a
loss that needs the mean over all cases, the chunks advance one step at a time). Every sum is
taken per block of ``BLOCK`` cases and then over the blocks, and chunks hold whole blocks, so
the numbers do not depend on the chunk size or the number of worker threads (a run is the same
on every machine). Everything is float64, like MATLAB.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ExperimentError
from . import ExperimentResult, register_experiment
from ._common import cores, pyplot, save_figure
from ._progress import progress

STEPS = 200
REPORT_STEPS = (1, 20, 40, 160, 200)
PAPER_LOSSES = ("iou", "giou", "diou", "ciou")
DEFAULT_LOSSES = "iou,giou,diou,ciou"
N_POINTS, QUICK_POINTS = 5000, 200
SCALES = (0.5, 0.67, 0.75, 1.0, 1.33, 1.5, 2.0)
_C1, _C2 = math.sqrt(3), math.sqrt(2)
# (w, h) of unit area for the aspect ratios 1:4, 1:3, 1:2, 1:1, 2:1, 3:1, 4:1
ASPECTS = (
    (0.5, 2.0),
    (_C1 / 3, _C1),
    (_C2 / 2, _C2),
    (1.0, 1.0),
    (_C2, _C2 / 2),
    (_C1, _C1 / 3),
    (2.0, 0.5),
)
AUTOGRAD_OPTIONS = {"mpdiou": {"image_size": (20.0, 20.0)}}
CHUNK = 1 << 15
BLOCK = 343  # the cases of one anchor centre; sums run per block, then over the blocks


def learning_rate(step: int) -> float:
    """eta at 1-based ``step``: 0.1 up to 160, 0.01 up to 180, then 0.001."""
    return 0.1 if step <= 160 else 0.01 if step <= 180 else 0.001


def anchor_centres(n_points: int = N_POINTS) -> np.ndarray:
    """``(n_points, 2)`` anchor centres; the first ``n`` of the authors' 5,000 points."""
    rng = np.random.RandomState(5489)  # MATLAB's default twister stream
    u1 = rng.random_sample(N_POINTS)
    u2 = rng.random_sample(N_POINTS)
    r, angle = 3 * np.sqrt(u1), 2 * np.pi * u2
    pts = np.stack([10 + r * np.cos(angle), 10 + r * np.sin(angle)], axis=1)
    return pts[:n_points]


def regression_cases(n_points: int = N_POINTS) -> tuple[Tensor, Tensor]:
    """``(anchors, targets)``, each ``(n_points * 343, 4)`` float64 in ``(x, y, w, h)``, in the
    authors' order (point, target aspect, anchor scale, anchor aspect)."""
    pts = torch.from_numpy(anchor_centres(n_points))
    aspects = torch.tensor(ASPECTS, dtype=torch.float64)  # (7, 2)
    scales = torch.tensor(SCALES, dtype=torch.float64).sqrt()  # target area is 1
    n = pts.shape[0]
    shape = (n, 7, 7, 7)
    xy = pts[:, None, None, None, :].expand(*shape, 2)
    wh = (aspects[None, None, :, :] * scales[None, :, None, None]).expand(n, 7, 7, 7, 2)
    target_wh = aspects[None, :, None, None, :].expand(*shape, 2)
    target_xy = torch.full((*shape, 2), 10.0, dtype=torch.float64)
    anchors = torch.cat([xy, wh], dim=-1).reshape(-1, 4)
    targets = torch.cat([target_xy, target_wh], dim=-1).reshape(-1, 4)
    return anchors.contiguous(), targets.contiguous()


# ------------------------------------------------------------------ the authors' derivatives


def _tblr(b: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    x, y, w, h = b.unbind(-1)
    return y - h / 2, y + h / 2, x - w / 2, x + w / 2


def _where(cond: Tensor, a, b) -> Tensor:
    return torch.where(cond, a, b)


def paper_iou(pred: Tensor, gt: Tensor) -> Tensor:
    """``iou.m``: I / U where the intersection is non-empty, else 0."""
    pt, pb, pl, pr = _tblr(pred)
    gt_, gb, gl, gr = _tblr(gt)
    it, ib = torch.maximum(pt, gt_), torch.minimum(pb, gb)
    il, ir = torch.maximum(pl, gl), torch.minimum(pr, gr)
    inter = (ib - it) * (ir - il)
    union = (pb - pt) * (pr - pl) + (gb - gt_) * (gr - gl) - inter
    return _where((it < ib) & (il < ir), inter / union, torch.zeros_like(inter))


def _paper_parts(pred: Tensor, gt: Tensor):
    """Edges, unclamped intersection I, union U and their (t, b, l, r) derivatives."""
    pt, pb, pl, pr = _tblr(pred)
    gt_, gb, gl, gr = _tblr(gt)
    it, ib = torch.maximum(pt, gt_), torch.minimum(pb, gb)
    il, ir = torch.maximum(pl, gl), torch.minimum(pr, gr)
    iw, ih = ir - il, ib - it
    inter = ih * iw
    union = (pb - pt) * (pr - pl) + (gb - gt_) * (gr - gl) - inter
    zero = torch.zeros_like(inter)
    d_inter = (
        _where(pt > gt_, -iw, zero),
        _where(pb < gb, iw, zero),
        _where(pl > gl, -ih, zero),
        _where(pr < gr, ih, zero),
    )
    pw, ph = pr - pl, pb - pt
    d_area = (-pw, pw, -ph, ph)
    d_union = tuple(a - i for a, i in zip(d_area, d_inter))
    return (pt, pb, pl, pr), (gt_, gb, gl, gr), (it, ib, il, ir), inter, union, d_inter, d_union


def paper_diou_tblr(pred: Tensor, gt: Tensor) -> tuple[Tensor, ...]:
    """``dIOU.m``: d IoU / d (t, b, l, r), 0 unless the boxes overlap; for an inverted box the
    derivative of its first edge is replaced by that of the second (MATLAB's sequential swap)."""
    (pt, pb, pl, pr), _, (it, ib, il, ir), inter, union, d_i, d_u = _paper_parts(pred, gt)
    ok = (it < ib) & (il < ir) & (union > 0)
    safe_u = _where(ok, union, torch.ones_like(union))
    s = [
        _where(ok, (union * di - inter * du) / safe_u.square(), torch.zeros_like(inter))
        for di, du in zip(d_i, d_u)
    ]
    dt, db, dl, dr = s
    dt = _where(pt < pb, dt, db)
    dl = _where(pl < pr, dl, dr)
    return dt, db, dl, dr


def paper_dgiou_tblr(pred: Tensor, gt: Tensor) -> tuple[Tensor, ...]:
    """``dGIOU.m``: IoU part (overlapping only) plus ``d(U / C)`` with the unclamped I."""
    (pt, pb, pl, pr), (gt_, gb, gl, gr), (it, ib, il, ir), _, union, _, d_u = _paper_parts(pred, gt)
    ct, cb = torch.minimum(pt, gt_), torch.maximum(pb, gb)
    cl, cr = torch.minimum(pl, gl), torch.maximum(pr, gr)
    cw, ch = cr - cl, cb - ct
    area = ch * cw
    zero = torch.zeros_like(area)
    d_c = (
        _where(pt < gt_, -cw, zero),
        _where(pb > gb, cw, zero),
        _where(pl < gl, -ch, zero),
        _where(pr > gr, ch, zero),
    )
    overlapping = (it < ib) & (il < ir)
    d_iou = paper_diou_tblr(pred, gt)
    out = []
    for k in range(4):
        term = (area * d_u[k] - union * d_c[k]) / area.square()
        with_iou = d_iou[k] + _where(area > 0, term, zero)
        out.append(_where(overlapping, with_iou, term))
    return tuple(out)


def _to_xywh(d: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``to_xywh.m``: (dl + dr, dt + db, dr - dl, db - dt)."""
    dt, db, dl, dr = d
    return dl + dr, dt + db, dr - dl, db - dt


def paper_ddiou_xywh(pred: Tensor, gt: Tensor, aspect: bool = False) -> tuple[Tensor, ...]:
    """``dDIOU.m`` (``aspect=False``) or ``dCIOU.m`` (``aspect=True``), in (x, y, w, h)."""
    pt, pb, pl, pr = _tblr(pred)
    gt_, gb, gl, gr = _tblr(gt)
    ct, cb = torch.minimum(pt, gt_), torch.maximum(pb, gb)
    cl, cr = torch.minimum(pl, gl), torch.maximum(pr, gr)
    ccw, cch = cr - cl, cb - ct
    c2 = cch.square() + ccw.square()
    top, bottom = (pt < gt_).to(pred.dtype), (pb > gb).to(pred.dtype)
    left, right = (pl < gl).to(pred.dtype), (pr > gr).to(pred.dtype)
    # their Cw and Ch share one set of derivatives (dx, dy, dw, dh) ...
    k_dx, k_dy = right - left, bottom - top
    k_dw, k_dh = 0.5 * right + 0.5 * left, 0.5 * bottom + 0.5 * top
    # ... except these two overrides
    cw_dw = _where((left * right) > 0, -torch.ones_like(k_dw), k_dw)
    ch_dh = _where((top * bottom) > 0, -torch.ones_like(k_dh), k_dh)
    x, y, w, h = pred.unbind(-1)
    gx, gy, gw, gh = gt.unbind(-1)
    d = (x - gx).square() + (y - gy).square()
    c4 = c2 * c2
    sx = (2 * (gx - x) * c2 - (2 * ccw * k_dx + 2 * cch * k_dx) * d) / c4
    sy = (2 * (gy - y) * c2 - (2 * ccw * k_dy + 2 * cch * k_dy) * d) / c4
    sw = (2 * ccw * cw_dw + 2 * cch * k_dw) * d / c4
    sh = (2 * ccw * k_dh + 2 * cch * ch_dh) * d / c4
    if aspect:
        diff = torch.atan(gw / gh) - torch.atan(w / h)
        v = 4 / math.pi**2 * diff.square()
        alpha = v / (1 - paper_iou(pred, gt) + v + 1e-7)
        sw = sw + alpha * (8 / math.pi**2) * diff * h
        sh = sh - alpha * (8 / math.pi**2) * diff * w
    px, py, pw, ph = _to_xywh(paper_diou_tblr(pred, gt))
    return px + sx, py + sy, pw + sw, ph + sh


def paper_direction(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """``D(B)`` of the authors' code for ``iou | giou | diou | ciou``: ``(N, 4)`` in (x, y, w, h)."""
    if name == "iou":
        return lambda b, g: torch.stack(_to_xywh(paper_diou_tblr(b, g)), -1)
    if name == "giou":
        return lambda b, g: torch.stack(_to_xywh(paper_dgiou_tblr(b, g)), -1)
    if name == "diou":
        return lambda b, g: torch.stack(paper_ddiou_xywh(b, g), -1)
    if name == "ciou":
        return lambda b, g: torch.stack(paper_ddiou_xywh(b, g, aspect=True), -1)
    raise ExperimentError(
        f"diou-simulation: unknown loss {name!r} for --mode paper (the authors derived gradients for "
        f"{', '.join(PAPER_LOSSES)} only; use --mode autograd)"
    )


@dataclass(frozen=True)
class AutogradDirection:
    """``D(B) = -d loss / d B`` of a registered box loss (boxes in cxcywh), called as
    ``direction(b, g)``, or ``direction(b, g, iou_mean=m)`` when ``uses_iou_mean``."""

    fn: Callable[..., Tensor]
    options: dict[str, Any]
    uses_iou_mean: bool

    def __call__(self, b: Tensor, g: Tensor, iou_mean: Tensor | None = None) -> Tensor:
        extra = {} if iou_mean is None else {"iou_mean": iou_mean}
        with torch.enable_grad():
            leaf = b.detach().requires_grad_(True)
            loss = self.fn(leaf, g, box_format="cxcywh", reduction="sum", **self.options, **extra)
            (grad,) = torch.autograd.grad(loss, leaf)
        return -grad


def autograd_direction(name: str) -> AutogradDirection:
    """``D(B) = -d loss / d B`` of this library's loss ``name`` (boxes in cxcywh).

    For a loss with an ``iou_mean`` option (WIoU), the direction is ``direction(b, g,
    iou_mean=m)`` and has ``uses_iou_mean = True``: :func:`simulate` passes the mean of
    ``1 - IoU`` over all cases (``None`` lets the loss take the mean of ``b`` itself).
    """
    from .._core.registry import get_loss

    spec = get_loss(name)
    if spec.family != "boxes":
        raise ExperimentError(f"diou-simulation: unknown loss {name!r}: not a box loss")
    uses_iou_mean = "iou_mean" in inspect.signature(spec.function).parameters
    return AutogradDirection(
        spec.function, dict(AUTOGRAD_OPTIONS.get(spec.name, {})), uses_iou_mean
    )


def _exact_iou(b: Tensor, g: Tensor) -> Tensor:
    from ..boxes import box_iou

    return box_iou(b, g, box_format="cxcywh", paired=True)


def _block_sums(x: Tensor) -> Tensor:
    """Sums of ``x`` over consecutive blocks of ``BLOCK`` cases (the last one may be shorter).

    Each block is summed on its own (a row of at most ``BLOCK`` values: one thread, one
    order), so a block's sum does not depend on the chunk that holds it.
    """
    full = x.shape[0] // BLOCK * BLOCK
    sums = x[:full].reshape(-1, BLOCK).sum(-1)
    if full < x.shape[0]:
        sums = torch.cat([sums, x[full:].sum().reshape(1)])
    return sums


def simulate(
    anchors: Tensor,
    targets: Tensor,
    direction: Callable[..., Tensor],
    iou: Callable[[Tensor, Tensor], Tensor],
    steps: int = STEPS,
    chunk: int = CHUNK,
    desc: str | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, Tensor]:
    """Run the regression; return ``E(t)`` for ``t = 1..steps`` and the final per-case error.

    Cases run in chunks of ``chunk`` (rounded up to whole blocks of ``BLOCK`` cases, small
    enough to stay in cache), on ``workers`` threads (torch releases the GIL inside its
    kernels). Each chunk runs all its steps at once, unless ``direction.uses_iou_mean``: then
    every step first takes the mean of ``1 - IoU`` over all cases and passes it to
    ``direction`` as ``iou_mean``, and the chunks advance one step at a time. Sums are taken
    per block and then over all blocks, so the result depends on neither ``chunk`` nor
    ``workers``.
    """
    n = anchors.shape[0]
    chunk = max(1, math.ceil(chunk / BLOCK)) * BLOCK
    starts = range(0, n, chunk)
    boxes = [anchors[s : s + chunk].clone() for s in starts]
    gts = [targets[s : s + chunk] for s in starts]
    chunks = range(len(starts))
    population = getattr(direction, "uses_iou_mean", False)

    def advance(i: int, first: int, last: int, iou_mean: Tensor | None) -> Tensor:
        """Steps ``first..last`` of chunk ``i``; returns the ``(steps, blocks)`` error sums."""
        torch.set_flush_denormal(True)  # converged boxes give subnormals: slow on x86 CPUs
        b, g = boxes[i], gts[i]
        errors = []
        with torch.no_grad():
            for step in range(first, last + 1):
                d = direction(b, g, iou_mean=iou_mean) if population else direction(b, g)
                b = b + learning_rate(step) * (2 - iou(b, g))[:, None] * d
                errors.append(_block_sums((b - g).abs().sum(-1)))
        boxes[i] = b
        return torch.stack(errors)

    def loss_sums(i: int) -> Tensor:
        torch.set_flush_denormal(True)
        with torch.no_grad():
            return _block_sums(1 - iou(boxes[i], gts[i]))

    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    each = pool.map if pool is not None else map
    try:
        if population:
            per_step = []
            step_range: Iterable[int] = range(1, steps + 1)
            if desc is not None:
                step_range = progress(step_range, total=steps, desc=desc)
            for step in step_range:
                mean = torch.cat(list(each(loss_sums, chunks))).sum() / n
                parts = each(partial(advance, first=step, last=step, iou_mean=mean), chunks)
                per_step.append(torch.cat(list(parts), 1))
            errors = torch.cat(per_step, 0)
        else:
            results = each(partial(advance, first=1, last=steps, iou_mean=None), chunks)
            if desc is not None:
                results = progress(results, total=len(chunks), desc=desc)
            errors = torch.cat(list(results), 1)  # (steps, blocks) in case order
    finally:
        if pool is not None:
            pool.shutdown()
        torch.set_flush_denormal(False)  # the default; the steps above may run in this thread
    final = torch.cat([(b - g).abs().sum(-1) for b, g in zip(boxes, gts)])
    return errors.sum(1).numpy(), final


def _parse_losses(losses: str, mode: str) -> list[str]:
    names = [s.strip().lower().replace("-", "_") for s in losses.split(",") if s.strip()]
    if not names:
        raise ExperimentError("diou-simulation: --losses needs at least one loss name")
    for name in names:  # fail before any work
        paper_direction(name) if mode == "paper" else autograd_direction(name)
    return names


@register_experiment(
    "diou-simulation",
    losses=("iou", "giou", "diou", "ciou"),
    metric=("sum_t E(t)", "min"),
    summary="DIoU paper's 1,715,000-case regression simulation (IoU/GIoU/DIoU/CIoU, ...)",
    family="boxes",
    reference="Zheng et al., Distance-IoU Loss, AAAI 2020, arXiv:1911.08287, Sec. Simulation",
    arguments=[
        (
            ("--mode",),
            {
                "choices": ["autograd", "paper"],
                "default": "autograd",
                "help": "autograd: exact gradients of our losses; paper: the authors' "
                "hand-derived MATLAB gradients (default autograd)",
            },
        ),
        (
            ("--losses",),
            {
                "default": DEFAULT_LOSSES,
                "help": "comma-separated box losses (paper mode: iou,giou,diou,ciou)",
            },
        ),
    ],
)
def diou_simulation(
    quick: bool, out: Path, mode: str = "autograd", losses: str = DEFAULT_LOSSES
) -> ExperimentResult:
    """Run the simulation; one row per loss: E(t) at t = 1, 20, 40, 160, 200 and sum_t E(t)."""
    if mode not in ("autograd", "paper"):
        raise ExperimentError(
            f"diou-simulation: unknown mode {mode!r}: expected 'autograd' or 'paper'"
        )
    names = _parse_losses(losses, mode)
    n_points = QUICK_POINTS if quick else N_POINTS
    anchors, targets = regression_cases(n_points)
    iou = paper_iou if mode == "paper" else _exact_iou
    curves, finals = {}, {}
    # one intra-op thread per worker: chunks run in parallel instead of each small operation;
    # the numbers do not depend on workers or chunk (see simulate)
    workers = cores()
    n_chunks = workers * math.ceil(anchors.shape[0] / (workers * CHUNK))  # balanced workers
    chunk = math.ceil(anchors.shape[0] / n_chunks)
    # flush-to-zero for speed; torch has no getter, so it is put back to its default (off)
    threads = torch.get_num_threads()
    torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    try:
        for name in names:
            direction = paper_direction(name) if mode == "paper" else autograd_direction(name)
            curves[name], final = simulate(
                anchors,
                targets,
                direction,
                iou,
                chunk=chunk,
                desc=f"{name} ({mode})",
                workers=workers,
            )
            finals[name] = final.reshape(n_points, 343).sum(-1).numpy()
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)
    rows = [
        [name, *(float(curves[name][t - 1]) for t in REPORT_STEPS), float(curves[name].sum())]
        for name in names
    ]
    columns = ["loss", *(f"E({t})" for t in REPORT_STEPS), "sum_t E(t)"]
    figures = _figures(out, mode, names, curves, finals, anchor_centres(n_points))
    return ExperimentResult(
        title=f"DIoU simulation, {mode} gradients, {anchors.shape[0]:,} cases, {STEPS} steps",
        columns=columns,
        rows=rows,
        figures=figures,
        notes=(
            "E(t) = sum over cases of |B_t - B_gt|_1 after step t. "
            + (
                "paper: the authors' hand-derived directions (test_1715k.m)."
                if mode == "paper"
                else "autograd: minus the exact gradient of each loss"
                + (
                    "; wiou: mean of 1 - IoU over all cases at each step."
                    if "wiou" in names
                    else "."
                )
            )
        ),
        data={
            "mode": mode,
            "cases": int(anchors.shape[0]),
            "curves": {k: v.tolist() for k, v in curves.items()},
        },
    )


def _figures(
    out: Path, mode: str, names: list[str], curves: dict, finals: dict, points: np.ndarray
) -> list[Path]:
    plt = pyplot()
    from matplotlib import colors

    fig, ax = plt.subplots(figsize=(6, 4))
    steps = np.arange(1, STEPS + 1)
    for name in names:
        ax.plot(steps, curves[name], label=name, linewidth=1.5)
    ax.set_xlabel("iteration")
    ax.set_ylabel("total error E(t)")
    ax.set_title(f"regression error sum ({mode} gradients)")
    ax.legend()
    curve_png = save_figure(fig, out / f"error_curves_{mode}.png")
    cols = min(len(names), 4)
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.9 * cols, 3.2 * rows), squeeze=False, layout="constrained"
    )
    # one colour scale per panel: the losses' final errors differ by orders of magnitude (a
    # shared scale leaves all but the worst panel uniformly dark), and within a panel a few
    # far anchors hold most of the error, so each scale is logarithmic, from the panel's
    # smallest positive error (at most six decades down; smaller ones and exact zeros take
    # the lowest colour) to its largest
    for ax, name in zip(axes.flat, names):
        values = finals[name]
        positive = values[values > 0]
        if positive.size:
            vmax = float(positive.max())
            vmin = max(float(positive.min()), vmax * 1e-6)
            vmin = vmin if vmin < vmax else vmax / 10  # one value: a decade below it
            norm: colors.Normalize = colors.LogNorm(vmin=vmin, vmax=vmax, clip=True)
        else:  # every case converged exactly
            norm = colors.Normalize(vmin=0.0, vmax=1.0)
        sc = ax.scatter(points[:, 0], points[:, 1], c=values, s=4, cmap="viridis", norm=norm)
        ax.set_title(f"{name}: final error")
        ax.set_aspect("equal")
        fig.colorbar(sc, ax=ax, shrink=0.8, label="sum of 343 final errors (log)")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    map_png = save_figure(fig, out / f"final_error_maps_{mode}.png")
    return [curve_png, map_png]
