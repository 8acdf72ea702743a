"""Shared machinery of the synthesis family: running a feature network on the input (with
gradients) and on the target (under ``no_grad``, or reusing precomputed features), choosing
layers and their weights, and reducing a per-image loss."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._core.checks import check_same_shape, check_tensor, shape_str
from .._core.dtypes import compute_dtype, upcast
from .._core.module import LossModule
from .._core.reduction import reduce_loss
from .gram import gram_matrix
from .vgg import VGGFeatures

Features = Mapping[str, Tensor]
Layers = str | Sequence[str] | None
LayerWeights = Sequence[float] | Mapping[str, float] | None


def as_layer_tuple(layers: Layers, fn: str, name: str = "layers") -> tuple[str, ...] | None:
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
        raise ValueError(
            f"{fn}: expected {name} to be a layer name or a non-empty sequence of "
            f"names, got {layers!r}"
        )
    return tuple(layers)


def resolve_weights(
    layers: tuple[str, ...],
    layer_weights: LayerWeights,
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
            raise ValueError(
                f"{fn}: expected {name} for exactly the layers {list(layers)}, "
                f"got keys {list(layer_weights)}"
            )
        return tuple(float(layer_weights[n]) for n in layers)
    weights = tuple(float(w) for w in layer_weights)
    if len(weights) != len(layers):
        raise ValueError(
            f"{fn}: expected {len(layers)} {name} (one per layer {list(layers)}), "
            f"got {len(weights)}"
        )
    return weights


def check_network(network: Any, fn: str) -> None:
    """Raise TypeError unless ``network`` is callable (a module returning named features)."""
    if network is None or not callable(network):
        raise TypeError(
            f"{fn}: expected network to be a module returning a dict of named "
            f"features (e.g. VGGFeatures('vgg16', ['relu2_2'])), got "
            f"{type(network).__name__}"
        )


def run_network(network: Callable[[Tensor], Any], x: Tensor, fn: str) -> Features:
    check_network(network, fn)
    feats = network(x)
    if not isinstance(feats, Mapping):
        raise TypeError(
            f"{fn}: expected network to return a dict of named features, got {type(feats).__name__}"
        )
    return feats


def _pick(feats: Features, layers: tuple[str, ...], fn: str, what: str) -> list[Tensor]:
    missing = [n for n in layers if n not in feats]
    if missing:
        raise ValueError(
            f"{fn}: unknown layer {missing[0]!r} in the {what}; available: "
            f"{', '.join(repr(k) for k in feats)}"
        )
    out = []
    for n in layers:
        t = feats[n]
        if not isinstance(t, Tensor) or not t.is_floating_point() or t.dim() < 3:
            raise ValueError(
                f"{fn}: expected the {what} {n!r} to be a floating (B, C, *spatial) "
                f"tensor, got {type(t).__name__} "
                f"{shape_str(t) if isinstance(t, Tensor) else ''}".rstrip()
            )
        out.append(t)
    return out


def feature_pairs(
    network: Callable[[Tensor], Any],
    input: Tensor,
    target: Tensor | Features,
    layers: Layers,
    fn: str,
    *,
    gram: bool = False,
    input_features: Features | None = None,
) -> tuple[tuple[str, ...], list[Tensor], list[Tensor]]:
    """Features of ``input`` (with gradients) and of ``target`` (computed under ``no_grad``, or
    taken from a dict of precomputed features) for ``layers`` (default: every layer the network
    returns).

    Shapes must match, except with ``gram=True`` (losses on Gram matrices): there the target may
    have any spatial size and a batch of 1 (one style image) broadcasts.
    ``input_features`` reuses an earlier ``network(input)`` (two terms on one input).
    """
    check_tensor(input, "input", fn, floating=True, min_ndim=3)
    if not isinstance(target, Mapping):
        check_tensor(target, "target", fn, floating=True, min_ndim=3)
        if not gram:
            check_same_shape(input, target, fn)
        elif target.shape[0] not in (1, input.shape[0]) or target.shape[1] != input.shape[1]:
            raise ValueError(
                f"{fn}: expected target of shape (1 or {input.shape[0]}, "
                f"{input.shape[1]}, ...) for input {shape_str(input)}, got "
                f"{shape_str(target)}"
            )
    layers = as_layer_tuple(layers, fn)
    in_feats = run_network(network, input, fn) if input_features is None else input_features
    if layers is None:
        layers = tuple(in_feats)
        if not layers:
            raise ValueError(f"{fn}: the network returned no features")
    if isinstance(target, Mapping):
        tgt_feats = target
    else:
        with torch.no_grad():
            tgt_feats = run_network(network, target, fn)
    a = _pick(in_feats, layers, fn, "network output")
    b = _pick(tgt_feats, layers, fn, "target features")
    for name, fa, fb in zip(layers, a, b):
        if gram:
            ok = fb.shape[0] in (1, fa.shape[0]) and fb.shape[1] == fa.shape[1]
            want = f"(1 or {fa.shape[0]}, {fa.shape[1]}, ...)"
        else:
            ok, want = fa.shape == fb.shape, shape_str(fa)
        if not ok:
            raise ValueError(
                f"{fn}: expected target features {name!r} of shape {want} "
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


def squared_error_per_image(a: Tensor, b: Tensor, *, mean: bool) -> Tensor:
    """``sum`` (or mean) over all but the batch dim of ``(a - b)^2``, computed in fp32 or fp64."""
    dtype = compute_dtype(a, b)
    diff = upcast(a, dtype) - upcast(b, dtype)
    sq = diff.square().flatten(1)
    return sq.mean(1) if mean else sq.sum(1)


STYLE_CONVENTIONS = ("gatys", "johnson", "mean")


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


class FeatureLossModule(LossModule):
    """Module base of the feature losses: holds a feature network (a frozen
    :class:`~visionloss.synthesis.vgg.VGGFeatures` built from ``arch``, ``weights``,
    ``input_range`` and ``pooling`` when ``network`` is None) and the function's options.

    A ``layers`` option (with its ``layer_weights``) is checked here and names the VGG layers;
    a loss with several sets of layers passes their union as ``vgg_layers``.
    """

    def __init__(
        self,
        network: nn.Module | None,
        *,
        arch: str,
        weights: Any,
        input_range: tuple[float, float],
        pooling: str = "max",
        vgg_layers: tuple[str, ...] = (),
        **options: Any,
    ) -> None:
        name = type(self).__name__
        if "layers" in options:
            options["layers"] = as_layer_tuple(options["layers"], name)
            if options["layers"] is not None:
                resolve_weights(options["layers"], options.get("layer_weights"), name)
                vgg_layers = vgg_layers or options["layers"]
        if network is None:
            network = VGGFeatures(
                arch, vgg_layers, weights=weights, input_range=input_range, pooling=pooling
            )
        elif not isinstance(network, nn.Module):
            raise TypeError(
                f"{name}: expected network to be an nn.Module "
                f"returning a dict of named features, got {type(network).__name__}"
            )
        super().__init__(network=network, **options)

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
