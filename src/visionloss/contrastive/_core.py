"""Shared parts of the contrastive family: option types and their group, docstring text and
example inputs (the ``gather`` option type is the metric family's), similarities, masked
log-sum-exp, the per-anchor contrast terms, mask-to-grid conversion and the reduction of
per-anchor terms.

Every loss of the family reduces to one primitive: for each anchor row ``i`` of a logit matrix
``l`` (similarity / temperature), a set of positive keys ``P(i)`` and a set of negative keys
``N(i)`` (disjoint, self excluded), one per-anchor term (see :func:`contrast_terms`). The torch
path here forms the ``(A, K)`` logit matrix in blocks of anchor rows (:func:`label_terms`): one
block when it has at most ``MAX_CHUNK_ELEMENTS`` entries, otherwise row blocks whose logits are
recomputed in the backward pass (activation checkpointing), so memory stays
O(chunk·K + (A + K)·D) for any batch. A later tiled backend replaces exactly
:func:`label_terms` and must give the same values.

Numerics: every log-sum-exp is taken per row over the keys that belong to it, with the others
set to ``-inf`` (never ``1e9``, which overflows fp16 and shifts the value); a row whose set is
empty has log-sum-exp ``-inf`` with zero (not NaN) gradients; anchors without a positive are
flagged and leave the mean.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Annotated, Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .. import distributed as vdist
from .._core.checks import (
    check_tensor,
    require,
    shape_str,
    value_checks_enabled,
    values_checkable,
)
from .._core.declare import DocParts
from .._core.dtypes import autocast_off
from .._core.examples import Example, generator, normal
from .._core.options import Check, Choice, Number, Reduction
from .._core.reduction import reduce_loss
from .._core.vectors import normalize
from ..errors import InputError, InputTypeError, OptionError, OptionTypeError
from ..metric._common import Gather, batch_labels
from ._row_ce import plain_row_cross_entropy, row_cross_entropy, self_masked_logits

SIMILARITIES = ("cosine", "dot")

# A logit matrix of at most MAX_CHUNK_ELEMENTS entries (2^25: 128 MiB in fp32) is formed whole
# (fastest); a larger one goes in blocks of anchor rows holding at most BLOCK_ELEMENTS logits
# (2^22: 16 MiB in fp32, about 0.1 GiB with the temporaries of one block), recomputed in the
# backward pass.
MAX_CHUNK_ELEMENTS = 1 << 25
BLOCK_ELEMENTS = 1 << 22


# ------------------------------------------------------------------------------ option types
class Scalar(Number):
    """:class:`~visionloss._core.options.Number` with the family's rules where they differ from
    the core's: a wrong type reads ``expected threshold to be a float, got str``, and with
    ``tensor=True`` a tensor of one element (of any shape) is accepted, a learnable
    temperature, whose value is range-checked too when it is on the CPU and not traced
    (``expected temperature to be a scalar`` for more elements)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None and self.optional:
            return value
        if self.tensor and isinstance(value, Tensor):
            if value.numel() != 1:
                raise OptionError(
                    f"{fn}: expected {name} to be a scalar, got shape {shape_str(value)}"
                )
            self.check_tensor(value, name, fn)
            return value
        if isinstance(value, bool) or not isinstance(value, Real):
            kind = "a float or a 0-dim tensor" if self.tensor else "a float"
            raise OptionTypeError(f"{fn}: expected {name} to be {kind}, got {type(value).__name__}")
        return super().__call__(value, name, fn)

    def check_tensor(self, value: Tensor, name: str, fn: str) -> None:
        """The range check of a tensor's one value through :func:`require` (an immediate
        error in eager mode on the CPU, a device-side assertion on a GPU and under compile)."""
        if not value_checks_enabled():
            return
        v = value.detach().reshape(())
        ok = torch.isfinite(v) if not self.infinite else ~torch.isnan(v)
        if self.lo is not None:
            ok = ok & ((v > self.lo) if self.lo_open else (v >= self.lo))
        if self.hi is not None:
            ok = ok & ((v < self.hi) if self.hi_open else (v <= self.hi))
        found = "; got a value outside that range"
        if values_checkable(v) and not bool(ok):  # eager CPU: say which value
            found = f", got {float(v)!r}"
        require(ok, f"{fn}: expected {name} {self.describe()}{found}", OptionError)


