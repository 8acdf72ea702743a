"""Fixtures of the synthesis tests: small random-weight VGG networks, and a guard that makes any
attempt to download (weights or anything else) fail the test."""

from __future__ import annotations

import urllib.request

import pytest
import torch

from ._data import random_vgg


def _no_download(*args, **kwargs):
    raise AssertionError(f"a download was attempted: {args[:1]}")


@pytest.fixture(autouse=True)
def _forbid_downloads(monkeypatch):
    """Nothing in visionloss may fetch weights: every download entry point raises."""
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_download)
    monkeypatch.setattr(urllib.request, "urlopen", _no_download)
    api = pytest.importorskip("torchvision.models._api")
    monkeypatch.setattr(api, "load_state_dict_from_url", _no_download)


@pytest.fixture(scope="module")
def vgg16_small():
    """VGG16 up to relu2_2 with random weights (float32)."""
    return random_vgg("vgg16", ("relu1_2", "relu2_2"))


@pytest.fixture(scope="module")
def vgg_float64():
    """VGG16 up to relu1_2 in float64, for gradcheck and float64 references."""
    return random_vgg("vgg16", ("relu1_1", "relu1_2")).double()
