"""The migration guides (``migration/<peer>.md``), generated from the tables of
``visionloss._core.migration`` that ``tests/migration/test_mappings.py`` runs: a row shown here
is a row the test suite has checked against the installed peer. Loaded by ``gen_pages.py``."""

from __future__ import annotations

import html
from typing import Any

# What a user of each peer meets first, beyond the tables (Markdown).
NOTES: dict[str, str] = {
    "monai": """
* **Targets**: MONAI wants class indices with a channel dim, `(B, 1, H, W)`, and
  `to_onehot_y=True`. visionloss takes class indices `(B, H, W)` (never expanded to a one-hot
  tensor) or a one-hot / soft `(B, C, H, W)` tensor: pass `y[:, 0]`. A `(B, 1, H, W)` index
  target with a multi-channel input raises an `InputError` that says so.
* **Activation**: `softmax=True` / `sigmoid=True` become `activation="softmax"` (the default)
  / `"sigmoid"`; `other_act` is `activation="none"` with the activated input.
* **Smoothing**: MONAI adds `smooth_nr = smooth_dr = 1e-5` by default, visionloss adds nothing
  (`smooth=0`): a perfect prediction gives exactly 0. `smooth=(nr, dr)` sets both.
* **`batch=True`** is `per_image=False`.
* **Empty classes** differ by default (below): `empty="include"` reproduces MONAI.
""",
    "smp": """
* **`mode`**: `"multiclass"` is `activation="softmax"` (the default) with class-index targets;
  `"binary"` and `"multilabel"` are `activation="sigmoid"` with a `(B, C, H, W)` 0/1 target.
  `from_logits=False` is `activation="none"`.
* **Batch pooling**: smp computes one score per class over the whole batch:
  `per_image=False`. visionloss's default is one score per (image, class), as MONAI and the
  V-Net paper.
* **`smooth`** of `DiceLoss` is added to the intersection and to half the denominator: our
  `smooth` is twice smp's. `JaccardLoss` and `TverskyLoss` use the same value.
* **Absent classes and `ignore_index`** (below): smp keeps a class absent from the batch in the
  mean with loss 0.
""",
    "torchvision": """
* **Reduction**: `torchvision.ops` losses default to `reduction="none"`; visionloss to
  `"mean"`.
* **Boxes** are `xyxy` in both; visionloss also takes `box_format="xywh"` / `"cxcywh"`.
* **`eps`**: torchvision adds `eps=1e-7` to the IoU denominators; visionloss guards an empty
  denominator instead, so values agree with torchvision's `eps=0` on valid boxes.
* **Focal loss**: `sigmoid_focal_loss(alpha=-1)` (no class balance) is `focal_loss(alpha=None)`.
""",
    "kornia": """
* **Dice and Tversky**: kornia's `dice_loss` defaults to `average="micro"` (one score over all
  classes of an image); `average="macro"` is ours with `empty="exclude"` and its `eps` in the
  denominator only: `smooth=(0, eps)`.
* **Focal**: `binary_focal_loss_with_logits` is `focal_loss`; the multiclass `focal_loss` is
  `softmax_focal_loss`, whose mean divides by the number of samples (kornia's by samples x
  classes).
* **Total variation**: kornia returns one value per (image, channel); ours reduces like any
  loss (`reduction="none"` keeps the per-pixel map).
""",
    "pml": """
* **Calling forms**: PML losses take `(embeddings, labels)`. In visionloss that is
  `batch_triplet_loss` (triplets mined in the batch: `mining="all" | "hard" | "semihard"`) and
  `contrastive_loss`; `triplet_margin_loss` / `TripletMarginLoss` take explicit
  `(anchor, positive, negative)` tensors, as `torch.nn.TripletMarginLoss` does.
* **Distances and reducers**: PML L2-normalises by default (`LpDistance(normalize_embeddings=
  True)`): pass `normalize=True`. Its `AvgNonZeroReducer` (mean over the terms with a loss > 0)
  is `average="nonzero"`; `mining="all"` already averages that way.
* **NT-Xent**: PML takes one tensor of both views and labels that pair them,
  `NTXentLoss()(cat([z1, z2]), arange(N).repeat(2))`; visionloss takes the two views,
  `nt_xent_loss(z1, z2)`. Default temperatures differ (below).
""",
    "timm": """
* **Label smoothing**: `LabelSmoothingCrossEntropy(smoothing=s)` is
  `cross_entropy_loss(label_smoothing=s)`; timm smooths by 0.1 by default, we do not.
* **Mixup / CutMix targets**: `SoftTargetCrossEntropy` is `cross_entropy_loss` with a
  probability target.
* **`BinaryCrossEntropy`** one-hot encodes class indices and smooths them itself; pass the
  (smoothed) one-hot target to `binary_cross_entropy_loss`.
""",
}


def _code(text: str) -> str:
    """A code cell that wraps (long calls), pipes as entities."""
    return '<code class="vl-call">' + html.escape(text).replace("|", "&#124;") + "</code>"