class _MaxSamples(Check):
    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, Integral) or value < 1
        ):
            raise OptionError(f"{fn}: expected {name} to be None or an int >= 1, got {value!r}")
        return value


class _PatchSize(Check):
    def __call__(self, value: Any, name: str, fn: str) -> Any:
        size = (value, value) if isinstance(value, int) else value
        size = tuple(size) if isinstance(size, (tuple, list)) else ()
        if len(size) != 2 or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size
        ):
            raise OptionError(f"{fn}: expected {name} to be an int >= 1 or a pair, got {value!r}")
        return value


Temperature = Annotated[float | Tensor, Scalar(0, lo_open=True, tensor=True)]
Similarity = Annotated[str, Choice(*SIMILARITIES)]
Threshold = Annotated[float, Scalar(0, 1, hi_open=True)]
MaxSamples = Annotated[int | None, _MaxSamples()]
PatchSize = Annotated[int | tuple[int, int], _PatchSize()]


def contrast_options(
    *, similarity: Similarity = "cosine", gather: Gather = "none", reduction: Reduction = "mean"
) -> None:
    """The options every contrastive loss takes (an option group: declared once, listed in
    each loss's real signature after its own options)."""


CONTRASTIVE_DOCS = DocParts(
    args={
        "temperature": """``tau > 0``: a number, or a 0-dim tensor (a learned temperature gets
            its gradient).""",
        "similarity": """``"cosine"`` (default: L2-normalised, a zero vector has similarity 0)
            or ``"dot"`` (for embeddings normalised already).""",
        "gather": """``"none"`` (default), ``"global"`` or ``"local"``: under torch.distributed
            the keys come from every process (see :mod:`visionloss.distributed`): the value
            equals the single-process loss on the concatenated batch and DDP's gradient
            average is exact.""",
        "reduction": """``"mean"`` (default), ``"sum"`` or ``"none"``.""",
        "features": """``(B, D, H, W)`` feature map, floating point.""",
        "mask": """``(B, H', W')`` or ``(B, 1, H', W')`` forgery mask (1 = forged; bool, 0/1
            integers or fractions in [0, 1]) at any resolution: its forged fraction is
            area-averaged over each cell of the feature grid.""",
        "threshold": """a cell is forged when its forged fraction exceeds it; in [0, 1)
            (default 0.5: more than half).""",
    },
    paragraphs={
        "nan_features": """A NaN in ``features`` gives a NaN loss (for ``"none"``, in its image),
            also where the loss leaves the pixel out; a mask value outside [0, 1] (or NaN) is
            an error, on every device and under ``torch.compile``.""",
    },
)


# ---------------------------------------------------------------------------------- examples
def pair_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Two views ``z1, z2`` ``(8, 4)``, row ``i`` of each the same sample."""
    gen = generator(seed)
    z1 = normal(8, 4, dtype=dtype, gen=gen)
    return Example((z1, z1 + normal(8, 4, dtype=dtype, gen=gen, scale=0.3)))


def query_key_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Queries and their positive keys ``(8, 4)`` and a shared dictionary of 16 negatives."""
    z1, z2 = pair_examples(dtype, seed).args
    return Example((z1, z2, normal(16, 4, dtype=dtype, gen=generator(seed + 1))))


