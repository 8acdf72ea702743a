"""Shared machinery of the synthesis family: option types and the option group of the feature
losses, the shared docstring text, example inputs, running a feature network on the input
(with gradients) and on the target (under ``no_grad``, or reusing precomputed features),
choosing layers and their weights, reducing a per-image loss, and the Module base of the
feature losses (which owns the network, built from the Module-only VGG options)."""

from __future__ import annotations

import functools
import inspect
import textwrap
from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import Annotated, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._core.checks import check_same_shape, check_tensor, shape_str
from .._core.declare import DocParts, declaration, loss_module
from .._core.dtypes import compute_dtype, upcast
from .._core.examples import Example, generator, uniform
from .._core.module import LossModule
from .._core.options import Check, Choice, Number, Reduction
from .._core.reduction import reduce_loss
from ..errors import InputError, OptionError, OptionTypeError
from .gram import gram_matrix
from .vgg import VGGFeatures

Features = Mapping[str, Tensor]
FeatureNetwork = Callable[[Tensor], Mapping[str, Tensor]]
Term = Callable[[Tensor, Tensor], Tensor]
STYLE_CONVENTIONS = ("gatys", "johnson", "mean")


# ------------------------------------------------------------------------------ option types
class _LayersCheck(Check):
    """A layer name or a non-empty sequence of names, as a tuple (None stays None)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        return as_layer_tuple(value, fn, name)


class _LayerWeightsCheck(Check):
    """None, a mapping ``layer -> number`` or a sequence of numbers (their count is checked
    against the layers where both are known)."""

    def __call__(self, value: Any, name: str, fn: str) -> Any:
        items = value.values() if isinstance(value, Mapping) else value
        if value is None or (
            not isinstance(value, (str, bytes))
            and hasattr(items, "__iter__")
            and all(isinstance(w, Real) and not isinstance(w, bool) for w in items)
        ):
            return value
        raise OptionTypeError(
            f"{fn}: expected {name} to be a sequence of numbers or a mapping layer -> number, "
            f"got {value!r}"
        )


class _NetworkCheck(Check):
    def __call__(self, value: Any, name: str, fn: str) -> Any:
        if value is None or not callable(value):
            raise OptionTypeError(
                f"{fn}: expected {name} to be a module returning a dict of named features "
                f"(e.g. VGGFeatures('vgg16', ['relu2_2'])), got {type(value).__name__}"
            )
        return value


Network = Annotated[FeatureNetwork, _NetworkCheck()]
Layers = Annotated[str | Sequence[str] | None, _LayersCheck()]
LayerWeights = Annotated[Sequence[float] | Mapping[str, float] | None, _LayerWeightsCheck()]
Convention = Annotated[str, Choice(*STYLE_CONVENTIONS)]
TermWeight = Annotated[float, Number()]


def feature_options(
    *,
    layers: Layers = None,
    layer_weights: LayerWeights = None,
    reduction: Reduction = "mean",
) -> None:
    """The options of the one-network feature losses (an option group: declared once, listed
    in each loss's real signature after its ``network`` and its own options)."""


# --------------------------------------------------------------------------------- docstrings
SYNTHESIS_DOCS = DocParts(
    args={
        "input": """images ``(B, 3, H, W)``, in the range the network expects (generated,
            synthesised or restored images).""",
        "target": """images of the same shape, or a dict ``layer -> features`` of them
            precomputed by the same network (e.g. with the Module's ``target_features``).""",
        "network": """a module returning ``{layer name: (B, C, H, W)}`` (a
            :class:`VGGFeatures`, or any module returning named features).""",
        "layers": """the layers to use (default: every layer the network returns).""",
        "layer_weights": """one weight per layer, a sequence or a mapping ``layer -> weight``
            (default all 1).""",
        "convention": """normalisation of the Gram differences: ``"gatys"`` (default),
            ``"johnson"`` or ``"mean"`` (see :func:`style_loss`).""",
        "reduction": """``"mean"`` over images (default), ``"sum"`` or ``"none"``.""",
    },
    paragraphs={
        "per_image": """Shape:
                output: scalar, or ``(B,)`` for ``"none"``.

            Returns:
                the loss, float32 for half-precision features (every sum is taken in
                float32).""",
        "gatys_2016": """Gatys, Ecker & Bethge, *Image Style Transfer Using Convolutional
            Neural Networks*, CVPR 2016 (first as *A Neural Algorithm of Artistic Style*,
            arXiv:1508.06576, 2015)""",
        "johnson_2016": """Johnson et al., *Perceptual Losses for Real-Time Style Transfer and
            Super-Resolution*, ECCV 2016, arXiv:1603.08155""",
    },
)

# Style and texture compare Grams: any target size, one style image for the batch, and the
# layers averaged by default.
GRAM_DOCS = SYNTHESIS_DOCS | DocParts(
    args={
        "target": """style (or texture) images ``(B or 1, 3, H', W')`` of any size, or a dict
            of their precomputed features (from the same network).""",
        "layer_weights": """the :math:`w_l`, a sequence or a mapping ``layer -> weight``;
            default ``1 / L`` for each of the ``L`` layers (the mean over layers: Gatys et
            al.'s :math:`w_l = 1/5` on their five layers, so their ``alpha / beta`` ratios apply
            as published). Pass ``(1.0,) * L`` for the plain sum that some codes use.""",
    }
)

# The feature-loss Modules: their own network and the VGG it is built from (the options of
# _vgg_options; feature_module appends each Module's default to their text).
MODULE_DOCS = DocParts(
    args={
        "network": """the feature network, a module returning named features; ``None``
            (default) builds a frozen :class:`VGGFeatures` from the options below.""",
        "arch": """``"vgg16"`` or ``"vgg19"``, the VGG to build.""",
        "layers": """the layers to use (default: the paper's VGG layers, see above).""",
        "weights": """the VGG weights (see :class:`VGGFeatures`): ``"DEFAULT"`` (torchvision's
            ImageNet weights read from the local torch hub cache: nothing is downloaded), a
            weights enum member or name, a path to a state dict, or ``None`` (random weights,
            with a warning: for tests only).""",
        "input_range": """the range of the input images: ``(0, 1)``, ``(-1, 1)`` or
            ``(0, 255)``.""",
        "pooling": """``"max"`` (VGG's) or ``"avg"`` (Gatys et al.'s choice for
            synthesis).""",
    },
)


_MODULE_ABOUT = """Module form of :func:`{name}`, holding its frozen feature network (with
``network=None``, a VGG built from ``arch``, the layers, ``weights``, ``input_range`` and
``pooling``). ``target_features(image)`` computes a target's features once under ``no_grad``;
pass them as the target of later calls to reuse them."""


# ---------------------------------------------------------------------------- the feature maps
def as_layer_tuple(layers: Any, fn: str, name: str = "layers") -> tuple[str, ...] | None:
    """``None`` stays ``None``; a string is one layer; otherwise a non-empty tuple of names."""
    if layers is None:
        return None
    if isinstance(layers, str):
        return (layers,)
    if (
        not isinstance(layers, Sequence)
        or not layers
        or not all(isinstance(n, str) for n in layers)
    ):
        raise OptionError(
            f"{fn}: expected {name} to be a layer name or a non-empty sequence of "
            f"names, got {layers!r}"
        )
    return tuple(layers)


def resolve_weights(
    layers: tuple[str, ...],
    layer_weights: Sequence[float] | Mapping[str, float] | None,
    fn: str,
    name: str = "layer_weights",
    *,
    mean: bool = False,
) -> tuple[float, ...]:
    """One float per layer: by default all 1 (or all ``1 / len(layers)`` with ``mean``, Gatys
    et al.'s style weights), a mapping ``name -> weight``, or a sequence."""
    if layer_weights is None:
        return (1.0 / len(layers) if mean else 1.0,) * len(layers)
    if isinstance(layer_weights, Mapping):
        unknown = sorted(set(layer_weights) - set(layers))
        missing = [n for n in layers if n not in layer_weights]
        if unknown or missing:
            raise OptionError(
                f"{fn}: expected {name} for exactly the layers {list(layers)}, "
                f"got keys {list(layer_weights)}"
            )
        return tuple(float(layer_weights[n]) for n in layers)
    weights = tuple(float(w) for w in layer_weights)
    if len(weights) != len(layers):
        raise OptionError(
            f"{fn}: expected {len(layers)} {name} (one per layer {list(layers)}), "
            f"got {len(weights)}"
        )
    return weights


def run_network(network: FeatureNetwork, x: Tensor, fn: str) -> Features:
    feats = network(x)
    if not isinstance(feats, Mapping):
        raise OptionTypeError(
            f"{fn}: expected network to return a dict of named features, got {type(feats).__name__}"
        )
    return feats


def _pick(feats: Features, layers: tuple[str, ...], fn: str, what: str) -> list[Tensor]:
    missing = [n for n in layers if n not in feats]
    if missing:
        raise InputError(
            f"{fn}: unknown layer {missing[0]!r} in the {what}; available: "
            f"{', '.join(repr(k) for k in feats)}"
        )
    out = []
    for n in layers:
        t = feats[n]
        if not isinstance(t, Tensor) or not t.is_floating_point() or t.dim() < 3:
            raise InputError(
                f"{fn}: expected the {what} {n!r} to be a floating (B, C, *spatial) "
                f"tensor, got {type(t).__name__} "
                f"{shape_str(t) if isinstance(t, Tensor) else ''}".rstrip()
            )
        out.append(t)
    return out


def check_images(
    input: object,
    target: object,
    fn: str,
    *,
    name: str = "target",
    gram: bool = False,
) -> None:
    """Check ``input``, floating ``(B, C, H, W)`` images, and ``target`` (called ``name``):
    a dict of precomputed features, or images of the same shape (with ``gram=True``: of any
    size, and a batch of 1 or ``B``). Runs before any network does, so a wrong rank is named
    here, not in a convolution's error."""
    x = check_tensor(input, "input", fn, floating=True, ndim=4)
    if isinstance(target, Mapping):
        return
    t = check_tensor(target, name, fn, floating=True, ndim=4)
    if not gram:
        check_same_shape(x, t, fn, ("input", name))
    elif t.shape[0] not in (1, x.shape[0]) or t.shape[1] != x.shape[1]:
        raise InputError(
            f"{fn}: expected {name} of shape (1 or {x.shape[0]}, {x.shape[1]}, ...) for input "
            f"{shape_str(x)}, got {shape_str(t)}"
        )


def feature_pairs(
    network: FeatureNetwork,
    input: Tensor,
    target: Tensor | Features,
    layers: tuple[str, ...] | None,
    fn: str,
    *,
    name: str = "target",
    gram: bool = False,
    input_features: Features | None = None,
) -> tuple[tuple[str, ...], list[Tensor], list[Tensor]]:
    """Features of ``input`` (with gradients) and of ``target`` (computed under ``no_grad``, or
    taken from a dict of precomputed features) for ``layers`` (default: every layer the network
    returns); ``name``: the target's argument name, for messages.

    Shapes must match, except with ``gram=True`` (losses on Gram matrices): there the target may
    have any spatial size and a batch of 1 (one style image) broadcasts.
    ``input_features`` reuses an earlier ``network(input)`` (two terms on one input).
    """
    check_images(input, target, fn, name=name, gram=gram)
    in_feats = run_network(network, input, fn) if input_features is None else input_features
    if layers is None:
        layers = tuple(in_feats)
        if not layers:
            raise InputError(f"{fn}: the network returned no features")
    if isinstance(target, Mapping):
        tgt_feats = target
    else:
        with torch.no_grad():
            tgt_feats = run_network(network, target, fn)
    a = _pick(in_feats, layers, fn, "network output")
    b = _pick(tgt_feats, layers, fn, f"{name} features")
    for layer, fa, fb in zip(layers, a, b):
        if gram:
            ok = fb.shape[0] in (1, fa.shape[0]) and fb.shape[1] == fa.shape[1]
            want = f"(1 or {fa.shape[0]}, {fa.shape[1]}, ...)"
        else:
            ok, want = fa.shape == fb.shape, shape_str(fa)
        if not ok:
            raise InputError(
                f"{fn}: expected {name} features {layer!r} of shape {want} "
                f"matching the input's {shape_str(fa)}, got {shape_str(fb)}"
            )
    return layers, a, [t.detach() for t in b]


def weighted_layer_sum(
    per_layer: Sequence[Tensor], weights: Sequence[float], reduction: str, fn: str
) -> Tensor:
    """``reduce(sum_l w_l * loss_l)`` over the batch; each ``loss_l`` has shape ``(B,)``."""
    total = per_layer[0] * weights[0]
    for value, w in zip(per_layer[1:], weights[1:]):
        total = total + value * w
    return reduce_loss(total, reduction, fn=fn)


def layer_loss(
    input: Tensor,
    target: Tensor | Features,
    *,
    fn: str,
    term: Term,
    network: FeatureNetwork,
    gram: bool = False,
    prepare: Callable[[Tensor, str, str], Tensor] | None = None,
    **options: Any,
) -> Tensor:
    """``reduce(sum_l w_l term(phi_l(input), phi_l(target)))``, the body of the one-network
    feature losses; ``options``: those of :func:`feature_options`. ``gram``: the losses on
    Gram matrices (any target size, layers averaged by default). ``prepare(x, name, fn)`` maps
    the input and an image target to what the network takes (masks to RGB)."""
    layers, layer_weights = options["layers"], options["layer_weights"]
    if prepare is not None:
        input = prepare(input, "input", fn)
        if not isinstance(target, Mapping):
            target = prepare(target, "target", fn)
    layers, a, b = feature_pairs(network, input, target, layers, fn, gram=gram)
    weights = resolve_weights(layers, layer_weights, fn, mean=gram)
    terms = [term(fa, fb) for fa, fb in zip(a, b)]
    return weighted_layer_sum(terms, weights, options["reduction"], fn)


def squared_error_per_image(a: Tensor, b: Tensor, *, mean: bool) -> Tensor:
    """``sum`` (or mean) over all but the batch dim of ``(a - b)^2``, computed in fp32 or fp64."""
    dtype = compute_dtype(a, b)
    diff = upcast(a, dtype) - upcast(b, dtype)
    sq = diff.square().flatten(1)
    return sq.mean(1) if mean else sq.sum(1)


mean_squared_error = functools.partial(squared_error_per_image, mean=True)


def half_squared_error(a: Tensor, b: Tensor) -> Tensor:
    """Gatys et al.'s content term of one layer: ``0.5 * sum (a - b)^2`` per image."""
    return 0.5 * squared_error_per_image(a, b, mean=False)


def gram_difference_per_image(a: Tensor, b: Tensor, convention: str) -> Tensor:
    """Per-image style term of one layer, ``(B,)``, from features ``a`` and target features
    ``b`` (batch 1 broadcasts). With ``G``, ``A`` the Grams normalised by ``C*H*W``:
    ``"gatys"``: ``sum (G - A)^2 / 4`` (= Gatys' ``1/(4 N^2 M^2) sum`` on raw Grams),
    ``"johnson"``: ``sum (G - A)^2``, ``"mean"``: ``mean (G - A)^2`` over the ``C^2`` entries."""
    g = gram_matrix(a, normalize="chw")
    t = gram_matrix(b, normalize="chw")
    sq = (g - t).square().flatten(1)
    if convention == "gatys":
        return 0.25 * sq.sum(1)
    if convention == "johnson":
        return sq.sum(1)
    return sq.mean(1)


# ------------------------------------------------------------------------------------ Modules
def _vgg_options(
    *,
    arch: str = "vgg19",
    weights: Any = "DEFAULT",
    input_range: tuple[float, float] = (0.0, 1.0),
    pooling: str = "max",
) -> None:
    """The options only the feature-loss Modules take: what they build their VGG from when
    ``network`` is None (the functions take a network instead). Declared once here for every
    Module (:func:`feature_module` adds them to the constructor, a loss's registration may
    override a default), documented once in :data:`MODULE_DOCS`, checked by
    :class:`VGGFeatures`."""


_VGG_OPTIONS = tuple(inspect.signature(_vgg_options).parameters.values())


class FeatureLossModule(LossModule):
    """Module base of the feature losses: holds the feature network (a frozen
    :class:`~visionloss.synthesis.vgg.VGGFeatures` built from ``arch``, ``weights``,
    ``input_range`` and ``pooling`` when ``network`` is None) and the function's options.

    Subclasses are made by :func:`feature_module`, which sets ``defaults`` (the constructor's
    options and their defaults, read from the declared function) and the constructor's
    signature.
    """

    network: nn.Module
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, network: nn.Module | None = None, **options: Any) -> None:
        name = type(self).__name__
        decl = declaration(type(self).function)
        for key in options:
            if key not in self.defaults:
                raise decl.unknown(key, name, ("network", *self.defaults))
        values = {**self.defaults, **{k: decl.check(k, v, name) for k, v in options.items()}}
        vgg = {p.name: values.pop(p.name) for p in _VGG_OPTIONS}
        self.check_layers(values, name)
        if network is None:
            layers = (values.get(k) or () for k in ("layers", "content_layers", "style_layers"))
            vgg_layers = tuple(dict.fromkeys(n for names in layers for n in names))
            network = VGGFeatures(vgg.pop("arch"), vgg_layers, **vgg)
        elif not isinstance(network, nn.Module):
            raise OptionTypeError(
                f"{name}: expected network to be an nn.Module "
                f"returning a dict of named features, got {type(network).__name__}"
            )
        super().__init__(network=network, **values)

    @staticmethod
    def check_layers(options: dict[str, Any], fn: str) -> None:
        """Check the layer weights against the layers (when the layers are named)."""
        if options.get("layers") is not None:
            resolve_weights(options["layers"], options.get("layer_weights"), fn)

    @torch.no_grad()
    def target_features(self, target: Tensor) -> dict[str, Tensor]:
        """The network's features of ``target``, computed once under ``no_grad``: pass them as
        the target of later calls to reuse them (e.g. a fixed style image)."""
        return {k: v.detach() for k, v in self.network(target).items()}

    def extra_repr(self) -> str:
        parts = []
        for key, value in self.options().items():
            if key != "network":
                parts.append(f"{key}={value!r}")
        return ", ".join(parts)


