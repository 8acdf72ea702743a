"""Forgery localisation by dense contrastive learning: FOCAL's per-image InfoNCE++ against the
batch-level InfoNCE++ it argues against, and CFL-Net's patch contrast.

Data: generated splicing forgeries. Every image is a generated scene (smooth random fields and
shapes; crops of scikit-learn's two shipped photos when it is installed) that goes through its
own acquisition chain: Gaussian blur, additive noise and intensity quantisation, with levels
drawn per image from one shared menu. A forgery pastes a random region (rectangle or ellipse)
of a second, differently processed image into the first: the region carries another chain's
trace, and only *relative to its host* is it "forged": a trace that is forged in one image is
pristine in another (FOCAL's argument for contrasting image by image).

Model: a small fully convolutional net (no pooling) giving 32-d pixel features; the same
initialisation and batches for every loss. Test: each held-out image's features are split by
2-means (spherical k-means on the L2-normalised features, as FOCAL clusters at test time), the
smaller cluster is called forged (FOCAL's rule), and IoU / F1 against the true mask are averaged
over images.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..contrastive import patch_contrast_loss, pixel_info_nce_loss
from ..errors import ExperimentError
from . import ExperimentResult, register_experiment
from ._common import limit_threads, pyplot, save_figure, seed_everything
from ._progress import progress

SIZE = 32
FEATURES = 32
BATCH = 8
MAX_SAMPLES = 64  # pixels of each class per image in the InfoNCE++ dictionaries
NOISE = (0.0, 0.03, 0.08)
BLUR = (0.0, 1.0, 2.0)
LEVELS = (0, 32, 8)  # quantisation levels (0: none)

METHODS = {
    "InfoNCE++ per image (FOCAL)": lambda f, m: pixel_info_nce_loss(
        f, m, scope="image", max_samples=MAX_SAMPLES
    ),
    "InfoNCE++ batch-level": lambda f, m: pixel_info_nce_loss(
        f, m, scope="batch", max_samples=MAX_SAMPLES
    ),
    "patch contrast (CFL-Net)": lambda f, m: patch_contrast_loss(f, m, patch_size=4),
}


# ------------------------------------------------------------------------------------ data
def _photos() -> list[Tensor]:
    """The two photos scikit-learn ships (``china.jpg``, ``flower.jpg``) as ``(3, H, W)`` in
    [0, 1], read with Pillow without importing scikit-learn; none when either is missing."""
    try:
        import importlib.util

        from PIL import Image

        spec = importlib.util.find_spec("sklearn")
        if spec is None or not spec.submodule_search_locations:
            return []
        folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "images"
        arrays = [
            np.array(Image.open(folder / n).convert("RGB")) for n in ("china.jpg", "flower.jpg")
        ]
    except (ImportError, AttributeError, TypeError, OSError):  # pragma: no cover - optional
        return []
    return [torch.from_numpy(a).permute(2, 0, 1).float() / 255.0 for a in arrays]


def _scene(g: torch.Generator, photos: list[Tensor]) -> Tensor:
    """A ``(3, SIZE, SIZE)`` scene in [0.1, 0.9] (so that noise is not clipped away): a photo
    crop, or smooth fields plus shapes."""
    if photos and torch.rand((), generator=g) < 0.5:
        photo = photos[int(torch.randint(len(photos), (), generator=g))]
        side = int(torch.randint(SIZE * 2, SIZE * 6, (), generator=g))
        y = int(torch.randint(photo.shape[1] - side, (), generator=g))
        x = int(torch.randint(photo.shape[2] - side, (), generator=g))
        crop = photo[:, y : y + side, x : x + side][None]
        return 0.1 + 0.8 * F.interpolate(crop, size=(SIZE, SIZE), mode="area")[0]
    coarse = torch.rand(3, 4, 4, generator=g)
    img = F.interpolate(coarse[None], size=(SIZE, SIZE), mode="bicubic", align_corners=False)[0]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, SIZE), torch.linspace(-1, 1, SIZE), indexing="ij")
    for _ in range(int(torch.randint(1, 4, (), generator=g))):
        cy, cx, r = torch.rand(3, generator=g) * torch.tensor([2.0, 2.0, 0.6]) - torch.tensor(
            [1.0, 1.0, -0.15]
        )
        colour = torch.rand(3, 1, 1, generator=g)
        inside = ((yy - cy) ** 2 + (xx - cx) ** 2) < r**2
        img = torch.where(inside, 0.5 * img + 0.5 * colour, img)
    return 0.1 + 0.8 * img.clamp(0, 1)


def _blur(img: Tensor, sigma: float) -> Tensor:
    if sigma == 0:
        return img
    r = math.ceil(2 * sigma)
    t = torch.arange(-r, r + 1, dtype=img.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(img[None], (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)
    return x[0]


def _chain(g: torch.Generator) -> tuple[int, int, int]:
    """Indices into (BLUR, NOISE, LEVELS): one acquisition chain."""
    return (
        int(torch.randint(len(BLUR), (), generator=g)),
        int(torch.randint(len(NOISE), (), generator=g)),
        int(torch.randint(len(LEVELS), (), generator=g)),
    )


def _process(img: Tensor, chain: tuple[int, int, int], g: torch.Generator) -> Tensor:
    blur, noise, levels = BLUR[chain[0]], NOISE[chain[1]], LEVELS[chain[2]]
    img = _blur(img, blur) + noise * torch.randn(img.shape, generator=g)
    img = img.clamp(0, 1)
    if levels:
        img = torch.round(img * (levels - 1)) / (levels - 1)
    return img


def _region(g: torch.Generator) -> Tensor:
    """A random rectangle or ellipse covering roughly 8 - 40 % of the image."""
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    h, w = (torch.randint(SIZE // 4, SIZE * 2 // 3, (2,), generator=g)).tolist()
    y0 = int(torch.randint(0, SIZE - h + 1, (), generator=g))
    x0 = int(torch.randint(0, SIZE - w + 1, (), generator=g))
    if torch.rand((), generator=g) < 0.5:
        return (yy >= y0) & (yy < y0 + h) & (xx >= x0) & (xx < x0 + w)
    cy, cx = y0 + (h - 1) / 2, x0 + (w - 1) / 2
    return ((yy - cy) / (h / 2)) ** 2 + ((xx - cx) / (w / 2)) ** 2 <= 1.0


def make_forgeries(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` spliced images ``(n, 3, SIZE, SIZE)`` and their masks ``(n, SIZE, SIZE)`` (1 =
    forged). Host and region chains differ in at least two of blur, noise, quantisation."""
    g = torch.Generator().manual_seed(seed)
    photos = _photos()
    images, masks = [], []
    for _ in range(n):
        host_chain = _chain(g)
        while True:
            donor_chain = _chain(g)
            if sum(a != b for a, b in zip(host_chain, donor_chain)) >= 2:
                break
        host = _process(_scene(g, photos), host_chain, g)
        donor = _process(_scene(g, photos), donor_chain, g)
        region = _region(g)
        images.append(torch.where(region, donor, host))
        masks.append(region.long())
    return torch.stack(images), torch.stack(masks)


