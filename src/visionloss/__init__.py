"""visionloss: computer-vision loss functions for PyTorch.

Every loss comes as a function (``visionloss.focal_loss``) and a Module
(``visionloss.FocalLoss``), registered by name (``visionloss.build_loss("focal")``).
"""

from ._core.combined import CombinedLoss
from ._core.registry import FAMILIES, LossSpec, build_loss, get_loss, list_losses
from .adversarial import *
from .boxes import *
from .classification import *
from .contrastive import *
from .metric import *
from .regression import *
from .segmentation import *
from .synthesis import *

__version__ = "0.1.0"
