"""Shared pieces of the dense-detection and multi-label classification losses (private):
quality focal, varifocal, Poly-1, asymmetric (ASL) and their example inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.declare import DocParts
from .._core.examples import Example, generator, integers, normal, uniform
from .._core.numerics import focal_factor
from ._common import CLASSIFICATION_DOCS

DENSE_DOCS = CLASSIFICATION_DOCS | DocParts(
    args={
        "input": """logits of any shape, e.g. ``(N, C)`` (anchors x classes) or
            ``(N, C, H, W)``; floating point.""",
        "target": """the same shape, floating point, values in [0, 1] (a soft target such as
            the IoU of the predicted box with its ground truth at the positive class, 0
            elsewhere). It is a constant of the loss: no gradient flows to it.""",
        "normalizer": """for ``"mean"``, divide the sum by it (by 1 where it is <= 0) instead
            of the number of elements: ``"positives"`` (the sum of the targets), a number
            ``>= 0`` or a one-element tensor (e.g. the number of positive anchors, as the
            detectors' ``avg_factor``).""",
    },
)


def sigmoid_power(x: Tensor, gamma: float) -> Tensor:
    """``sigmoid(x) ** gamma`` in log space (exactly 1 for ``gamma == 0``)."""
    if gamma == 0:
        return torch.ones_like(x)
    return torch.exp(gamma * F.logsigmoid(x))


def one_minus_sigmoid_power(x: Tensor, gamma: float) -> Tensor:
    """``(1 - sigmoid(x)) ** gamma`` in log space."""
    return focal_factor(F.logsigmoid(x), gamma)


def score_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Logits ``(16, 5)`` and IoU-like soft targets: one positive class per row for half the
    rows (score in ``(0.2, 0.9)``), every other entry 0."""
    gen = generator(seed)
    logits = normal(16, 5, dtype=dtype, gen=gen, scale=2.0)
    score = uniform(16, dtype=torch.float64, gen=gen, lo=0.2, hi=0.9)
    label = integers(16, high=5, gen=gen)
    target = torch.zeros(16, 5, dtype=torch.float64)
    rows = torch.arange(8)
    target[rows, label[:8]] = score[:8]
    return Example((logits, target.to(dtype)))


def multilabel_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Logits ``(8, 6)`` and 0/1 multi-label targets (as floats)."""
    gen = generator(seed)
    logits = normal(8, 6, dtype=dtype, gen=gen, scale=2.0)
    target = (uniform(8, 6, dtype=torch.float64, gen=gen) < 0.3).to(dtype)
    return Example((logits, target))