# ----------------------------------------------------------------------------------- model
class _Net(nn.Module):
    """Four 3x3 convolutions (receptive field 9 px) and a 1x1 projection: 32-d pixel features
    at full resolution."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = [3, 16, 24, 32, 32]
        for a, b in zip(channels[:-1], channels[1:]):
            layers += [nn.Conv2d(a, b, 3, padding=1, padding_mode="reflect"), nn.ReLU()]
        layers.append(nn.Conv2d(channels[-1], FEATURES, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x - 0.5)


def _train(name: str, images: Tensor, masks: Tensor, steps: int, seed: int) -> tuple[_Net, list]:
    torch.manual_seed(seed)
    net = _Net()
    if name == "untrained":
        return net, []
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed + 1)
    loss_fn = METHODS[name]
    curve = []
    torch.manual_seed(seed + 2)  # the same InfoNCE++ samples for every method
    for _ in range(steps):
        idx = torch.randint(images.shape[0], (BATCH,), generator=g)
        loss = loss_fn(net(images[idx]), masks[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(float(loss.detach()))
    return net, curve


# -------------------------------------------------------------------------------- testing
def two_means(x: Tensor, iters: int = 15) -> Tensor:
    """Spherical 2-means per image of unit vectors ``x (B, n, D)``: ``(B, n)`` bool, True for
    the smaller cluster (FOCAL calls it forged). Deterministic farthest-point initialisation."""
    rows = torch.arange(x.shape[0])
    mean = F.normalize(x.mean(1), dim=-1)
    c0 = x[rows, (x @ mean[..., None])[..., 0].argmin(1)]
    c1 = x[rows, (x @ c0[..., None])[..., 0].argmin(1)]
    for _ in range(iters):
        one = (x @ c1[..., None])[..., 0] > (x @ c0[..., None])[..., 0]
        w1 = one[..., None].to(x.dtype)
        c1_new = F.normalize((x * w1).sum(1), dim=-1)
        c0_new = F.normalize((x * (1 - w1)).sum(1), dim=-1)
        c1 = torch.where(one.any(1, keepdim=True), c1_new, c1)
        c0 = torch.where((~one).any(1, keepdim=True), c0_new, c0)
    one = (x @ c1[..., None])[..., 0] > (x @ c0[..., None])[..., 0]
    flip = one.sum(1, keepdim=True) * 2 > one.shape[1]
    return one ^ flip


@torch.no_grad()
def _evaluate(net: _Net, images: Tensor, masks: Tensor) -> tuple[dict[str, float], Tensor]:
    """The scores of ``net``'s masks on ``images`` (IoU, F1, test loss) and the masks."""
    feats = net(images)
    b = feats.shape[0]
    pred = two_means(F.normalize(feats.flatten(2).transpose(1, 2), dim=-1)).view(b, SIZE, SIZE)
    gt = masks.bool()
    inter = (pred & gt).flatten(1).sum(1).float()
    union = (pred | gt).flatten(1).sum(1).float()
    total = pred.flatten(1).sum(1).float() + gt.flatten(1).sum(1).float()
    scores = {
        "iou": float((inter / union.clamp_min(1)).mean()),
        "f1": float((2 * inter / total.clamp_min(1)).mean()),
        "test_loss": float(
            pixel_info_nce_loss(
                feats, masks, max_samples=MAX_SAMPLES, generator=torch.Generator().manual_seed(0)
            )
        ),
    }
    return scores, pred


