"""float64 loop references for the contrastive family, written from the papers' formulas
(explicit sums of exponentials per anchor; no masking tricks, no log-sum-exp)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _unit(x: Tensor) -> Tensor:
    n = x.norm()
    return x / n if n > 0 else x


def _sim(a: Tensor, b: Tensor, cosine: bool = True) -> Tensor:
    return torch.dot(_unit(a), _unit(b)) if cosine else torch.dot(a, b)


def info_nce(
    q: Tensor,
    k: Tensor,
    negatives: Tensor | None,
    tau: float,
    *,
    symmetric: bool = False,
    cosine: bool = True,
) -> Tensor:
    """Per-query InfoNCE ``-log e^{s+/t} / (e^{s+/t} + sum_j e^{s_j/t})`` with negatives
    ``(M, D)``, ``(N, M, D)`` or the other queries' keys (``None``)."""
    n = q.shape[0]
    out = []
    for i in range(n):
        pos = torch.exp(_sim(q[i], k[i], cosine) / tau)
        if negatives is None:
            negs = [k[j] for j in range(n) if j != i]
        elif negatives.dim() == 2:
            negs = list(negatives)
        else:
            negs = list(negatives[i])
        den = pos + sum((torch.exp(_sim(q[i], v, cosine) / tau) for v in negs), q.new_zeros(()))
        term = -torch.log(pos / den)
        if symmetric:
            pos_b = torch.exp(_sim(k[i], q[i], cosine) / tau)
            den_b = pos_b + sum(
                (torch.exp(_sim(k[i], q[j], cosine) / tau) for j in range(n) if j != i),
                q.new_zeros(()),
            )
            term = 0.5 * (term - torch.log(pos_b / den_b))
        out.append(term)
    return torch.stack(out)


def supcon(features: Tensor, labels: Tensor | None, tau: float, variant: str) -> Tensor:
    """Khosla et al. Eq. (2) (``"out"``) / Eq. (3) (``"in"``) per anchor, ``(N, V)``; NaN for
    anchors without a positive (the caller drops them)."""
    if features.dim() == 2:
        features = features[:, None]
    n, v, _ = features.shape
    labels = torch.arange(n) if labels is None else labels
    flat = [(features[i, a], int(labels[i]), i * v + a) for i in range(n) for a in range(v)]
    out = []
    for z, y, idx in flat:
        den = sum(torch.exp(_sim(z, zz) / tau) for zz, _, j in flat if j != idx)
        ratios = [torch.exp(_sim(z, zz) / tau) / den for zz, yy, j in flat if j != idx and yy == y]
        if not ratios:
            out.append(z.new_tensor(float("nan")))
        elif variant == "out":
            out.append(-sum(torch.log(r) for r in ratios) / len(ratios))
        else:
            out.append(-torch.log(sum(ratios) / len(ratios)))
    return torch.stack(out).view(n, v)


def nt_xent_pml_style(features: Tensor, labels: Tensor, tau: float) -> Tensor:
    """pytorch-metric-learning's NT-Xent: the mean over positive pairs ``(i, p)`` of
    ``-log e^{s_ip/t} / (e^{s_ip/t} + sum_{n: y_n != y_i} e^{s_in/t})`` (an anchor's other
    positives are *not* in the denominator)."""
    n = features.shape[0]
    terms = []
    for i in range(n):
        negs = sum(
            (
                torch.exp(_sim(features[i], features[j]) / tau)
                for j in range(n)
                if labels[j] != labels[i]
            ),
            features.new_zeros(()),
        )
        for p in range(n):
            if p != i and labels[p] == labels[i]:
                e = torch.exp(_sim(features[i], features[p]) / tau)
                terms.append(-torch.log(e / (e + negs)))
    return torch.stack(terms).mean()


