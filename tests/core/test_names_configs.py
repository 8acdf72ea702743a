"""Names and configs, registry-wide: every loss is found by its registry name, aliases,
function name and class name (``get_loss``, ``build_loss``); every option that takes a sequence
(class weights, per-class alpha, smoothing pairs, layer lists...) takes a list and an OmegaConf
``ListConfig`` as well as the tensor (or tuple) form, through ``build_loss``; ``CombinedLoss``
routes named inputs to its terms and builds from a nested config."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

import visionloss as vl
from visionloss._core.declare import declaration
from visionloss._core.options import Choice, Flag, IndexOption, Number
from visionloss.errors import InputError, UnknownNameError, UnknownOptionError

SPECS = vl.list_losses()


# ------------------------------------------------------------------------------------ names
@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_every_name_form_finds_the_loss(spec):
    names = {spec.name, *spec.aliases, spec.function.__name__, spec.module.__name__}
    names |= {spec.module.__name__.lower(), spec.function.__name__.replace("_", "-")}
    for name in names:
        assert vl.get_loss(name) is spec, name
    ex = spec.examples() if spec.examples else None
    if ex is not None and ex.module is not None:  # built with positional state arguments
        ex_module = ex.module
        if ex_module.init_args:
            return
        options = {**ex_module.init_kwargs, **ex.options}
    else:
        options = dict(ex.options) if ex is not None else {}
    assert type(vl.build_loss(spec.module.__name__, **options)) is spec.module


@pytest.mark.parametrize(
    "name, expected",
    [
        pytest.param("ciou_loss", "ciou", id="function-name"),
        pytest.param("DiceLoss", "dice", id="class-name"),
        pytest.param("DiceCELoss", "dice_ce", id="class-name-acronym"),
        pytest.param("dice-ce", "dice_ce", id="dashes"),
    ],
)
def test_issue_names(name, expected):
    assert vl.get_loss(name).name == expected
    assert vl.get_loss(expected).module is type(vl.build_loss(name))


def test_unknown_option_from_a_config_suggests_the_close_match():
    with pytest.raises(UnknownOptionError, match=r"'smoth'; did you mean 'smooth'\?"):
        vl.build_loss({"name": "dice", "smoth": 1})
    with pytest.raises(TypeError, match="did you mean 'smooth'"):  # a TypeError, as Python's
        vl.build_loss(OmegaConf.create({"name": "dice_loss", "smoth": 1}))


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean 'dice'"):
        vl.get_loss("dise")


# ---------------------------------------------------------------------------------- configs
# option checks that take one Python value (a number, a word, a flag): not sequences
SCALAR_CHECKS = (Number, Choice, Flag, IndexOption)
SCALAR_NAMES = {"Scalar", "_NormalizerCheck", "_MeanCheck", "_NetworkCheck", "_OddSize"}
SCALAR_NAMES |= {"_MaxSamples", "_TermsReduction", "_DirectionCheck", "_Count"}


def _sequence_options() -> list[tuple[Any, str]]:
    """(spec, option) for every option of every declared loss whose check is not a scalar
    check: the options that may take a sequence."""
    rows = []
    for spec in SPECS:
        try:
            decl = declaration(spec.function)
        except TypeError:  # a hand-written Module without a declared function
            continue
        for p in decl.options:
            checks = decl.checks.get(p.name, ())
            if checks and not all(
                isinstance(c, SCALAR_CHECKS) or type(c).__name__ in SCALAR_NAMES for c in checks
            ):
                rows.append((spec, p.name))
    return rows


def _classes(example) -> int:
    x = example.args[0]
    return int(x.shape[1]) if x.dim() > 1 else 1


def _names(layers: Any) -> tuple[str, ...] | None:
    return (layers,) if isinstance(layers, str) else None if layers is None else tuple(layers)


def _sequence_value(spec, option: str, example) -> tuple[list[Any], Any] | None:
    """``(list form, reference form)`` of a valid non-default value of ``option``; None where
    the loss's example cannot take one (the test then fails: add a row here)."""
    decl = declaration(spec.function)
    default = next(p.default for p in decl.options if p.name == option)
    opts = example.options
    if option in ("weight", "pos_weight"):
        values = [0.5 + 0.5 * i for i in range(_classes(example))]
        return values, torch.tensor(values)
    if option == "alpha":
        values = torch.linspace(0.2, 0.8, _classes(example)).tolist()
        return values, torch.tensor(values)
    if option == "smooth":
        return [1.0, 0.5], (1.0, 0.5)
    if option == "classes":
        return [0, 1], (0, 1)
    if option == "spacing":  # the examples are 2-D
        return [1.0, 2.0], (1.0, 2.0)
    if isinstance(opts.get(option), torch.Tensor):  # a matrix option (class distances)
        return opts[option].tolist(), opts[option]
    if option == "sigmas" and option in opts:
        return list(opts[option]), tuple(opts[option])
    if option == "image_size":
        return [10.0, 12.0], (10.0, 12.0)
    if option == "patch_size":
        return [2, 3], (2, 3)
    if option.endswith("layers") and option in opts:
        layers = _names(opts[option])
        return list(layers), tuple(layers)
    if option.endswith("weights"):
        layers = _names(opts.get(option.replace("weights", "layers"), opts.get("layers")))
        if option == "weights" and isinstance(default, tuple):  # MS-SSIM's scale weights
            values = list(default[: opts.get("scales", len(default))])
            return values, tuple(values)
        if layers is not None:
            values = [1.0 + 0.5 * i for i in range(len(layers))]
            return values, tuple(values)
    return None


