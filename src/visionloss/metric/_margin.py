"""Shared maths of the margin-softmax heads and the proxy losses: cosine logits against a
class-weight (or proxy) matrix, the angular margins with finite values and gradients at
``cos = +-1``, the weight initialisation, the Modules that own the matrix, and examples.

The angle is never formed with ``acos`` where a gradient flows: ``cos(theta + m)`` is
``cos(theta) cos(m) - sin(theta) sin(m)`` with ``sin(theta) = sqrt(max(1 - cos^2, 0))``
through the guarded :func:`~visionloss._core.numerics.sqrt`, whose derivative is 0 where its
argument is below the dtype's smallest normal number (exactly at ``cos = +-1``; the
one-sided limit there is infinite, and ``acos``'s derivative ``-1/sqrt(1 - c^2)`` is the
NaN/inf of insightface #1555, #2200 and fast-reid #111). In floating point ``1 - c^2`` is
either 0 or at least ``~1.2e-7`` (fp32; ``~2.2e-16`` in fp64) for ``|c| <= 1``, so the slope
of the sine is bounded by ``1/sqrt(1.2e-7) ~ 2.9e3`` (fp32) everywhere else.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._core.autograd import differentiable_grad, double_backward
from .._core.checks import check_labels, check_tensor, shape_str
from .._core.declare import DocParts, declaration
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, ModuleCall, generator, normal
from .._core.module import LossModule
from .._core.numerics import sqrt
from .._core.reduction import reduce_loss
from .._core.registry import register_loss
from .._core.vectors import normalize
from ..errors import InputError, OptionError
from ._common import METRIC_DOCS, check_embeddings_labels

HEAD_DOCS = METRIC_DOCS | DocParts(
    args={
        "weight": """``(num_classes, D)`` class weights (the rows are L2-normalised inside;
            ``nn.Linear`` layout, the transpose of pytorch-metric-learning's ``W``).""",
        "proxies": """``(num_classes, D)`` class proxies (L2-normalised inside).""",
        "scale": """``s > 0``, the logits' scale (default 64.0).""",
    },
    paragraphs={
        "cosine_at_one": """The cosines are clamped to ``[-1, 1]`` and the sine is
            ``sqrt(max(1 - cos^2, 0))`` with a zero derivative exactly at ``cos = +-1``: an
            embedding on its class weight, or opposite to it, gives a finite value and finite
            gradients (no ``acos``). A zero embedding has cosine 0 to every class (zero
            gradient through its normalisation).""",
        "head_output": """Shape:
            output: scalar, or ``(B,)`` for ``"none"``.

        Returns:
            the loss; float32 for fp16/bf16 inputs. An empty batch gives 0 with a graph.""",
    },
)

# the additive angular margin heads (ArcFace, sub-center ArcFace)
ARC_DOCS = HEAD_DOCS | DocParts(
    args={
        "margin": """the additive angular margin ``m`` in radians (default 0.5).""",
        "easy_margin": """apply the margin only where ``cos(theta) > 0`` (default False).""",
    },
)


# ----------------------------------------------------------------------------------- checks
def check_class_matrix(
    embeddings: Tensor, labels: Tensor, matrix: object, fn: str, name: str, grouped: bool = False
) -> int:
    """``matrix`` a floating ``(num_classes, D)`` tensor (``(num_classes, K, D)`` when
    ``grouped``) matching ``embeddings``, the labels in ``[0, num_classes)``; returns
    ``num_classes``."""
    check_embeddings_labels(embeddings, labels, fn)
    m = check_tensor(matrix, name, fn, floating=True, ndim=3 if grouped else 2)
    d = embeddings.shape[1]
    if m.shape[-1] != d or 0 in m.shape:
        expected = f"(num_classes, K, {d})" if grouped else f"(num_classes, {d})"
        raise InputError(
            f"{fn}: expected {name} of shape {expected} matching embeddings "
            f"{shape_str(embeddings)}, got {shape_str(m)}"
        )
    check_labels(labels, m.shape[0], fn, name="labels")
    return int(m.shape[0])


# ------------------------------------------------------------------------------------ maths
def unit_rows(x: Tensor) -> Tensor:
    """The rows of ``x`` scaled to unit norm (a zero row stays zero with a zero gradient)."""
    return normalize(x, dim=1)


def cosine_to(x: Tensor, matrix: Tensor, dtype: torch.dtype, clamp: bool = True) -> Tensor:
    """``(B, R)`` cosines between the rows of ``x`` and of ``matrix`` in ``dtype``, clamped to
    ``[-1, 1]`` (a zero row gives 0); ``clamp=False``: as the product gives them (rounding may
    pass 1 by an ulp), for :func:`margin_softmax`, which clamps them itself."""
    c = unit_rows(upcast(x, dtype)) @ unit_rows(upcast(matrix, dtype)).T
    return c.clamp(-1.0, 1.0) if clamp else c


