"""CUT's PatchNCE loss: per-location InfoNCE between the features of the output image and of
the input image at the same sampled patches."""

from __future__ import annotations

from numbers import Integral
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.checks import require, shape_str, value_checks_enabled, values_checkable
from .._core.declare import loss_function
from .._core.dtypes import autocast_off, compute_dtype
from .._core.examples import Example, generator, normal
from .._core.options import PER_CALL, Bool, Check, Choice, Reduction
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError, InputTypeError, OptionError
from ._core import (
    CONTRASTIVE_DOCS,
    Similarity,
    Temperature,
    check_vectors,
    flatten_pixels,
    label_terms,
    prepare,
)

NEGATIVES = ("image", "batch")

# CUT fills the diagonal of its negative logits (a query against its own key, which is the
# positive already) with -10 before dividing by the temperature (models/patchnce.py).
DIAGONAL_LOGIT = -10.0


class _NumPatches(Check):
    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, Integral) or value < 1
        ):
            raise OptionError(f"{fn}: expected {name} to be None or an int >= 1, got {value!r}")
        return value


NumPatches = Annotated[int | None, _NumPatches()]


def _check_inputs(query: object, key: object, fn: str) -> tuple[Tensor, Tensor]:
    q = check_vectors(query, "query", fn, ndim=(3, 4))
    k = check_vectors(key, "key", fn, ndim=(3, 4))
    if q.dim() == 4 and q.shape[1] == 0:
        raise InputError(f"{fn}: expected query with C > 0 channels, got {shape_str(q)}")
    if q.shape != k.shape:
        raise InputError(
            f"{fn}: expected query and key of the same shape ((B, C, H, W) feature maps or "
            f"(B, N, C) patch features), got query {shape_str(q)} and key {shape_str(k)}"
        )
    return q, k


def _sample(
    q: Tensor,
    k: Tensor,
    num_patches: int | None,
    indices: Tensor | None,
    gen: torch.Generator | None,
    fn: str,
) -> tuple[Tensor, Tensor]:
    """``(B, n, C)`` features of ``q`` and ``k`` at the same locations."""
    if q.dim() == 3:
        if indices is not None:
            raise InputError(
                f"{fn}: indices apply to (B, C, H, W) feature maps; got (B, N, C) patch "
                f"features {shape_str(q)}, which are used as they are"
            )
        return q, k
    b, _, h, w = q.shape
    q, k = flatten_pixels(q), flatten_pixels(k)  # (B, HW, C), location-major as CUT's
    hw = h * w
    if indices is None:
        if num_patches is None or num_patches >= hw:
            return q, k  # every location (CUT: num_patches clamped to H*W)
        device = gen.device if gen is not None else q.device
        idx = torch.randperm(hw, generator=gen, device=device)[:num_patches].to(q.device)
        return q[:, idx], k[:, idx]
    if not isinstance(indices, Tensor):
        raise InputTypeError(f"{fn}: expected indices to be a tensor, got {type(indices).__name__}")
    if indices.dtype not in (torch.int64, torch.int32) or indices.dim() not in (1, 2):
        raise InputError(
            f"{fn}: expected integer indices of shape (N,) or (B, N), got {indices.dtype} "
            f"{shape_str(indices)}"
        )
    if indices.dim() == 2 and indices.shape[0] != b:
        raise InputError(
            f"{fn}: expected indices (B, N) with B = {b} as query {shape_str(q)}, got "
            f"{shape_str(indices)}"
        )
    idx = indices.to(q.device).long()
    if idx.numel() and value_checks_enabled():
        ok = (idx >= 0) & (idx < hw)
        found = ""
        if values_checkable(idx) and not bool(ok.all()):
            found = f", got values in [{int(idx.min())}, {int(idx.max())}]"
        require(ok, f"{fn}: expected indices in [0, H*W = {hw}){found}")
    if idx.dim() == 1:
        return q[:, idx], k[:, idx]
    full = idx[..., None].expand(-1, -1, q.shape[-1])
    return torch.gather(q, 1, full), torch.gather(k, 1, full)


