"""float64 loop references for the segmentation overlap family, written from the papers and
from the conventions of the visionloss docstrings (per-(image, class) scores, class-weighted
mean, the empty-mask policies, ignored pixels leaving every sum).

Everything loops over images, classes and pixels with scalar arithmetic, so autograd flows
through the loops; keep inputs small (a few hundred pixels).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

Score = Callable[[Tensor, Tensor, Tensor, float, float], Tensor]


# ---------------------------------------------------------------- inputs


def activate(x: Tensor, activation: str) -> Tensor:
    """Probabilities ``(B, C, N)`` in float64."""
    x = x.double().reshape(x.shape[0], x.shape[1], -1)
    if activation == "softmax":
        return torch.softmax(x, 1)
    if activation == "sigmoid":
        return torch.sigmoid(x)
    return x


def dense_target(x: Tensor, target: Tensor, ignore_index: int | None) -> tuple[Tensor, Tensor]:
    """``(g (B, C, N) float64, valid (B, N) bool)`` from class indices or a dense target."""
    b, c = x.shape[:2]
    if target.dim() == x.dim():
        g = target.double().reshape(b, c, -1)
        valid = torch.ones(b, g.shape[-1], dtype=torch.bool)
        if ignore_index is not None:
            valid = ~(g == ignore_index).any(1)
        g = g * valid.unsqueeze(1)
        return g, valid
    t = target.reshape(b, -1).long()
    n = t.shape[1]
    g = torch.zeros(b, c, n, dtype=torch.float64)
    valid = torch.ones(b, n, dtype=torch.bool)
    for i in range(b):
        for j in range(n):
            label = int(t[i, j])
            if ignore_index is not None and label == ignore_index:
                valid[i, j] = False
            elif c == 1:
                g[i, 0, j] = float(label == 1)
            else:
                g[i, label, j] = 1.0
    return g, valid


def _groups(b: int, per_image: bool) -> list[list[int]]:
    return [[i] for i in range(b)] if per_image else [list(range(b))]


def _classes(c: int, classes: Sequence[int] | None, include_background: bool) -> list[int]:
    if classes is not None:
        return list(classes)
    return list(range(c)) if include_background else list(range(1, c))


def _sums(p, g, valid, group, c, squared):
    inter = p.new_zeros(())
    psum = p.new_zeros(())
    gsum = p.new_zeros(())
    n = 0
    for i in group:
        for j in range(p.shape[-1]):
            if not valid[i, j]:
                continue
            n += 1
            inter = inter + p[i, c, j] * g[i, c, j]
            psum = psum + (p[i, c, j] ** 2 if squared else p[i, c, j])
            gsum = gsum + (g[i, c, j] ** 2 if squared else g[i, c, j])
    return inter, psum, gsum, n


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    return num / den if float(den.detach()) > 0 else num.new_ones(())


def dice_score(i, p, g, s_nr, s_dr):
    return _ratio(2 * i + s_nr, p + g + s_dr)


def tversky(alpha: float, beta: float) -> Score:
    def score(i, p, g, s_nr, s_dr):
        return _ratio(i + s_nr, i + alpha * (p - i) + beta * (g - i) + s_dr)

    return score


def _reduce(values: dict, weights: dict, reduction: str, shape, zero: Tensor) -> Tensor:
    if reduction == "none":
        out = [zero * 0.0 for _ in range(shape[0] * shape[1])]
        for (gi, k), v in values.items():
            out[gi * shape[1] + k] = weights[(gi, k)] * v
        return torch.stack(out).reshape(shape) if out else zero.new_zeros(shape)
    total = zero * 0.0
    wsum = 0.0
    for key, v in values.items():
        total = total + weights[key] * v
        wsum += float(weights[key])
    if reduction == "sum":
        return total
    return total / wsum if wsum > 0 else total


# ---------------------------------------------------------------- overlap losses


def overlap(
    x: Tensor,
    target: Tensor,
    score: Score,
    *,
    activation: str = "softmax",
    smooth: tuple[float, float] = (0.0, 0.0),
    squared: bool = False,
    per_image: bool = True,
    weight: Sequence[float] | None = None,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    ignore_index: int | None = None,
    empty: str = "penalize",
    exponent: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Dice / Jaccard / Tversky / focal Tversky: ``(1 - score)^exponent`` per pair."""
    p = activate(x, activation)
    g, valid = dense_target(x, target, ignore_index)
    b, c = p.shape[:2]
    chosen = _classes(c, classes, include_background)
    w = [1.0] * c if weight is None else [float(v) for v in weight]
    groups = _groups(b, per_image)
    values, weights = {}, {}
    for gi, group in enumerate(groups):
        for k, cls in enumerate(chosen):
            inter, psum, gsum, n = _sums(p, g, valid, group, cls, squared)
            if n == 0:
                continue
            empty_target = float(gsum.detach()) == 0
            if empty_target and empty == "exclude":
                continue
            if empty_target and empty == "penalize":  # soft FP rate: plain sum p, squared or not
                loss = _sums(p, g, valid, group, cls, False)[1] / n
            else:
                loss = 1 - score(inter, psum, gsum, *smooth)
            if exponent != 1.0:
                loss = loss**exponent if float(loss.detach()) > 0 else loss * 0.0
            values[(gi, k)] = loss
            weights[(gi, k)] = w[cls]
    out = _reduce(values, weights, reduction, (len(groups), len(chosen)), p.sum())
    return out if per_image or reduction != "none" else out.reshape(-1)


