"""One set of argument names in the contrastive family, old names as deprecated aliases, and
the classes that share a pytorch-metric-learning name failing on PML's calling form with a
message that names the visionloss call that takes it."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch

import visionloss as vl
from visionloss.errors import InputTypeError, UnknownOptionError

GEN = torch.Generator().manual_seed(0)
Q, K = torch.randn(6, 4, generator=GEN), torch.randn(6, 4, generator=GEN)
NEG = torch.randn(5, 4, generator=GEN)

# the positional inputs of each layout (docs/conventions.md)
LAYOUTS = [
    pytest.param(vl.info_nce_loss, ("query", "key", "negative_keys"), id="info_nce"),
    pytest.param(vl.nt_xent_loss, ("query", "key"), id="nt_xent"),
    pytest.param(vl.supcon_loss, ("features", "labels"), id="supcon"),
    pytest.param(vl.patch_contrast_loss, ("features", "mask"), id="patch_contrast"),
    pytest.param(vl.pixel_info_nce_loss, ("features", "mask"), id="pixel_info_nce"),
]


@pytest.mark.parametrize("function, names", LAYOUTS)
def test_positional_names(function, names):
    sig = inspect.signature(function)
    positional = [p.name for p in sig.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert tuple(positional) == names


@pytest.mark.parametrize(
    "call, old, new",
    [
        pytest.param(
            lambda **kw: vl.info_nce_loss(Q, **kw), {"positive_key": K}, {"key": K}, id="info_nce"
        ),
        pytest.param(
            lambda **kw: vl.info_nce_loss(Q, negative_keys=NEG, **kw),
            {"positive_key": K},
            {"key": K},
            id="info_nce-negatives",
        ),
        pytest.param(
            lambda **kw: vl.nt_xent_loss(**kw),
            {"z1": Q, "z2": K},
            {"query": Q, "key": K},
            id="nt_xent",
        ),
        pytest.param(
            lambda **kw: vl.NTXentLoss(temperature=0.2)(**kw),
            {"z1": Q, "z2": K},
            {"query": Q, "key": K},
            id="NTXentLoss",
        ),
        pytest.param(
            lambda **kw: vl.InfoNCELoss()(Q, **kw),
            {"positive_key": K},
            {"key": K},
            id="InfoNCELoss",
        ),
    ],
)
def test_old_names_are_deprecated_aliases(call, old, new):
    with pytest.warns(FutureWarning, match=f"{next(iter(old))!r} is now called"):
        value = call(**old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new names warn about nothing
        expected = call(**new)
    torch.testing.assert_close(value, expected)


def test_old_and_new_name_together_is_an_error():
    with pytest.raises(UnknownOptionError, match="got both 'positive_key'.*and 'key'"):
        vl.info_nce_loss(Q, key=K, positive_key=K)


def test_renamed_is_generic():
    from visionloss._core.declare import declaration

    assert declaration(vl.nt_xent_loss).renamed == {"z1": "query", "z2": "key"}
    assert declaration(vl.info_nce_loss).renamed == {"positive_key": "key"}


def test_pml_triplet_form_names_batch_triplet():
    embeddings, labels = torch.randn(8, 4, generator=GEN), torch.arange(4).repeat(2)
    for call in (vl.TripletMarginLoss(), vl.triplet_margin_loss):
        with pytest.raises(TypeError, match="batch_triplet_loss.*BatchTripletLoss"):
            call(embeddings, labels)
    # the form that fits gives a value
    assert torch.isfinite(vl.BatchTripletLoss()(embeddings, labels))


def test_pml_ntxent_form_names_supcon_and_the_temperature():
    embeddings, labels = torch.cat([Q, K]), torch.arange(6).repeat(2)
    with pytest.raises(InputTypeError, match=r"supcon_loss.*0\.5.*0\.07"):
        vl.NTXentLoss()(embeddings, labels)
    # what the message says: with two views per sample, nt_xent of the halves; PML's number
    # at PML's temperature
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    expected = pml.NTXentLoss(temperature=0.07)(embeddings, labels)
    torch.testing.assert_close(vl.nt_xent_loss(Q, K, temperature=0.07), expected)