def _patch_labels(mask: Tensor, ph: int, pw: int, threshold: float) -> Tensor:
    """Forged label per patch from a mask at the feature resolution, by counting pixels."""
    h, w = mask.shape
    lab = torch.zeros(h // ph, w // pw, dtype=torch.long)
    for a in range(h // ph):
        for b in range(w // pw):
            frac = mask[a * ph : (a + 1) * ph, b * pw : (b + 1) * pw].double().mean()
            lab[a, b] = int(frac > threshold)
    return lab.flatten()


def _patches(f: Tensor, ph: int, pw: int) -> list[Tensor]:
    d, h, w = f.shape
    return [
        f[:, a * ph : (a + 1) * ph, b * pw : (b + 1) * pw].reshape(d, -1).mean(1)
        for a in range(h // ph)
        for b in range(w // pw)
    ]


def patch_contrast(
    features: Tensor, mask: Tensor, patch_size: int, tau: float, threshold: float = 0.5
) -> Tensor:
    """CFL-Net Eq. (1)-(2) per image ``(B,)``; NaN for images without both classes."""
    out = []
    for f, m in zip(features, mask):
        z = [_unit(p) for p in _patches(f, patch_size, patch_size)]
        lab = _patch_labels(m, patch_size, patch_size, threshold)
        if len(set(lab.tolist())) < 2:
            out.append(f.new_tensor(float("nan")))
            continue
        per_anchor = []
        for i in range(len(z)):
            negs = sum(
                torch.exp(torch.dot(z[i], z[j]) / tau) for j in range(len(z)) if lab[j] != lab[i]
            )
            pairs = []
            for p in range(len(z)):
                if p != i and lab[p] == lab[i]:
                    e = torch.exp(torch.dot(z[i], z[p]) / tau)
                    pairs.append(-torch.log(e / (e + negs)))
            if pairs:
                per_anchor.append(sum(pairs) / len(pairs))
        out.append(sum(per_anchor) / len(per_anchor))
    return torch.stack(out)


def cfl_net_code(
    features: Tensor, mask: Tensor, patch_size: int, tau: float, *, column_shift: bool = True
) -> Tensor:
    """CFL-Net's training step around ``square_patch_contrast_loss``, re-expressed: per-column
    max shift (``column_shift=False`` drops only that), zeros for patches without positives
    and for one-class images counted in the means."""
    f = torch.nn.functional.avg_pool2d(features, patch_size)
    b, c = f.shape[:2]
    f = torch.nn.functional.normalize(f.view(b, c, -1).transpose(1, 2), dim=-1)
    m = torch.nn.functional.avg_pool2d(mask[:, None].double(), patch_size)
    m = (m > 0.5).double().view(b, -1)[:, None]
    same = (m == m.transpose(1, 2)).double()
    logits = f @ f.transpose(1, 2) / tau
    off = 1 - torch.eye(logits.shape[-1], dtype=logits.dtype)
    logits = logits * off
    if column_shift:
        logits = logits - logits.max(dim=1, keepdim=True)[0].detach()
    e = torch.exp(logits)
    neg_sum = (e * (1 - same)).sum(-1)
    loss = -torch.log(e / (e + neg_sum[..., None] + 1e-18) + 1e-18) * same * off
    loss = loss.sum(-1) / (same.sum(-1) - 1 + 1e-18)
    return loss.mean(-1).mean()


def pixel_info_nce(
    features: Tensor, mask: Tensor, tau: float, *, positive: str, anchors: str = "pristine"
) -> tuple[list[Tensor], list[list[Tensor]]]:
    """FOCAL InfoNCE++ per query (``positive``: ``"mean_logit"`` as the official code,
    ``"mean_exp"`` as the paper's Eq. 2): ``(per-image means, per-image lists of query terms)`` for a
    mask at the feature resolution; an image without both classes gets NaN and no terms.
    The batch scope is ``pixel_info_nce(pooled-as-one-image ...)``."""
    means, all_terms = [], []
    for f, m in zip(features, mask):
        d = f.shape[0]
        z = [_unit(v) for v in f.reshape(d, -1).T]
        lab = m.flatten().long().tolist()
        terms = []
        if len(set(lab)) == 2:
            for i, zi in enumerate(z):
                if anchors == "pristine" and lab[i] != 0:
                    continue
                pos = [
                    torch.dot(zi, z[j]) / tau for j in range(len(z)) if j != i and lab[j] == lab[i]
                ]
                if not pos:
                    continue
                negs = sum(
                    torch.exp(torch.dot(zi, z[j]) / tau) for j in range(len(z)) if lab[j] != lab[i]
                )
                if positive == "mean_logit":  # the official code: CE with the mean logit at 0
                    e_pos = torch.exp(sum(pos) / len(pos))
                    terms.append(-torch.log(e_pos / (e_pos + negs)))
                else:  # Eq. (2): mean positive exponential over the sum over every key
                    e_all = [torch.exp(p) for p in pos]
                    terms.append(-torch.log(sum(e_all) / len(pos) / (sum(e_all) + negs)))
        all_terms.append(terms)
        means.append(sum(terms) / len(terms) if terms else f.new_tensor(float("nan")))
    return means, all_terms


def log1p_exp(x: float) -> float:
    """``log(1 + e^x)`` for hand values."""
    return math.log1p(math.exp(x))


def supcontrast(
    features: Tensor,
    labels: Tensor | None,
    temperature: float = 0.07,
    base_temperature: float = 0.07,
    *,
    before_fix: bool = False,
    per_anchor: bool = False,
) -> Tensor:
    """``SupConLoss(temperature, contrast_mode="all", base_temperature)(features, labels)`` of
    HobbitLong/SupContrast (losses.py at commit 72fd989, December 2023), line by line in
    float64: dot products of the features as given (its training code L2-normalises them),
    a max shift (lines 73-74), self excluded (lines 79-85), and the fix of that commit
    (lines 98-100): an anchor without a positive divides 0 by 1, so its loss is 0 and it
    stays in the mean over all ``N V`` anchors (line 104). Before that commit the division
    was by ``mask.sum(1) = 0``: NaN (``before_fix=True`` reproduces that version).
    ``per_anchor=True`` returns the ``(V, N)`` anchor losses, view-major, before the mean."""
    batch_size, contrast_count = features.shape[:2]
    if labels is None:
        mask = torch.eye(batch_size, dtype=features.dtype)
    else:
        labels = labels.contiguous().view(-1, 1)
        mask = torch.eq(labels, labels.T).to(features.dtype)
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor_dot_contrast = torch.div(contrast_feature @ contrast_feature.T, temperature)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    mask = mask.repeat(contrast_count, contrast_count)
    n = batch_size * contrast_count
    logits_mask = torch.scatter(torch.ones_like(mask), 1, torch.arange(n).view(-1, 1), 0)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mask_pos_pairs = mask.sum(1)
    if not before_fix:
        mask_pos_pairs = torch.where(mask_pos_pairs < 1e-6, 1, mask_pos_pairs)
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask_pos_pairs
    loss = -(temperature / base_temperature) * mean_log_prob_pos
    per_view = loss.view(contrast_count, batch_size)
    return per_view if per_anchor else per_view.mean()
