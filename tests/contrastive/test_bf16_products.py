"""bf16 similarity products (``_core.dtypes.product_dtype``): NT-Xent, SupCon and InfoNCE take
bf16 embeddings' similarity matrix as a bf16 GEMM (float32 accumulation, one rounding of each
product) and do everything after it in float32; fp16 and mixed inputs keep float32 products.

Recorded with a dispatch mode (every aten call of a forward+backward, with its tensors'
dtypes and sizes): the GEMMs' operands, and the dtype of every other operation that writes a
tensor of the matrix's size. The values are held to a bound derived from the two roundings
(operands, product), which a bf16 log-sum-exp or a bf16-accumulated product would exceed.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import visionloss as vl
from visionloss._core.dtypes import product_dtype

from ._data import labels, vectors

N, D, T = 48, 4, 0.5
GEMMS = {"mm", "addmm", "bmm", "matmul"}
# writes of the matrix's size that move its bf16 values without computing on them (an
# index_copy_ writes float32 results rounded once)
MOVES = {"index_fill_", "index_copy_", "copy_", "_to_copy", "slice", "t", "transpose", "view"}
MOVES |= {"expand"}
# bf16 kernels that compute in float32 and round each output once: the float32 result
# rounded (test_bf16_softmax_kernel_is_the_float32_one_rounded)
ROUNDED_ONCE = {"_softmax"}


class _Record(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, list[torch.dtype], list[int], torch.dtype | None, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        ins = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        outs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        name = func.overloadpacket.__name__
        first = outs[0] if outs else None
        self.calls.append(
            (
                name,
                [t.dtype for t in ins],
                [t.numel() for t in ins],
                None if first is None else first.dtype,
                0 if first is None else first.numel(),
            )
        )
        return out


def _nt_xent(x, dtype):
    q, k = x.to(dtype).split(N // 2)
    return vl.nt_xent_loss(q, k, temperature=T, reduction="none")


def _supcon(x, dtype):
    return vl.supcon_loss(x.to(dtype), labels(N, 4), temperature=T, reduction="none")


def _info_nce(x, dtype):
    q, k = x.to(dtype).split(N // 2)
    return vl.info_nce_loss(q, k, temperature=T, reduction="none")


def _info_nce_negatives(x, dtype):
    q, k, n = x.to(dtype).split(N // 3)
    return vl.info_nce_loss(q, k, n, temperature=T, reduction="none")


# name: (loss, logit-matrix size)
CASES = {
    "nt_xent": (_nt_xent, N * N),
    "supcon": (_supcon, N * N),
    "info_nce": (_info_nce, (N // 2) ** 2),
    "info_nce_negatives": (_info_nce_negatives, (N // 3) ** 2),
}


def _run(case: str, dtype: torch.dtype):
    fn, size = CASES[case]
    x = vectors(N, D, seed=3, dtype=torch.float32).to(dtype).requires_grad_()
    with _Record() as rec:
        fn(x, dtype).sum().backward()
    return rec.calls, size


def test_product_dtype():
    bf, h, f = (torch.zeros(1, dtype=d) for d in (torch.bfloat16, torch.float16, torch.float32))
    assert product_dtype(bf, bf, torch.zeros(1, dtype=torch.long)) == torch.bfloat16
    assert product_dtype(h, h) == torch.float32
    assert product_dtype(bf, f) == torch.float32  # mixed: the compute dtype
    assert product_dtype(bf, torch.zeros(1, dtype=torch.float64)) == torch.float64


@pytest.mark.parametrize("case", sorted(CASES))
def test_bf16_gemms_and_float32_after(case):
    calls, size = _run(case, torch.bfloat16)
    gemms = [c for c in calls if c[0] in GEMMS]
    assert gemms, calls
    # forward product and both backward products: bf16 operands
    assert all(set(dt) <= {torch.bfloat16} for _, dt, *_ in gemms), gemms
    # everything else writing a matrix-sized tensor computes in float32 (or moves bf16 values)
    big = [c for c in calls if c[4] >= size and c[0] not in GEMMS | MOVES | ROUNDED_ONCE]
    assert big, calls
    offenders = [c for c in big if c[3] not in (torch.float32, torch.bool)]
    assert not offenders, offenders


def test_bf16_softmax_kernel_is_the_float32_one_rounded():
    """What the two-view backward relies on: torch's bf16 softmax over rows (``-inf`` on
    the diagonal, as the anchors' own keys) equals the float32 softmax of the same values
    rounded to bf16, also computed in place."""
    g = torch.Generator().manual_seed(5)
    x = (3 * torch.randn(96, 160, generator=g)).to(torch.bfloat16)
    x[torch.arange(96), torch.arange(96)] = float("-inf")
    want = torch.softmax(x.float(), 1).to(torch.bfloat16)
    assert torch.equal(torch.softmax(x, 1), want)
    y = x.clone()
    torch.ops.aten._softmax.out(y, 1, False, out=y)
    assert torch.equal(y, want)


@pytest.mark.parametrize("case", sorted(CASES))
def test_fp16_keeps_float32_products(case):
    calls, size = _run(case, torch.float16)
    gemms = [c for c in calls if c[0] in GEMMS]
    assert gemms
    assert all(set(dt) <= {torch.float32} for _, dt, *_ in gemms), gemms


@pytest.mark.parametrize("case", sorted(CASES))
def test_bf16_within_the_rounding_bound(case):
    """Per term, against float64 from the same bf16 inputs: each logit ``s / T`` carries at
    most the operands' rounding (``2 * 2^-9 |s|``, unit vectors) and the product's
    (``2^-9 |s|``); a term (a log-sum-exp minus a positive logit, or InfoNCE's mean of two
    directions) moves by at most twice the largest logit error. A log-sum-exp rounded to bf16
    (values near 4 here: 2^-7 each) or a product accumulated in bf16 over D = 16 goes past it
    on some term of these; the pipeline of bf16 matmul and bf16 cross entropy does."""
    fn, _ = CASES[case]
    x = vectors(N, D, seed=3, dtype=torch.float32).to(torch.bfloat16)
    got = fn(x, torch.bfloat16)
    want = fn(x.double(), torch.float64)
    assert got.dtype == torch.float32
    bound = 2 * 3 * 2.0**-9 / T
    err = (got.double() - want).abs()
    assert err.max() <= bound, (err.max(), bound)
    # and well inside it on average (independent roundings)
    assert err.mean() <= bound / 4, (err.mean(), bound)


def test_bf16_gradient_matches_float32_products():
    """The backward's two bf16 products (the softmax minus the one-hot, rounded once, times
    bf16 embeddings): gradients within bf16's own resolution of the float32-product ones."""
    x = vectors(N, D, seed=3, dtype=torch.float32).to(torch.bfloat16)
    grads = []
    for dtype in (torch.bfloat16, torch.float32):
        leaf = x.to(dtype).clone().requires_grad_()
        _nt_xent(leaf, dtype).mean().backward()
        grads.append(leaf.grad.float())
    scale = grads[1].abs().max()
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=float(scale) * 2.0**-6)


