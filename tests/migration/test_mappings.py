"""The migration guides' tables are true: every row of ``visionloss._core.migration`` is run
here with the installed peer.

* ``MAPPINGS``: the peer's call and ours with the mapped options give the same value (float32
  inputs, the same tensors).
* ``DIFFERENCES``: ours with its defaults gives another value than the peer (the difference the
  guide explains is real), and ours with the listed options gives the peer's.
* ``PEER_KEYWORDS``: a peer-only keyword raises ``UnknownOptionError`` (a ``TypeError``) whose
  message names the visionloss equivalent and the guide page, from the function, the Module and
  ``build_loss``.
"""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from visionloss._core.migration import (
    DIFFERENCES,
    MAPPINGS,
    PEER_KEYWORDS,
    PEERS,
    guide_page,
    peer_hint,
)
from visionloss.errors import InputError, UnknownOptionError

from .inputs import namespace, peer_modules


def _env(peer: str) -> dict:
    pytest.importorskip(PEERS[peer].package)
    return {**namespace(), **peer_modules(peer)}


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize(
    "row", [pytest.param(r, id=f"{r.peer}-{i}") for i, r in enumerate(MAPPINGS)]
)
def test_mapping_gives_the_peer_value(row):
    env = _env(row.peer)
    theirs = eval(row.peer_call, env)
    ours = eval(row.ours, env)
    assert _close(ours, theirs), (row.peer_call, theirs, row.ours, ours)


@pytest.mark.parametrize("row", [pytest.param(r, id=f"{r.peer}-{r.topic}") for r in DIFFERENCES])
def test_difference_is_real_and_the_listed_options_remove_it(row):
    env = _env(row.peer)
    theirs = eval(row.peer_call, env)
    assert not _close(eval(row.ours_default, env), theirs), "no difference left to explain"
    assert _close(eval(row.ours_matching, env), theirs)


def test_every_peer_has_a_guide_with_rows():
    for key in PEERS:
        assert any(r.peer == key for r in MAPPINGS), key
        assert any(r.peer == key for r in DIFFERENCES), key


@pytest.mark.parametrize(
    "row", [pytest.param(r, id=f"{r.peer}-{r.keyword}") for r in PEER_KEYWORDS]
)
def test_peer_keyword_error_names_the_equivalent_and_the_guide(row):
    x = torch.randn(2, 3, 4, 4)
    y = torch.randint(0, 3, (2, 4, 4))
    pattern = row.equivalent[:30]
    with pytest.raises(UnknownOptionError) as info:
        vl.dice_loss(x, y, **{row.keyword: 1})
    assert isinstance(info.value, TypeError)
    message = str(info.value)
    assert f"unexpected keyword argument {row.keyword!r}" in message
    assert pattern in message and guide_page(row.peer) in message
    assert PEERS[row.peer].short in message
    with pytest.raises(UnknownOptionError, match="docs/migration/"):
        vl.DiceLoss(**{row.keyword: 1})
    with pytest.raises(UnknownOptionError, match="docs/migration/"):
        vl.build_loss("focal", **{row.keyword: 1})


@pytest.mark.parametrize("keyword", ["smoth", "gamma2", "reductions"])
def test_other_unknown_keywords_get_no_peer_hint(keyword):
    assert peer_hint(keyword) == ""
    with pytest.raises(UnknownOptionError) as info:
        vl.dice_loss(torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4)), **{keyword: 1})
    assert "migration" not in str(info.value)


@pytest.mark.parametrize(
    "fn", [vl.dice_loss, vl.jaccard_loss, vl.tversky_loss, vl.lovasz_loss, vl.dice_ce_loss]
)
def test_monai_style_target_with_a_channel_dim_says_how_to_pass_it(fn):
    x = torch.randn(2, 3, 4, 4)
    y = torch.randint(0, 3, (2, 1, 4, 4))
    with pytest.raises(InputError, match=r"target\[:, 0\].*docs/migration/monai.md"):
        fn(x, y)
    fn(x, y[:, 0])  # the form the message gives works


def test_binary_target_with_a_channel_dim_is_still_a_valid_mask():
    """(B, 1, H, W) with a 1-channel input is a dense binary target, not MONAI's layout."""
    x = torch.randn(2, 1, 4, 4)
    y = torch.randint(0, 2, (2, 1, 4, 4)).float()
    assert torch.isfinite(vl.dice_loss(x, y, activation="sigmoid"))
