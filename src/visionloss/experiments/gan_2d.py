"""gan-2d: the GAN objectives on a 2-D mixture of 8 Gaussians.

The target is the ring of 8 Gaussians of the unrolled-GAN and WGAN-GP papers (radius 2, standard
deviation 0.05), sampled on the fly, so nothing is downloaded. The same small generator and
discriminator (two hidden layers of 64 units, batches of 128, the same initialisation) are trained with each
``kind`` of :func:`~visionloss.discriminator_loss` / :func:`~visionloss.generator_loss`, and
with WGAN-GP (``kind="wgan"`` plus :func:`~visionloss.gradient_penalty`, lambda 0.1 as in
Gulrajani et al.'s toy experiments); plain ``"wgan"`` uses :func:`~visionloss.clip_weights_`
(c = 0.01) with RMSProp, as Arjovsky et al. (the others use Adam, lr 1e-3, betas 0.5, 0.9).
Both Wasserstein critics take 5 steps per generator step. GAN training is noisy: a quick run
(800 generator steps) shows the character of each objective, ``--steps`` and ``--seed`` let
you check how stable a ranking is.

The set-ups are independent: they run side by side in ``--workers`` processes (default 2, or
1 where ``VISIONLOSS_THREADS=1``, as when the tour runs experiments side by side), spawned
processes with one torch thread each. Every set-up seeds itself, so the
table does not depend on the number of workers. Spawned workers import the main module: a script that calls
``run_experiment("gan-2d")`` must do so under ``if __name__ == "__main__":`` (or pass
``workers=1``), as for any multiprocessing code.

Per kind the table reports, on 2,000 generated samples: the modes covered (a mode counts when
at least 1% of the samples lie within 3 standard deviations of its centre), the fraction of
such "high-quality" samples, and the sliced Wasserstein-1 distance to 2,000 fresh target
samples (64 fixed directions); the first row is that distance between two target samples, the
floor of the estimate. ``samples.png`` draws the samples of every kind.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn

from ..adversarial import clip_weights_, discriminator_loss, generator_loss, gradient_penalty
from ..errors import ExperimentError
from . import ExperimentResult, register_experiment
from ._common import default_threads, pyplot, save_figure, seed_everything, side_by_side
from ._progress import progress

MODES, RADIUS, STD = 8, 2.0, 0.05
NOISE, HIDDEN, BATCH = 8, 64, 128
RMSPROP_LR = 5e-4
# label: (kind, critic steps per generator step, weight clipping, gradient penalty)
SETUPS = [
    ("minimax", "minimax", 1, False, False),
    ("nonsaturating", "nonsaturating", 1, False, False),
    ("lsgan", "lsgan", 1, False, False),
    ("hinge", "hinge", 1, False, False),
    ("wgan (clip)", "wgan", 5, True, False),
    ("wgan-gp", "wgan", 5, False, True),
]


def centres() -> Tensor:
    angles = torch.arange(MODES) * (2 * math.pi / MODES)
    return RADIUS * torch.stack([angles.cos(), angles.sin()], 1)


def sample_target(n: int, generator: torch.Generator) -> Tensor:
    idx = torch.randint(0, MODES, (n,), generator=generator)
    return centres()[idx] + STD * torch.randn(n, 2, generator=generator)


def _mlp(d_in: int, d_out: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(d_in, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, d_out),
    )


def mode_statistics(samples: Tensor) -> tuple[int, float]:
    """(modes covered, fraction of samples within 3 std of a centre)."""
    dist = torch.cdist(samples, centres())
    nearest, which = dist.min(1)
    good = nearest < 3 * STD
    counts = torch.bincount(which[good], minlength=MODES)
    return int((counts >= 0.01 * len(samples)).sum()), float(good.float().mean())


def sliced_wasserstein(a: Tensor, b: Tensor, directions: int = 64, seed: int = 0) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance of the projections
    (equal sample sizes: the mean absolute difference of the sorted projections)."""
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(2, directions, generator=g)
    theta = theta / theta.norm(dim=0, keepdim=True)
    pa, _ = (a @ theta).sort(0)
    pb, _ = (b @ theta).sort(0)
    return float((pa - pb).abs().mean())


def train(kind: str, n_critic: int, clip: bool, penalty: bool, steps: int, seed: int) -> nn.Module:
    """Train a generator with one GAN objective; return it."""
    seed_everything(seed)
    gen, disc = _mlp(NOISE, 2), _mlp(2, 1)
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    if clip:  # Arjovsky et al.: momentum makes the clipped critic unstable; they use RMSProp
        opt_g = torch.optim.RMSprop(gen.parameters(), lr=RMSPROP_LR)
        opt_d = torch.optim.RMSprop(disc.parameters(), lr=RMSPROP_LR)
    else:
        opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.9))
        opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.9))
    data = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        for _ in range(n_critic):
            real = sample_target(BATCH, data)
            with torch.no_grad():
                fake = gen(torch.randn(BATCH, NOISE, generator=data))
            loss = discriminator_loss(disc(real), disc(fake), kind=kind)
            if penalty:
                loss = loss + gradient_penalty(disc, real, fake, lambda_=0.1, generator=data)
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
            if clip:
                clip_weights_(disc, 0.01)
        fake = gen(torch.randn(BATCH, NOISE, generator=data))
        g_loss = generator_loss(disc(fake), kind=kind)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    return gen


