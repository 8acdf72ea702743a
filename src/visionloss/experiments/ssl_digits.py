"""ssl-digits: self-supervised pretraining on scikit-learn's 8x8 digits, then a linear probe.

The same small encoder (an MLP 64 -> 128 -> 64, whose 64-D output is the representation) and
projector (64 -> 128 -> 32, with BatchNorm) are pretrained from the same initialisation and
for the same number of steps on pairs of augmented views (a random crop-and-rescale with a
shift, the elastic-free augmentations of small images, plus Gaussian pixel noise) with each
self-supervised objective: SimCLR (NT-Xent), BYOL (negative cosine with a predictor and a
momentum target), VICReg, Barlow Twins, SwAV (Sinkhorn-Knopp codes against learned
prototypes) and DINO (a momentum teacher, centring and sharpening). The labels are used only
by the linear probe (a multinomial logistic regression on the frozen, standardised
representation of the training split, scored on the held-out 40%) and by the supervised
baseline (encoder + linear head trained with cross entropy on the same augmented batches and
budget); the random-init baseline probes the untrained encoder.

Collapse indicators of the test representations: the mean per-dimension standard deviation
of the L2-normalised representation, times ``sqrt(d)`` (1 for vectors spread evenly over the
sphere, 0 for complete collapse: SimSiam's indicator), and the effective rank (Roy and
Vetterli 2007: ``exp`` of the entropy of the normalised singular values of the centred
representation, at most 64; low for dimensional collapse).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..contrastive import nt_xent_loss
from ..errors import ExperimentError
from ..self_supervised import (
    DINOLoss,
    SwAVPrototypes,
    barlow_twins_loss,
    negative_cosine_loss,
    swav_loss,
    vicreg_loss,
)
from . import ExperimentResult, register_experiment
from ._common import (
    digits_split,
    limit_threads,
    pyplot,
    save_figure,
    seed_everything,
    sklearn_module,
)
from ._progress import progress

NAME = "ssl-digits"
REPR, PROJ = 64, 32
SSL_METHODS = ("SimCLR (NT-Xent)", "BYOL", "VICReg", "Barlow Twins", "SwAV", "DINO")
PROTOTYPES = 30  # SwAV's prototypes and DINO's output logits
BASELINES = ("random init", "supervised")
METHODS = SSL_METHODS + BASELINES
FEW = 5  # labelled images per digit of the few-label probe


class _Model(nn.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, REPR))
        self.projector = nn.Sequential(
            nn.ReLU(), nn.Linear(REPR, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, PROJ)
        )
        self.predictor = nn.Sequential(  # BYOL's online predictor
            nn.Linear(PROJ, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, PROJ)
        )
        self.head = nn.Linear(REPR, 10)  # the supervised baseline's classifier
        self.swav = SwAVPrototypes(PROJ, PROTOTYPES)
        self.dino_head = nn.Linear(PROJ, PROTOTYPES)  # DINO's logits over PROTOTYPES

    def project(self, x: Tensor) -> Tensor:
        return self.projector(self.encoder(x))


def augment(x: Tensor, gen: torch.Generator, noise: float = 0.1) -> Tensor:
    """A random crop of 75-100% of the side rescaled to 8x8, shifted by up to 1.5 pixels
    (zero padding), plus Gaussian pixel noise; ``x`` is ``(B, 64)`` in [0, 1]."""
    b = x.shape[0]
    scale = 0.75 + 0.25 * torch.rand(b, generator=gen)
    shift = (torch.rand(b, 2, generator=gen) - 0.5) * 0.375  # +-1.5 px of the [-1, 1] grid
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, [b, 1, 8, 8], align_corners=False)
    img = F.grid_sample(x.view(b, 1, 8, 8), grid, align_corners=False, padding_mode="zeros")
    img = img + noise * torch.randn(img.shape, generator=gen)
    return img.clamp(0.0, 1.0).view(b, 64)


def _objective(method: str, model: _Model) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss of a batch of two views (the BYOL target is updated by :func:`_train`)."""
    if method == "SimCLR (NT-Xent)":
        return lambda a, b: nt_xent_loss(model.project(a), model.project(b), temperature=0.2)
    if method == "VICReg":
        return lambda a, b: vicreg_loss(model.project(a), model.project(b))
    if method == "Barlow Twins":
        return lambda a, b: barlow_twins_loss(
            model.project(a), model.project(b), off_diagonal_weight=1.0 / PROJ
        )
    raise ExperimentError(f"{NAME}: unknown method {method!r}")  # pragma: no cover


def _ema_target(model: _Model, momentum: float) -> tuple[_Model, Callable[[], None]]:
    """A frozen copy of ``model`` and the update that moves it towards ``model`` (EMA)."""
    target = copy.deepcopy(model)
    for p in target.parameters():
        p.requires_grad_(False)

    @torch.no_grad()
    def update() -> None:
        for p, q in zip(model.parameters(), target.parameters()):
            q.mul_(momentum).add_(p.detach(), alpha=1 - momentum)
        for b, c in zip(model.buffers(), target.buffers()):
            c.copy_(b)

    return target, update


