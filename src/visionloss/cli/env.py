"""``visionloss env``: versions and devices."""

from __future__ import annotations

import argparse
import importlib
import platform


def environment() -> dict[str, str]:
    """Versions of python / torch / triton / torchvision / peers, and the devices seen."""
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform()}
    for mod in (
        "torch",
        "triton",
        "torchvision",
        "numpy",
        "monai",
        "kornia",
        "pytorch_metric_learning",
        "segmentation_models_pytorch",
        "scipy",
        "sklearn",
        "matplotlib",
    ):
        try:
            info[mod] = getattr(importlib.import_module(mod), "__version__", "?")
        except Exception:  # noqa: BLE001 - any import failure means "not available"
            info[mod] = "not installed"
    info["cpu threads"] = str(torch.get_num_threads())
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda"] = f"{torch.version.cuda}: " + ", ".join(names)
    else:
        info["cuda"] = "no CUDA device"
    return info


def add_parser(sub) -> None:
    p = sub.add_parser("env", help="versions of python/torch/triton/torchvision and devices")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    info = environment()
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key.ljust(width)}  {value}")
    return 0