def sine(c: Tensor) -> Tensor:
    """``sin(acos(c)) = sqrt(max(1 - c^2, 0))`` with a zero derivative at ``|c| = 1``."""
    return sqrt((1.0 - c * c).clamp_min(0.0))


def arc_margin(c: Tensor, margin: float, easy_margin: bool) -> Tensor:
    """``cos(theta + m)`` from ``c = cos(theta)``, with insightface's fallbacks where
    ``theta + m`` passes ``pi`` (the logit would stop decreasing in ``theta``):

    * ``easy_margin``: ``cos(theta + m)`` where ``c > 0``, else ``c`` itself;
    * otherwise (``th``/``mm``): ``cos(theta + m)`` where ``c > cos(pi - m)``, else
      ``c - m sin(m)`` (``mm = sin(pi - m) m``, a linear continuation).
    """
    phi = c * math.cos(margin) - sine(c) * math.sin(margin)
    if easy_margin:
        return torch.where(c > 0, phi, c)
    return torch.where(c > math.cos(math.pi - margin), phi, c - math.sin(math.pi - margin) * margin)


def replace_target(logits: Tensor, labels: Tensor, target: Tensor) -> Tensor:
    """``logits`` with the entry ``(i, labels[i])`` replaced by ``target[i]``."""
    return logits.scatter(1, labels[:, None], target[:, None].to(logits.dtype))


def target_column(c: Tensor, labels: Tensor) -> Tensor:
    """``c[i, labels[i]]``."""
    return c.gather(1, labels[:, None]).squeeze(1)


def softmax_head(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-sample cross entropy of ``logits`` ``(B, C)`` (an empty batch gives ``(0,)``)."""
    return F.cross_entropy(logits, labels, reduction="none")


def head_cosines(
    embeddings: Tensor,
    labels: Tensor,
    matrix: Tensor,
    fn: str,
    name: str = "weight",
    clamp: bool = True,
) -> Tensor:
    """Check the inputs (:func:`check_class_matrix`), then the ``(B, num_classes)`` cosines
    of the embeddings to the rows of ``matrix`` in the compute dtype (:func:`cosine_to`)."""
    check_class_matrix(embeddings, labels, matrix, fn, name)
    return cosine_to(embeddings, matrix, compute_in(embeddings, matrix), clamp)


def _margin_logits(c: Tensor, labels: Tensor, target: Tensor, scale: float | Tensor) -> Tensor:
    """``scale * clamp(c, -1, 1)`` with the column of each sample's label replaced by ``scale *
    target``: the heads' logits."""
    return scale * replace_target(c.clamp(-1.0, 1.0), labels, target)


class _MarginSoftmax(torch.autograd.Function):
    """Per-sample cross entropy of :func:`_margin_logits` for a plain number ``scale``.

    Autograd would keep the unclamped cosines (for the clamp), the logits' softmax and two
    more ``(B, C)`` tensors on the way; this keeps only the cosines ``c`` (an input) and the
    per-sample maximum and sum of the softmax, and forms the logits again in the backward:
    with ``p`` their softmax, ``d loss_i / d c_ij = scale p_ij`` off the label (0 where
    ``|c_ij| >= 1``: torch's clamp passes no gradient at its bounds either) and
    ``d loss_i / d target_i = scale (p_iy - 1)``. ArcFace at 2048 x 512, 1000 classes: 32 MiB
    peak instead of 46 (pytorch-metric-learning 42), same time. Under ``create_graph=True``
    the backward differentiates the plain graph."""

    @staticmethod
    def forward(ctx: Any, c: Tensor, labels: Tensor, target: Tensor, scale: float) -> Tensor:
        z = _margin_logits(c, labels, target, scale)
        top = z.amax(1, keepdim=True)
        total = z.sub_(top).exp_().sum(1, keepdim=True)
        ctx.save_for_backward(c, labels, target, top, total)
        ctx.scale = scale
        return (top + total.log()).squeeze(1) - scale * target

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None, Tensor | None, None]:
        c, labels, target, top, total = ctx.saved_tensors
        scale = ctx.scale
        if double_backward():
            g_c, g_t = differentiable_grad(
                lambda a, t: softmax_head(_margin_logits(a, labels, t, scale), labels),
                (c, target),
                (grad,),
            )
            return g_c, None, g_t, None
        idx = labels[:, None]
        # the softmax as exp(z - max) / sum (as accurate as torch's: exp(z - lse) would carry
        # the rounding of the log-sum-exp, ~4e-6 at scale 64 in fp32)
        p = _margin_logits(c, labels, target, scale).sub_(top).exp_()
        p.mul_((grad[:, None] / total).to(p.dtype))  # grad * softmax
        g_target = (p.gather(1, idx).squeeze(1) - grad) * scale
        p.scatter_(1, idx, 0.0).mul_(scale).masked_fill_(c.abs() >= 1.0, 0.0)
        return p, None, g_target, None