def _samples(setup: tuple, steps: int, seed: int, n: int) -> tuple[str, list[list[float]]]:
    """Train one set-up (on one torch thread) and draw ``n`` samples; the samples come back as
    a plain list so that nothing but numbers crosses a process boundary."""
    label, kind, n_critic, clip, penalty = setup
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small MLPs: more threads only add synchronisation
    try:
        gen = train(kind, n_critic, clip, penalty, steps, seed)
        with torch.no_grad():
            fake = gen(torch.randn(n, NOISE, generator=torch.Generator().manual_seed(seed + 7)))
    finally:
        torch.set_num_threads(threads)
    return label, fake.tolist()


def _cost(setup: tuple) -> int:
    """Relative cost of a set-up: critic steps per generator step, twice for the gradient
    penalty (its double backward)."""
    _, _, n_critic, _, penalty = setup
    return n_critic * (2 if penalty else 1)


def _train_all(steps: int, seed: int, n: int, workers: int):
    """Yield ``(label, samples)`` per set-up as they finish, the costliest started first."""
    calls = [(setup, steps, seed, n) for setup in sorted(SETUPS, key=_cost, reverse=True)]
    return side_by_side(_samples, calls, workers, who="gan-2d")


@register_experiment(
    "gan-2d",
    losses=("gan_discriminator", "gan_generator", "gradient_penalty"),
    metric=("sliced W1 to target", "min"),
    baselines=("target (floor)",),
    summary="each GAN objective (and WGAN-GP) on a 2-D mixture of 8 Gaussians",
    family="adversarial",
    reference="Goodfellow et al. arXiv:1406.2661; Mao et al. arXiv:1611.04076; Arjovsky et al. "
    "arXiv:1701.07875; Gulrajani et al. arXiv:1704.00028; Metz et al. arXiv:1611.02163",
    arguments=[
        (
            ("--steps",),
            {
                "type": int,
                "default": None,
                "help": "generator steps per objective (default 800 quick, 5000 full)",
            },
        ),
        (("--seed",), {"type": int, "default": 0, "help": "random seed (default 0)"}),
        (
            ("--workers",),
            {
                "type": int,
                "default": None,
                "help": "processes training set-ups side by side, one torch thread each "
                "(default 2, or $VISIONLOSS_THREADS)",
            },
        ),
    ],
)
def gan_2d(
    quick: bool, out: Path, steps: int | None = None, seed: int = 0, workers: int | None = None
) -> ExperimentResult:
    steps = steps if steps is not None else (800 if quick else 5000)
    if steps < 1:
        raise ExperimentError(f"gan-2d: expected steps >= 1, got {steps}")
    workers = workers if workers is not None else default_threads()
    if workers < 1:
        raise ExperimentError(f"gan-2d: expected workers >= 1, got {workers}")
    return _run(out, steps, seed, min(workers, len(SETUPS)))


def _run(out: Path, steps: int, seed: int, workers: int) -> ExperimentResult:
    n = 2000
    draws = torch.Generator().manual_seed(seed + 123)
    target = sample_target(n, draws)
    floor = sliced_wasserstein(target, sample_target(n, draws))
    covered, quality = mode_statistics(target)
    rows = [["target (floor)", covered, quality, floor]]
    done = {}
    runs = _train_all(steps, seed, n, workers)
    for label, fake in progress(runs, total=len(SETUPS), desc="gan-2d"):
        done[label] = torch.tensor(fake)
    samples = {"target": target}
    for label, *_ in SETUPS:  # the table in the order of SETUPS, whatever finished first
        fake = samples[label] = done[label]
        covered, quality = mode_statistics(fake)
        rows.append([label, covered, quality, sliced_wasserstein(fake, target)])

    plt = pyplot()
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.6), sharex=True, sharey=True)
    for ax, (label, pts) in zip(axes.flat, samples.items()):
        ax.scatter(*centres().T, s=60, c="none", edgecolors="tab:red", linewidths=1.2)
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.35, c="tab:blue")
        ax.set_title(label)
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_aspect("equal")
    for ax in list(axes.flat)[len(samples) :]:
        ax.axis("off")
    fig.suptitle(f"8-Gaussian mixture after {steps} generator steps (red: mode centres)")
    figure = save_figure(fig, out / "samples.png")
    return ExperimentResult(
        title=f"GAN objectives on 8 Gaussians ({steps} generator steps, seed {seed})",
        columns=[
            "objective",
            "modes covered (of 8)",
            "high-quality fraction",
            "sliced W1 to target",
        ],
        rows=rows,
        figures=[figure],
        notes="A mode is covered when >= 1% of 2,000 samples lie within 3 std (0.15) of its "
        "centre; sliced W1 over 64 directions; the first row is the estimate's floor.",
        data={"steps": steps, "seed": seed, "std": STD, "radius": RADIUS, "workers": workers},
    )