def _text(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _used_inputs(migration: Any, expressions: list[str]) -> list[str]:
    import re

    words = set(re.findall(r"\b\w+\b", " ".join(expressions)))
    return [name for name in migration.INPUTS if name in words]


def _evaluator(key: str) -> Any:
    """A function giving the value of an expression on the test inputs, or None when the
    peer (or the test inputs) cannot be loaded: the pages then show no numbers."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tests" / "migration" / "inputs.py"
    try:
        spec = importlib.util.spec_from_file_location("_visionloss_migration_inputs", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        env = {**module.namespace(), **module.peer_modules(key)}
    except Exception:  # a peer not installed where the docs are built
        return None

    def value(expression: str) -> str:
        try:
            out = eval(expression, dict(env))
        except Exception:
            return ""
        flat = out.detach().double().flatten()
        return ", ".join(f"{v:.4f}" for v in flat[:3].tolist()) + (
            " ..." if flat.numel() > 3 else ""
        )

    return value


def peer_page(migration: Any, key: str) -> str:
    peer = migration.PEERS[key]
    mappings = [m for m in migration.MAPPINGS if m.peer == key]
    differences = [d for d in migration.DIFFERENCES if d.peer == key]
    keywords = [k for k in migration.PEER_KEYWORDS if k.peer == key]
    expressions = [m.peer_call for m in mappings] + [m.ours for m in mappings]
    expressions += [e for d in differences for e in (d.peer_call, d.ours_default, d.ours_matching)]
    lines = [
        f"# Migrating from {peer.title}",
        "",
        "Every row on this page is a test: `tests/migration/test_mappings.py` evaluates both "
        f"expressions with the installed `{peer.package}` on the same inputs and checks that "
        "the values are equal (or, under *Values that differ on purpose*, that the defaults "
        "differ and the listed options remove the difference). The rows are generated from "
        "`visionloss._core.migration`.",
        "",
        f"The expressions use `import visionloss as vl`, `import torch`, `{peer.imports}`, and "
        "these inputs:",
        "",
        "| name | value |",
        "| --- | --- |",
    ]
    lines += [
        f"| `{name}` | {_text(migration.INPUTS[name])} |"
        for name in _used_inputs(migration, expressions)
    ]
    lines += ["", "## What changes", "", NOTES.get(key, "").strip(), ""]
    lines += [
        "## Option mapping",
        "",
        f"| {peer.short} | visionloss | note |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {_code(m.peer_call)} | {_code(m.ours)} | {_text(m.note)} |" for m in mappings]
    lines.append("")
    if differences:
        value = _evaluator(key) or (lambda expression: "")
        lines += [
            "## Values that differ on purpose",
            "",
            "Values on the inputs above, computed when these pages were built.",
            "",
        ]
        for d in differences:
            lines += [
                f"### {d.topic[0].upper() + d.topic[1:]}",
                "",
                d.why,
                "",
                "| call | | value |",
                "| --- | --- | --- |",
                f"| {_code(d.peer_call)} | {peer.short} | {value(d.peer_call)} |",
                f"| {_code(d.ours_default)} | visionloss defaults: differs "
                f"| {value(d.ours_default)} |",
                f"| {_code(d.ours_matching)} | visionloss, options that match "
                f"| {value(d.ours_matching)} |",
                "",
            ]
    if keywords:
        lines += [
            f"## {peer.short} keywords",
            "",
            "Passing one of these to a visionloss loss raises `UnknownOptionError` (a "
            "`TypeError`) whose message gives the equivalent below and points to this page.",
            "",
            "| keyword | in visionloss |",
            "| --- | --- |",
        ]
        lines += [f"| `{k.keyword}` | {_text(k.equivalent)} |" for k in keywords]
        lines.append("")
    return "\n".join(lines)


def index_page(migration: Any) -> str:
    lines = [
        "# Migrating from another library",
        "",
        "One guide per library, each with an option-mapping table whose every row is run by the "
        "test suite against the installed library, the values that differ on purpose and why, "
        "and the keywords of that library that visionloss does not take (passing one raises a "
        "`TypeError` that names the equivalent and the guide).",
        "",
        "| library | mapped calls | differences explained | keywords |",
        "| --- | --- | --- | --- |",
    ]
    for key, peer in migration.PEERS.items():
        n_map = sum(m.peer == key for m in migration.MAPPINGS)
        n_diff = sum(d.peer == key for d in migration.DIFFERENCES)
        n_kw = sum(k.peer == key for k in migration.PEER_KEYWORDS)
        lines.append(f"| [{peer.title}]({key}.md) | {n_map} | {n_diff} | {n_kw} |")
    lines += [
        "",
        "What holds for every loss, whatever library you come from "
        "([conventions](../conventions.md)):",
        "",
        "* options are keyword-only and checked: a typo gets a close-match suggestion, another "
        "library's keyword the name of ours;",
        '* `input` holds logits; `reduction` defaults to `"mean"` over the valid elements;',
        "* segmentation targets are class indices `(B, H, W)` or a `(B, C, H, W)` one-hot / soft "
        "tensor; overlap losses score each (image, class) pair (`per_image=True`) and treat a "
        'class absent from an image by the `empty=` policy (default `"penalize"`).',
        "",
    ]
    return "\n".join(lines)


def pages() -> dict[str, str]:
    from visionloss._core import migration

    out = {"migration/index.md": index_page(migration)}
    for key in migration.PEERS:
        out[f"migration/{key}.md"] = peer_page(migration, key)
    return out


def navigation() -> list[tuple[str, str]]:
    from visionloss._core import migration

    return [(p.title.split(" (")[0], f"migration/{k}.md") for k, p in migration.PEERS.items()]