def margin_softmax(
    c: Tensor, labels: Tensor, target: Tensor, scale: float | Tensor, reduction: str, fn: str
) -> Tensor:
    """The reduced cross entropy of ``scale * c`` (``c`` clamped to ``[-1, 1]`` here: raw
    cosines save memory, see :class:`_MarginSoftmax`) with the target column replaced by
    ``target`` (the margin-softmax heads)."""
    if isinstance(scale, Tensor) or torch.compiler.is_compiling():
        loss = softmax_head(_margin_logits(c, labels, target, scale), labels)
    else:
        loss = _MarginSoftmax.apply(c, labels, target.to(c.dtype), float(scale))
    return reduce_loss(loss, reduction, fn=fn)


# --------------------------------------------------------------------------------- Modules
def init_rows(rows: int, dim: int) -> Tensor:
    """Initial class weights or proxies: Xavier-normal ``(rows, dim)`` (their norm does not
    matter: every loss here normalises them)."""
    return nn.init.xavier_normal_(torch.empty(rows, dim))


def _positive_int(value: object, name: str, fn: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"{fn}: expected {name} to be a positive int, got {value!r}")
    return value


def head_module(
    function: Callable[..., Tensor],
    class_name: str,
    *,
    matrix: str = "weight",
    per_class: tuple[str, int, str] | None = None,
    summary: str = "",
) -> type[LossModule]:
    """A Module ``Class(num_classes, embedding_size, **options)`` that owns the
    ``(num_classes, embedding_size)`` matrix ``matrix`` (an ``nn.Parameter`` trained with the
    network) and whose ``forward(embeddings, labels)`` calls ``function`` with it.
    ``per_class=(name, default, doc)``: a keyword of ``__init__`` giving ``K`` rows per class,
    the Parameter then ``(num_classes, K, embedding_size)`` (sub-centres, centres)."""
    decl = declaration(function)
    names = tuple(p.name for p in decl.options)
    defaults = {p.name: p.default for p in decl.options if p.default is not p.empty}

    extra = (per_class[0],) if per_class else ()

    def __init__(self: LossModule, num_classes: int, embedding_size: int, **kwargs: Any) -> None:
        k = (
            _positive_int(kwargs.pop(per_class[0], per_class[1]), per_class[0], class_name)
            if per_class
            else 0
        )
        for key in kwargs:
            if key not in names:
                raise decl.unknown(
                    key, class_name, ("num_classes", "embedding_size", *extra, *names)
                )
        _positive_int(num_classes, "num_classes", class_name)
        _positive_int(embedding_size, "embedding_size", class_name)
        options = {**defaults, **{key: decl.check(key, v, class_name) for key, v in kwargs.items()}}
        LossModule.__init__(self, **options)
        setattr(self, "num_classes", num_classes)  # noqa: B010 - typed as a plain attribute
        setattr(self, "embedding_size", embedding_size)  # noqa: B010
        rows = num_classes * max(k, 1)
        init = init_rows(rows, embedding_size)
        if per_class:
            setattr(self, per_class[0], k)
            init = init.view(num_classes, k, embedding_size)
        self.register_parameter(matrix, nn.Parameter(init))

    def forward(self: LossModule, embeddings: Tensor, labels: Tensor) -> Tensor:
        return type(self).function(embeddings, labels, getattr(self, matrix), **self.options())

    def extra_repr(self: LossModule) -> str:
        head = f"num_classes={self.num_classes}, embedding_size={self.embedding_size}"
        if per_class:
            head += f", {per_class[0]}={getattr(self, per_class[0])}"
        return f"{head}, {LossModule.extra_repr(self)}"

    entries = "\n".join(
        "    " + ln if ln else ln for p in decl.options for ln in decl.entries[p.name].splitlines()
    )
    head = "    num_classes: number of classes.\n    embedding_size: ``D``, the embeddings' size.\n"
    if per_class:
        head += f"    {per_class[0]}: {per_class[2]} (default {per_class[1]}).\n"
    init_doc = (
        f"Build the ``{matrix}`` Parameter and set the options of :func:`{decl.name}`.\n\n"
        f"Args:\n{head}{entries}\n"
    )
    one_line = (function.__doc__ or "").strip().splitlines()[0]
    doc = (
        f"{one_line}\n\nModule form of :func:`{decl.name}` that owns its ``{matrix}`` "
        f"(an ``nn.Parameter``, Xavier-normal initialised, trained with the network; include "
        f"this Module's parameters in the optimiser). {summary}\n\nArgs:\n{head}{entries}\n"
    )
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=int)
        for n in ("num_classes", "embedding_size")
    ]
    if per_class:
        positional.append(
            inspect.Parameter(
                per_class[0], inspect.Parameter.KEYWORD_ONLY, default=per_class[1], annotation=int
            )
        )
    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [self_param, *positional, *decl.options], return_annotation=None
    )
    forward.__doc__ = (
        f"Compute :func:`{decl.name}` with this Module's ``{matrix}`` and options.\n\nArgs:\n"
        f"    embeddings: ``(B, D)`` floating point.\n"
        f"    labels: ``(B,)`` integer class labels in ``[0, num_classes)``.\n\n"
        f"Module state (not arguments of ``forward``):\n"
        f"    {matrix}: this Module's Parameter, passed to :func:`{decl.name}`.\n\n"
        f"Returns:\n    the loss (see :func:`{decl.name}`).\n"
    )
    __init__.__doc__ = init_doc
    namespace = {
        "function": staticmethod(function),
        "__init__": __init__,
        "forward": forward,
        "extra_repr": extra_repr,
        "__doc__": doc,
        "__module__": function.__module__,
        "__qualname__": class_name,
    }
    cls = type(class_name, (LossModule,), namespace)
    for attr in ("__init__", "forward", "extra_repr"):
        method = getattr(cls, attr)
        method.__qualname__ = f"{class_name}.{attr}"
        method.__module__ = cls.__module__
    return cls


