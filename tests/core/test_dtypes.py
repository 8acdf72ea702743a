"""``_core.dtypes.autocast_off``: autocast is off inside it for the device named, whether or
not it was on outside, and the state outside is restored; a product inside runs in its
operands' dtype."""

from __future__ import annotations

import torch

from visionloss._core.dtypes import autocast_off


def test_autocast_off_inside_an_autocast_region():
    a = torch.randn(4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (a @ a).dtype == torch.bfloat16  # autocast on: the product in bf16
        with autocast_off("cpu"):
            assert not torch.is_autocast_enabled("cpu")
            assert (a @ a).dtype == torch.float32
        assert torch.is_autocast_enabled("cpu")  # restored
        assert (a @ a).dtype == torch.bfloat16


def test_autocast_off_where_it_is_already_off():
    a = torch.randn(4, 4)
    assert not torch.is_autocast_enabled("cpu")
    with autocast_off("cpu"):
        assert not torch.is_autocast_enabled("cpu")
        assert (a @ a).dtype == torch.float32
    assert not torch.is_autocast_enabled("cpu")


def test_autocast_off_leaves_other_devices_alone():
    with torch.autocast("cpu", dtype=torch.bfloat16), autocast_off("cuda"):
        assert torch.is_autocast_enabled("cpu")
