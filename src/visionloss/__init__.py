"""visionloss: computer-vision loss functions for PyTorch.

Every loss comes as a function (``visionloss.focal_loss``) and a Module
(``visionloss.FocalLoss``), registered by name (``visionloss.build_loss("focal")``).
"""

from . import errors
from ._core.checks import set_value_checks, value_checks_enabled
from ._core.combined import CombinedLoss
from ._core.registry import FAMILIES, LossSpec, build_loss, get_loss, list_losses, register_loss
from .adversarial import *
from .adversarial import __all__ as _adversarial
from .boxes import *
from .boxes import __all__ as _boxes
from .classification import *
from .classification import __all__ as _classification
from .contrastive import *
from .contrastive import __all__ as _contrastive
from .metric import *
from .metric import __all__ as _metric
from .quality import *
from .quality import __all__ as _quality
from .regression import *
from .regression import __all__ as _regression
from .segmentation import *
from .segmentation import __all__ as _segmentation
from .self_supervised import *
from .self_supervised import __all__ as _self_supervised
from .synthesis import *
from .synthesis import __all__ as _synthesis

__version__ = "0.1.0"

__all__ = [
    "errors",
    "CombinedLoss",
    "FAMILIES",
    "LossSpec",
    "build_loss",
    "get_loss",
    "list_losses",
    "register_loss",
    "set_value_checks",
    "value_checks_enabled",
    *_adversarial,
    *_boxes,
    *_classification,
    *_contrastive,
    *_metric,
    *_quality,
    *_regression,
    *_segmentation,
    *_self_supervised,
    *_synthesis,
]
