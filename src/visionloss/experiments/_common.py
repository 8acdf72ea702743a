"""Helpers shared by experiments: seeding, threads and worker processes, saving figures, the
option checks and the seed loop of the segmentation experiments."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ExperimentError
from ._progress import progress


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


@contextmanager
def one_thread() -> Iterator[None]:
    """torch's intra-op threads set to 1 inside (small convolutions: one thread is as fast and
    never oversubscribes), the caller's number restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def check_steps_seeds(experiment: str, steps: int, seeds: int) -> None:
    """ExperimentError naming ``experiment`` unless ``steps >= 1`` and ``seeds >= 1``."""
    if steps < 1 or seeds < 1:
        raise ExperimentError(
            f"{experiment}: expected steps >= 1 and seeds >= 1, got steps={steps}, seeds={seeds}"
        )


def train_each_seed(
    losses: Sequence[tuple[str, Any]],
    seeds: int,
    train: Callable[[Any, int], nn.Module],
    x_test: Tensor,
    score: Callable[[Tensor], dict[str, Any]],
    *,
    desc: str,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Tensor]]:
    """Train a segmentation net ``train(fn, seed)`` for every ``(name, fn)`` of ``losses`` and
    seed ``0 .. seeds - 1`` (everything seeded first), and score its argmax prediction on
    ``x_test``: ``(per_seed, shown)``, ``per_seed[name]`` the list of ``{"seed", **score(pred)}``
    and ``shown[name]`` seed 0's first four predictions."""
    runs = [(name, fn, s) for name, fn in losses for s in range(seeds)]
    per_seed: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in losses}
    shown: dict[str, Tensor] = {}
    for name, fn, s in progress(runs, desc=desc):
        seed_everything(s)
        net = train(fn, s)
        with torch.no_grad():
            pred = net(x_test).argmax(1)
        per_seed[name].append({"seed": s, **score(pred)})
        if s == 0:
            shown[name] = pred[:4]
    return per_seed, shown


def seed_mean(runs: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, float]:
    """The mean over the runs (seeds) of each of ``keys``."""
    return {k: sum(r[k] for r in runs) / len(runs) for k in keys}


def seed_std(runs: Sequence[dict[str, Any]], mean: dict[str, float], key: str) -> float:
    """The standard deviation over the runs (seeds) of ``key`` (population form)."""
    return math.sqrt(sum((r[key] - mean[key]) ** 2 for r in runs) / len(runs))


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