def _roughness(curve: list[float]) -> float:
    """Mean |step-to-step change| over the second half, relative to the mean loss there."""
    c = np.asarray(curve[len(curve) // 2 :])
    return float(np.abs(np.diff(c)).mean() / max(c.mean(), 1e-12)) if len(c) > 1 else 0.0


def _smooth(curve: np.ndarray, k: int) -> np.ndarray:
    c = np.asarray(curve)
    if len(c) < k:
        return c
    return np.convolve(c, np.ones(k) / k, mode="valid")


def _curves_figure(curves: dict[str, list[float]], path: Path) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    names = [n for n in curves if n.startswith("InfoNCE++")]
    k = max(1, len(curves[names[0]]) // 40)
    for name in names:
        c = np.asarray(curves[name])
        smooth = _smooth(c, k)
        steps = np.arange(len(smooth)) + k - 1
        axes[0].plot(c, alpha=0.35, lw=0.8)
        colour = axes[0].lines[-1].get_color()
        axes[0].plot(steps, smooth, label=name, color=colour)
        axes[1].plot(steps, smooth / smooth[0], label=name, color=colour)
    axes[0].set(title="training loss (light: per step)", xlabel="step", ylabel="InfoNCE++")
    axes[1].set(
        title=f"moving average over {k} steps, relative to its start",
        xlabel="step",
        ylabel="loss / initial loss",
    )
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def _masks_figure(images: Tensor, masks: Tensor, preds: dict[str, Tensor], path: Path) -> Path:
    plt = pyplot()
    n = min(4, images.shape[0])
    cols = ["image", "true mask", *preds]
    fig, axes = plt.subplots(n, len(cols), figsize=(1.9 * len(cols), 1.9 * n), squeeze=False)
    for i in range(n):
        panels = [images[i].permute(1, 2, 0).numpy(), masks[i].numpy()]
        panels += [p[i].float().numpy() for p in preds.values()]
        for j, (panel, title) in enumerate(zip(panels, cols)):
            ax = axes[i, j]
            ax.imshow(panel, cmap=None if j == 0 else "gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title.replace(" (", "\n("), fontsize=7)
    return save_figure(fig, path)


@register_experiment(
    "forgery-contrast",
    losses=("pixel_info_nce", "patch_contrast"),
    metric=("IoU", "max"),
    baselines=("untrained",),
    summary="per-image vs batch-level InfoNCE++ (FOCAL) and patch contrast (CFL-Net) on "
    "generated splicing forgeries; 2-means localisation IoU",
    family="contrastive",
    reference="Wu et al., FOCAL, arXiv:2308.09307; Niloy et al., CFL-Net, arXiv:2210.02182",
    arguments=[
        (
            ("--steps",),
            {
                "type": int,
                "default": None,
                "help": "training steps per loss (default 200 quick, 1500 full)",
            },
        ),
        (
            ("--train-images",),
            {
                "type": int,
                "default": None,
                "help": "generated training images (default 256 quick, 2048 full)",
            },
        ),
        (("--seed",), {"type": int, "default": 0, "help": "seed of data and initialisation"}),
    ],
)
def forgery_contrast(
    quick: bool,
    out: Path,
    steps: int | None = None,
    train_images: int | None = None,
    seed: int = 0,
) -> ExperimentResult:
    limit_threads()
    threads = torch.get_num_threads()
    # small convolutions and matrices: one thread is faster than two (no spin-waiting)
    torch.set_num_threads(1)
    try:
        return _run(quick, out, steps, train_images, seed)
    finally:
        torch.set_num_threads(threads)


def _run(
    quick: bool, out: Path, steps: int | None, train_images: int | None, seed: int
) -> ExperimentResult:
    steps = steps if steps is not None else (200 if quick else 1500)
    n_train = train_images if train_images is not None else (256 if quick else 2048)
    n_test = 32 if quick else 128
    if steps < 1 or n_train < 1:
        raise ExperimentError(
            f"forgery-contrast: expected steps >= 1 and train_images >= 1, got steps={steps}, "
            f"train_images={n_train}"
        )
    seed_everything(seed)
    x_tr, m_tr = make_forgeries(n_train, seed)
    x_te, m_te = make_forgeries(n_test, seed + 10_000)
    rows: list[list[object]] = []
    curves: dict[str, list[float]] = {}
    preds: dict[str, Tensor] = {}
    for name in progress(["untrained", *METHODS], desc="forgery-contrast"):
        net, curve = _train(name, x_tr, m_tr, steps, seed)
        scores, preds[name] = _evaluate(net, x_te, m_te)
        tail = curve[-max(1, steps // 10) :]
        rows.append(
            [
                name,
                float(np.mean(tail)) if curve else float("nan"),
                _roughness(curve) if curve else float("nan"),
                scores["test_loss"],
                scores["iou"],
                scores["f1"],
            ]
        )
        if curve:
            curves[name] = curve
    figures = [
        _curves_figure(curves, out / "loss_curves.png"),
        _masks_figure(
            x_te,
            m_te,
            {k: v for k, v in preds.items() if k != "untrained"},
            out / "example_masks.png",
        ),
    ]
    return ExperimentResult(
        title=f"forgery-contrast: {n_train} generated {SIZE}x{SIZE} splices, {steps} steps of "
        f"{BATCH} images, {FEATURES}-d pixel features; 2-means on {n_test} test images",
        columns=[
            "loss",
            "final train loss",
            "roughness",
            "test InfoNCE++ (per image)",
            "IoU",
            "F1",
        ],
        rows=rows,
        figures=figures,
        notes=(
            "final train loss: mean of the last 10% of steps (each method's own loss, so the "
            "batch-level one, with more negatives, sits higher); roughness: mean |step-to-step "
            "change| / mean loss over the second half; test InfoNCE++: FOCAL's per-image loss "
            "of every model on the test images (the same pixel samples for all). IoU / F1: "
            "forged = smaller of the two k-means clusters of each test image, averaged over "
            f"images. InfoNCE++ dictionaries: at most "
            f"{MAX_SAMPLES} pixels of each class per image; patch contrast: 4x4 patches."
        ),
        data={
            "steps": steps,
            "train_images": n_train,
            "test_images": n_test,
            "seed": seed,
            "curves": curves,
        },
    )
