"""restoration-losses: which training loss makes the better denoiser (Zhao et al., 2017)?

Zhao, Gallo, Frosio & Kautz found that the loss a restoration network is trained with matters,
and that L2 is not the best choice even when the result is judged by PSNR (the metric L2
optimises): L1, and their MS-SSIM + L1 mix, gave higher PSNR, SSIM and MS-SSIM. This is their
comparison in miniature, on images that ship with scikit-image and scikit-learn (nothing is
downloaded):

* training patches: random crops of grayscale versions of scikit-image's camera, astronaut,
  coffee, chelsea, coins, moon, brick, grass, gravel, rocket and clock images, with additive
  Gaussian noise of standard deviation ``--sigma`` (default 0.1) drawn anew for every batch;
* held-out images: scikit-learn's ``china.jpg`` and ``flower.jpg`` (grayscale, area-reduced),
  with one fixed noise draw;
* the network: a small residual CNN (3x3 convolutions, ReLU; it predicts the noise), the same
  initialisation for every loss of a seed, Adam, the same number of steps and batches;
* the losses (registry names): ``mse`` (L2), ``l1``, ``ssim``, ``ms_ssim`` (3 scales with a
  7-pixel window, which fits the patches) and ``ms_ssim_l1`` (Zhao's mix, alpha 0.84, scales
  ``sigma = 0.5, 1, 2, 4``);
* the table: PSNR, SSIM (11-pixel window) and MS-SSIM (5 scales) of the denoised held-out
  images, mean and standard deviation over the seeds; ``crops.png`` shows a crop of each.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ExperimentError
from ..quality import ms_ssim, ms_ssim_l1_loss, ms_ssim_loss, psnr_loss, ssim, ssim_loss
from ..regression import l1_loss, mse_loss
from . import ExperimentResult, register_experiment
from ._common import pyplot, save_figure, seed_everything
from ._progress import progress

LOSSES = ("mse", "l1", "ssim", "ms_ssim", "ms_ssim_l1")
LABELS = {
    "mse": "L2",
    "l1": "L1",
    "ssim": "SSIM",
    "ms_ssim": "MS-SSIM",
    "ms_ssim_l1": "MS-SSIM + L1",
}
TRAIN_IMAGES = (
    "camera",
    "astronaut",
    "coffee",
    "chelsea",
    "coins",
    "moon",
    "brick",
    "grass",
    "gravel",
    "rocket",
    "clock",
)
HELD_OUT = ("china", "flower")


def training_loss(name: str, out: Tensor, clean: Tensor) -> Tensor:
    """The loss ``name`` with the settings that fit the training patches."""
    if name == "mse":
        return mse_loss(out, clean)
    if name == "l1":
        return l1_loss(out, clean)
    if name == "ssim":
        return ssim_loss(out, clean, win_size=7)
    if name == "ms_ssim":
        return ms_ssim_loss(out, clean, win_size=7, scales=3)
    return ms_ssim_l1_loss(out, clean, sigmas=(0.5, 1.0, 2.0, 4.0))


def _gray(img: np.ndarray) -> Tensor:
    x = torch.from_numpy(np.asarray(img, dtype=np.float32))
    if x.dim() == 3:
        x = x[..., :3] @ torch.tensor([0.2125, 0.7154, 0.0721])
    return x / 255.0


def load_training_images(scale: float) -> list[Tensor]:
    """Grayscale ``(1, 1, H, W)`` tensors in [0, 1], reduced by ``scale``."""
    try:
        import skimage.data as data
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "restoration-losses needs scikit-image (its bundled images): pip install "
            "'visionloss[experiments]'"
        ) from err
    images = []
    for name in TRAIN_IMAGES:
        x = _gray(getattr(data, name)())[None, None]
        size = (max(48, int(x.shape[-2] * scale)), max(48, int(x.shape[-1] * scale)))
        images.append(F.interpolate(x, size=size, mode="area"))
    return images


def load_held_out(size: tuple[int, int]) -> list[Tensor]:
    """scikit-learn's sample photographs, grayscale ``(1, 1, *size)``."""
    try:
        from sklearn.datasets import load_sample_image
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "restoration-losses needs scikit-learn (its sample images): pip install "
            "'visionloss[experiments]'"
        ) from err
    return [
        F.interpolate(_gray(load_sample_image(f"{n}.jpg"))[None, None], size=size, mode="area")
        for n in HELD_OUT
    ]


