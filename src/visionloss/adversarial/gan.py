"""GAN objectives from discriminator logits: minimax, non-saturating, least squares,
Wasserstein and hinge."""

from __future__ import annotations

from typing import Annotated, Any

import torch.nn.functional as F
from torch import Tensor

from .._core.checks import check_same_shape, check_tensor
from .._core.declare import loss_function
from .._core.dtypes import compute_dtype, upcast
from .._core.module import LossModule
from .._core.options import PER_CALL
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from ..errors import InputError
from ._common import (
    ADVERSARIAL_DOCS,
    GAN_KINDS,
    RELATIVISTIC_KINDS,
    LsganCode,
    gan_options,
    logit_examples,
    logit_pair_examples,
    lsgan_codes,
    relativistic_terms,
)

__all__ = [
    "discriminator_loss",
    "generator_loss",
    "DiscriminatorLoss",
    "GeneratorLoss",
    "GAN_KINDS",
]


class _GanModule(LossModule):
    """Module base of the GAN losses: the LSGAN targets go with ``kind="lsgan"`` only, checked
    when the Module is built."""

    def __init__(self, **options: Any) -> None:
        codes = {k: v for k, v in options.items() if k in ("a", "b", "c")}
        lsgan_codes(options["kind"], type(self).__name__, **codes)
        super().__init__(**options)


@loss_function(ADVERSARIAL_DOCS, options=gan_options)
def discriminator_loss(
    real_logits: Tensor,
    fake_logits: Tensor,
    *,
    a: LsganCode = None,
    b: LsganCode = None,
    **options: Any,
) -> Tensor:
    r"""Discriminator (critic) loss of a GAN, from raw discriminator outputs (logits).

    With :math:`r = D(x)` on real and :math:`f = D(G(z))` on generated samples,

    .. math:: L_D = \mathbb{E}_x\big[\ell_{\text{real}}(r)\big]
              + \mathbb{E}_z\big[\ell_{\text{fake}}(f)\big]

    with the terms of ``kind``:

    | kind | loss (real term + fake term) |
    | --- | --- |
    | ``"minimax"``, ``"nonsaturating"`` | :math:`-\log\sigma(r) - \log(1 - \sigma(f)) = \operatorname{softplus}(-r) + \operatorname{softplus}(f)` |
    | ``"lsgan"`` | :math:`\tfrac12 (r - b)^2 + \tfrac12 (f - a)^2` |
    | ``"wgan"`` | :math:`-r + f` (the critic maximises :math:`r - f`) |
    | ``"hinge"`` | :math:`\max(0, 1 - r) + \max(0, 1 + f)` |
    | ``"rasgan"`` | :math:`\operatorname{softplus}(-\tilde r) + \operatorname{softplus}(\tilde f)` |
    | ``"ralsgan"`` | :math:`(\tilde r - 1)^2 + (\tilde f + 1)^2` |
    | ``"rahinge"`` | :math:`\max(0, 1 - \tilde r) + \max(0, 1 + \tilde f)` |

    The relativistic average kinds (Jolicoeur-Martineau) compare each logit with the mean
    logit of the other set: :math:`\tilde r = r - \bar f`, :math:`\tilde f = f - \bar r`
    (:math:`\bar{\cdot}`: the mean over every element of the batch, e.g. of a PatchGAN map);
    the least-squares form has no :math:`\tfrac12`, as in the paper.

    The two BCE kinds share the discriminator loss (Goodfellow et al.'s value function, written
    with ``softplus`` so it is exact for logits of any size); they differ for the generator
    (:func:`generator_loss`). Many codes (pix2pix) halve this loss; here it is the sum of the
    two expectations, as in the papers.

    Args:
        real_logits: discriminator outputs on real samples, any shape (e.g. ``(B,)``,
            ``(B, 1)`` or PatchGAN's ``(B, 1, h, w)``).
        fake_logits: outputs on generated samples (detach the generator's output when training
            only the discriminator).
        a: LSGAN target of fake samples (default 0, the 0-1 coding; Mao et al.'s other scheme
            is ``a=-1, b=1`` with ``c=0``); only for ``kind="lsgan"``.
        b: LSGAN target of real samples (default 1); only for ``kind="lsgan"``.
        reduction: ``"mean"``: mean of the real terms plus mean of the fake terms (the batches
            may differ in size); ``"sum"``: the sums; ``"none"``: elementwise
            ``real_term + fake_term`` (needs equal shapes).

    Shape:
        output: scalar, or the common shape of the logits for ``"none"``.

    Returns:
        the loss, float32 for half inputs.

    Reference:
        {{gan_references}}; Miyato et al., *Spectral Normalization for GANs*, ICLR 2018.

    Example:
        >>> import torch
        >>> real, fake = torch.tensor([0.0]), torch.tensor([0.0])  # D outputs 1/2 on both
        >>> discriminator_loss(real, fake)  # 2 log 2
        tensor(1.3863)
        >>> discriminator_loss(torch.tensor([2.0]), torch.tensor([-3.0]), kind="hinge")
        tensor(0.)
    """
    fn = "discriminator_loss"
    kind, reduction = options["kind"], options["reduction"]
    codes = lsgan_codes(kind, fn, a=a, b=b)
    check_tensor(real_logits, "real_logits", fn, floating=True)
    check_tensor(fake_logits, "fake_logits", fn, floating=True)
    if reduction == "none":
        check_same_shape(real_logits, fake_logits, fn, names=("real_logits", "fake_logits"))
    dtype = compute_dtype(real_logits, fake_logits)
    r, f = upcast(real_logits, dtype), upcast(fake_logits, dtype)
    if kind in RELATIVISTIC_KINDS:
        real_term, fake_term = relativistic_terms(kind, r, f)
    elif kind in ("minimax", "nonsaturating"):
        real_term, fake_term = F.softplus(-r), F.softplus(f)
    elif kind == "lsgan":
        real_term, fake_term = 0.5 * (r - codes["b"]).square(), 0.5 * (f - codes["a"]).square()
    elif kind == "wgan":
        real_term, fake_term = -r, f
    else:
        real_term, fake_term = F.relu(1.0 - r), F.relu(1.0 + f)
    if reduction == "none":
        return real_term + fake_term
    return reduce_loss(real_term, reduction, fn=fn) + reduce_loss(fake_term, reduction, fn=fn)


