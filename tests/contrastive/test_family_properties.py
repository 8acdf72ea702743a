"""What the contrastive losses must do beyond the registry-wide conformance suite (CONTRIBUTING.md,
"Tests of one loss"; ``tests/conformance/test_registry_conformance.py`` covers Module equals
function, build_loss, gradcheck, reductions, fp16/bf16 and autocast, compile, pickling, state_dict
and the bad reduction, option and input errors from each loss's registry example). Here, as one
table of the variants (shared and paired negatives, symmetric, dot similarity, SupCon "in" with
views, pixel scope "batch"): Module equals function, float64 gradcheck and fp16/bf16 inputs against
fp32 (the suite checks these on the registry example only), the shape of ``"none"``, sum and mean
against ``"none"``, fp16/bf16 inputs at a small temperature, empty batches, zero vectors, a
learnable temperature, a vector temperature and option values kept by ``build_loss``. The per-loss
files hold the reference comparisons, hand values and each loss's own degenerate cases."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from tests.conftest import HALF_DTYPES, assert_close_dtype
from tests.helpers import assert_finite_graph, gradcheck

from ._data import forgery_mask, labels, vectors


def _shared(dtype, n=5):
    return (
        vectors(n, 4, dtype=dtype),
        vectors(n, 4, seed=1, dtype=dtype),
        vectors(7, 4, seed=2, dtype=dtype),
    )


def _paired(dtype, n=5):
    return (
        vectors(n, 4, dtype=dtype),
        vectors(n, 4, seed=1, dtype=dtype),
        vectors(n, 3, 4, seed=2, dtype=dtype),
    )


def _two(dtype, n=5):
    return vectors(n, 4, dtype=dtype), vectors(n, 4, seed=1, dtype=dtype)


def _single_view(dtype, n=8):
    return vectors(n, 4, dtype=dtype), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])[:n]


def _multi_view(dtype, n=5):
    return vectors(n, 2, 4, dtype=dtype), labels(n, 3)


def _dense(dtype, b=2):
    return vectors(b, 3, 4, 4, seed=3, dtype=dtype), forgery_mask(b, 4, 4)


# id: (function, Module, options, input maker, "none" shape from the inputs)
LOSSES = [
    pytest.param(
        vl.info_nce_loss,
        vl.InfoNCELoss,
        {"temperature": 0.5},
        _shared,
        lambda a: (a[0].shape[0],),
        id="info_nce-shared",
    ),
    pytest.param(
        vl.info_nce_loss,
        vl.InfoNCELoss,
        {"temperature": 0.5},
        _paired,
        lambda a: (a[0].shape[0],),
        id="info_nce-paired",
    ),
    pytest.param(
        vl.info_nce_loss,
        vl.InfoNCELoss,
        {"temperature": 0.5, "symmetric": True},
        _two,
        lambda a: (a[0].shape[0],),
        id="info_nce-in-batch-symmetric",
    ),
    pytest.param(
        vl.info_nce_loss,
        vl.InfoNCELoss,
        {"similarity": "dot", "temperature": 2.0},
        _two,
        lambda a: (a[0].shape[0],),
        id="info_nce-dot",
    ),
    pytest.param(
        vl.nt_xent_loss, vl.NTXentLoss, {}, _two, lambda a: (a[0].shape[0],), id="nt_xent"
    ),
    pytest.param(
        vl.supcon_loss, vl.SupConLoss, {}, _single_view, lambda a: (a[0].shape[0],), id="supcon-out"
    ),
    pytest.param(
        vl.supcon_loss,
        vl.SupConLoss,
        {"variant": "in", "temperature": 0.5},
        _multi_view,
        lambda a: tuple(a[0].shape[:2]),
        id="supcon-in-views",
    ),
    pytest.param(
        vl.patch_contrast_loss,
        vl.PatchContrastLoss,
        {"patch_size": 1, "temperature": 0.5},
        _dense,
        lambda a: (a[0].shape[0],),
        id="patch_contrast",
    ),
    pytest.param(
        vl.pixel_info_nce_loss,
        vl.PixelInfoNCELoss,
        {"temperature": 0.5},
        _dense,
        lambda a: (a[0].shape[0],),
        id="pixel_info_nce-image",
    ),
    pytest.param(
        vl.pixel_info_nce_loss,
        vl.PixelInfoNCELoss,
        {"scope": "batch", "positive": "mean_exp", "anchors": "both"},
        _dense,
        lambda a: (a[0].shape[0], *a[0].shape[2:]),
        id="pixel_info_nce-batch",
    ),
]


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_module_equals_function(fn, module, opts, make, none_shape, reduction):
    args = make(torch.float64)
    out = fn(*args, reduction=reduction, **opts)
    torch.testing.assert_close(module(reduction=reduction, **opts)(*args), out)
    assert out.shape == (none_shape(args) if reduction == "none" else ())
    assert out.dtype == torch.float64


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_none_shape_and_reduced_scalars(fn, module, opts, make, none_shape, reduction):
    args = make(torch.float64)
    out = fn(*args, reduction=reduction, **opts)
    assert out.shape == (none_shape(args) if reduction == "none" else ())
    assert out.dtype == torch.float64


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_sum_and_mean_agree_with_none(fn, module, opts, make, none_shape):
    # every anchor (image) of these inputs counts, so the mean is over all of "none"
    args = make(torch.float64)
    none = fn(*args, reduction="none", **opts)
    assert (none > 0).all()
    torch.testing.assert_close(fn(*args, reduction="sum", **opts), none.sum())
    torch.testing.assert_close(fn(*args, reduction="mean", **opts), none.mean())


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_gradcheck(fn, module, opts, make, none_shape):
    gradcheck(fn, *make(torch.float64), **opts)


@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_half_inputs_close_to_fp32(fn, module, opts, make, none_shape, dtype):
    args32 = make(torch.float32)
    args = tuple(a.to(dtype) if a.is_floating_point() else a for a in args32)
    ref = fn(*(a.to(dtype).float() if a.is_floating_point() else a for a in args32), **opts)
    out = fn(*args, **opts)
    assert out.dtype == torch.float32
    assert_close_dtype(out, ref, dtype)


@pytest.mark.parametrize("dtype", HALF_DTYPES)
@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_half_inputs_small_temperature_finite(fn, module, opts, make, none_shape, dtype):
    # logits of 1/0.01 = 100 per unit similarity: exp overflows fp16 unless computed in fp32
    args = tuple(
        a.to(dtype).requires_grad_() if a.is_floating_point() else a for a in make(torch.float32)
    )
    out = fn(*args, **{**opts, "temperature": 0.01})
    assert_finite_graph(out, *(a for a in args if a.is_floating_point()))


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_empty_batch_is_zero_with_graph(fn, module, opts, make, none_shape):
    args = tuple(a[:0].clone().requires_grad_(a.is_floating_point()) for a in make(torch.float64))
    if fn is vl.info_nce_loss and args[-1].dim() == 2 and len(args) == 3:
        args = (*args[:2], make(torch.float64)[2].requires_grad_())  # shared negatives stay
    out = fn(*args, **opts)
    assert out.item() == 0.0
    assert_finite_graph(out, *(a for a in args if a.requires_grad))


@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_zero_vectors_give_finite_values_and_gradients(fn, module, opts, make, none_shape):
    args = [a.clone() for a in make(torch.float64)]
    args[0][:2] = 0.0  # two zero embeddings (or two images of zero features)
    leaves = [a.requires_grad_() if a.is_floating_point() else a for a in args]
    out = fn(*leaves, **opts)
    assert_finite_graph(out, *(a for a in leaves if a.is_floating_point()))


@pytest.mark.parametrize(
    "name, module",
    [
        pytest.param("info_nce", vl.InfoNCELoss, id="info_nce"),
        pytest.param("infonce", vl.InfoNCELoss, id="alias-infonce"),
        pytest.param("nt_xent", vl.NTXentLoss, id="nt_xent"),
        pytest.param("simclr", vl.NTXentLoss, id="alias-simclr"),
        pytest.param("supcon", vl.SupConLoss, id="supcon"),
        pytest.param("patch_contrast", vl.PatchContrastLoss, id="patch_contrast"),
        pytest.param("pixel-info-nce", vl.PixelInfoNCELoss, id="pixel_info_nce"),
        pytest.param("info_nce_pp", vl.PixelInfoNCELoss, id="alias-info_nce_pp"),
    ],
)
def test_registry(name, module):
    built = vl.build_loss({"name": name, "temperature": 0.2})
    assert type(built) is module and built.temperature == 0.2
    assert vl.get_loss(name).family == "contrastive"


def test_learnable_temperature_gets_a_gradient():
    tau = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    q, k = _two(torch.float64)
    (g,) = torch.autograd.grad(vl.info_nce_loss(q, k, temperature=tau), tau)
    assert torch.isfinite(g) and g != 0


BAD_OPTIONS = [
    pytest.param(
        {"temperature": torch.ones(2)},
        ValueError,
        "expected temperature to be a scalar",
        id="tau-vector",
    ),
]


@pytest.mark.parametrize("options, error, match", BAD_OPTIONS)
@pytest.mark.parametrize("fn, module, opts, make, none_shape", LOSSES)
def test_bad_options_raise_in_function_and_module(
    fn, module, opts, make, none_shape, options, error, match
):
    args = make(torch.float64)
    with pytest.raises(error, match=f"{fn.__name__}: {match}"):
        fn(*args, **{**opts, **options})
    with pytest.raises(error, match=f"{module.__name__}: {match}"):
        module(**{**opts, **options})