def generalized_dice(
    x: Tensor,
    target: Tensor,
    *,
    activation: str = "softmax",
    weight_type: str = "square",
    smooth: tuple[float, float] = (0.0, 0.0),
    squared: bool = False,
    per_image: bool = True,
    weight: Sequence[float] | None = None,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    ignore_index: int | None = None,
    empty: str = "penalize",
    reduction: str = "mean",
) -> Tensor:
    """Sudre et al. 2017, Eq. (1), with the absent-class rules of the visionloss docstring."""
    p = activate(x, activation)
    g, valid = dense_target(x, target, ignore_index)
    b, c = p.shape[:2]
    chosen = _classes(c, classes, include_background)
    cw = [1.0] * c if weight is None else [float(v) for v in weight]
    losses = []
    for group in _groups(b, per_image):
        sums = {cls: _sums(p, g, valid, group, cls, squared) for cls in chosen}
        n = next(iter(sums.values()))[3]
        if n == 0:
            continue
        raw = {}
        for cls, (_, _, gsum, _) in sums.items():
            if float(gsum.detach()) > 0:
                raw[cls] = {
                    "square": 1 / float(gsum.detach()) ** 2,
                    "simple": 1 / float(gsum.detach()),
                    "uniform": 1.0,
                }[weight_type]
        if not raw:
            if empty == "exclude":
                continue
            # soft FP rate: plain sum p, squared or not
            fp = sum(cw[cls] * _sums(p, g, valid, group, cls, False)[1] / n for cls in chosen)
            losses.append(fp / sum(cw[cls] for cls in chosen))
            continue
        biggest = max(raw.values())
        num = p.new_zeros(())
        den = p.new_zeros(())
        for cls, (inter, psum, gsum, _) in sums.items():
            r = raw.get(cls, biggest if empty == "penalize" else 0.0) * cw[cls]
            num = num + r * inter
            den = den + r * (psum + gsum)
        losses.append(1 - _ratio(2 * num + smooth[0], den + smooth[1]))
    if reduction == "none":
        return torch.stack(losses)
    total = sum(losses, p.sum() * 0.0)
    return total if reduction == "sum" else total / max(len(losses), 1)


def lovasz_extension(errors: list[Tensor], fg: list[bool]) -> Tensor:
    """The Lovász extension of ``Delta(S) = |S| / |G u S|`` at ``errors``, from its definition:
    sort, then weigh the j-th largest error by ``Delta(S_j) - Delta(S_{j-1})`` computed on sets."""
    order = sorted(range(len(errors)), key=lambda i: -float(errors[i].detach()))
    gt = {i for i in range(len(errors)) if fg[i]}

    def delta(chosen: set) -> float:
        union = gt | chosen
        return len(chosen) / len(union) if union else 0.0

    total = errors[0] * 0.0 if errors else torch.zeros((), dtype=torch.float64)
    prefix: set = set()
    previous = 0.0
    for i in order:
        prefix = prefix | {i}
        current = delta(prefix)
        total = total + errors[i] * (current - previous)
        previous = current
    return total


