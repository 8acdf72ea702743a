"""The contrastive family: InfoNCE, NT-Xent (SimCLR / SiT), SupCon, a MoCo key queue, CFL-Net's
patch contrast and FOCAL's pixel InfoNCE++.

Every loss compares L2-normalised embeddings (``similarity="cosine"``, the default; ``"dot"``
for embeddings normalised already) divided by a ``temperature``, and computes each anchor's
term with a log-sum-exp over its own keys, the excluded ones (the anchor itself) set to
``-inf``: no value-changing max shift, no ``1e9`` mask that overflows fp16. fp16/bf16 inputs are
computed in fp32. An anchor without a positive leaves the mean (never NaN); a batch where
nothing counts gives 0 with a graph. ``MoCoQueue`` holds a first-in first-out dictionary of
detached keys for ``info_nce_loss(query, key, queue.negatives())``.

**Several processes.** The batch-global losses (``info_nce_loss`` with in-batch negatives,
``nt_xent_loss``, ``supcon_loss``, ``pixel_info_nce_loss(scope="batch")``) take
``gather="none" | "global" | "local"``. Under ``torch.distributed`` each process passes its own
samples; with ``"global"`` every process computes the loss of the whole global batch, with
``"local"`` (the scalable one) its own anchors against every process's keys. In both modes the
value equals the single-process loss on the concatenated batch and each process's input
gradients are the world size times the single-process gradients of its own inputs, so that
``DistributedDataParallel``'s gradient *average* is exactly single-process training on the
concatenated batch: call ``loss.backward()`` with no world-size factor. Processes may hold
different numbers of samples. The per-image losses (``patch_contrast_loss``,
``pixel_info_nce_loss(scope="image")``) gather nothing; their ``gather`` option makes the mean
over images run over every process's images. See :mod:`visionloss.distributed`::

    model = torch.nn.parallel.DistributedDataParallel(model)
    z1, z2 = model(view1), model(view2)          # this process's share of the batch
    loss = visionloss.nt_xent_loss(z1, z2, gather="local")
    loss.backward()                              # == training on the concatenated batch
"""

from .clip import CLIPLoss, clip_loss
from .dcl import DCLLoss, dcl_loss
from .info_nce import InfoNCELoss, info_nce_loss
from .moco_queue import MoCoQueue
from .nt_xent import NTXentLoss, nt_xent_loss
from .patch_contrast import PatchContrastLoss, patch_contrast_loss
from .patch_nce import PatchNCELoss, patch_nce_loss
from .pixel_info_nce import PixelInfoNCELoss, pixel_info_nce_loss
from .siglip import SigLIPLoss, siglip_loss
from .supcon import SupConLoss, supcon_loss

__all__ = [
    "info_nce_loss",
    "InfoNCELoss",
    "nt_xent_loss",
    "NTXentLoss",
    "supcon_loss",
    "SupConLoss",
    "MoCoQueue",
    "patch_contrast_loss",
    "PatchContrastLoss",
    "patch_nce_loss",
    "PatchNCELoss",
    "pixel_info_nce_loss",
    "PixelInfoNCELoss",
    "clip_loss",
    "CLIPLoss",
    "siglip_loss",
    "SigLIPLoss",
    "dcl_loss",
    "DCLLoss",
]
