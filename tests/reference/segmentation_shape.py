"""float64 references of the shape losses, from the authors' equations and code.

Each function is a plain transcription (numpy / scipy / torch float64), independent of the
library's code paths: distance maps by ``scipy.ndimage.distance_transform_edt``, skeletons by
the clDice authors' max-pooling recipe, loops over images and classes.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage as ndi
import torch
import torch.nn.functional as F
from torch import Tensor


def kervadec_dist(seg: np.ndarray, resolution=None) -> np.ndarray:
    """Kervadec's ``one_hot2dist`` (LIVIAMTL/boundary-loss, ``utils.py``): for each class
    ``k`` of a one-hot ``(K, *spatial)`` array with ``posmask.any()``,
    ``edt(negmask) * negmask - (edt(posmask) - 1) * posmask``; zeros for an empty class."""
    res = np.zeros(seg.shape, dtype=np.float64)
    for k in range(seg.shape[0]):
        pos = seg[k].astype(bool)
        if pos.any():
            neg = ~pos
            res[k] = (
                ndi.distance_transform_edt(neg, sampling=resolution) * neg
                - (ndi.distance_transform_edt(pos, sampling=resolution) - 1) * pos
            )
    return res


def boundary(probs: Tensor, onehot: Tensor, idc: list[int], resolution=None) -> Tensor:
    """Kervadec's ``SurfaceLoss``: ``einsum("bk...,bk...->bk...", pc, dc).mean()`` over the
    classes ``idc`` (``losses.py``), with the maps of :func:`kervadec_dist`."""
    dist = np.stack([kervadec_dist(o, resolution) for o in onehot.numpy()])
    dc = torch.from_numpy(dist)[:, idc]
    return (probs[:, idc] * dc).mean()


def _erode(x: Tensor) -> Tensor:
    # clDice soft_skeleton.py: soft_erode = min over the (3, 1) and (1, 3) min-poolings (2-D)
    if x.dim() == 4:
        p1 = -F.max_pool2d(-x, (3, 1), (1, 1), (1, 0))
        p2 = -F.max_pool2d(-x, (1, 3), (1, 1), (0, 1))
        return torch.min(p1, p2)
    p1 = -F.max_pool3d(-x, (3, 1, 1), (1, 1, 1), (1, 0, 0))
    p2 = -F.max_pool3d(-x, (1, 3, 1), (1, 1, 1), (0, 1, 0))
    p3 = -F.max_pool3d(-x, (1, 1, 3), (1, 1, 1), (0, 0, 1))
    return torch.min(torch.min(p1, p2), p3)


def _dilate(x: Tensor) -> Tensor:
    if x.dim() == 4:
        return F.max_pool2d(x, (3, 3), (1, 1), (1, 1))
    return F.max_pool3d(x, (3, 3, 3), (1, 1, 1), (1, 1, 1))


def soft_skel(x: Tensor, iters: int) -> Tensor:
    """clDice ``soft_skel`` (jocpae/clDice, ``cldice_loss/pytorch/soft_skeleton.py``)."""
    skel = F.relu(x - _dilate(_erode(x)))
    for _ in range(iters):
        x = _erode(x)
        delta = F.relu(x - _dilate(_erode(x)))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def cldice_paper(y_pred: Tensor, y_true: Tensor, iters: int = 3, smooth: float = 1.0) -> Tensor:
    """The authors' ``soft_cldice`` (``cldice_loss/pytorch/cldice.py``): sums over the whole
    batch and the foreground channels ``[:, 1:]``, ``smooth`` on both sides of each ratio, no
    epsilon in the harmonic mean."""
    skel_pred = soft_skel(y_pred, iters)
    skel_true = soft_skel(y_true, iters)
    tprec = (torch.sum((skel_pred * y_true)[:, 1:]) + smooth) / (
        torch.sum(skel_pred[:, 1:]) + smooth
    )
    tsens = (torch.sum((skel_true * y_pred)[:, 1:]) + smooth) / (
        torch.sum(skel_true[:, 1:]) + smooth
    )
    return 1.0 - 2.0 * (tprec * tsens) / (tprec + tsens)


def topk_nnunet(logits: Tensor, target: Tensor, k: float = 10.0, weight=None) -> Tensor:
    """nnU-Net's ``TopKLoss`` (``nnunetv2/training/loss/robust_ce_loss.py``): unreduced cross
    entropy, ``torch.topk`` of ``int(num_voxels * k / 100)`` entries of the flattened batch,
    mean."""
    res = F.cross_entropy(logits, target, weight=weight, reduction="none")
    num_voxels = int(np.prod(res.shape))
    top, _ = torch.topk(res.view((-1,)), int(num_voxels * k / 100), sorted=False)
    return top.mean()


def hausdorff_dt(probs: Tensor, onehot: Tensor, alpha: float = 2.0) -> Tensor:
    """Karimi and Salcudean's HD_DT estimate (TMI 2019, eq. 8): per (image, class) the mean
    of ``(p - g)^2 (d_p^alpha + d_g^alpha)``, with ``d`` the distance to each mask's boundary
    (``edt(mask) + edt(~mask)``, zeros for an empty or full mask), then the mean."""

    def field(m: np.ndarray) -> np.ndarray:
        if not m.any() or m.all():
            return np.zeros(m.shape)
        return ndi.distance_transform_edt(m) + ndi.distance_transform_edt(~m)

    out = []
    for b in range(probs.shape[0]):
        for c in range(probs.shape[1]):
            p, g = probs[b, c], onehot[b, c]
            dp = torch.from_numpy(field(p.detach().numpy() > 0.5))
            dg = torch.from_numpy(field(g.numpy() > 0.5))
            out.append(((p - g) ** 2 * (dp**alpha + dg**alpha)).mean())
    return torch.stack(out).mean()