def dense_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Features ``(2, 4, 6, 6)`` and 0/1 masks ``(2, 6, 6)`` forged on whole 2x2 cells (3 of
    the 9 cells of image 0, 6 of image 1), so both classes have several pixels and several
    2x2 patches in every image."""
    gen = generator(seed)
    cells = torch.zeros(2, 9, dtype=torch.long)
    for b in range(2):
        cells[b, torch.randperm(9, generator=gen)[: 3 + b * 3]] = 1
    mask = cells.view(2, 3, 3).repeat_interleave(2, 1).repeat_interleave(2, 2)
    return Example((normal(2, 4, 6, 6, dtype=dtype, gen=gen), mask))


def patch_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """:func:`dense_examples` with ``patch_size=2`` (a 3x3 patch grid)."""
    return dense_examples(dtype, seed)._replace(options={"patch_size": 2})


# ------------------------------------------------------------------------------------ checks
def check_vectors(x: object, name: str, fn: str, ndim: int | tuple[int, ...] = 2) -> Tensor:
    """A floating tensor of rank ``ndim`` whose last dimension (the feature size) is > 0."""
    t = check_tensor(x, name, fn, floating=True, ndim=ndim)
    if t.shape[-1] == 0:
        raise InputError(f"{fn}: expected {name} with a feature dimension > 0, got {shape_str(t)}")
    return t


# ------------------------------------------------------------------------------ similarity
def prepare(
    x: Tensor, similarity: str, dtype: torch.dtype, operands: torch.dtype | None = None
) -> Tensor:
    """``x`` in the compute dtype, unit-normalised for cosine similarity; then in
    ``operands`` (:func:`~visionloss._core.dtypes.product_dtype`) when given: the dtype the
    similarity products (:func:`similarity_logits`) take it in. Normalised in ``dtype``
    either way."""
    if similarity == "cosine":  # (one autograd node for the dtypes and the normalisation)
        return normalize(x, compute=dtype, out=dtype if operands is None else operands)
    if operands == x.dtype:
        return x
    x = x.to(dtype) if x.dtype != dtype else x
    return x.to(operands) if operands is not None and operands != x.dtype else x


def similarity_logits(
    anchors: Tensor, keys: Tensor, temperature: float | Tensor, *, upcast: bool = True
) -> Tensor:
    """``anchors @ keys^T / temperature`` for prepared (normalised) inputs; batched over leading
    dims (``(..., A, D) x (..., K, D) -> (..., A, K)``). The product runs in the operands'
    dtype also inside an autocast region; bf16 operands (:func:`prepare`'s ``operands``) give
    a bf16 GEMM (float32 accumulation) whose product is upcast at once: the logits are float32
    (float64 for float64 operands). ``upcast=False`` (a float temperature) leaves that product
    in bf16 for a caller that upcasts it block by block."""
    half = anchors.dtype == torch.bfloat16
    with autocast_off(anchors.device.type):
        if anchors.dim() == 2 and keys.dim() == 2 and not isinstance(temperature, Tensor):
            # ``1 / t`` as the product's ``alpha``: applied by the GEMM, and in the backward
            # to the (A, D) products, instead of a pass over the (A, K) matrix each way
            product = torch.addmm(
                anchors.new_zeros(()), anchors, keys.t(), beta=0, alpha=1.0 / temperature
            )
            return product.float() if half and upcast else product
        logits = torch.matmul(anchors, keys.transpose(-1, -2))
    if half:
        logits = logits.float()  # a new matrix: divided in place below
    if isinstance(temperature, Tensor) and temperature.requires_grad:
        return logits / temperature  # (its gradient needs the product)
    return logits.div_(temperature)  # in place: no second matrix of the logits' size


# ---------------------------------------------------------------------------- log-sum-exp
def masked_logsumexp(logits: Tensor, mask: Tensor) -> Tensor:
    """Per-row ``log sum_{k: mask} exp(logits_k)`` over the last dim.

    Entries outside ``mask`` are ``-inf``; an empty row gives ``-inf`` whose gradient is zero
    (its logits are replaced by zeros before the reduction, then the result is overwritten).
    """
    nonempty = mask.any(-1)
    filled = logits.masked_fill(~mask, float("-inf"))
    filled = torch.where(nonempty[..., None], filled, logits.new_zeros(()))
    lse = torch.logsumexp(filled, dim=-1)
    return torch.where(nonempty, lse, lse.new_full((), float("-inf")))


class Terms(NamedTuple):
    """Per-anchor losses and which anchors count (those with at least one positive)."""

    loss: Tensor
    valid: Tensor


def contrast_terms(logits: Tensor, positive: Tensor, negative: Tensor, mode: str) -> Terms:
    r"""Per-anchor contrastive terms from logits ``l`` (``(..., A, K)``) and disjoint boolean
    masks of positive keys ``P`` and negative keys ``N`` (self already excluded from both).

    With :math:`\mathrm{LSE}_S = \log\sum_{k\in S} e^{l_k}` and ``D = P | N``:

    * ``"out"`` (SupCon :math:`L^{out}`, NT-Xent, InfoNCE): :math:`\mathrm{LSE}_D -
      \frac{1}{|P|}\sum_{p\in P} l_p`
    * ``"in"`` (SupCon :math:`L^{in}`): :math:`\mathrm{LSE}_D - (\mathrm{LSE}_P - \log|P|)`
    * ``"pair"`` (CFL-Net; pytorch-metric-learning's NT-Xent): each positive against the
      negatives only, :math:`\frac{1}{|P|}\sum_{p\in P}\log(1 + \sum_{n\in N} e^{l_n - l_p})`
    * ``"mean_logit"`` (FOCAL's code): one positive logit :math:`\bar l = \frac{1}{|P|}
      \sum_p l_p` against the negatives, :math:`\log(1 + \sum_n e^{l_n - \bar l})`.

    FOCAL's Eq. (2) (the mean of the positives' exponentials over every key) is ``"in"``.
    With one positive per anchor all four are equal. Anchors without a positive get loss 0
    and ``valid = False``; an empty ``N`` makes the ``pair`` / ``mean_logit`` terms 0.
    """
    count = positive.sum(-1)
    valid = count > 0
    count_f = count.clamp_min(1).to(logits.dtype)
    zero = logits.new_zeros(())
    if mode in ("out", "mean_logit"):
        mean_pos = torch.where(positive, logits, zero).sum(-1) / count_f
    if mode == "in":
        mean_pos = masked_logsumexp(logits, positive) - torch.log(count_f)
        mean_pos = torch.where(valid, mean_pos, zero)
    if mode in ("out", "in"):
        loss = masked_logsumexp(logits, positive | negative) - mean_pos
    elif mode == "mean_logit":
        loss = F.softplus(masked_logsumexp(logits, negative) - mean_pos)
    elif mode == "pair":
        lse_neg = masked_logsumexp(logits, negative)
        pair = F.softplus(lse_neg[..., None] - logits)
        loss = torch.where(positive, pair, zero).sum(-1) / count_f
    else:  # pragma: no cover - callers pass a fixed mode
        raise OptionError(f"contrast_terms: unknown mode {mode!r}")
    return Terms(torch.where(valid, loss, zero), valid)


def _every_key_terms(
    logits: Tensor, anchor_labels: Tensor, key_labels: Tensor, anchor_rows: Tensor | None, mode: str
) -> Terms:
    """:func:`contrast_terms` (``"out"`` or ``"in"``) of ``(A, K)`` logits whose negatives are
    every key that is not a positive (no ``key_valid``), ``K >= 2``: ``LSE_D`` is the row's
    ``logsumexp`` with the anchor's own key at ``-inf`` (at least one other key is finite), so
    neither ``P | N`` nor a filled copy of the logits is formed."""
    positive = anchor_labels[:, None] == key_labels[None, :]
    if anchor_rows is not None and torch.compiler.is_compiling():
        # compiled, the in-place scatters below split the fused loops (SupCon 2048 x 128:
        # 74 ms against 49 with a mask of the own key)
        own = anchor_rows[:, None] == torch.arange(logits.shape[-1], device=logits.device)
        positive = positive & ~own
        logits = logits.masked_fill(own, float("-inf"))
    elif anchor_rows is not None:
        own_row = anchor_rows[:, None]
        positive.scatter_(1, own_row, False)
        # the logits are this block's own (no autograd node saved them): updated in place
        logits.scatter_(1, own_row, float("-inf"))
    count = positive.sum(-1)
    valid = count > 0
    count_f = count.clamp_min(1).to(logits.dtype)
    zero = logits.new_zeros(())
    if mode == "out":
        # LSE_D - mean_p l_p = -mean_p log_softmax(l)_p: one fused pass each way
        log_p = torch.log_softmax(logits, -1)
        loss = -torch.where(positive, log_p, zero).sum(-1) / count_f
    else:
        mean_pos = masked_logsumexp(logits, positive) - torch.log(count_f)
        loss = torch.logsumexp(logits, -1) - torch.where(valid, mean_pos, zero)
    return Terms(torch.where(valid, loss, zero), valid)


def label_masks(
    anchor_labels: Tensor,
    key_labels: Tensor,
    anchor_rows: Tensor | None = None,
    *,
    key_valid: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``(positive, negative)`` masks ``(..., A, K)``: same / different label, excluding the
    anchor's own row ``anchor_rows[i]`` among the keys and keys where ``key_valid`` is False."""
    same = anchor_labels[..., :, None] == key_labels[..., None, :]
    keep = None
    if anchor_rows is not None:
        keys = torch.arange(key_labels.shape[-1], device=key_labels.device)
        keep = anchor_rows[..., :, None] != keys
    if key_valid is not None:
        kv = key_valid[..., None, :]
        keep = kv if keep is None else keep & kv
    if keep is None:
        return same, ~same
    return same & keep, ~same & keep


# ------------------------------------------------------------------------------- reductions
def reduce_terms(terms: Terms, reduction: str, *, gather: str = "none") -> Tensor:
    """``"none"``: the terms (0 where not valid); ``"sum"``: their (global) sum; ``"mean"``:
    that sum over the (global) number of valid terms, 0 with a graph when there is none."""
    return reduce_loss(terms.loss, reduction, denominator=terms.valid.sum(), gather=gather)


# ------------------------------------------------------------------------------ dense masks
def check_dense(features: object, mask: object, fn: str) -> tuple[Tensor, Tensor]:
    """``features (B, D, H, W)`` floating and ``mask (B, H', W')`` or ``(B, 1, H', W')`` (bool,
    integer 0/1 or float in [0, 1]); returns the mask as ``(B, H', W')``."""
    f = check_tensor(features, "features", fn, floating=True, ndim=4)
    m = check_tensor(mask, "mask", fn, ndim=(3, 4))
    if m.dim() == 4:
        if m.shape[1] != 1:
            raise InputError(
                f"{fn}: expected mask of shape (B, H, W) or (B, 1, H, W) for features "
                f"{shape_str(f)}, got {shape_str(m)}"
            )
        m = m[:, 0]
    if m.shape[0] != f.shape[0]:
        raise InputError(
            f"{fn}: expected mask with batch size {f.shape[0]} matching features "
            f"{shape_str(f)}, got {shape_str(m)}"
        )
    if f.shape[1] == 0:
        raise InputError(f"{fn}: expected features with D > 0 channels, got {shape_str(f)}")
    if m.is_complex():
        raise InputTypeError(f"{fn}: expected a real mask, got {m.dtype}")
    if m.dtype != torch.bool and m.numel() and value_checks_enabled():
        # a NaN fraction is refused too: it would compare False with the threshold (pristine)
        ok = (m >= 0) & (m <= 1)
        found = "; a value outside that range (or NaN) was found"
        if values_checkable(m) and not bool(ok.all()):  # eager CPU: say which were found
            lo, hi = (float(v) for v in torch.aminmax(m.detach()))
            found = f", got values in [{lo:g}, {hi:g}]"
        require(ok, f"{fn}: expected mask values in [0, 1] (1 = forged){found}")
    return f, m


def mask_fraction(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """The forged fraction of each cell of a ``size`` grid over ``mask (B, H, W)`` (area
    averaging; exact when ``H, W`` are multiples of ``size``, nearest-like when smaller)."""
    m = mask.float() if mask.dtype != torch.float64 else mask
    if tuple(m.shape[-2:]) == tuple(size):
        return m
    return F.adaptive_avg_pool2d(m[:, None], size)[:, 0]


def flatten_pixels(features: Tensor) -> Tensor:
    """``(B, D, H, W) -> (B, H*W, D)``."""
    return features.flatten(2).transpose(1, 2)


def sample_per_class(
    labels: Tensor, max_samples: int, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """At most ``max_samples`` random pixels of each class (0, 1) per image, without a host
    synchronisation: ``(index, valid)`` of shape ``(B, 2k)`` with ``k = min(max_samples, n)``;
    unused slots (a class with fewer pixels) have ``valid = False``."""
    b, n = labels.shape
    k = min(max_samples, n)
    device = generator.device if generator is not None else labels.device
    noise = torch.rand((b, n), generator=generator, device=device).to(labels.device)
    idx, ok = [], []
    for cls in (0, 1):
        member = labels == cls
        score = torch.where(member, noise, noise.new_full((), -1.0))
        top = torch.topk(score, k, dim=1).indices
        idx.append(top)
        ok.append(torch.gather(member, 1, top))
    return torch.cat(idx, 1), torch.cat(ok, 1)


def image_terms(terms: Terms, labels: Tensor, features: Tensor) -> Terms:
    """Per-image means ``(B,)`` of anchor terms ``(B, A)`` over their valid anchors; an image
    counts when it has both classes (labels 0 and 1; -1 marks unused slots) and at least one
    valid anchor, or when its ``features (B, ...)`` hold a NaN (see :func:`nan_images`)."""
    both = (labels == 0).any(1) & (labels == 1).any(1)
    valid = terms.valid & both[:, None]
    count = valid.sum(1)
    loss = torch.where(valid, terms.loss, terms.loss.new_zeros(())).sum(1)
    loss = loss / count.clamp_min(1).to(loss.dtype)
    nan = nan_images(features).to(loss.dtype)
    return Terms(loss + nan, (count > 0) | torch.isnan(nan))


def nan_images(features: Tensor) -> Tensor:
    """``(B,)``: NaN for an image whose ``features (B, ...)`` hold a NaN, an exact 0 otherwise
    (with a gradient path, so the NaN reaches the gradient too). Added to the per-image losses
    of the dense losses, which leave pixels out (an image of one class, pixels not sampled):
    a NaN input gives a NaN loss even where it would have been left out."""
    return torch.where(torch.isnan(features), features, features.new_zeros(())).flatten(1).sum(1)


def image_chunks(batch: int, per_image: int) -> list[tuple[int, int]]:
    """Ranges of images whose logit matrices hold at most ``MAX_CHUNK_ELEMENTS`` entries (one
    empty range for an empty batch)."""
    step = max(1, MAX_CHUNK_ELEMENTS // max(per_image, 1))
    return [(s, min(s + step, batch)) for s in range(0, batch, step)] or [(0, 0)]


def label_terms(
    anchors: Tensor,
    keys: Tensor,
    temperature: float | Tensor,
    anchor_labels: Tensor,
    key_labels: Tensor,
    *,
    mode: str,
    anchor_rows: Tensor | None = None,
    key_valid: Tensor | None = None,
) -> Terms:
    """:func:`contrast_terms` of prepared ``anchors (..., A, D)`` against ``keys (..., K, D)``,
    positives and negatives given by :func:`label_masks` (equal labels, the anchor's own row
    ``anchor_rows`` and keys where ``key_valid`` is False excluded).

    Each anchor's term depends on its row of logits only: a matrix of more than
    ``MAX_CHUNK_ELEMENTS`` logits goes in row blocks of at most ``BLOCK_ELEMENTS`` logits (one
    row at least), and when a gradient is needed each block is checkpointed (its logits and masks are formed again in the backward pass),
    which bounds the memory by one block instead of the whole ``(A, K)`` matrix.
    """

    # every key but the anchor's own row is a positive or a negative: the log-sum-exp over
    # them is a plain one with that row at -inf (no masks of the logits' size to fill)
    every_key = mode in ("out", "in") and key_valid is None and keys.dim() == 2
    every_key = every_key and keys.shape[0] >= 2

    def block(a: Tensor, a_labels: Tensor, a_rows: Tensor | None) -> tuple[Tensor, Tensor]:
        logits = similarity_logits(a, keys, temperature)
        if every_key:
            terms = _every_key_terms(logits, a_labels, key_labels, a_rows, mode)
            return terms.loss, terms.valid
        positive, negative = label_masks(a_labels, key_labels, a_rows, key_valid=key_valid)
        terms = contrast_terms(logits, positive, negative, mode)
        return terms.loss, terms.valid

    rows, per_row = anchors.shape[-2], math.prod(anchors.shape[:-2]) * keys.shape[-2]
    if rows * per_row <= MAX_CHUNK_ELEMENTS:
        return Terms(*block(anchors, anchor_labels, anchor_rows))
    step = max(1, BLOCK_ELEMENTS // max(per_row, 1))
    tensors = [anchors, keys] + ([temperature] if isinstance(temperature, Tensor) else [])
    recompute = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    losses, valids = [], []
    for lo in range(0, rows, step):
        part = (
            anchors[..., lo : lo + step, :],
            anchor_labels[..., lo : lo + step],
            None if anchor_rows is None else anchor_rows[..., lo : lo + step],
        )
        loss, valid = checkpoint(block, *part, use_reentrant=False) if recompute else block(*part)
        losses.append(loss)
        valids.append(valid)
    return Terms(torch.cat(losses, -1), torch.cat(valids, -1))


def per_image_terms(x: Tensor, labels: Tensor, temperature: float | Tensor, mode: str) -> Terms:
    """Each image's rows of prepared ``x (B, m, D)`` as anchors against the same image's rows
    (self excluded), positives by equal ``labels (B, m)``; label -1 marks an unused slot (never
    a key; the caller drops it as an anchor). Images go in chunks, and an image whose ``m x m``
    logits alone exceed the block size goes in blocks of rows (:func:`label_terms`)."""
    b, m = labels.shape
    rows = torch.arange(m, device=x.device)
    parts = []
    for lo, hi in image_chunks(b, m * m):
        lab = labels[lo:hi]
        part = x[lo:hi]
        parts.append(
            label_terms(
                part, part, temperature, lab, lab, mode=mode, anchor_rows=rows, key_valid=lab >= 0
            )
        )
    return Terms(torch.cat([t.loss for t in parts]), torch.cat([t.valid for t in parts]))


# ------------------------------------------------------------------------------ multi-view
def multiview_terms(
    features: Tensor,
    labels: Tensor | None,
    temperature: float | Tensor,
    *,
    mode: str,
    gather: str,
    fn: str,
) -> Terms:
    """Terms of every view of every sample as an anchor against every other view of the
    (gathered) batch: positives share the label (the sample itself when ``labels`` is None),
    self excluded. ``features`` are prepared ``(n, V, D)``; the result is ``(a, V)`` with
    ``a = n`` (or the global batch size for ``gather="global"``)."""
    batch = vdist.gather_batch(features, labels, gather=gather, fn=fn)
    a, views, dim = batch.anchors.shape
    k = batch.keys.shape[0]
    device = features.device
    if views == 1:
        rows = batch.anchor_index
    elif batch.anchors is batch.keys:  # every key row an anchor, in order (gather_batch)
        rows = torch.arange(a * views, device=device)
    else:
        offsets = torch.arange(views, device=device)
        rows = (batch.anchor_index[:, None] * views + offsets).reshape(-1)
    if labels is None and mode == "out" and views >= 2:
        loss = view_terms(
            batch.anchors.reshape(a * views, dim),
            batch.keys.reshape(k * views, dim),
            temperature,
            rows,
            views,
        )
        return Terms(loss.view(a, views), loss.new_ones((), dtype=torch.bool).expand(a, views))
    if labels is None:
        anchor_labels, key_labels = batch.anchor_index, torch.arange(k, device=device)
    else:
        anchor_labels, key_labels = batch_labels(batch)
    if views > 1:
        anchor_labels, key_labels = (
            x.repeat_interleave(views) for x in (anchor_labels, key_labels)
        )
    terms = label_terms(
        batch.anchors.reshape(a * views, dim),
        batch.keys.reshape(k * views, dim),
        temperature,
        anchor_labels,
        key_labels,
        mode=mode,
        anchor_rows=rows,
    )
    return Terms(terms.loss.view(a, views), terms.valid.view(a, views))


def view_terms(
    anchors: Tensor, keys: Tensor, temperature: float | Tensor, rows: Tensor, views: int
) -> Tensor:
    """The ``"out"`` terms of :func:`multiview_terms` without labels (NT-Xent, multi-view
    InfoNCE): anchor ``i`` (key row ``rows[i]``) against every other key row, its positives
    the other views of its sample (rows ``rows[i] - rows[i] % V + v``). Every anchor has a
    positive, so each term is a cross entropy: ``LSE_{k != self} l_k - mean_p l_p``.

    No mask of the logits' size is built: the anchor's own logit is set to ``-inf`` in place
    and the rows' cross entropy (two views: :func:`._row_ce.row_cross_entropy`, which keeps
    one matrix of the logits' size) or a ``logsumexp`` and a gather (more views) read the row
    once; row blocks and checkpointing bound the memory as :func:`label_terms` does.
    """
    n, k = anchors.shape[0], keys.shape[0]
    if views == 2:
        # the other view's row: ``rows ^ 1`` (rows are ``2 * sample + view``); an integer
        # remainder here is what inductor would recompute for every logit of the backward's
        # fused softmax kernel (one int64 division per element: 2.3x that kernel's time)
        partners = torch.bitwise_xor(rows, 1).unsqueeze(1)
    else:
        view_of = rows % views
        others = torch.arange(1, views, device=rows.device)
        partners = (rows - view_of).unsqueeze(1) + (view_of.unsqueeze(1) + others) % views

    def block(a: Tensor, self_rows: Tensor, pos: Tensor, fused: bool = True) -> Tensor:
        if pos.shape[1] == 1:  # (checkpointed blocks recompute through autograd: not fused)
            ce = row_cross_entropy if fused else plain_row_cross_entropy
            return ce(a, keys, temperature, self_rows, pos.squeeze(1))
        logits = self_masked_logits(a, keys, temperature, self_rows)
        return torch.logsumexp(logits, 1) - logits.gather(1, pos).mean(1)

    if n * k <= MAX_CHUNK_ELEMENTS:
        return block(anchors, rows, partners)
    step = max(1, BLOCK_ELEMENTS // max(k, 1))
    tensors = [anchors, keys] + ([temperature] if isinstance(temperature, Tensor) else [])
    recompute = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    parts = []
    for lo in range(0, n, step):
        part = (anchors[lo : lo + step], rows[lo : lo + step], partners[lo : lo + step])
        parts.append(
            checkpoint(block, *part, False, use_reentrant=False) if recompute else block(*part)
        )
    return torch.cat(parts)