def feature_module(
    function: Callable[..., Tensor],
    class_name: str,
    *,
    about: str,
    base: type[FeatureLossModule] = FeatureLossModule,
    **overrides: Any,
) -> type[FeatureLossModule]:
    """The Module of a declared feature loss: ``forward`` as derived by
    :func:`~visionloss._core.declare.loss_module`; the constructor takes the network
    (positionally too), the function's options (``overrides`` replace their defaults, e.g. the
    paper's layers) and the options of the VGG it builds when ``network`` is None (``arch``,
    ``weights``, ``input_range``, ``pooling``; defaults overridden the same way). ``about``:
    the paper's set-up the defaults reproduce (for the docstring)."""
    decl = declaration(function)
    # forward as derived by loss_module; the derived class stays referenced (``derived``)
    # while its namespace is read: the garbage collector empties the dict of an unreferenced
    # class, also between ``vars(...)`` and a copy of it
    derived = loss_module(function, class_name, base=base)
    inherited = {k: vars(derived)[k] for k in ("function", "forward", "__module__")}
    options = [p for p in decl.options if p.name != "network"]
    params = [
        p.replace(default=overrides.get(p.name, p.default))
        for p in (*[p for p in options if p.name != "reduction"], *_VGG_OPTIONS)
    ]
    params += [p for p in options if p.name == "reduction"]
    network = inspect.Parameter(
        "network",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=None,
        annotation="nn.Module | None",
    )
    # the Module's own arguments, and ``layers`` where the Module sets the paper's layers
    own = {k: v for k, v in MODULE_DOCS.args.items() if k != "layers" or k in overrides}
    defaults = {p.name: p.default for p in params}
    for p in _VGG_OPTIONS:  # the Module's own default (a loss may override it)
        value = defaults[p.name]
        shown = f'"{value}"' if isinstance(value, str) else repr(value)
        own[p.name] += f" Default ``{shown}``."
    entries = {**decl.entries, **{k: _entry(k, v) for k, v in own.items()}}
    args = "\n".join(
        "    " + line if line else line
        for p in (network, *params)
        for line in entries[p.name].splitlines()
    )

    def __init__(self: FeatureLossModule, network: nn.Module | None = None, **kw: Any) -> None:
        base.__init__(self, network, **kw)

    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), network, *params],
        return_annotation=None,
    )
    __init__.__doc__ = f"Build the network and set the options.\n\nArgs:\n{args}\n"
    __init__.__qualname__ = f"{class_name}.__init__"
    __init__.__module__ = inherited["__module__"]
    summary = (function.__doc__ or "").strip().splitlines()[0]
    about = textwrap.fill(f"{_MODULE_ABOUT.format(name=decl.name)} {about}", 96)
    namespace = {
        **inherited,
        "__qualname__": class_name,
        "__init__": __init__,
        "defaults": defaults,
        "__doc__": f"{summary}\n\n{about}\n\nArgs:\n{args}\n",
    }
    cls: type[FeatureLossModule] = type(class_name, (base,), namespace)
    return cls


