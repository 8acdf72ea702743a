"""dino_loss and DINOLoss against lightly's ``DINOLoss`` (values, gradients, the teacher
temperature warm-up and the center after several updates), multi-crop pairs, the state dict,
and degenerate inputs.

Mapping: lightly's ``DINOLoss(output_dim=K, warmup_teacher_temp, teacher_temp,
warmup_teacher_temp_epochs, student_temp, center_momentum)(teacher_out, student_out,
epoch=e)`` takes lists of ``(N, K)`` views (teacher first): ours takes ``torch.stack``-ed
``student (V_s, N, K)`` and ``teacher (V_t, N, K)``, the options renamed
(``warmup_teacher_temperature, teacher_temperature, warmup_epochs, student_temperature,
center_momentum``). lightly updates its center on every call (also in eval mode); ours in
training mode only.
"""

from __future__ import annotations

import math

import pytest
import torch
from lightly.loss import DINOLoss as LightlyDINO

import visionloss as vl
from tests.helpers import assert_finite_graph, gradcheck

V_S, V_T, N, K = 5, 2, 6, 7
OPTS = dict(
    warmup_teacher_temperature=0.02,
    teacher_temperature=0.06,
    warmup_epochs=4,
    student_temperature=0.2,
    center_momentum=0.8,
)


def _outputs(seed):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(V_S, N, K, generator=g, dtype=torch.float64),
        torch.randn(V_T, N, K, generator=g, dtype=torch.float64),
    )


def _lightly():
    return LightlyDINO(
        output_dim=K,
        warmup_teacher_temp=0.02,
        teacher_temp=0.06,
        warmup_teacher_temp_epochs=4,
        student_temp=0.2,
        center_momentum=0.8,
    )


def test_module_matches_lightly_over_steps_with_the_warm_up():
    ours, peer = vl.DINOLoss(**OPTS).double(), _lightly().double()
    for epoch in range(6):  # through the warm-up and after it
        student, teacher = _outputs(epoch)
        s1, s2 = student.clone().requires_grad_(), student.clone().requires_grad_()
        value = ours(s1, teacher, epoch=epoch)
        expected = peer(list(teacher), list(s2), epoch=epoch)
        torch.testing.assert_close(value, expected)
        torch.testing.assert_close(
            torch.autograd.grad(value, s1)[0], torch.autograd.grad(expected, s2)[0]
        )
        torch.testing.assert_close(ours.center, peer.center.reshape(-1))


def test_warm_up_schedule_is_linear_then_constant():
    from visionloss.self_supervised.dino import teacher_temperature_at

    temps = [teacher_temperature_at(e, 0.07, 0.04, 4) for e in range(6)]
    torch.testing.assert_close(
        torch.tensor(temps), torch.tensor([0.04, 0.05, 0.06, 0.07, 0.07, 0.07])
    )
    assert teacher_temperature_at(None, 0.07, 0.04, 4) == 0.07


def test_pairs_exclude_the_same_view():
    student, teacher = _outputs(0)
    out = vl.dino_loss(student, teacher, reduction="none", teacher_temperature=0.5)
    t = torch.softmax(teacher / 0.5, -1)
    logp = torch.log_softmax(student / 0.1, -1)
    pairs = [(i, j) for i in range(V_T) for j in range(V_S) if i != j]
    expected = sum(-(t[i] * logp[j]).sum(-1) for i, j in pairs) / len(pairs)
    torch.testing.assert_close(out, expected)


def test_teacher_gets_no_gradient_and_center_is_subtracted():
    student, teacher = _outputs(1)
    teacher = teacher.requires_grad_()
    value = vl.dino_loss(
        student.requires_grad_(), teacher, center=torch.ones(K, dtype=torch.float64)
    )
    assert value.grad_fn is not None
    assert torch.autograd.grad(value, teacher, allow_unused=True)[0] is None
    # a center constant over the prototypes leaves the softmax unchanged
    torch.testing.assert_close(value, vl.dino_loss(student, teacher))


def test_state_dict_round_trip_and_eval_freezes():
    loss = vl.DINOLoss()
    student, teacher = _outputs(2)
    loss(student.float(), teacher.float())
    fresh = vl.DINOLoss()
    fresh.load_state_dict(loss.state_dict())
    torch.testing.assert_close(fresh.center, loss.center)
    fresh.eval()
    before = fresh.center.clone()
    fresh(student.float(), teacher.float())
    torch.testing.assert_close(fresh.center, before)


def test_gradcheck_float64():
    student, teacher = _outputs(3)
    gradcheck(lambda s: vl.dino_loss(s, teacher[:, :2], epoch=1, warmup_epochs=3), student[:, :2])


@pytest.mark.parametrize(
    "student, teacher",
    [
        pytest.param(torch.randn(3, 1, 4), torch.randn(2, 1, 4), id="batch-of-1"),
        pytest.param(torch.ones(3, 4, 4), torch.ones(2, 4, 4), id="collapsed"),
        pytest.param(1e4 * torch.randn(3, 4, 4), 1e4 * torch.randn(2, 4, 4), id="saturated"),
    ],
)
def test_degenerate_inputs_are_finite(student, teacher):
    student = student.requires_grad_()
    assert_finite_graph(vl.dino_loss(student, teacher), student)


def test_collapsed_uniform_student_costs_log_k():
    value = vl.dino_loss(torch.zeros(3, 2, 4), torch.randn(2, 2, 4))
    assert math.isclose(value.item(), math.log(4), rel_tol=1e-6)


def test_needs_a_pair_of_different_views():
    with pytest.raises(ValueError, match="dino_loss: expected at least one pair"):
        vl.dino_loss(torch.randn(1, 2, 4), torch.randn(1, 2, 4))