def _byol(model: _Model, momentum: float) -> tuple[Callable[[Tensor, Tensor], Tensor], Callable]:
    target, update = _ema_target(model, momentum)

    def loss(a: Tensor, b: Tensor) -> Tensor:
        p1, p2 = model.predictor(model.project(a)), model.predictor(model.project(b))
        with torch.no_grad():
            t1, t2 = target.project(a), target.project(b)
        return 0.5 * (
            negative_cosine_loss(p1, t2, variant="byol")
            + negative_cosine_loss(p2, t1, variant="byol")
        )

    return loss, update


def _dino(model: _Model, momentum: float) -> tuple[Callable[[Tensor, Tensor], Tensor], Callable]:
    target, ema = _ema_target(model, momentum)
    criterion = DINOLoss(teacher_temperature=0.04, student_temperature=0.1, center_momentum=0.9)

    def loss(a: Tensor, b: Tensor) -> Tensor:
        student = torch.stack([model.dino_head(model.project(v)) for v in (a, b)])
        with torch.no_grad():
            teacher = torch.stack([target.dino_head(target.project(v)) for v in (a, b)])
        return criterion(student, teacher)

    return loss, ema


def _swav(model: _Model) -> tuple[Callable[[Tensor, Tensor], Tensor], Callable]:
    def loss(a: Tensor, b: Tensor) -> Tensor:
        return swav_loss(model.swav(torch.stack([model.project(a), model.project(b)])))

    return loss, model.swav.normalize_


