"""Helpers shared by experiments: seeding, device choice, saving figures."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed python, numpy and torch; return a torch.Generator with the same seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def limit_threads() -> None:
    """Keep experiments polite on small machines (at most 2 intra-op threads)."""
    torch.set_num_threads(min(2, os.cpu_count() or 1))


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend (clear error when missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "visionloss experiments need matplotlib: pip install 'visionloss[experiments]'"
        ) from err
    return plt


def save_figure(fig, path: Path) -> Path:
    """Save ``fig`` as PNG at ``path`` and close it."""
    plt = pyplot()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