@loss_function(CONTRASTIVE_DOCS)
def patch_nce_loss(
    query: Tensor,
    key: Tensor,
    *,
    num_patches: NumPatches = 256,
    temperature: Temperature = 0.07,
    negatives: Annotated[str, Choice(*NEGATIVES)] = "image",
    detach_key: Bool = True,
    similarity: Similarity = "cosine",
    indices: Annotated[Tensor | None, PER_CALL] = None,
    generator: Annotated[torch.Generator | None, PER_CALL] = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""CUT's PatchNCE: each sampled location of the output image's features (the query)
    must pick out the input image's feature at the same location (its positive) among the
    input's features at the other sampled locations (the negatives).

    .. math::
        \ell_i = -\log \frac{e^{q_i\cdot k_i/\tau}}{e^{q_i\cdot k_i/\tau}
            + e^{-10/\tau} + \sum_{j\ne i} e^{q_i\cdot k_j/\tau}},
        \qquad L = \frac{1}{B n}\sum_{b, i} \ell_{b,i}

    ``q_i`` and ``k_i`` are the L2-normalised feature vectors at sampled location ``i``; the
    ``j`` run over the other sampled locations of the same image (``negatives="image"``, CUT's
    default ``nce_includes_all_negatives_from_minibatch=False``) or of every image of the batch
    (``"batch"``, CUT's option for single-image translation). CUT samples the same
    ``min(num_patches, H*W)`` locations in every image of the batch (one random permutation);
    so does this function, or it uses the given ``indices``. ``num_patches`` larger than
    ``H*W`` is clamped to ``H*W`` as in CUT (``None``: every location).

    **The self term.** CUT writes the query's own key twice, as the positive and on the
    diagonal of the negatives, and fills the diagonal with the constant ``-10`` before dividing
    by ``tau``: the term :math:`e^{-10/\tau}` stays in the denominator. It is kept here (added
    to each row's log-sum-exp, which the family computes with the other keys set to ``-inf``),
    so the value equals CUT's at every temperature: with unit vectors it changes the loss by
    less than :math:`e^{-9/\tau}` (below float resolution at ``tau = 0.07``, but about
    ``1e-4`` at ``tau = 1``).

    **Multi-layer use.** CUT averages this loss over the encoder layers, each with its own
    sampled locations: ``sum(patch_nce_loss(q, k) for q, k in zip(feats_q, feats_k)) / n``.
    With a projection head (CUT's two-layer MLP, the user's), sample first, apply the head to
    the ``(B, N, C)`` patch features, and pass those: ``f.flatten(2)[:, :, idx].transpose(1,
    2)`` with the same ``idx`` for query and key.

    The logit matrices (``n x n`` per image, ``Bn x Bn`` for ``"batch"``) go through the
    family's row blocks, which bound the memory for many patches.

    Args:
        query: ``(B, C, H, W)`` features of the output (translated) image, or ``(B, N, C)``
            patch features already sampled (then ``num_patches`` and ``indices`` do not
            apply).
        key: the input image's features, of the same shape.
        num_patches: locations sampled per image (default 256, CUT's ``--num_patches``),
            clamped to ``H*W``; ``None`` for all.
        temperature: ``tau > 0`` (default 0.07, CUT's ``--nce_T``); a number or a 0-dim
            tensor.
        negatives: ``"image"`` (default, CUT) or ``"batch"``.
        detach_key: the key gets no gradient (default True, as CUT's ``feat_k.detach()``).
        similarity: ``"cosine"`` (default: L2-normalised as CUT's ``PatchSampleF``, a zero
            vector has similarity 0) or ``"dot"`` (features normalised already).
        indices: ``(N,)`` locations (flat indices into ``H*W``, row-major) shared by the
            batch, as CUT's ``patch_ids``, or ``(B, N)`` per image; a per-call argument of the
            Module. Overrides ``num_patches``.
        generator: random generator of the sampling (default: torch's global one); a
            per-call argument of the Module.

    Shape:
        output: scalar, or ``(B, n)`` per query location for ``"none"``.

    Returns:
        the loss; float32 for fp16/bf16 inputs.

    Reference:
        Park, Efros, Zhang and Zhu, *Contrastive Learning for Unpaired Image-to-Image
        Translation* (CUT), ECCV 2020, arXiv:2007.15651, Eq. (2) - (3); official code
        ``taesungp/contrastive-unpaired-translation`` (``models/patchnce.py``,
        ``models/networks.py`` ``PatchSampleF``).

    Example:
        >>> import torch
        >>> f = torch.eye(2).reshape(1, 2, 1, 2)  # two locations, orthogonal features
        >>> patch_nce_loss(f, f, temperature=1.0)  # log(1 + e^-1 + e^-11)
        tensor(0.3133)
    """
    fn = "patch_nce_loss"
    query, key = _check_inputs(query, key, fn)
    dtype = compute_dtype(query, key)
    if detach_key:
        key = key.detach()
    q, k = _sample(query, key, num_patches, indices, generator, fn)
    b, n, d = q.shape
    q, k = prepare(q, similarity, dtype), prepare(k, similarity, dtype)
    if negatives == "image":  # each image's n x n logits; the positive on the diagonal
        labels = torch.arange(n, device=q.device).expand(b, n)
        terms = label_terms(q, k, temperature, labels, labels, mode="out")
    else:  # one (Bn) x (Bn) matrix
        labels = torch.arange(b * n, device=q.device)
        terms = label_terms(
            q.reshape(b * n, d), k.reshape(b * n, d), temperature, labels, labels, mode="out"
        )
    rest = terms.loss.reshape(b, n)  # LSE over every key - l_pos
    with autocast_off(q.device.type):
        positive = (q * k).sum(-1) / temperature
    # CUT's diagonal slot: log(sum + e^c) - l_pos = rest + softplus(c - LSE), LSE = rest + l_pos
    loss = rest + F.softplus(DIAGONAL_LOGIT / temperature - (rest + positive))
    return reduce_loss(loss, reduction, fn=fn)


def _examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Output and input features ``(2, 4, 3, 3)``, the key a noisy copy of the query, at 5
    given locations (so the call is deterministic), the key differentiated too."""
    gen = generator(seed)
    q = normal(2, 4, 3, 3, dtype=dtype, gen=gen)
    k = q + normal(2, 4, 3, 3, dtype=dtype, gen=gen, scale=0.5)
    idx = torch.tensor([0, 2, 4, 5, 7])
    return Example((q, k), {"indices": idx}, {"temperature": 0.5, "detach_key": False})


PatchNCELoss = register_loss(
    "patch_nce",
    family="contrastive",
    function=patch_nce_loss,
    module="PatchNCELoss",
    aliases=("cut_patch_nce",),
    formula="-log e^{q_i.k_i/t} / (e^{q_i.k_i/t} + e^{-10/t} + sum_{j!=i} e^{q_i.k_j/t}), "
    "same sampled patches of query and key",
    reference="Park et al., CUT, ECCV 2020, arXiv:2007.15651",
    examples=_examples,
).module
