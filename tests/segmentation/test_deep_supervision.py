"""DeepSupervisionLoss against MONAI's DeepSupervisionLoss and the nnU-Net weights.

Convention mapping (ours <- peer): MONAI ``DeepSupervisionLoss(loss, weight_mode="exp")``
weighs scale ``l`` by ``max(0.5**l, 0.0625)`` without normalising and resizes the target with
``"nearest-exact"`` (a ``(B, 1, *spatial)`` index target for ``to_onehot_y`` losses): it is
``DeepSupervisionLoss(loss, weights=[...], normalize=False)``. nnU-Net v2 uses ``2^-l`` with the
lowest scale set to 0, normalised: ``weights=[1, 0.5, ..., 0]`` with the default
``normalize=True``.
"""

from __future__ import annotations

import pytest
import torch
from monai.losses import DeepSupervisionLoss as MonaiDS
from monai.losses import DiceCELoss as MonaiDiceCE

import visionloss as vl
from tests.segmentation.cases import labels, logits


def _outputs(seed=0):
    return [
        logits((2, 3, 16, 16), seed=seed),
        logits((2, 3, 8, 8), seed=seed + 1),
        logits((2, 3, 4, 4), seed=seed + 2),
        logits((2, 3, 2, 2), seed=seed + 3),
    ]


def test_matches_monai_exp_weights():
    outs, t = _outputs(), labels((2, 16, 16))
    peer = MonaiDS(MonaiDiceCE(to_onehot_y=True, softmax=True), weight_mode="exp")
    ours = vl.DeepSupervisionLoss(
        lambda x, y: peer.loss(x, y[:, None]), weights=[1, 0.5, 0.25, 0.125], normalize=False
    )
    torch.testing.assert_close(
        ours(outs, t),
        peer([o.float() for o in outs], t[:, None].float()).double(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_default_weights_halve_and_normalise():
    outs, t = _outputs(), labels((2, 16, 16))
    ds = vl.DeepSupervisionLoss(vl.DiceCELoss())
    w = torch.tensor([1, 0.5, 0.25, 0.125])
    w = w / w.sum()
    expected = sum(wi * vl.dice_ce_loss(o, ds.resize(t, o)) for wi, o in zip(w.tolist(), outs))
    torch.testing.assert_close(ds(outs, t), expected)


def test_nnunet_weights_skip_the_lowest_scale():
    outs, t = _outputs(), labels((2, 16, 16))
    ds = vl.DeepSupervisionLoss(vl.DiceLoss(), weights=[1, 0.5, 0.25, 0])
    outs = [o.requires_grad_(True) for o in outs]
    g = torch.autograd.grad(ds(outs, t), outs, allow_unused=True)
    assert all(gi is not None for gi in g[:3]) and g[3] is None  # the lowest scale is skipped


def test_resize_indices_dense_and_ignore():
    t = torch.arange(16).view(1, 4, 4) % 3
    t[0, 1, 1] = 255
    small = vl.DeepSupervisionLoss.resize(t, torch.zeros(1, 3, 2, 2))
    # nearest-exact samples the centres of the 2x2 blocks: pixels (1, 3) x (1, 3)
    assert small.dtype == t.dtype and small.tolist() == [[[255, 1], [1, 0]]]
    dense = torch.nn.functional.one_hot(t % 255 % 3, 3).movedim(-1, 1).float()
    assert vl.DeepSupervisionLoss.resize(dense, torch.zeros(1, 3, 2, 2)).shape == (1, 3, 2, 2)
    same = torch.zeros(1, 3, 4, 4)
    assert vl.DeepSupervisionLoss.resize(t, same) is t


def test_single_tensor_is_one_scale():
    x, t = logits(), labels()
    torch.testing.assert_close(vl.DeepSupervisionLoss(vl.DiceLoss())(x, t), vl.dice_loss(x, t))


@pytest.mark.parametrize(
    "make, error, match",
    [
        pytest.param(lambda: vl.DeepSupervisionLoss("dice"), TypeError, "loss", id="loss"),
        pytest.param(
            lambda: vl.DeepSupervisionLoss(vl.DiceLoss(), weights=[0, 0]),
            ValueError,
            "weights",
            id="zero-weights",
        ),
        pytest.param(
            lambda: vl.DeepSupervisionLoss(vl.DiceLoss(), weights=[1, -1]),
            ValueError,
            "weights",
            id="negative",
        ),
        pytest.param(
            lambda: vl.DeepSupervisionLoss(vl.DiceLoss(), weights="1"),
            TypeError,
            "weights",
            id="str",
        ),
    ],
)
def test_bad_options(make, error, match):
    with pytest.raises(error, match=rf"^DeepSupervisionLoss: .*{match}"):
        make()


def test_bad_inputs():
    ds = vl.DeepSupervisionLoss(vl.DiceLoss(), weights=[1.0])
    with pytest.raises(ValueError, match="DeepSupervisionLoss: got 2 outputs but 1 weights"):
        ds([logits(), logits()], labels())
    with pytest.raises(ValueError, match="DeepSupervisionLoss: expected at least one output"):
        ds([], labels())