def _rows() -> list[tuple[Any, str]]:
    """The options that take a sequence: those with a non-scalar check for which
    :func:`_sequence_value` knows a valid sequence (by the option's name: every loss with a
    ``weight``, ``smooth``, ``alpha``, ``spacing``... option is covered, a new one included)."""
    rows = []
    for spec, option in _sequence_options():
        example = spec.examples(dtype=torch.float64, seed=0) if spec.examples else None
        if example is not None and _sequence_value(spec, option, example) is not None:
            rows.append((spec, option))
    return rows


ROWS = _rows()


def test_the_sequence_table_finds_the_known_options():
    found = {(s.name, o) for s, o in ROWS}
    for row in [
        ("cross_entropy", "weight"),
        ("dice", "smooth"),
        ("dice", "weight"),
        ("dice", "classes"),
        ("focal", "alpha"),
        ("binary_cross_entropy", "pos_weight"),
        ("mpdiou", "image_size"),
        ("ms_ssim", "weights"),
    ]:
        assert row in found, row


@pytest.mark.parametrize("spec, option", ROWS, ids=[f"{s.name}-{o}" for s, o in ROWS])
def test_sequence_options_take_lists_and_listconfigs(spec, option):
    example = spec.examples(dtype=torch.float64, seed=0)
    as_list, reference = _sequence_value(spec, option, example)
    base = {k: v for k, v in example.options.items() if k != option}
    expected = spec.function(*example.args, **example.kwargs, **base, **{option: reference})
    listconfig = OmegaConf.create({"v": as_list}).v
    for value in (as_list, listconfig):  # through build_loss (a config), as a user would
        module = vl.build_loss({"name": spec.name, **base, option: value}).double()
        got = module(*example.args, **example.kwargs)
        torch.testing.assert_close(got, expected, msg=f"{spec.name}.{option}={value!r}")
    direct = spec.function(*example.args, **example.kwargs, **base, **{option: listconfig})
    torch.testing.assert_close(direct, expected)


