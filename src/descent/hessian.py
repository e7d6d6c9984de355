"""The Hessian of a network's loss without forming it: Hessian–vector products and Lanczos.

A network with 25 000 parameters has a Hessian of 625 million entries, but the product
``H v`` costs about two backward passes (the gradient of ``g·v``, "double backward"). The
Lanczos iteration needs nothing else: from ``k`` such products it builds a ``k × k``
tridiagonal matrix ``T`` whose eigenvalues (the Ritz values) approximate the extreme
eigenvalues of ``H`` first and best. With random start vector ``q₁``, the squared first
components of ``T``'s eigenvectors are weights that sum to one: Ritz values and weights
together are a ``k``-point quadrature of the spectral density of ``H`` seen from ``q₁``
(stochastic Lanczos quadrature), which shows where the bulk of the eigenvalues lies.

Everything runs in float64 and every new Lanczos vector is reorthogonalized against all
previous ones (twice), so the Ritz values carry no spurious copies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch


def flat_hvp(loss_fn: Callable[[], torch.Tensor],
             params: Sequence[torch.Tensor]) -> Callable[[np.ndarray], np.ndarray]:
    """``v ↦ H v`` for the Hessian of ``loss_fn()`` with respect to ``params``, flattened.

    ``loss_fn`` recomputes the loss from the current values of ``params`` (tensors with
    ``requires_grad``). The gradient is built once, with a graph, and each product is the
    gradient of ``gᵀv`` (double backward).
    """
    params = list(params)
    grads = torch.autograd.grad(loss_fn(), params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])
    dtype, device = flat_grad.dtype, flat_grad.device

    def hvp(v: np.ndarray) -> np.ndarray:
        vec = torch.as_tensor(np.asarray(v), dtype=dtype, device=device)
        products = torch.autograd.grad(flat_grad @ vec, params, retain_graph=True)
        return torch.cat([p.reshape(-1) for p in products]).detach().cpu().double().numpy()

    return hvp


def lanczos(matvec: Callable[[np.ndarray], np.ndarray], dim: int, steps: int,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ritz values and their quadrature weights after ``steps`` Lanczos iterations.

    ``matvec`` applies a symmetric ``dim × dim`` matrix. Returns ``(ritz, weights)``, both
    of length at most ``steps`` (fewer if the Krylov space closes early), ``ritz`` in
    increasing order and ``weights`` the squared first components of the eigenvectors of
    the tridiagonal matrix (they sum to 1). With ``steps = dim`` the Ritz values are the
    matrix's eigenvalues.
    """
    steps = int(min(steps, dim))
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(dim)
    q /= np.linalg.norm(q)
    basis = np.zeros((steps, dim))
    alphas, betas = [], []
    beta = 0.0
    for k in range(steps):
        basis[k] = q
        w = np.asarray(matvec(q), dtype=np.float64)
        alpha = float(w @ q)
        alphas.append(alpha)
        for _ in range(2):  # full reorthogonalization, twice is enough
            w -= basis[: k + 1].T @ (basis[: k + 1] @ w)
        beta = float(np.linalg.norm(w))
        if k == steps - 1 or beta <= 1e-12 * max(1.0, abs(alpha)):
            break
        betas.append(beta)
        q = w / beta
    tri = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
    ritz, vectors = np.linalg.eigh(tri)
    return ritz, vectors[0] ** 2
