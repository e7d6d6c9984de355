"""descent.hessian: Hessian–vector products and Lanczos, against the explicit Hessian."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from descent.hessian import flat_hvp, lanczos


def _tiny_mlp():
    """A 4-3-2 tanh perceptron (23 parameters) on 12 random points, cross-entropy, float64."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(12, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (12,), generator=gen)
    shapes = [(3, 4), (3,), (2, 3), (2,)]
    params = [torch.randn(s, generator=gen, dtype=torch.float64).requires_grad_() for s in shapes]

    def loss_of(w1, b1, w2, b2):
        return torch.nn.functional.cross_entropy(torch.tanh(x @ w1.T + b1) @ w2.T + b2, y)

    return params, loss_of


def _explicit_hessian(params, loss_of):
    sizes = [p.numel() for p in params]
    flat = torch.cat([p.detach().reshape(-1) for p in params])

    def from_flat(v):
        parts = torch.split(v, sizes)
        return loss_of(*[part.reshape(p.shape) for part, p in zip(parts, params, strict=True)])

    return torch.autograd.functional.hessian(from_flat, flat).numpy()


def test_hvp_is_the_hessian_times_a_vector():
    params, loss_of = _tiny_mlp()
    hessian = _explicit_hessian(params, loss_of)
    hvp = flat_hvp(lambda: loss_of(*params), params)
    v = np.random.default_rng(1).standard_normal(hessian.shape[0])
    assert np.allclose(hvp(v), hessian @ v, rtol=1e-10, atol=1e-12)


def test_full_lanczos_recovers_every_eigenvalue():
    params, loss_of = _tiny_mlp()
    hessian = _explicit_hessian(params, loss_of)
    exact = torch.linalg.eigvalsh(torch.from_numpy(hessian)).numpy()
    assert exact.min() < 0 < exact.max()  # an indefinite Hessian: a real test of the signs
    ritz, weights = lanczos(flat_hvp(lambda: loss_of(*params), params), len(exact), len(exact))
    # one start vector sees each DISTINCT eigenvalue once (softmax's shift invariance makes
    # 0 a repeated one), so compare the two sets: every eigenvalue has a Ritz value next to
    # it, and every Ritz value is an eigenvalue
    gaps = np.abs(exact[:, None] - ritz[None, :])
    assert gaps.min(axis=1).max() < 1e-9 and gaps.min(axis=0).max() < 1e-9
    assert weights.sum() == pytest.approx(1.0)


def test_few_steps_find_the_extremes_first():
    rng = np.random.default_rng(2)
    eigvals = np.concatenate([rng.uniform(0.0, 1.0, 400), [-3.0, 20.0, 50.0]])
    basis, _ = np.linalg.qr(rng.standard_normal((len(eigvals), len(eigvals))))
    matrix = basis @ np.diag(eigvals) @ basis.T
    ritz, weights = lanczos(lambda v: matrix @ v, len(eigvals), 30)
    assert len(ritz) == 30 and np.all(weights >= 0)
    assert ritz[-1] == pytest.approx(50.0, rel=1e-8)
    assert ritz[-2] == pytest.approx(20.0, rel=1e-8)
    assert ritz[0] == pytest.approx(-3.0, rel=1e-8)