def test_cross_entropy_weight_list_and_listconfig():
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    expected = torch.nn.functional.cross_entropy(x, y, weight=torch.tensor([1.0, 2.0, 3.0]))
    cfg = OmegaConf.create({"name": "cross_entropy", "weight": [1.0, 2.0, 3.0]})
    torch.testing.assert_close(vl.cross_entropy_loss(x, y, weight=[1.0, 2.0, 3.0]), expected)
    torch.testing.assert_close(vl.cross_entropy_loss(x, y, weight=cfg.weight), expected)
    torch.testing.assert_close(vl.build_loss(cfg)(x, y), expected)


# ----------------------------------------------------------------------------- CombinedLoss
def _detector_inputs():
    gen = torch.Generator().manual_seed(1)
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 4.0, 3.0]], requires_grad=True)
    gt = torch.tensor([[0.5, 0.0, 2.0, 2.5], [1.0, 1.5, 4.0, 3.0]])
    logits = torch.randn(2, 3, generator=gen, requires_grad=True)
    labels = torch.tensor([0, 2])
    return {"boxes": boxes, "gt_boxes": gt, "logits": logits, "labels": labels}


def test_combined_terms_take_their_own_inputs():
    inputs = _detector_inputs()
    loss = vl.CombinedLoss(
        {
            "box": (vl.CIoULoss(), 2.0, {"pred": "boxes", "target": "gt_boxes"}),
            "cls": (vl.CrossEntropyLoss(), 1.0, ["logits", "labels"]),
        }
    )
    total = loss(**inputs)
    box = vl.ciou_loss(inputs["boxes"], inputs["gt_boxes"])
    cls = vl.cross_entropy_loss(inputs["logits"], inputs["labels"])
    torch.testing.assert_close(total, 2.0 * box + cls)
    torch.testing.assert_close(loss.last_parts["box"], 2.0 * box.detach())
    torch.testing.assert_close(loss.last["box"], box.detach())
    total.backward()
    assert inputs["boxes"].grad is not None and inputs["logits"].grad is not None


def test_combined_from_a_nested_config_returns_its_parts():
    inputs = _detector_inputs()
    config = {
        "name": "combined",
        "return_parts": True,
        "terms": {
            "box": {
                "loss": {"name": "CIoULoss"},
                "weight": 2.0,
                "inputs": {"pred": "boxes", "target": "gt_boxes"},
            },
            "cls": {
                "loss": {
                    "name": "cross_entropy",
                    "weight": [1.0, 2.0, 1.0],
                    "label_smoothing": 0.1,
                },
                "inputs": {"input": "logits", "target": "labels"},
            },
        },
    }
    for cfg in (config, OmegaConf.create(config)):
        loss = vl.build_loss(cfg)
        assert isinstance(loss, vl.CombinedLoss)
        total, parts = loss(**inputs)
        cls = vl.cross_entropy_loss(
            inputs["logits"], inputs["labels"], weight=[1.0, 2.0, 1.0], label_smoothing=0.1
        )
        torch.testing.assert_close(parts["cls"], cls.detach())
        torch.testing.assert_close(total, parts["box"] + parts["cls"])
        assert total.requires_grad and not parts["box"].requires_grad


def test_combined_errors_name_the_term():
    loss = vl.CombinedLoss({"box": (vl.CIoULoss(), 1.0, {"pred": "boxes", "target": "gt"})})
    with pytest.raises(InputError, match="term 'box' takes the input 'gt'"):
        loss(boxes=torch.zeros(1, 4))
    with pytest.raises(InputError, match="pass them by keyword"):
        loss(torch.zeros(1, 4), torch.zeros(1, 4))
    with pytest.raises(UnknownOptionError, match="did you mean 'weight'"):
        vl.CombinedLoss({"box": {"loss": "ciou", "wieght": 2.0}})
    with pytest.raises(UnknownOptionError, match="did you mean 'terms'"):
        vl.build_loss({"name": "combined", "term": {}})
    with pytest.raises(TypeError, match="finite number"):
        vl.CombinedLoss({"box": (vl.CIoULoss(), "2")})
