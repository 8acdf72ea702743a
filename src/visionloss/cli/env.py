"""``visionloss env``: versions and devices.

Versions are read from the installed packages' metadata, without importing them (importing
MONAI, kornia or scikit-learn takes seconds), so the command takes about as long as importing
visionloss itself.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import sys

# (label, distribution name) of the packages reported
PACKAGES = (
    ("torch", "torch"),
    ("triton", "triton"),
    ("torchvision", "torchvision"),
    ("numpy", "numpy"),
    ("monai", "monai"),
    ("kornia", "kornia"),
    ("pytorch_metric_learning", "pytorch-metric-learning"),
    ("segmentation_models_pytorch", "segmentation-models-pytorch"),
    ("timm", "timm"),
    ("scipy", "scipy"),
    ("sklearn", "scikit-learn"),
    ("matplotlib", "matplotlib"),
    ("omegaconf", "omegaconf"),
)


def _version(module: str, distribution: str) -> str:
    """The version of an imported module as it reports it (torch's ``+cu130`` included),
    else the installed distribution's, without importing it."""
    loaded = sys.modules.get(module)
    if loaded is not None and isinstance(getattr(loaded, "__version__", None), str):
        return loaded.__version__
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    """visionloss's version, then python / torch / triton / torchvision / peers, the cores,
    torch's threads and the devices seen."""
    import torch

    from ..experiments._common import cores
    from .main import version

    info = {
        "visionloss": version(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for label, distribution in PACKAGES:
        info[label] = _version(label, distribution)
    info["cores"] = str(cores())
    info["threads"] = f"{torch.get_num_threads()} (torch intra-op)"
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda"] = f"{torch.version.cuda}: " + ", ".join(names)
    else:
        info["cuda"] = "no CUDA device"
    return info


def add_parser(sub) -> None:
    p = sub.add_parser("env", help="versions of visionloss, python, torch and peers; devices")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    info = environment()
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key.ljust(width)}  {value}")
    return 0