def register_head(
    name: str,
    function: Callable[..., Tensor],
    class_name: str,
    *,
    formula: str,
    reference: str,
    aliases: tuple[str, ...] = (),
    examples: Callable[..., Example] | None = None,
    **module_options: Any,
) -> type[nn.Module]:
    """Register a loss of the metric family whose Module is :func:`head_module`
    ``(function, class_name, **module_options)``; returns that Module (``examples`` defaults
    to :func:`head_examples`)."""
    return register_loss(
        name,
        family="metric",
        function=function,
        module=head_module(function, class_name, **module_options),
        formula=formula,
        aliases=aliases,
        reference=reference,
        examples=head_examples if examples is None else examples,
    ).module


# -------------------------------------------------------------------------------- examples
def _module_weight(module: nn.Module) -> dict[str, Any]:
    return {"weight": module.weight}


def _module_proxies(module: nn.Module) -> dict[str, Any]:
    return {"proxies": module.proxies}


def _class_example(dtype: torch.dtype, seed: int, per_class: int, proxies: bool) -> Example:
    gen = generator(seed)
    labels = (torch.arange(8) % 4)[torch.randperm(8, generator=gen)]
    x = normal(8, 4, dtype=dtype, gen=gen)
    shape = (4, per_class, 4) if per_class else (4, 4)
    w = normal(*shape, dtype=dtype, gen=gen)
    init: dict[str, Any] = {"num_classes": 4, "embedding_size": 4}
    if per_class:
        init["centers_per_class" if proxies else "sub_centers"] = per_class
    to_function = _module_proxies if proxies else _module_weight
    return Example((x, labels, w), module=ModuleCall(init_kwargs=init, to_function=to_function))


def head_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Embeddings ``(8, 4)``, labels with two members in each of 4 classes, class weights
    ``(4, 4)``; the Module is built with ``num_classes=4, embedding_size=4``."""
    return _class_example(dtype, seed, 0, proxies=False)


def subcenter_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """As :func:`head_examples` with ``(4, 3, 4)`` weights (3 sub-centres, the default)."""
    return _class_example(dtype, seed, 3, proxies=False)


def proxy_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Embeddings ``(8, 4)``, labels in 4 classes, proxies ``(4, 4)``."""
    return _class_example(dtype, seed, 0, proxies=True)


def soft_triple_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """As :func:`proxy_examples` with ``(4, 2, 4)`` centres (``centers_per_class=2``)."""
    return _class_example(dtype, seed, 2, proxies=True)


def compute_in(*tensors: Tensor) -> torch.dtype:
    """The compute dtype of the inputs (float32 for half inputs)."""
    return compute_dtype(*tensors)
