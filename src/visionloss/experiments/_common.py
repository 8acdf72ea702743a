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
    """Keep experiments polite on small machines: at most 2 intra-op threads, or
    ``VISIONLOSS_THREADS`` when set (the tour sets 1 when it runs experiments side by side)."""
    threads = int(os.environ.get("VISIONLOSS_THREADS", min(2, os.cpu_count() or 1)))
    torch.set_num_threads(max(1, threads))


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


def sklearn_module(name: str, experiment: str):
    """``sklearn.<name>`` (e.g. ``"metrics"``), with a clear error naming the experiment."""
    import importlib

    try:
        return importlib.import_module(f"sklearn.{name}")
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"the {experiment} experiment needs scikit-learn (its digits data set and "
            "metrics ship with it): pip install 'visionloss[experiments]'"
        ) from err


def digits_split(experiment: str, *, seed: int = 0, test_size: float = 0.4):
    """scikit-learn's 8x8 digits (shipped with the package, no download), pixels scaled to
    [0, 1], split stratified by digit: ``(x_train, digit_train, x_test, digit_test)`` tensors
    (float32 features, int64 digits)."""
    datasets = sklearn_module("datasets", experiment)
    model_selection = sklearn_module("model_selection", experiment)
    digits = datasets.load_digits()
    x = digits.data.astype(np.float32) / 16.0
    x_tr, x_te, y_tr, y_te = model_selection.train_test_split(
        x, digits.target, test_size=test_size, stratify=digits.target, random_state=seed
    )
    return (
        torch.from_numpy(x_tr),
        torch.from_numpy(y_tr).long(),
        torch.from_numpy(x_te),
        torch.from_numpy(y_te).long(),
    )