def _train(method: str, x: Tensor, y: Tensor, *, steps: int, batch: int, seed: int) -> _Model:
    model = _Model(seed)
    if method == "random init":
        return model
    gen = torch.Generator().manual_seed(seed + 1000)
    update: Callable[[], None] = lambda: None  # noqa: E731
    if method == "supervised":
        loss_fn: Callable[..., Tensor] = lambda a, _b, t: F.cross_entropy(  # noqa: E731
            model.head(model.encoder(a)), t
        )
    elif method in ("BYOL", "DINO", "SwAV"):
        if method == "BYOL":
            pair, update = _byol(model, momentum=0.99)
        elif method == "DINO":
            pair, update = _dino(model, momentum=0.99)
        else:
            pair, update = _swav(model)
        loss_fn = lambda a, b, _t: pair(a, b)  # noqa: E731
    else:
        objective = _objective(method, model)
        loss_fn = lambda a, b, _t: objective(a, b)  # noqa: E731
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-5)
    model.train()
    for _ in range(steps):
        idx = torch.randint(x.shape[0], (batch,), generator=gen)
        xb = x[idx]
        loss = loss_fn(augment(xb, gen), augment(xb, gen), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        update()
    return model


def effective_rank(h: Tensor) -> float:
    """``exp(H(p))``, ``p`` the singular values of the centred ``h`` over their sum."""
    s = torch.linalg.svdvals((h - h.mean(0)).double())
    p = s / s.sum().clamp_min(1e-300)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def normalized_std(h: Tensor) -> float:
    """Mean per-dimension std of the L2-normalised rows, times ``sqrt(d)``."""
    z = F.normalize(h.double(), dim=1)
    return float(z.std(0, unbiased=False).mean() * math.sqrt(h.shape[1]))


def _probe(h_tr: Tensor, y_tr: Tensor, h_te: Tensor, y_te: Tensor, max_iter: int) -> float:
    linear = sklearn_module("linear_model", NAME)
    preprocessing = sklearn_module("preprocessing", NAME)
    scaler = preprocessing.StandardScaler().fit(h_tr.numpy())
    clf = linear.LogisticRegression(max_iter=max_iter)
    with warnings.catch_warnings():  # the quick run's probe stops early on purpose
        warnings.simplefilter("ignore", sklearn_module("exceptions", NAME).ConvergenceWarning)
        clf.fit(scaler.transform(h_tr.numpy()), y_tr.numpy())
    return float(clf.score(scaler.transform(h_te.numpy()), y_te.numpy()))


def few_labels(y: Tensor, per_class: int, seed: int) -> Tensor:
    """Indices of ``per_class`` random training images of each digit."""
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(10):
        members = torch.nonzero(y == c).squeeze(1)
        picks.append(members[torch.randperm(len(members), generator=gen)[:per_class]])
    return torch.cat(picks)


def _figure(rows: list[list], path: Path) -> Path:
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    names = [r[0] for r in rows]
    pos = np.arange(len(rows))
    ax1.barh(pos - 0.2, [r[1] for r in rows], 0.4, xerr=[r[2] for r in rows], label="all labels")
    ax1.barh(pos + 0.2, [r[3] for r in rows], 0.4, xerr=[r[4] for r in rows], label=f"{FEW}/class")
    ax1.set(yticks=pos, yticklabels=names, xlabel="linear-probe test accuracy", xlim=(0, 1))
    ax1.legend(loc="lower left", fontsize=8)
    ax1.invert_yaxis()
    ax2.barh(pos, [r[6] for r in rows], color="tab:orange", alpha=0.8)
    ax2.set(yticks=pos, yticklabels=[], xlabel=f"effective rank (of {REPR})")
    ax2.invert_yaxis()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle("ssl-digits: same encoder, same budget")
    return save_figure(fig, path)


@register_experiment(
    NAME,
    summary="SimCLR, BYOL, VICReg, Barlow Twins, SwAV and DINO pretraining on digits, linear probe",
    family="self_supervised",
    reference="Chen et al. ICML 2020; Grill et al. NeurIPS 2020; Bardes et al. ICLR 2022; "
    "Zbontar et al. ICML 2021; Caron et al. NeurIPS 2020, ICCV 2021",
    losses=("nt_xent", "negative_cosine", "vicreg", "barlow_twins", "swav", "dino"),
    metric=("5/class acc", "max"),
    baselines=("random init", "supervised"),
    arguments=[
        (
            ("--steps",),
            {
                "type": int,
                "default": None,
                "help": "pretraining steps (default 100 quick, 1500 full)",
            },
        ),
        (("--seeds",), {"type": int, "default": None, "help": "runs per method (2 quick, 3 full)"}),
        (("--batch",), {"type": int, "default": 128, "help": "images per batch (default 128)"}),
    ],
)
def ssl_digits(
    quick: bool, out: Path, steps: int | None = None, seeds: int | None = None, batch: int = 128
) -> ExperimentResult:
    limit_threads()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest
    try:
        return _run(out, quick, steps, seeds, batch)
    finally:
        torch.set_num_threads(threads)


def _run(
    out: Path, quick: bool, steps: int | None, seeds: int | None, batch: int
) -> ExperimentResult:
    steps = steps if steps is not None else (100 if quick else 1500)
    seeds = seeds if seeds is not None else (2 if quick else 3)
    if steps < 1 or seeds < 1 or batch < 2:
        raise ExperimentError(
            f"{NAME}: expected steps >= 1, seeds >= 1 and batch >= 2, got steps={steps}, "
            f"seeds={seeds}, batch={batch}"
        )
    x_tr, y_tr, x_te, y_te = digits_split(NAME)
    max_iter = 100 if quick else 1000
    per_seed: dict[str, list[list[float]]] = {m: [] for m in METHODS}
    runs = [(m, s) for m in METHODS for s in range(seeds)]
    for method, s in progress(runs, desc=NAME):
        seed_everything(s)
        model = _train(method, x_tr, y_tr, steps=steps, batch=batch, seed=s)
        model.eval()
        with torch.no_grad():
            h_tr, h_te = model.encoder(x_tr), model.encoder(x_te)
        accuracy = _probe(h_tr, y_tr, h_te, y_te, max_iter)
        few = few_labels(y_tr, FEW, s)
        few_accuracy = _probe(h_tr[few], y_tr[few], h_te, y_te, max_iter)
        per_seed[method].append(
            [accuracy, few_accuracy, normalized_std(h_te), effective_rank(h_te)]
        )
    rows = []
    for method in METHODS:
        r = np.array(per_seed[method])
        rows.append(
            [
                method,
                float(r[:, 0].mean()),
                float(r[:, 0].std()),
                float(r[:, 1].mean()),
                float(r[:, 1].std()),
                float(r[:, 2].mean()),
                float(r[:, 3].mean()),
            ]
        )
    figure = _figure(rows, out / "ssl_digits.png")
    return ExperimentResult(
        title=f"{NAME}: {seeds} seed(s) x {steps} steps of {batch} image pairs, linear probe",
        columns=[
            "method",
            "probe acc",
            "acc std",
            f"{FEW}/class acc",
            f"{FEW}/class std",
            "norm. std",
            "eff. rank",
        ],
        rows=rows,
        figures=[figure],
        notes=(
            f"Held-out 40% of the 1,797 digits. Encoder 64-128-{REPR}, projector "
            f"{REPR}-128-{PROJ} (BatchNorm), Adam 2e-3; views: crop 75-100% + shift <= 1.5 px "
            f"+ N(0, 0.1) noise. SimCLR temperature 0.2; BYOL momentum 0.99 with a predictor; "
            f"VICReg 25/25/1; Barlow Twins lambda 1/{PROJ}; SwAV {PROTOTYPES} "
            f"prototypes, tau 0.1, epsilon 0.05; DINO {PROTOTYPES} logits, momentum 0.99, "
            f"temperatures 0.1 / 0.04, center momentum 0.9. Probe: logistic regression on the "
            f"standardised frozen {REPR}-D representation, fitted on every training image or on "
            f"{FEW} per digit (drawn per seed). 'norm. std': std of the "
            f"L2-normalised representation x sqrt(d) (0 = collapse); 'eff. rank': exp entropy "
            f"of its singular values (of {REPR}). acc std: over seeds."
        ),
        data={"per_seed": per_seed, "steps": steps, "seeds": seeds, "batch": batch},
    )