def lovasz(
    x: Tensor,
    target: Tensor,
    *,
    activation: str = "softmax",
    per_image: bool = True,
    weight: Sequence[float] | None = None,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    ignore_index: int | None = None,
    empty: str = "penalize",
    reduction: str = "mean",
) -> Tensor:
    """Berman et al. 2018: Lovász-softmax on ``|g - p|``, Lovász hinge on ``1 - z (2g - 1)``."""
    z = x.double().reshape(x.shape[0], x.shape[1], -1)
    p = activate(x, activation)
    g, valid = dense_target(x, target, ignore_index)
    b, c = p.shape[:2]
    chosen = _classes(c, classes, include_background)
    w = [1.0] * c if weight is None else [float(v) for v in weight]
    groups = _groups(b, per_image)
    values, weights = {}, {}
    for gi, group in enumerate(groups):
        for k, cls in enumerate(chosen):
            errors, fg = [], []
            for i in group:
                for j in range(p.shape[-1]):
                    if not valid[i, j]:
                        continue
                    gij = g[i, cls, j]
                    if activation == "sigmoid":
                        errors.append(torch.relu(1 - z[i, cls, j] * (2 * gij - 1)))
                    else:
                        errors.append((gij - p[i, cls, j]).abs())
                    fg.append(bool(gij > 0.5))
            if not errors or (empty == "exclude" and not any(fg)):
                continue
            values[(gi, k)] = lovasz_extension(errors, fg)
            weights[(gi, k)] = w[cls]
    out = _reduce(values, weights, reduction, (len(groups), len(chosen)), p.sum())
    return out if per_image or reduction != "none" else out.reshape(-1)


# ---------------------------------------------------------------- pixel terms


