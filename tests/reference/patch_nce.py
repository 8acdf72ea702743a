"""float64 reference of CUT's PatchNCE (Park et al., ECCV 2020, arXiv:2007.15651), written from
the conventions of the authors' code ``taesungp/contrastive-unpaired-translation``:

* ``models/networks.py`` ``PatchSampleF.forward``: the feature map ``(B, C, H, W)`` is permuted
  to ``(B, H*W, C)`` (``feat.permute(0, 2, 3, 1).flatten(1, 2)``), ONE random permutation of the
  ``H*W`` locations, cut to ``min(num_patches, H*W)``, is used for every image of the batch
  (``feat_reshape[:, patch_id, :]``), the query uses the key's ``patch_ids``, and the sampled
  vectors are flattened to ``(B*n, C)`` image-major and L2-normalised by ``Normalize(2)``:
  ``x / (||x|| + 1e-7)``.
* ``models/patchnce.py`` ``PatchNCELoss.forward`` (line numbers of commit 5cd1ecc):
  l. 16 ``feat_k = feat_k.detach()``; l. 19-21 the positive logit ``q_i . k_i``; l. 32-36
  the negatives are the same image's patches unless
  ``nce_includes_all_negatives_from_minibatch`` (then the whole batch as one image); l. 42 the
  ``n x n`` logits ``q_i . k_j``; l. 46-47 their diagonal filled with ``-10.0``; l. 50 the row
  ``[l_pos, l_neg]`` divided by ``nce_T``; l. 52 cross entropy with target 0,
  ``reduction='none'``, one value per patch. ``models/cut_model.py`` then takes ``.mean()``.

Each row is computed here with an explicit sum of exponentials (no log-sum-exp), which float64
holds for the logits of unit vectors at ``tau >= 0.05``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def sample(features: Tensor, patch_ids: Tensor) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, n, C)`` at the flat locations ``patch_ids (n,)``."""
    b, c, h, w = features.shape
    return features.permute(0, 2, 3, 1).reshape(b, h * w, c)[:, patch_ids, :]


def normalize(x: Tensor, eps: float = 1e-7) -> Tensor:
    """CUT's ``Normalize(2)`` over the last dim (``eps=0``: exact unit vectors)."""
    return x / (x.pow(2).sum(-1, keepdim=True).sqrt() + eps)


def patch_nce(q: Tensor, k: Tensor, tau: float, *, all_batch: bool = False) -> Tensor:
    """Per-patch losses ``(B, n)`` of normalised patch features ``q, k (B, n, C)``."""
    b, n, c = q.shape
    groups = 1 if all_batch else b
    qg, kg = q.reshape(groups, -1, c), k.reshape(groups, -1, c)
    m = qg.shape[1]
    rows = []
    for g in range(groups):
        for i in range(m):
            l_pos = torch.dot(qg[g, i], kg[g, i])
            l_neg = [
                torch.dot(qg[g, i], kg[g, j]) if j != i else q.new_tensor(-10.0) for j in range(m)
            ]
            logits = torch.stack([l_pos, *l_neg]) / tau
            rows.append(-torch.log(torch.exp(logits[0]) / torch.exp(logits).sum()))
    out = torch.stack(rows).reshape(groups, m)
    return out.reshape(b, n)