class Denoiser(nn.Module):
    """A small residual CNN: ``x - f(x)``, ``f`` = ``depth`` 3x3 convolutions with ReLUs."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x - self.body(x)


def sample_batch(
    images: list[Tensor], batch: int, patch: int, sigma: float, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """``batch`` random clean patches and their noisy versions."""
    crops = []
    picks = torch.randint(len(images), (batch,), generator=gen).tolist()
    for i in picks:
        img = images[i]
        top = int(torch.randint(img.shape[-2] - patch + 1, (1,), generator=gen))
        left = int(torch.randint(img.shape[-1] - patch + 1, (1,), generator=gen))
        crops.append(img[0, :, top : top + patch, left : left + patch])
    clean = torch.stack(crops)
    return clean + sigma * torch.randn(clean.shape, generator=gen), clean


def train(
    loss: str,
    images: list[Tensor],
    *,
    seed: int,
    steps: int,
    batch: int,
    patch: int,
    sigma: float,
    width: int,
    depth: int,
    lr: float = 2e-3,
) -> Denoiser:
    """One training run; the same initialisation and batches for every loss of a seed."""
    torch.manual_seed(seed)
    model = Denoiser(width, depth)
    gen = torch.Generator().manual_seed(10_000 + seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        noisy, clean = sample_batch(images, batch, patch, sigma, gen)
        value = training_loss(loss, model(noisy), clean)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    return model


def evaluate(out: Tensor, clean: Tensor) -> dict[str, float]:
    out = out.clamp(0, 1)
    return {
        "psnr": -float(psnr_loss(out, clean)),
        "ssim": float(ssim(out, clean)),
        "ms_ssim": float(ms_ssim(out, clean)),
    }


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


@register_experiment(
    "restoration-losses",
    summary="denoising CNN trained with L2, L1, SSIM, MS-SSIM and MS-SSIM + L1 (Zhao et al.)",
    family="quality",
    reference="Zhao, Gallo, Frosio & Kautz, IEEE TCI 2017, arXiv:1511.08861",
    losses=LOSSES,
    metric=("PSNR (dB)", "max"),
    baselines=("noisy input",),
    arguments=[
        (
            ("--sigma",),
            {"type": float, "default": 0.1, "help": "noise standard deviation (default 0.1)"},
        ),
        (
            ("--steps",),
            {
                "type": int,
                "default": None,
                "help": "Adam steps per run (default 60 quick, 400 full)",
            },
        ),
        (
            ("--seeds",),
            {"type": int, "default": None, "help": "seeds per loss (default 2 quick, 3 full)"},
        ),
    ],
)
def restoration_losses(
    quick: bool,
    out: Path,
    sigma: float = 0.1,
    steps: int | None = None,
    seeds: int | None = None,
) -> ExperimentResult:
    steps = steps if steps is not None else (60 if quick else 400)
    seeds = seeds if seeds is not None else (2 if quick else 3)
    if steps < 1 or seeds < 1 or not sigma > 0:
        raise ExperimentError(
            f"restoration-losses: expected steps >= 1, seeds >= 1 and sigma > 0, got "
            f"steps={steps}, seeds={seeds}, sigma={sigma}"
        )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convolutions: more threads only add synchronisation
    try:
        return _run(quick, out, sigma, steps, seeds)
    finally:
        torch.set_num_threads(threads)


def _run(quick: bool, out: Path, sigma: float, steps: int, seeds: int) -> ExperimentResult:
    gen = seed_everything(0)
    settings: dict[str, Any] = (
        {"batch": 8, "patch": 32, "width": 12, "depth": 3, "scale": 0.35, "size": (176, 264)}
        if quick
        else {"batch": 12, "patch": 40, "width": 12, "depth": 4, "scale": 0.6, "size": (213, 320)}
    )
    images = load_training_images(settings["scale"])
    held = load_held_out(settings["size"])
    noisy = [c + sigma * torch.randn(c.shape, generator=gen) for c in held]
    scores: dict[str, list[dict[str, float]]] = {name: [] for name in LOSSES}
    crops: dict[str, Tensor] = {}
    runs = [(name, seed) for seed in range(seeds) for name in LOSSES]
    for name, seed in progress(runs, desc="restoration-losses"):
        model = train(
            name,
            images,
            seed=seed,
            steps=steps,
            sigma=sigma,
            **{k: settings[k] for k in ("batch", "patch", "width", "depth")},
        )
        with torch.no_grad():
            outs = [model(n).clamp(0, 1) for n in noisy]
        per_image = [evaluate(o, c) for o, c in zip(outs, held)]
        scores[name].append({k: statistics.fmean(s[k] for s in per_image) for k in per_image[0]})
        if seed == 0:
            crops[name] = outs[0]
    noisy_score = [evaluate(n, c) for n, c in zip(noisy, held)]
    rows: list[list[Any]] = [
        [
            "noisy input",
            statistics.fmean(s["psnr"] for s in noisy_score),
            0.0,
            statistics.fmean(s["ssim"] for s in noisy_score),
            0.0,
            statistics.fmean(s["ms_ssim"] for s in noisy_score),
            0.0,
        ]
    ]
    summary: dict[str, dict[str, float]] = {}
    for name in LOSSES:
        row: list[Any] = [LABELS[name]]
        summary[name] = {}
        for metric in ("psnr", "ssim", "ms_ssim"):
            mean, sd = _mean_sd([s[metric] for s in scores[name]])
            row += [mean, sd]
            summary[name][metric] = mean
        rows.append(row)
    best = {m: max(LOSSES, key=lambda n: summary[n][m]) for m in ("psnr", "ssim", "ms_ssim")}
    l2_beaten = [LABELS[n] for n in LOSSES if summary[n]["psnr"] > summary["mse"]["psnr"]]

    plt = pyplot()
    h, w = held[0].shape[-2:]
    top, left, size = h // 4, w // 3, min(h, w) // 2
    panels = [("clean", held[0]), ("noisy", noisy[0].clamp(0, 1))] + [
        (LABELS[n], crops[n]) for n in LOSSES
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.5))
    for ax, (title, img) in zip(axes, panels):
        crop = img[0, 0, top : top + size, left : left + size].numpy()
        ax.imshow(crop, cmap="gray", vmin=0, vmax=1)
        score = "" if title == "clean" else f"\n{-float(psnr_loss(img, held[0])):.2f} dB"
        ax.set_title(title + score, fontsize=8)
        ax.axis("off")
    fig.suptitle(f"Denoising of china.jpg (sigma {sigma}, {steps} steps, seed 0)", fontsize=9)
    figure = save_figure(fig, out / "crops.png")
    notes = (
        f"Held-out images: scikit-learn's china and flower (grayscale, {settings['size']}), "
        f"noise sigma {sigma}; {seeds} seed(s), {steps} Adam steps of {settings['batch']} "
        f"patches {settings['patch']}x{settings['patch']} per run. Best PSNR: "
        f"{LABELS[best['psnr']]}, best SSIM: {LABELS[best['ssim']]}, best MS-SSIM: "
        f"{LABELS[best['ms_ssim']]}. Losses with a higher PSNR than L2: "
        f"{', '.join(l2_beaten) or 'none'} (Zhao et al.: L1 and MS-SSIM + L1 beat L2 on "
        "every metric)."
    )
    return ExperimentResult(
        title=f"Denoising (sigma {sigma}): the training loss against PSNR / SSIM / MS-SSIM",
        columns=["training loss", "PSNR (dB)", "sd", "SSIM", "sd", "MS-SSIM", "sd"],
        rows=rows,
        figures=[figure],
        notes=notes,
        data={
            "sigma": sigma,
            "steps": steps,
            "seeds": seeds,
            "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
            "scores": scores,
            "best": best,
            "l2_beaten_on_psnr": l2_beaten,
        },
    )
