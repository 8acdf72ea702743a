"""Shared pieces of the adversarial family: option types and groups, the shared docstring text,
example inputs (discriminator logits, a small critic with real and generated samples, image
pairs) and the weighted L1 of CycleGAN's cycle-consistency and identity losses."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from torch import Tensor, nn

from .._core.checks import check_same_shape, check_tensor
from .._core.declare import DocParts
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, generator, normal
from .._core.options import PER_CALL, Choice, NonNegative, Number, Reduction
from .._core.reduction import reduce_loss
from ..errors import OptionError

GAN_KINDS = ("minimax", "nonsaturating", "lsgan", "wgan", "hinge", "rasgan", "ralsgan", "rahinge")
# the relativistic average kinds of Jolicoeur-Martineau (ICLR 2019)
RELATIVISTIC_KINDS = ("rasgan", "ralsgan", "rahinge")

GanKind = Annotated[str, Choice(*GAN_KINDS)]
LsganCode = Annotated[float | None, Number(optional=True)]


# ------------------------------------------------------------------------------ option groups
# Options shared by sibling losses, declared once (each loss lists them in its real signature).
def gan_options(*, kind: GanKind = "nonsaturating", reduction: Reduction = "mean") -> None:
    """The objective and the reduction of the GAN losses."""


def l1_options(*, lambda_: NonNegative = 10.0, reduction: Reduction = "mean") -> None:
    """The weight and the reduction of CycleGAN's L1 losses."""


def penalty_options(
    *, reduction: Reduction = "mean", scaler: Annotated[Any | None, PER_CALL] = None
) -> None:
    """The reduction and the per-call GradScaler of the gradient penalties."""


ADVERSARIAL_DOCS = DocParts(
    args={
        "kind": """``"minimax"``, ``"nonsaturating"`` (default), ``"lsgan"``, ``"wgan"``,
            ``"hinge"``, or a relativistic average kind: ``"rasgan"``, ``"ralsgan"``,
            ``"rahinge"``.""",
        "reduction": """``"mean"`` (default), ``"sum"`` or ``"none"``.""",
        "scaler": """the ``torch.amp.GradScaler`` in use, if any (per call).""",
    },
    paragraphs={
        "elementwise": """Shape:
                output: scalar, or the input's shape for ``"none"``.

            Returns:
                the loss, float32 for half inputs.""",
        "per_sample": """Shape:
                output: scalar, or ``(B,)`` for ``"none"``.

            Returns:
                the penalty, float32 (float64 for float64 inputs).""",
        "gan_references": """Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014,
            arXiv:1406.2661; Mao et al., *Least Squares GANs*, ICCV 2017, arXiv:1611.04076;
            Arjovsky et al., *Wasserstein GAN*, ICML 2017, arXiv:1701.07875; Lim & Ye,
            *Geometric GAN*, arXiv:1705.02894; Jolicoeur-Martineau, *The relativistic
            discriminator: a key element missing from standard GAN*, ICLR 2019,
            arXiv:1807.00734""",
    },
)


def lsgan_codes(kind: str, fn: str, **codes: float | None) -> dict[str, float]:
    """The LSGAN targets ``a``, ``b``, ``c`` (defaults 0, 1, 1); refused for other kinds."""
    given = [k for k, v in codes.items() if v is not None]
    if kind != "lsgan" and given:
        raise OptionError(f"{fn}: {', '.join(given)} apply to kind='lsgan' only, got kind={kind!r}")
    defaults = {"a": 0.0, "b": 1.0, "c": 1.0}
    return {k: defaults[k] if v is None else float(v) for k, v in codes.items()}


def relativistic_terms(kind: str, r: Tensor, f: Tensor) -> tuple[Tensor, Tensor]:
    """The discriminator's real and fake terms of a relativistic average kind, from the centred
    logits ``r - mean(f)`` and ``f - mean(r)`` (Jolicoeur-Martineau 2019, Eqs. for RaSGAN,
    RaLSGAN and RaHingeGAN). The generator's terms are these with ``r`` and ``f`` swapped."""
    dr, df = r - f.mean(), f - r.mean()
    if kind == "rasgan":
        return torch.nn.functional.softplus(-dr), torch.nn.functional.softplus(df)
    if kind == "ralsgan":
        return (dr - 1.0).square(), (df + 1.0).square()
    return torch.relu(1.0 - dr), torch.relu(1.0 + df)


def weighted_l1(input: Tensor, target: Tensor, weight: float, reduction: str, fn: str) -> Tensor:
    """``weight * |input - target|`` reduced; fp32 for half inputs."""
    check_tensor(input, "input", fn, floating=True)
    check_tensor(target, "target", fn, floating=True)
    check_same_shape(input, target, fn)
    dtype = compute_dtype(input, target)
    diff = (upcast(input, dtype) - upcast(target, dtype)).abs()
    return reduce_loss(weight * diff, reduction, fn=fn)


# ----------------------------------------------------------------------------------- examples
class ExampleCritic(nn.Module):
    """A linear critic ``D(x) = <w, x>`` on samples ``(B, 6)`` with a fixed ``w`` of norm 2
    (no random state used): its input gradient is ``w`` everywhere, so the WGAN-GP penalty is
    ``lambda_ * (2 - 1)^2`` whatever the random interpolation, a repeatable example."""

    def __init__(self) -> None:
        super().__init__()
        w = torch.linspace(-1.0, 1.0, 6, dtype=torch.float64)
        self.weight = nn.Parameter((2.0 * w / w.norm()).float())

    def forward(self, x: Tensor) -> Tensor:
        return (x.flatten(1) * self.weight.to(x.dtype)).sum(1)


def logit_pair_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Discriminator logits on real and on generated samples, ``(8,)`` each."""
    gen = generator(seed)
    return Example((normal(8, dtype=dtype, gen=gen), normal(8, dtype=dtype, gen=gen)))


def logit_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Discriminator logits on generated samples, ``(8,)``."""
    return Example((normal(8, dtype=dtype, gen=generator(seed)),))


def image_pair_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """A reconstruction and its original, ``(2, 3, 4, 4)`` each (never equal: no kink)."""
    gen = generator(seed)
    return Example(tuple(normal(2, 3, 4, 4, dtype=dtype, gen=gen) for _ in range(2)))


def critic_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """:class:`ExampleCritic` and real and generated samples ``(4, 6)``."""
    gen = generator(seed)
    real, fake = normal(4, 6, dtype=dtype, gen=gen), normal(4, 6, dtype=dtype, gen=gen)
    return Example((ExampleCritic(), real, fake))


def r1_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """``D(real)`` from :class:`ExampleCritic` and the real samples ``(4, 6)`` it was computed
    from (requiring grad, as the R1 penalty needs)."""
    real = normal(4, 6, dtype=dtype, gen=generator(seed)).requires_grad_(True)
    return Example((ExampleCritic()(real), real))
