"""Moving from a peer library: keyword hints for errors, and the tested mapping tables.

Three tables, written once and read by three consumers:

* :data:`PEER_KEYWORDS`: keywords that only a peer library takes (MONAI's ``to_onehot_y``,
  smp's ``mode``, PML's ``distance``...) and what to write in visionloss instead.
  :func:`peer_hint` turns one into the tail of the ``UnknownOptionError`` a loss raises when it
  is given that keyword (``_core/declare.py``), naming the equivalent and the guide page.
* :data:`MAPPINGS`: a peer call and the visionloss call that gives the same value. Both are
  Python expressions over the inputs listed in :data:`INPUTS`; ``tests/migration/`` evaluates
  every row with real tensors and the installed peer and asserts that the values are equal.
* :data:`DIFFERENCES`: where a default differs from the peer on purpose: the peer's call,
  ours with its defaults (the test asserts that the values differ), ours with the options
  that reproduce the peer (the test asserts equality), and why.

``docs/gen_pages.py`` renders one page per peer (``migration/<peer>.md``) from the same rows, so
a row on a page has been run by the test suite.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Peer",
    "PeerKeyword",
    "Mapping",
    "Difference",
    "PEERS",
    "INPUTS",
    "PEER_KEYWORDS",
    "MAPPINGS",
    "DIFFERENCES",
    "guide_page",
    "peer_hint",
]


@dataclass(frozen=True)
class Peer:
    """A library users come from: its import name and the names used in the expressions."""

    key: str
    title: str
    short: str  # in error messages
    package: str
    imports: str  # how the expressions below import it (shown on the page)


@dataclass(frozen=True)
class PeerKeyword:
    """A keyword only ``peer`` takes, and what to write in visionloss instead."""

    peer: str
    keyword: str
    equivalent: str


@dataclass(frozen=True)
class Mapping:
    """``peer_call`` (an expression) equals ``ours`` (an expression) on :data:`INPUTS`."""

    peer: str
    peer_call: str
    ours: str
    note: str = ""


@dataclass(frozen=True)
class Difference:
    """A value that differs from ``peer`` by design: ``peer_call`` != ``ours_default``,
    ``peer_call`` == ``ours_matching``, for the reason ``why``."""

    peer: str
    topic: str
    peer_call: str
    ours_default: str
    ours_matching: str
    why: str


PEERS: dict[str, Peer] = {
    p.key: p
    for p in (
        Peer("monai", "MONAI", "MONAI", "monai", "import monai"),
        Peer(
            "smp",
            "segmentation_models_pytorch (smp)",
            "smp",
            "segmentation_models_pytorch",
            "import segmentation_models_pytorch as smp",
        ),
        Peer(
            "torchvision",
            "torchvision (and torch.nn)",
            "torchvision / torch.nn",
            "torchvision",
            "import torchvision",
        ),
        Peer("kornia", "kornia", "kornia", "kornia", "import kornia"),
        Peer(
            "pml",
            "pytorch-metric-learning (PML)",
            "PML",
            "pytorch_metric_learning",
            "from pytorch_metric_learning import losses as pml, miners",
        ),
        Peer("timm", "timm", "timm", "timm", "import timm.loss"),
    )
}

# The names the expressions use: every row is evaluated with these tensors (float32; the
# segmentation targets hold every class in every image unless said otherwise).
INPUTS: dict[str, str] = {
    "x": "segmentation logits (2, 3, 8, 8)",
    "y": "class indices (2, 8, 8), every class present in every image",
    "y_absent": "class indices (2, 8, 8) where class 2 is absent from image 0",
    "y_ignored": "class indices (2, 8, 8), row 7 ignored (255), class 2 in neither image",
    "xb": "binary segmentation logits (2, 1, 8, 8)",
    "yb": "binary mask (2, 1, 8, 8), float 0 / 1",
    "logits": "classification logits (8, 5)",
    "labels": "class indices (8,)",
    "onehot": "0 / 1 multi-label targets (8, 5), float",
    "soft": "probability targets (8, 5) (rows sum to 1)",
    "boxes1": "predicted boxes (6, 4), xyxy",
    "boxes2": "target boxes (6, 4), xyxy",
    "emb": "embeddings (16, 8)",
    "emb_labels": "4 classes x 4 samples (16,)",
    "z1": "first views (8, 16)",
    "z2": "second views (8, 16)",
    "img": "images (2, 3, 8, 8) in [0, 1]",
}

_MONAI_TARGET = "pass class indices (B, H, W) as target (MONAI's (B, 1, H, W) target is y[:, 0])"

PEER_KEYWORDS: tuple[PeerKeyword, ...] = (
    # MONAI
    PeerKeyword("monai", "to_onehot_y", "not needed: " + _MONAI_TARGET),
    PeerKeyword("monai", "softmax", "activation='softmax' (the default of the overlap losses)"),
    PeerKeyword("monai", "sigmoid", "activation='sigmoid'"),
    PeerKeyword("monai", "other_act", "activation='none' with the activated input"),
    PeerKeyword("monai", "batch", "per_image=False (batch=True), per_image=True (batch=False)"),
    PeerKeyword("monai", "smooth_nr", "smooth=(smooth_nr, smooth_dr)"),
    PeerKeyword("monai", "smooth_dr", "smooth=(smooth_nr, smooth_dr)"),
    PeerKeyword("monai", "squared_pred", "squared=True"),
    PeerKeyword("monai", "jaccard", "jaccard_loss (build_loss('jaccard'))"),
    PeerKeyword("monai", "w_type", "weight_type= of generalized_dice_loss"),
    PeerKeyword("monai", "use_softmax", "softmax_focal_loss (use_softmax=True) or focal_loss"),
    PeerKeyword("monai", "soft_label", "not needed: a (B, C, H, W) float target is used as is"),
    # segmentation_models_pytorch
    PeerKeyword(
        "smp",
        "mode",
        "activation='softmax' for mode='multiclass', activation='sigmoid' for 'binary' / "
        "'multilabel'",
    ),
    PeerKeyword("smp", "from_logits", "activation='none' for from_logits=False"),
    PeerKeyword("smp", "log_loss", "no equivalent: take -log(1 - loss) yourself"),
    PeerKeyword("smp", "class_weights", "weight="),
    PeerKeyword("smp", "smooth_factor", "label_smoothing="),
    PeerKeyword("smp", "reduced_threshold", "no equivalent in focal_loss"),
    # kornia
    PeerKeyword("kornia", "average", "per_image= and empty= (see the kornia guide)"),
    # pytorch-metric-learning
    PeerKeyword(
        "pml", "distance", "metric= ('euclidean', 'squared_euclidean', 'cosine') and normalize="
    ),
    PeerKeyword("pml", "miner", "mining= of batch_triplet_loss, or mine_triplets()"),
    PeerKeyword("pml", "reducer", "reduction= and average="),
    PeerKeyword("pml", "embedding_regularizer", "add the regulariser's term yourself"),
    PeerKeyword("pml", "smooth_loss", "soft=True"),
    PeerKeyword("pml", "triplets_per_anchor", "mining= of batch_triplet_loss"),
    PeerKeyword("pml", "neg_margin", "margin="),
    # timm
    PeerKeyword("timm", "smoothing", "label_smoothing="),
    PeerKeyword("timm", "target_threshold", "threshold the target yourself: (target > t).float()"),
    # torch.nn (every peer inherits these from torch's own losses)
    PeerKeyword("torchvision", "size_average", "reduction='mean' / 'sum'"),
    PeerKeyword("torchvision", "reduce", "reduction='none'"),
)

MAPPINGS: tuple[Mapping, ...] = (
    # --- MONAI
    Mapping(
        "monai",
        "monai.losses.DiceLoss(softmax=True, to_onehot_y=True)(x, y[:, None])",
        "vl.dice_loss(x, y, smooth=1e-5, empty='include')",
        "MONAI's default smooth_nr = smooth_dr = 1e-5.",
    ),
    Mapping(
        "monai",
        "monai.losses.DiceLoss(softmax=True, to_onehot_y=True, batch=True, smooth_nr=0.5, "
        "smooth_dr=1.0)(x, y[:, None])",
        "vl.dice_loss(x, y, per_image=False, smooth=(0.5, 1.0), empty='include')",
    ),
    Mapping(
        "monai",
        "monai.losses.DiceLoss(softmax=True, to_onehot_y=True, include_background=False, "
        "squared_pred=True)(x, y[:, None])",
        "vl.dice_loss(x, y, include_background=False, squared=True, smooth=1e-5, empty='include')",
    ),
    Mapping(
        "monai",
        "monai.losses.DiceLoss(sigmoid=True)(xb, yb)",
        "vl.dice_loss(xb, yb, activation='sigmoid', smooth=1e-5, empty='include')",
    ),
    Mapping(
        "monai",
        "monai.losses.DiceLoss(softmax=True, to_onehot_y=True, jaccard=True)(x, y[:, None])",
        "vl.jaccard_loss(x, y, smooth=0.5e-5, empty='include')",
        "MONAI's jaccard=True computes 1 - (2I + s) / (2(P + G - I) + s): our smooth is s / 2.",
    ),
    Mapping(
        "monai",
        "monai.losses.TverskyLoss(softmax=True, to_onehot_y=True, alpha=0.3, beta=0.7)"
        "(x, y[:, None])",
        "vl.tversky_loss(x, y, alpha=0.3, beta=0.7, smooth=1e-5, empty='include')",
    ),
    Mapping(
        "monai",
        "monai.losses.DiceCELoss(softmax=True, to_onehot_y=True)(x, y[:, None])",
        "vl.dice_ce_loss(x, y, smooth=1e-5, empty='include')",
    ),
    Mapping(
        "monai",
        "monai.losses.FocalLoss(gamma=2.0, alpha=0.25)(logits, onehot)",
        "vl.focal_loss(logits, onehot, gamma=2.0, alpha=0.25)",
        "MONAI's FocalLoss without use_softmax is the sigmoid focal loss.",
    ),
    # --- smp
    Mapping(
        "smp",
        "smp.losses.DiceLoss('multiclass')(x, y)",
        "vl.dice_loss(x, y, per_image=False)",
        "smp pools the batch: one score per class.",
    ),
    Mapping(
        "smp",
        "smp.losses.DiceLoss('multiclass', smooth=1.0)(x, y)",
        "vl.dice_loss(x, y, per_image=False, smooth=2.0)",
        "smp adds smooth to I and to (P + G) / 2: our smooth is twice smp's.",
    ),
    Mapping(
        "smp",
        "smp.losses.DiceLoss('binary')(xb, yb)",
        "vl.dice_loss(xb, yb, activation='sigmoid', per_image=False)",
    ),
    Mapping(
        "smp",
        "smp.losses.JaccardLoss('multiclass', smooth=1.0)(x, y)",
        "vl.jaccard_loss(x, y, per_image=False, smooth=1.0)",
    ),
    Mapping(
        "smp",
        "smp.losses.TverskyLoss('multiclass', alpha=0.3, beta=0.7)(x, y)",
        "vl.tversky_loss(x, y, alpha=0.3, beta=0.7, per_image=False)",
    ),
    Mapping(
        "smp",
        "smp.losses.FocalLoss('binary', alpha=0.25)(xb, yb)",
        "vl.focal_loss(xb, yb, alpha=0.25)",
    ),
    Mapping(
        "smp",
        "smp.losses.LovaszLoss('multiclass', per_image=False)(x, y)",
        "vl.lovasz_loss(x, y, per_image=False, empty='exclude')",
        "smp's Lovász-softmax scores the present classes (Berman's classes='present').",
    ),
    Mapping(
        "smp",
        "smp.losses.SoftCrossEntropyLoss(smooth_factor=0.1)(logits, labels)",
        "vl.cross_entropy_loss(logits, labels, label_smoothing=0.1)",
    ),
    # --- torchvision
    Mapping(
        "torchvision",
        "torchvision.ops.sigmoid_focal_loss(logits, onehot, reduction='mean')",
        "vl.focal_loss(logits, onehot)",
        "Same alpha = 0.25, gamma = 2; torchvision's default reduction is 'none'.",
    ),
    Mapping(
        "torchvision",
        "torchvision.ops.sigmoid_focal_loss(logits, onehot, alpha=-1, gamma=1.5, reduction='sum')",
        "vl.focal_loss(logits, onehot, alpha=None, gamma=1.5, reduction='sum')",
        "torchvision's alpha=-1 (no class balance) is our alpha=None.",
    ),
    Mapping(
        "torchvision",
        "torchvision.ops.generalized_box_iou_loss(boxes1, boxes2, reduction='mean', eps=0.0)",
        "vl.giou_loss(boxes1, boxes2)",
        "torchvision adds eps=1e-7 to the denominators; ours guard empty ones instead.",
    ),
    Mapping(
        "torchvision",
        "torchvision.ops.distance_box_iou_loss(boxes1, boxes2, reduction='none', eps=0.0)",
        "vl.diou_loss(boxes1, boxes2, reduction='none')",
    ),
    Mapping(
        "torchvision",
        "torchvision.ops.complete_box_iou_loss(boxes1, boxes2, reduction='sum', eps=0.0)",
        "vl.ciou_loss(boxes1, boxes2, reduction='sum')",
    ),
    Mapping(
        "torchvision",
        "torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)",
        "vl.cross_entropy_loss(logits, labels, label_smoothing=0.1)",
    ),
    # --- kornia
    Mapping(
        "kornia",
        "kornia.losses.binary_focal_loss_with_logits(logits, onehot, reduction='mean')",
        "vl.focal_loss(logits, onehot)",
    ),
    Mapping(
        "kornia",
        "kornia.losses.focal_loss(logits, labels, alpha=0.5, reduction='sum')",
        "vl.softmax_focal_loss(logits, labels, alpha=0.5, reduction='sum')",
        "kornia's focal_loss is the softmax (multiclass) form; its 'mean' divides by N * C "
        "(every class entry), ours by N.",
    ),
    Mapping(
        "kornia",
        "kornia.losses.dice_loss(x, y, average='macro')",
        "vl.dice_loss(x, y, smooth=(0.0, 1e-8), empty='exclude')",
        "kornia's eps=1e-8 sits in the denominator only.",
    ),
    Mapping(
        "kornia",
        "kornia.losses.tversky_loss(x, y, alpha=0.3, beta=0.7)",
        "vl.tversky_loss(x, y, alpha=0.3, beta=0.7, smooth=(0.0, 1e-8), empty='exclude')",
    ),
    Mapping(
        "kornia",
        "kornia.losses.total_variation(img, reduction='sum').sum()",
        "vl.total_variation_loss(img, reduction='sum')",
        "kornia returns one value per (image, channel).",
    ),
    # --- pytorch-metric-learning
    Mapping(
        "pml",
        "pml.TripletMarginLoss(margin=0.2)(emb, emb_labels)",
        "vl.batch_triplet_loss(emb, emb_labels, mining='all', margin=0.2, normalize=True)",
        "PML L2-normalises, takes every triplet and averages those with a loss > 0.",
    ),
    Mapping(
        "pml",
        "pml.TripletMarginLoss(margin=0.2)(emb, emb_labels, miners.BatchHardMiner()"
        "(emb, emb_labels))",
        "vl.batch_triplet_loss(emb, emb_labels, mining='hard', margin=0.2, normalize=True, "
        "average='nonzero')",
    ),
    Mapping(
        "pml",
        "pml.NTXentLoss(temperature=0.07)(torch.cat([z1, z2]), torch.arange(8).repeat(2))",
        "vl.nt_xent_loss(z1, z2, temperature=0.07)",
        "PML's default temperature is 0.07; ours is 0.5 (SiT).",
    ),
    Mapping(
        "pml",
        "pml.SupConLoss(temperature=0.1)(emb, emb_labels)",
        "vl.supcon_loss(emb, emb_labels, temperature=0.1)",
    ),
    Mapping(
        "pml",
        "pml.ContrastiveLoss(pos_margin=0.1, neg_margin=0.8)(emb, emb_labels)",
        "vl.contrastive_loss(emb, emb_labels, pos_margin=0.1, margin=0.8, normalize=True, "
        "power=1, half=False, average='nonzero')",
    ),
    # --- timm
    Mapping(
        "timm",
        "timm.loss.LabelSmoothingCrossEntropy(smoothing=0.1)(logits, labels)",
        "vl.cross_entropy_loss(logits, labels, label_smoothing=0.1)",
    ),
    Mapping(
        "timm",
        "timm.loss.SoftTargetCrossEntropy()(logits, soft)",
        "vl.cross_entropy_loss(logits, soft)",
        "Probability targets (mixup / cutmix) go straight to cross_entropy_loss.",
    ),
    Mapping(
        "timm",
        "timm.loss.BinaryCrossEntropy(smoothing=0.0)(logits, labels)",
        "vl.binary_cross_entropy_loss(logits, torch.nn.functional.one_hot(labels, 5).float())",
        "timm one-hot encodes class indices itself.",
    ),
    Mapping(
        "timm",
        "timm.loss.BinaryCrossEntropy(smoothing=0.1)(logits, labels)",
        "vl.binary_cross_entropy_loss(logits, torch.nn.functional.one_hot(labels, 5).float() "
        "* 0.9 + 0.1 / 5)",
        "timm's smoothing puts smoothing / C on every class (off = smoothing / C, "
        "on = 1 - smoothing + smoothing / C).",
    ),
)

DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        "monai",
        "a class absent from an image",
        "monai.losses.DiceLoss(softmax=True, to_onehot_y=True)(x, y_absent[:, None])",
        "vl.dice_loss(x, y_absent)",
        "vl.dice_loss(x, y_absent, smooth=1e-5, empty='include')",
        "With an empty target, MONAI's score is 1 - s / (P + s): close to 1 for any false "
        "positive, with almost no gradient. Our default empty='penalize' scores such a pair by "
        "its soft false-positive rate, so predicting the absent class is penalised in "
        "proportion and still gets a gradient. empty='include' reproduces MONAI.",
    ),
    Difference(
        "smp",
        "ignore_index and a class absent from the batch",
        "smp.losses.DiceLoss('multiclass', ignore_index=255)(x, y_ignored)",
        "vl.dice_loss(x, y_ignored, per_image=False, ignore_index=255)",
        "vl.dice_loss(x, y_ignored, per_image=False, ignore_index=255, empty='exclude') * 2 / 3",
        "smp multiplies the loss of a class absent from the (valid pixels of the) batch by 0 but "
        "keeps it in the mean over classes, so the value shrinks by present / C. We leave such "
        "a class out of the mean (empty='exclude') or score its false positives (the default, "
        "'penalize'); the smp value is ours with empty='exclude' times present / C (here 2 / 3).",
    ),
    Difference(
        "pml",
        "NTXentLoss's default temperature",
        "pml.NTXentLoss()(torch.cat([z1, z2]), torch.arange(8).repeat(2))",
        "vl.nt_xent_loss(z1, z2)",
        "vl.nt_xent_loss(z1, z2, temperature=0.07)",
        "PML defaults to 0.07 (MoCo's value); ours is 0.5, the value of SiT and of SimCLR's "
        "large-batch runs. Pass temperature= explicitly when moving a recipe.",
    ),
    Difference(
        "pml",
        "TripletMarginLoss's default margin",
        "pml.TripletMarginLoss()(emb, emb_labels)",
        "vl.batch_triplet_loss(emb, emb_labels, mining='all', normalize=True)",
        "vl.batch_triplet_loss(emb, emb_labels, mining='all', normalize=True, margin=0.05)",
        "PML's margin defaults to 0.05 (for normalised embeddings), ours to 1.0 (FaceNet / "
        "Hermans et al.).",
    ),
    Difference(
        "torchvision",
        "the default reduction",
        "torchvision.ops.sigmoid_focal_loss(logits, onehot)",
        "vl.focal_loss(logits, onehot)",
        "vl.focal_loss(logits, onehot, reduction='none')",
        "torchvision.ops losses return the per-element loss by default; every visionloss loss "
        "defaults to reduction='mean'.",
    ),
    Difference(
        "kornia",
        "kornia's default average='micro' Dice",
        "kornia.losses.dice_loss(x, y)",
        "vl.dice_loss(x, y)",
        "vl.dice_loss(x.softmax(1).flatten(1)[:, None], "
        "torch.nn.functional.one_hot(y, 3).permute(0, 3, 1, 2).flatten(1)[:, None], "
        "activation='none', smooth=(0.0, 1e-8))",
        "kornia's default pools every class of an image into one Dice score (micro average); "
        "ours scores each (image, class) pair and averages (macro), as the V-Net paper and "
        "MONAI do. The micro value is our Dice on the flattened one-hot volume.",
    ),
    Difference(
        "timm",
        "LabelSmoothingCrossEntropy's default smoothing",
        "timm.loss.LabelSmoothingCrossEntropy()(logits, labels)",
        "vl.cross_entropy_loss(logits, labels)",
        "vl.cross_entropy_loss(logits, labels, label_smoothing=0.1)",
        "timm smooths by 0.1 unless told otherwise; ours, like torch, does not smooth by default.",
    ),
)


def guide_page(peer: str) -> str:
    """Where the guide for ``peer`` is: ``docs/migration/<peer>.md`` (the site's
    ``migration/<peer>/`` page)."""
    return f"the migration guide docs/migration/{peer}.md"


def peer_hint(keyword: str) -> str:
    """The tail of an unknown-keyword error for a keyword a peer library takes (``""`` for
    any other keyword): ``"; 'batch' is an option of MONAI; in visionloss: ..."``."""
    rows = [row for row in PEER_KEYWORDS if row.keyword == keyword]
    return "".join(
        f"; {keyword!r} is an option of {PEERS[row.peer].short}; in visionloss: {row.equivalent} "
        f"(see {guide_page(row.peer)})"
        for row in rows
    )