def test_bf16_is_closer_than_a_bf16_pipeline():
    """Same inputs through plain bf16 ``matmul`` and ``cross_entropy`` (what the benchmark's
    torch row runs): its error is larger than ours on the mean."""
    x = vectors(N, D, seed=3, dtype=torch.float32).to(torch.bfloat16)
    q, k = x.split(N // 2)

    def plain(q, k):
        z = F.normalize(torch.cat([q, k]), dim=1)
        s = (z @ z.t() / T).masked_fill(torch.eye(N, dtype=torch.bool), float("-inf"))
        half = N // 2
        return F.cross_entropy(s, torch.cat([torch.arange(half, N), torch.arange(half)]))

    want = plain(q.double(), k.double())
    ours = (vl.nt_xent_loss(q, k, temperature=T).double() - want).abs()
    theirs = (plain(q, k).double() - want).abs()
    assert ours < theirs, (ours, theirs)


def test_bf16_retained_graph_gives_the_same_gradient_twice():
    """The backward turns the kept bf16 product into the softmax in place; a second backward
    of a retained graph forms the product again."""
    x = vectors(N, D, seed=3, dtype=torch.float32).to(torch.bfloat16).requires_grad_()
    loss = _nt_xent(x, torch.bfloat16).sum()
    g1 = torch.autograd.grad(loss, x, retain_graph=True)[0]
    g2 = torch.autograd.grad(loss, x)[0]
    assert torch.equal(g1, g2)