def softmax_focal(
    x: Tensor,
    target: Tensor,
    *,
    gamma: float = 0.0,
    weight: Sequence[float] | None = None,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    ignore_index: int | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Index targets: ``sum_i -w_y (1 - p_y)^gamma log p_y / sum_i w_y`` over the valid
    pixels; dense targets: ``sum_i sum_c -w_c g_c (1 - p_c)^gamma log p_c / sum_i sum_c w_c
    g_c``, the selected classes ``c`` only. Cross entropy at gamma = 0: torch's normalisation
    for indices, and for a one-hot target the same value (the denominator is the targets'
    summed class weight, as ``visionloss.cross_entropy_loss``; torch's probability-target
    cross entropy divides by the number of pixels)."""
    logp = torch.log_softmax(x.double().reshape(x.shape[0], x.shape[1], -1), 1)
    c = x.shape[1]
    w = [1.0] * c if weight is None else [float(v) for v in weight]
    chosen = set(_classes(c, classes, include_background))
    total, wsum = logp.sum() * 0.0, 0.0
    if target.dim() == x.dim():
        g, valid = dense_target(x, target, ignore_index)
        for i in range(g.shape[0]):
            for j in range(g.shape[-1]):
                if not valid[i, j]:
                    continue
                for label in chosen:
                    lp = logp[i, label, j]
                    total = total - w[label] * g[i, label, j] * (1 - lp.exp()) ** gamma * lp
                    wsum += w[label] * float(g[i, label, j])
        return total if reduction == "sum" or wsum == 0 else total / wsum
    t = target.reshape(target.shape[0], -1)
    for i in range(t.shape[0]):
        for j in range(t.shape[1]):
            label = int(t[i, j])
            if (ignore_index is not None and label == ignore_index) or label not in chosen:
                continue
            lp = logp[i, label, j]
            total = total - w[label] * (1 - lp.exp()) ** gamma * lp
            wsum += w[label]
    return total if reduction == "sum" or wsum == 0 else total / wsum


def sigmoid_focal(
    x: Tensor,
    target: Tensor,
    *,
    gamma: float = 0.0,
    alpha: float | None = None,
    weight: Sequence[float] | None = None,
    include_background: bool = True,
    classes: Sequence[int] | None = None,
    ignore_index: int | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Mean over valid (pixel, selected channel) of ``-a_t (1 - p_t)^gamma log p_t``, the
    binary cross entropy at gamma = 0 (Lin et al. 2017)."""
    z = x.double().reshape(x.shape[0], x.shape[1], -1)
    g, valid = dense_target(x, target, ignore_index)
    c = x.shape[1]
    w = [1.0] * c if weight is None else [float(v) for v in weight]
    chosen = _classes(c, classes, include_background)
    total, count = z.sum() * 0.0, 0
    for i in range(z.shape[0]):
        for j in range(z.shape[-1]):
            if not valid[i, j]:
                continue
            for cls in chosen:
                p = torch.sigmoid(z[i, cls, j])
                y = g[i, cls, j]
                pt = p * y + (1 - p) * (1 - y)
                ce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
                a = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
                total = total + w[cls] * a * (1 - pt) ** gamma * ce
                count += 1
    return total if reduction == "sum" or count == 0 else total / count


# ---------------------------------------------------------------- Berman's Lovász-softmax
# A float64 transcription of Berman's reference code, bermanmaxim/LovaszSoftmax,
# pytorch/lovasz_losses.py at commit 7d48792d35a04d3167de488dd00daabbccd8334b (not
# installable): ``lovasz_grad`` (lines 18-30), ``lovasz_softmax`` (lines 153-168; defaults
# ``classes="present", per_image=False``), ``lovasz_softmax_flat`` (lines 171-199),
# ``flatten_probas`` (lines 202-218) and ``mean`` (lines 232-250, ``empty=0``).


def berman_lovasz_grad(gt_sorted: Tensor) -> Tensor:
    """Lines 18-30: the Jaccard loss of the prefixes, differenced."""
    p = len(gt_sorted)
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.double().cumsum(0)
    union = gts + (1 - gt_sorted).double().cumsum(0)
    jaccard = 1.0 - intersection / union
    if p > 1:  # cover 1-pixel case
        jaccard[1:p] = jaccard[1:p] - jaccard[0:-1]
    return jaccard


def berman_mean(values: list, empty: float = 0.0):
    """Lines 232-250 (``ignore_nan=False``): the mean of a list, ``empty`` for none."""
    if not values:
        return empty
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total / len(values)


def berman_lovasz_softmax_flat(probas: Tensor, labels: Tensor, classes="present"):
    """Lines 171-199: ``probas (P, C)``, ``labels (P,)``."""
    if probas.numel() == 0:
        return probas * 0.0
    c = probas.size(1)
    losses = []
    class_to_sum = list(range(c)) if classes in ("all", "present") else classes
    for k in class_to_sum:
        fg = (labels == k).double()
        if classes == "present" and fg.sum() == 0:
            continue
        if c == 1:
            if len(classes) > 1:
                raise ValueError("Sigmoid output possible only with 1 class")
            class_pred = probas[:, 0]
        else:
            class_pred = probas[:, k]
        errors = (fg - class_pred).abs()
        errors_sorted, perm = torch.sort(errors, 0, descending=True)
        losses.append(torch.dot(errors_sorted, berman_lovasz_grad(fg[perm])))
    return berman_mean(losses)


def berman_flatten_probas(probas: Tensor, labels: Tensor, ignore: int | None = None):
    """Lines 202-218 for ``(B, C, *spatial)`` (any number of spatial dims; lines 206-209
    turn a ``(B, H, W)`` sigmoid output into ``(B, 1, H, W)``, pass that shape here):
    ``(P, C)`` and ``(P,)`` of the kept pixels."""
    b, c = probas.shape[:2]
    probas = probas.reshape(b, c, -1).permute(0, 2, 1).reshape(-1, c)
    labels = labels.reshape(-1)
    if ignore is None:
        return probas, labels
    valid = labels != ignore
    return probas[valid], labels[valid]


def berman_lovasz_softmax(
    probas: Tensor,
    labels: Tensor,
    classes="present",
    per_image: bool = False,
    ignore: int | None = None,
):
    """Lines 153-168, on float64 probabilities ``(B, C, *spatial)``."""
    probas = probas.double()
    if per_image:
        return berman_mean(
            [
                berman_lovasz_softmax_flat(
                    *berman_flatten_probas(p.unsqueeze(0), t.unsqueeze(0), ignore), classes
                )
                for p, t in zip(probas, labels)
            ]
        )
    return berman_lovasz_softmax_flat(*berman_flatten_probas(probas, labels, ignore), classes)


# ---------------------------------------------------------------- NiftyNet's generalised Dice
# A float64 transcription of NiftyNet's ``generalised_dice_loss`` (NifTK/NiftyNet,
# niftynet/layer/loss_segmentation.py at commit 935bf4334cd00fa9f9d50f6a95ddcbfdde4031e0, not
# installable: TensorFlow 1): lines 279-341 for one image, the softmax of lines 93-95, and the
# mean over the images of ``LossFunction.layer_op`` (lines 77-139).


def niftynet_generalised_dice(x: Tensor, target: Tensor, type_weight: str = "Square") -> Tensor:
    """``x`` logits ``(B, C, *spatial)``, ``target`` class indices ``(B, *spatial)``."""
    b, c = x.shape[:2]
    losses = []
    for i in range(b):
        pred = torch.softmax(x[i].double().reshape(c, -1).T, -1)  # (N, C), lines 93-95
        one_hot = torch.nn.functional.one_hot(target[i].reshape(-1).long(), c).double()
        ref_vol = one_hot.sum(0)  # line 315
        intersect = (one_hot * pred).sum(0)  # lines 316-317
        seg_vol = pred.sum(0)  # line 318
        weights = {
            "Square": 1.0 / ref_vol.square(),
            "Simple": 1.0 / ref_vol,
            "Uniform": torch.ones_like(ref_vol),
        }[type_weight]  # lines 319-324
        finite = torch.where(torch.isinf(weights), torch.zeros_like(weights), weights)
        weights = torch.where(torch.isinf(weights), finite.max(), weights)  # lines 328-330
        numerator = 2 * (weights * intersect).sum()  # lines 331-332
        denominator = (weights * torch.clamp(seg_vol + ref_vol, min=1)).sum()  # lines 335-336
        losses.append(1 - numerator / denominator)  # line 341 (the NaN branch: no image here)
    return torch.stack(losses).mean()  # line 139


# ---------------------------------------------------------------- nnU-Net's Dice + CE
# A float64 transcription of nnU-Net's default loss (MIC-DKFZ/nnUNet at commit
# 0e495086eb108ff79afe106291e8c15bd2f2bc3a, not a dependency):
# nnunetv2/training/nnUNetTrainer/nnUNetTrainer.py lines 444-446 build ``DC_and_CE_loss(
# {"batch_dice": ..., "smooth": 1e-5, "do_bg": False}, {}, weight_ce=1, weight_dice=1,
# dice_class=MemoryEfficientSoftDiceLoss)``; training/loss/compound_losses.py lines 31-56
# add ``RobustCrossEntropyLoss`` (robust_ce_loss.py lines 12-16: ``nn.CrossEntropyLoss`` on
# the squeezed label map) and the soft Dice of training/loss/dice.py lines 72-119, which
# returns ``-mean(dc)`` over the foreground (image, class) pairs (over the classes only with
# ``batch_dice``). No ignore label here.


def nnunet_dc_and_ce(x: Tensor, target: Tensor, batch_dice: bool = False) -> Tensor:
    """``x`` logits ``(B, C, *spatial)``, ``target`` class indices ``(B, *spatial)``."""
    x = x.double()
    c = x.shape[1]
    probs = torch.softmax(x, 1)  # softmax_helper_dim1
    y = torch.nn.functional.one_hot(target.long(), c).movedim(-1, 1).double()
    axes = tuple(range(2, x.dim()))
    y, p = y[:, 1:], probs[:, 1:]  # do_bg=False (lines 90-97)
    sum_gt = y.sum(axes)
    intersect = (p * y).sum(axes)
    sum_pred = p.sum(axes)
    if batch_dice:  # lines 106-114
        intersect, sum_pred, sum_gt = intersect.sum(0), sum_pred.sum(0), sum_gt.sum(0)
    smooth = 1e-5
    dc = (2 * intersect + smooth) / (sum_gt + sum_pred + smooth).clamp_min(1e-8)  # line 116
    dice = -dc.mean()  # lines 118-119
    ce = torch.nn.functional.cross_entropy(x, target.long())
    return ce + dice  # weight_ce = weight_dice = 1 (compound_losses.py line 55)