@loss_function(ADVERSARIAL_DOCS, options=gan_options)
def generator_loss(
    fake_logits: Tensor,
    *,
    c: LsganCode = None,
    real_logits: Annotated[Tensor | None, PER_CALL] = None,
    **options: Any,
) -> Tensor:
    r"""Generator loss of a GAN, from the discriminator's logits on generated samples.

    With :math:`f = D(G(z))`,

    .. math:: L_G = \mathbb{E}_z\big[\ell_G(f)\big]

    with the term of ``kind``:

    | kind | loss |
    | --- | --- |
    | ``"minimax"`` | :math:`\log(1 - \sigma(f)) = -\operatorname{softplus}(f)` |
    | ``"nonsaturating"`` | :math:`-\log\sigma(f) = \operatorname{softplus}(-f)` |
    | ``"lsgan"`` | :math:`\tfrac12 (f - c)^2` |
    | ``"wgan"``, ``"hinge"`` | :math:`-f` |
    | ``"rasgan"`` | :math:`\operatorname{softplus}(-\tilde f) + \operatorname{softplus}(\tilde r)` |
    | ``"ralsgan"`` | :math:`(\tilde f - 1)^2 + (\tilde r + 1)^2` |
    | ``"rahinge"`` | :math:`\max(0, 1 - \tilde f) + \max(0, 1 + \tilde r)` |

    The relativistic average kinds need the discriminator's logits on real samples too
    (``real_logits``), with :math:`\tilde f = f - \bar r` and :math:`\tilde r = r - \bar f`
    as in :func:`discriminator_loss`: the discriminator's terms with real and fake swapped,
    so the generator also lowers the realness of the real samples relative to its own (the
    real term's gradient reaches the generator through :math:`\bar f`).

    ``"minimax"`` is the saturating loss of Goodfellow et al.'s value function: its gradient
    :math:`-\sigma(f)` vanishes when the discriminator rejects the samples
    (:math:`D(G(z)) \to 0`), early in training; ``"nonsaturating"`` (their practical
    recommendation) has gradient :math:`\sigma(f) - 1`, close to -1 there.

    Args:
        fake_logits: discriminator outputs on generated samples, any shape.
        c: the LSGAN value the generator wants the discriminator to output (default 1); only
            for ``kind="lsgan"``.
        real_logits: discriminator outputs on real samples (per call), for the relativistic
            kinds only; with ``"none"`` the same shape as ``fake_logits``.

    Shape:
        output: scalar, or the shape of ``fake_logits`` for ``"none"``.

    Returns:
        the loss, float32 for half inputs.

    Reference:
        {{gan_references}}.

    Example:
        >>> import torch
        >>> generator_loss(torch.tensor([0.0]))  # -log(1/2)
        tensor(0.6931)
        >>> generator_loss(torch.tensor([0.0]), kind="minimax")  # log(1 - 1/2)
        tensor(-0.6931)
    """
    fn = "generator_loss"
    kind = options["kind"]
    codes = lsgan_codes(kind, fn, c=c)
    check_tensor(fake_logits, "fake_logits", fn, floating=True)
    if kind in RELATIVISTIC_KINDS:
        if real_logits is None:
            raise InputError(f"{fn}: kind={kind!r} needs real_logits (the outputs on real samples)")
        check_tensor(real_logits, "real_logits", fn, floating=True)
        if options["reduction"] == "none":
            check_same_shape(fake_logits, real_logits, fn, names=("fake_logits", "real_logits"))
        dtype = compute_dtype(fake_logits, real_logits)
        fake_term, real_term = relativistic_terms(
            kind, upcast(fake_logits, dtype), upcast(real_logits, dtype)
        )
        if options["reduction"] == "none":
            return fake_term + real_term
        return reduce_loss(fake_term, options["reduction"], fn=fn) + reduce_loss(
            real_term, options["reduction"], fn=fn
        )
    if real_logits is not None:
        raise InputError(
            f"{fn}: real_logits apply to the relativistic kinds {RELATIVISTIC_KINDS} only, got "
            f"kind={kind!r}"
        )
    f = upcast(fake_logits, compute_dtype(fake_logits))
    if kind == "minimax":
        loss = -F.softplus(f)
    elif kind == "nonsaturating":
        loss = F.softplus(-f)
    elif kind == "lsgan":
        loss = 0.5 * (f - codes["c"]).square()
    else:
        loss = -f
    return reduce_loss(loss, options["reduction"], fn=fn)


_REFERENCE = (
    "Goodfellow et al., arXiv:1406.2661; Mao et al., arXiv:1611.04076; "
    "Arjovsky et al., arXiv:1701.07875; Lim & Ye, arXiv:1705.02894"
)

DiscriminatorLoss = register_loss(
    "gan_discriminator",
    family="adversarial",
    function=discriminator_loss,
    module="DiscriminatorLoss",
    base=_GanModule,
    aliases=("discriminator",),
    formula="minimax/ns: softplus(-D(x)) + softplus(D(G(z))); lsgan; wgan; hinge",
    reference=_REFERENCE,
    examples=logit_pair_examples,
).module
GeneratorLoss = register_loss(
    "gan_generator",
    family="adversarial",
    function=generator_loss,
    module="GeneratorLoss",
    base=_GanModule,
    aliases=("generator",),
    formula="minimax: -softplus(f); ns: softplus(-f); lsgan: (f-c)^2/2; wgan/hinge: -f",
    reference=_REFERENCE,
    examples=logit_examples,
).module
