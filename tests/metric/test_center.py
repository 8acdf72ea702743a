"""center_loss, update_centers and CenterLoss against the float64 loop reference of Wen et al.

Convention mapping: the widely used KaiyangZhou/pytorch-center-loss learns the centres as a
Parameter (our ``learn_centers=True``), computes the full ``B x num_classes`` distance matrix,
and sums ``||x - c_y||^2`` without the 1/2 before dividing by the batch size: its value is twice
ours. caffe-face (the authors' code) uses the 1/2 and the update rule (our default). Both are
checked against float64 ports (``tests/reference/metric.py``, citing their lines).
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck, grads
from tests.reference import metric as ref

from ._data import clustered, embeddings


def _data(n=10, classes=4, dim=3, seed=0):
    x, y = clustered(n, classes, dim, seed=seed)
    return x, y, embeddings(classes, dim, seed=seed + 7)


def test_matches_loop_reference_values_and_gradients():
    x, y, c = _data()
    value, (gx, gc) = grads(lambda a, b: vl.center_loss(a, y, b), x, c)
    expected, (rx, rc) = grads(lambda a, b: ref.center_loss(a, y, b), x, c)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gc, rc)
    torch.testing.assert_close(gx, (x - c[y]) / 10)  # the paper's dL/dx_i = x_i - c_{y_i}


def test_is_half_of_kaiyangzhou_center_loss():
    x, y, c = _data()
    value, (gx, gc) = grads(lambda a, b: 2 * vl.center_loss(a, y, b), x, c)
    expected, (rx, rc) = grads(lambda a, b: ref.kaiyangzhou_center_loss(a, y, b), x, c)
    # theirs also clamps the B x (C - 1) masked-out zeros to 1e-12: (C - 1) * 1e-12 per sample
    torch.testing.assert_close(value, expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gc, rc)
    module = vl.CenterLoss(len(c), c.shape[1], learn_centers=True).double()
    with torch.no_grad():
        module.centers.copy_(c)
    torch.testing.assert_close(2 * module(x, y), expected, rtol=0, atol=1e-10)


def test_matches_the_authors_caffe_layer_loss_and_update():
    x, y, c = _data(12, 5, 3, seed=1)
    y = y.clamp_max(3)  # class 4 absent: the authors' diff for it is 0
    torch.testing.assert_close(vl.center_loss(x, y, c), ref.caffe_face_center_loss(x, y, c))
    for lr in (0.5, 1.0):
        expected = ref.caffe_face_center_update(c, x, y, lr)
        torch.testing.assert_close(vl.update_centers(c.clone(), x, y, alpha=lr), expected)


def test_reductions():
    x, y, c = _data()
    none = vl.center_loss(x, y, c, reduction="none")
    torch.testing.assert_close(none, 0.5 * (x - c[y]).square().sum(1))
    torch.testing.assert_close(vl.center_loss(x, y, c, reduction="sum"), none.sum())
    torch.testing.assert_close(vl.center_loss(x, y, c), none.mean())


def test_hand_value():
    c = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    x = torch.tensor([[3.0, 4.0], [1.0, 1.0], [1.0, 2.0]])
    torch.testing.assert_close(
        vl.center_loss(x, torch.tensor([0, 1, 1]), c, reduction="none"),
        torch.tensor([12.5, 0.0, 0.5]),
    )


def test_gradcheck_centers():
    x, y, c = _data(5, 3, 2)
    gradcheck(lambda a, b: vl.center_loss(a, y, b), x, c)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_update_rule_matches_reference(alpha):
    x, y, c = _data(12, 5, 3, seed=1)
    y = y.clamp_max(3)  # class 4 is absent from the batch: its centre must not move
    expected = ref.center_update(c, x, y, alpha)
    out = vl.update_centers(c.clone(), x, y, alpha=alpha)
    torch.testing.assert_close(out, expected)
    assert torch.equal(out[4], c[4])


def test_update_rule_by_hand():
    # class 0: centre 0, samples 2 and 4: delta = ((0-2) + (0-4)) / 3 = -2; c <- 0 + 0.5*2 = 1
    c = torch.tensor([[0.0], [5.0]])
    vl.update_centers(c, torch.tensor([[2.0], [4.0]]), torch.tensor([0, 0]), alpha=0.5)
    torch.testing.assert_close(c, torch.tensor([[1.0], [5.0]]))


def test_repeated_updates_converge_to_the_class_means():
    x, y, c = _data(20, 4, 3, seed=2)
    for _ in range(60):
        vl.update_centers(c, x, y, alpha=0.5)
    means = torch.stack([x[y == j].mean(0) for j in range(4)])
    torch.testing.assert_close(c, means)


def test_module_updates_its_buffer_after_the_loss_in_training_mode():
    x, y, _ = _data(8, 3, 2, seed=3)
    m = vl.CenterLoss(3, 2).double()
    assert "centers" in dict(m.named_buffers()) and "centers" in m.state_dict()
    before = m.centers.clone()
    out = m(x, y)
    torch.testing.assert_close(out, vl.center_loss(x, y, before))  # loss with the old centres
    torch.testing.assert_close(m.centers, ref.center_update(before, x, y, 0.5))
    leaf = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(m(leaf, y), leaf)  # a graph survives the in-place update
    assert torch.isfinite(g).all()


def test_module_in_eval_mode_does_not_move_the_centres():
    x, y, _ = _data(8, 3, 2, seed=4)
    m = vl.CenterLoss(3, 2).double().eval()
    before = m.centers.clone()
    m(x, y)
    assert torch.equal(m.centers, before)


def test_learned_centres_are_a_parameter_and_get_gradients():
    x, y, _ = _data(8, 3, 2, seed=5)
    m = vl.CenterLoss(3, 2, learn_centers=True).double()
    assert isinstance(m.centers, torch.nn.Parameter) and "centers" not in dict(m.named_buffers())
    before = m.centers.detach().clone()
    m(x, y).backward()
    assert torch.equal(m.centers.detach(), before)  # no rule update
    expected = torch.zeros_like(before).index_add_(0, y, before[y] - x) / 8
    torch.testing.assert_close(m.centers.grad, expected)


def test_module_alpha_and_init():
    m = vl.CenterLoss(10, 4, alpha=0.25)
    bound = (6.0 / 14) ** 0.5
    assert m.alpha == 0.25 and m.centers.abs().max() <= bound and m.centers.std() > 0
    assert "num_classes=10, dim=4, alpha=0.25" in repr(m)


class _LargestTensor(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_only_the_batch_centres_are_gathered():
    """No B x num_classes tensor: with 20,000 classes and 64 samples of 2 dims the largest
    intermediate is the (20,000 x 3) statistics of the update, never 64 x 20,000."""
    x = embeddings(64, 2, seed=6, dtype=torch.float32).requires_grad_(True)
    y = torch.randint(0, 20_000, (64,), generator=torch.Generator().manual_seed(6))
    m = vl.CenterLoss(20_000, 2)
    with _LargestTensor() as probe:
        m(x, y).backward()
    assert probe.largest <= 20_000 * 3 < 64 * 20_000, probe.largest


def test_empty_batch_is_zero_with_graph_and_leaves_centres():
    m = vl.CenterLoss(3, 2)
    before = m.centers.clone()
    x = torch.zeros(0, 2, requires_grad=True)
    out = m(x, torch.zeros(0, dtype=torch.long))
    assert out.item() == 0.0
    assert_finite_graph(out, x)
    assert torch.equal(m.centers, before)


@pytest.mark.parametrize(
    "args, error, match",
    [
        pytest.param(
            (torch.zeros(2, 3), torch.tensor([0, 5]), torch.zeros(4, 3)),
            ValueError,
            r"center_loss: expected labels class indices in \[0, 3\], got values in "
            r"\[0, 5\]",
            id="label-range",
        ),
        pytest.param(
            (torch.zeros(2, 3), torch.tensor([0, 1]), torch.zeros(4, 2)),
            ValueError,
            r"expected centers of shape \(num_classes, 3\) matching embeddings \(2, 3\), "
            r"got \(4, 2\)",
            id="centers-dim",
        ),
        pytest.param(
            (torch.zeros(2, 3), torch.tensor([0, 1]), torch.zeros(4, dtype=torch.long)),
            TypeError,
            "expected centers to be a floating-point tensor",
            id="centers-int",
        ),
    ],
)
def test_bad_inputs(args, error, match):
    with pytest.raises(error, match=match):
        vl.center_loss(*args)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        pytest.param((0, 2), {}, "expected num_classes to be a positive int, got 0", id="classes"),
        pytest.param((3, 2.5), {}, "expected dim to be a positive int, got 2.5", id="dim"),
        pytest.param((3, 2), {"alpha": -0.5}, r"expected alpha in \[0, 1\], got -0.5", id="alpha"),
        pytest.param((3, 2), {"alpha": 5.0}, r"expected alpha in \[0, 1\], got 5.0", id="alpha>1"),
        pytest.param((3, 2), {"reduction": "avg"}, "expected reduction", id="reduction"),
    ],
)
def test_module_validates_its_options(args, kwargs, match):
    with pytest.raises(ValueError, match="CenterLoss: " + match):
        vl.CenterLoss(*args, **kwargs)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, True])
def test_update_rejects_a_rate_outside_the_unit_interval(alpha):
    # alpha > 1 would overshoot the class mean (alpha = 5 moves a centre at 0 to 3.33 for a mean
    # of 1); the paper's rate is in [0, 1]
    c = torch.zeros(2, 1)
    with pytest.raises(ValueError, match=r"update_centers: expected alpha in \[0, 1\]"):
        vl.update_centers(c, torch.tensor([[1.0]]), torch.tensor([0]), alpha=alpha)
    assert torch.equal(c, torch.zeros(2, 1))
