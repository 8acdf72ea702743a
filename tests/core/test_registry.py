"""Registry, build_loss, CombinedLoss, LossModule."""

from __future__ import annotations

import pytest
import torch

import visionloss as vl
from visionloss._core.registry import FAMILIES, register_loss


def test_every_row_is_complete():
    rows = vl.list_losses()
    assert len(rows) >= 5
    for spec in rows:
        assert spec.family in FAMILIES
        assert spec.reference, spec.name
        assert callable(spec.function) and issubclass(spec.module, torch.nn.Module)
        assert spec.summary, f"{spec.name}: docstring has no summary line"
        assert getattr(vl, spec.function.__name__) is spec.function, "not exported at top level"
        assert getattr(vl, spec.module.__name__) is spec.module, "Module not exported"


def test_every_function_documents_math_reference_and_example():
    for spec in vl.list_losses():
        doc = spec.function.__doc__ or ""
        for section in ("math::", "Args:", "Returns:", "Reference", "Example"):
            assert section in doc, f"{spec.function.__name__}: docstring lacks {section!r}"


def test_list_by_family_and_unknown_family():
    assert {s.family for s in vl.list_losses("regression")} == {"regression"}
    with pytest.raises(ValueError, match="unknown family 'regresion'"):
        vl.list_losses("regresion")


@pytest.mark.parametrize(
    "spec, kwargs",
    [
        pytest.param("smooth_l1", {"beta": 0.5}, id="name-kwargs"),
        pytest.param({"name": "smooth-l1", "beta": 0.5}, {}, id="mapping"),
        pytest.param("SMOOTH_L1", {"beta": 0.5}, id="case-insensitive"),
    ],
)
def test_build_loss(spec, kwargs):
    m = vl.build_loss(spec, **kwargs)
    assert isinstance(m, vl.SmoothL1Loss) and m.beta == 0.5


def test_alias_resolves():
    assert vl.get_loss("mae").name == "l1"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(ValueError, match="unknown loss 'huberr'; did you mean 'huber'"):
        vl.build_loss("huberr")


def test_build_loss_bad_specs():
    with pytest.raises(ValueError, match="'name' key"):
        vl.build_loss({"beta": 1.0})
    with pytest.raises(TypeError, match="expected a name or a mapping"):
        vl.build_loss(3)


def test_duplicate_registration_rejected():
    with pytest.raises(ValueError, match="already registered"):
        register_loss(
            "mse", family="regression", function=vl.mse_loss, module=vl.MSELoss, reference="x"
        )
    with pytest.raises(ValueError, match="unknown family"):
        register_loss("new", family="nope", function=vl.mse_loss, module=vl.MSELoss, reference="x")


def test_combined_loss_total_and_components():
    loss = vl.CombinedLoss(
        {"l1": (vl.L1Loss(), 1.0), "mse": (vl.MSELoss(), 0.5), "h": vl.HuberLoss()}
    )
    x = torch.tensor([0.0, 3.0], requires_grad=True)
    y = torch.zeros(2)
    total = loss(x, y)
    torch.testing.assert_close(
        total, vl.l1_loss(x, y) + 0.5 * vl.mse_loss(x, y) + vl.huber_loss(x, y)
    )
    assert set(loss.last) == {"l1", "mse", "h"}
    assert not loss.last["mse"].requires_grad and total.requires_grad
    torch.testing.assert_close(loss.last["mse"], torch.tensor(4.5))
    torch.testing.assert_close(loss.last_total, total.detach())


def test_combined_loss_bad_input():
    with pytest.raises(ValueError, match="non-empty mapping"):
        vl.CombinedLoss({})
    with pytest.raises(TypeError, match="expected an nn.Module for 'x'"):
        vl.CombinedLoss({"x": (vl.mse_loss, 1.0)})


def test_module_tensor_options_are_buffers_and_follow_dtype():
    from visionloss._core.module import LossModule

    class Scaled(LossModule):
        function = staticmethod(lambda x, *, scale, reduction: (x * scale).sum())

        def __init__(self, *, scale, reduction="mean"):
            super().__init__(scale=scale, reduction=reduction)

    m = Scaled(scale=torch.tensor([1.0, 2.0]))
    assert "scale" in dict(m.named_buffers())
    m = m.double()
    assert m.scale.dtype == torch.float64
    assert m(torch.ones(2, dtype=torch.float64)).item() == 3.0
    assert "scale=tensor(shape=(2,))" in repr(m)
