"""Helpers shared by experiments: seeding, threads and worker processes, saving figures."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed python, numpy and torch; return a torch.Generator with the same seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cores() -> int:
    """The CPU cores this process may use (its CPU affinity where the OS tells, else
    ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def default_threads() -> int:
    """The machine's cores (:func:`cores`), or ``VISIONLOSS_THREADS`` when set (the tour sets 1
    when it runs experiments side by side)."""
    return max(1, int(os.environ.get("VISIONLOSS_THREADS", cores())))


def limit_threads() -> None:
    """Set torch's intra-op threads to :func:`default_threads` (``VISIONLOSS_THREADS=2`` keeps
    an experiment polite on a shared machine)."""
    torch.set_num_threads(default_threads())


def side_by_side(
    fn: Callable[..., Any], calls: Sequence[tuple], workers: int, *, who: str
) -> Iterator[Any]:
    """Yield ``fn(*args)`` for each ``args`` of ``calls`` in the order they finish: here, one
    after the other, when ``workers <= 1``; otherwise in ``workers`` spawned processes (spawned,
    not forked: a fork of a process whose torch thread pools exist can hang). Spawned processes
    import the main module, so a script must start them under ``if __name__ == "__main__":``;
    a pool broken by that (or by a crashed worker) is a RuntimeError naming ``who``."""
    if workers <= 1 or len(calls) <= 1:
        for args in calls:
            yield fn(*args)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(fn, *args) for args in calls]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BrokenProcessPool as err:
            raise RuntimeError(
                f"{who}: a worker process died; a script that runs this in several processes "
                'must do so under `if __name__ == "__main__":` (spawned workers import the main '
                "module), or use one worker"
            ) from err


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


def save_figure(fig, path: str | Path) -> Path:
    """Save ``fig`` as PNG at ``path`` and close it."""
    plt = pyplot()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


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


def plot_masks(images: Tensor, masks: Tensor, preds: dict[str, Tensor], path: Path) -> Path:
    """Rows of held-out images: the image, its target mask and each loss's prediction."""
    plt = pyplot()
    cols = 2 + len(preds)
    fig, axes = plt.subplots(
        len(images), cols, figsize=(1.6 * cols, 1.6 * len(images)), squeeze=False
    )
    for r in range(len(images)):
        panels = [("image", images[r, 0], "gray"), ("target", masks[r], "magma")]
        panels += [(name, p[r], "magma") for name, p in preds.items()]
        for c, (title, panel, cmap) in enumerate(panels):
            ax = axes[r][c]
            ax.imshow(
                panel.numpy(), cmap=cmap, vmin=None if c == 0 else 0, vmax=None if c == 0 else 1
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle("held-out images: target and argmax prediction per loss (seed 0)", fontsize=9)
    return save_figure(fig, path)