def _entry(name: str, text: str) -> str:
    """An ``Args`` entry, ``name: text`` with its continuation lines indented."""
    first, *rest = inspect.cleandoc(text).splitlines()
    return "\n".join([f"{name}: {first}", *("    " + ln if ln else ln for ln in rest)])


# ----------------------------------------------------------------------------------- examples
class ExampleFeatures(nn.Module):
    """A tiny frozen feature network for examples and tests: 3x3 conv 3->4, tanh, 3x3 conv
    4->4, tanh, 2x2 average pooling, returning ``{"feat1", "feat2", "pool"}``. Fixed weights
    (from a private generator: the global random state is left alone); smooth, so float64
    gradcheck has no kinks; computed in float32 for half inputs (float64 for float64) outside
    autocast."""

    def __init__(self) -> None:
        super().__init__()
        gen = generator(1234)
        for i, (c_in, c_out) in enumerate(((3, 4), (4, 4)), start=1):
            weight = torch.randn(c_out, c_in, 3, 3, generator=gen, dtype=torch.float64)
            self.register_buffer(f"weight{i}", (weight / 3.0).float(), persistent=False)
            bias = torch.randn(c_out, generator=gen, dtype=torch.float64)
            self.register_buffer(f"bias{i}", (0.1 * bias).float(), persistent=False)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if not torch.is_autocast_enabled(x.device.type):
            x = upcast(x, compute_dtype(x))
        feats: dict[str, Tensor] = {}
        for i in (1, 2):
            w, b = getattr(self, f"weight{i}"), getattr(self, f"bias{i}")
            x = torch.tanh(F.conv2d(x, w.to(x.dtype), b.to(x.dtype), padding=1))
            feats[f"feat{i}"] = x
        feats["pool"] = F.avg_pool2d(x, 2)
        return feats


def image_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Images ``(2, 3, 6, 6)`` and darker targets of the same shape (their Grams differ), with
    :class:`ExampleFeatures` and two of its layers."""
    gen = generator(seed)
    args = (
        uniform(2, 3, 6, 6, dtype=dtype, gen=gen),
        uniform(2, 3, 6, 6, dtype=dtype, gen=gen, hi=0.25),
    )
    return Example(args, options={"network": ExampleFeatures(), "layers": ("feat1", "pool")})


def content_style_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Images, content images ``(2, 3, 6, 6)`` and one darker style image ``(1, 3, 6, 6)``,
    with :class:`ExampleFeatures` and its layers for each term."""
    gen = generator(seed)
    args = tuple(
        uniform(b, 3, 6, 6, dtype=dtype, gen=gen, hi=hi) for b, hi in ((2, 1), (2, 1), (1, 0.25))
    )
    options = {"network": ExampleFeatures(), "content_layers": "feat2", "style_layers": "feat1"}
    return Example(args, options=options)


def mask_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Predicted probabilities ``(2, 1, 6, 6)`` in ``[0.05, 0.95]`` and binary masks, with
    :class:`ExampleFeatures` and two of its layers."""
    gen = generator(seed)
    pred = uniform(2, 1, 6, 6, dtype=dtype, gen=gen, lo=0.05, hi=0.95)
    true = (uniform(2, 1, 6, 6, dtype=torch.float64, gen=gen) > 0.5).to(dtype)
    return Example(
        (pred, true), options={"network": ExampleFeatures(), "layers": ("feat1", "feat2")}
    )


def tv_examples(dtype: torch.dtype = torch.float32, seed: int = 0) -> Example:
    """Images ``(2, 3, 6, 6)``."""
    return Example((uniform(2, 3, 6, 6, dtype=dtype, gen=generator(seed)),))
