"""Checks for chapter 04: gradient descent, mini-batches, mini-batch SGD, the stable step.

Oracles, all float64:

- ``gradient_descent``: ``torch.optim.SGD(lr)`` driven step by step by the same
  gradient function (the check's own, which the student's code calls back), on a
  quadratic with a rotated (non-diagonal) Hessian and on Rosenbrock's function;
- ``minibatches``: ``torch.utils.data.BatchSampler`` over the order that the spec
  defines (``np.random.default_rng(seed).permutation(n)``), plus the properties an
  epoch must have whatever the order (each index once, sizes, the last batch);
- ``minibatch_sgd``: ``torch.optim.SGD`` on ½·``F.mse_loss`` with autograd, over the
  batches of a ``BatchSampler`` and one permutation per epoch;
- ``max_stable_lr``: the closed form 2/λ_max with ``torch.linalg.eigvalsh``, and the
  behaviour that defines it: gradient descent on the quadratic, iterated with
  ``torch.linalg.matrix_power``, converges with 0.99 times the student's step and
  diverges with 1.01 times it.

When a result leaves the oracle's, the check reruns the oracle with a few classic
mistakes (ascending, no shuffling, the same order every epoch, a sum instead of a
mean, ...) and names the mistake the student's result reproduces. Those variants only
choose the hint; the verdict always comes from the oracle.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import BatchSampler

from descent.checks._compare import as_float_array, assert_close, assert_unchanged
from descent.checks._oracle import float64_tensor
from descent.checks._trajectory import _diagnose
from descent.surfaces import SURFACES, rosenbrock_grad

# ---------------------------------------------------------------- problems


def rotated_hessian(seed: int, dim: int, condition: float = 10.0, scale: float = 1.0,
                    diagonal: bool = False) -> np.ndarray:
    """A symmetric positive-definite matrix with eigenvalues ``scale·geomspace(1, κ, dim)``.

    The eigenvectors are a random rotation (seeded), so the diagonal entries are not the
    eigenvalues, unless ``diagonal`` is set (the eigenvalues are then shuffled on it).
    """
    rng = np.random.default_rng(seed)
    eigenvalues = scale * np.geomspace(1.0, condition, dim)
    if diagonal:
        return np.diag(rng.permutation(eigenvalues))
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    hessian = (q * eigenvalues) @ q.T
    return 0.5 * (hessian + hessian.T)


class QuadraticGradient:
    """∇J(θ) = H(θ − c) of J(θ) = ½(θ − c)ᵀH(θ − c), for θ of any shape (flattened)."""

    def __init__(self, hessian, centre):
        self.hessian = np.asarray(hessian, dtype=float)
        self.centre = np.asarray(centre, dtype=float)

    def __call__(self, theta):
        theta = np.asarray(theta, dtype=float)
        return (self.hessian @ (theta - self.centre).reshape(-1)).reshape(theta.shape)


def _rosenbrock_gradient(theta):
    return rosenbrock_grad(np.asarray(theta, dtype=float))


def _problem(problem: str, seed: int, shape) -> tuple[np.ndarray, object]:
    """(θ₀, grad_fn) of a named problem; the quadratic's eigenvalues lie in [0.5, 5]."""
    rng = np.random.default_rng(seed)
    if problem == "rosenbrock":
        theta0 = np.asarray(SURFACES["rosenbrock"].start) + rng.normal(0.0, 0.1, 2)
        return theta0, _rosenbrock_gradient
    if problem != "quadratic":
        raise ValueError(f"unknown problem {problem!r}: 'quadratic' or 'rosenbrock'")
    size = int(np.prod(shape))
    hessian = rotated_hessian(seed + 1000, size, condition=10.0, scale=0.5)
    theta0 = rng.normal(0.0, 2.0, size=shape)
    return theta0, QuadraticGradient(hessian, rng.normal(0.0, 1.0, size=shape))


def _first_bad_row(name: str, got: np.ndarray, expected: np.ndarray, variants: Callable,
                   default: str, row: str):
    """Compare row by row, so that the message names the first step that goes wrong; only
    then compute ``variants()`` (hint -> result of a known mistake) to choose the hint."""
    try:
        assert_close(name, got, expected)
    except AssertionError:
        with np.errstate(all="ignore"):
            hint = _diagnose(got, variants(), default)
        for t in range(expected.shape[0]):
            assert_close(f"{name}, {row} {t}", got[t], expected[t], hint=hint)


# ---------------------------------------------------------------- gradient descent


def _torch_gd(grad_fn, theta0, lr, steps, maximize=False) -> np.ndarray:
    """The trajectory of ``torch.optim.SGD`` fed ``grad_fn`` at each point, θ₀ first."""
    param = float64_tensor(theta0, grad=True)
    optimizer = torch.optim.SGD([param], lr=lr, maximize=maximize, foreach=False)
    path = [param.detach().numpy().copy()]
    with np.errstate(all="ignore"):
        for _ in range(steps):
            param.grad = float64_tensor(grad_fn(param.detach().numpy().copy()))
            optimizer.step()
            path.append(param.detach().numpy().copy())
    return np.array(path)


def check_gradient_descent(gradient_descent, seed=0, problem="quadratic", shape=(3,), lr=0.1,
                           steps=20):
    """The whole trajectory θ₀, θ₁, …, θ_T of θ ← θ − lr·∇J(θ), against ``torch.optim.SGD``.

    ``problem`` is "quadratic" (a rotated bowl with eigenvalues in [0.5, 5], stable for
    lr < 0.4, so a larger lr must diverge, and be returned as it is) or "rosenbrock".
    """
    name = f"gradient_descent ({problem}, lr={lr:g}, steps={steps})"
    theta0, grad_fn = _problem(problem, seed, shape)
    saved = theta0.copy()
    got = as_float_array(gradient_descent(grad_fn, theta0, lr, steps), name, "trajectory")
    assert_unchanged(name, saved, theta0, "theta0")
    expected = _torch_gd(grad_fn, saved, lr, steps)

    if got.shape != expected.shape:
        if got.shape == saved.shape:
            hint = "return the whole trajectory θ₀, θ₁, …, θ_T, not only the last point"
        elif got.shape == (steps, *saved.shape):
            hint = "the trajectory starts with θ₀: row 0 is the start, so there are steps + 1 rows"
        else:
            hint = "one row per point, θ₀ first: shape (steps + 1, *theta0.shape)"
        raise AssertionError(f"{name}: the trajectory has shape {got.shape}, expected "
                             f"{expected.shape} — {hint}")
    final = np.broadcast_to(expected[-1], expected.shape)

    def variants():
        return {
            "step AGAINST the gradient: θ ← θ − lr·∇J(θ); adding it climbs the loss":
                _torch_gd(grad_fn, saved, lr, steps, maximize=True),
            "every row is the last point: you stored the same array at each step and then "
            "changed it in place (θ -= …). Store a copy, or compute a new array: θ = θ − lr·g":
                final,
            "every row after θ₀ is the last point: you updated one array in place (θ -= …) "
            "and stored it at each step. Store a copy, or compute θ = θ − lr·g":
                np.concatenate([saved[None], final[1:]]),
            "evaluate the gradient at the CURRENT point θ_t at every step, not once at θ₀":
                saved - lr * np.multiply.outer(np.arange(steps + 1), grad_fn(saved)),
            "multiply the gradient by the learning rate lr": _torch_gd(grad_fn, saved, 1.0, steps),
        }

    _first_bad_row(name, got, expected, variants,
                   "θ_{t+1} = θ_t − lr·grad_fn(θ_t), rows θ₀ … θ_T", "row")


# ---------------------------------------------------------------- mini-batches


def _spec_order(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)


def _batched(order, batch_size: int, drop_last: bool) -> list[np.ndarray]:
    """``order`` cut by ``torch.utils.data.BatchSampler`` (consecutive slices)."""
    sampler = BatchSampler([int(i) for i in order], batch_size, drop_last)
    return [np.array(batch, dtype=int) for batch in sampler]


def _index_batches(result, name: str) -> list[np.ndarray]:
    """A student's list of index arrays, read as 1-D integer arrays."""
    if isinstance(result, np.ndarray) or not isinstance(result, list | tuple):
        kind = type(result).__name__
        extra = (" (a generator cannot be graded: return list(...) of it)"
                 if "generator" in kind or "Unsupported" in kind else "")
        raise AssertionError(f"{name}: return a list of index arrays, one per batch, got a "
                             f"{kind}{extra}")
    batches = []
    for i, batch in enumerate(result):
        values = as_float_array(batch, name, f"batch {i}")
        if values.ndim != 1:
            raise AssertionError(f"{name}: batch {i} has shape {values.shape}; each batch is a "
                                 "1-D array of sample indices")
        if not bool(np.all(np.isfinite(values) & (values == np.round(values)))):
            raise AssertionError(f"{name}: batch {i} holds {values[:5]}…, which are not "
                                 "integer indices")
        batches.append(values.astype(int))
    return batches


def check_minibatches(minibatches, n=10, batch_size=3, seed=0, drop_last=False):
    """One epoch's batches: each index once, the right sizes, and the order of the spec.

    The expected batches are ``BatchSampler(order, batch_size, drop_last)`` with
    ``order = np.random.default_rng(seed).permutation(n)``.
    """
    name = f"minibatches (n={n}, batch_size={batch_size}, drop_last={drop_last})"
    got = _index_batches(minibatches(n, batch_size, seed, drop_last=drop_last), name)
    order = _spec_order(n, seed)
    expected = _batched(order, batch_size, drop_last)

    if len(got) != len(expected):
        partial = n % batch_size != 0
        if partial and not drop_last and len(got) == n // batch_size:
            hint = ("keep the last, shorter batch of the n mod batch_size remaining samples "
                    "when drop_last is False")
        elif partial and drop_last and len(got) == -(-n // batch_size):
            hint = "with drop_last=True, drop the last batch when it is shorter than batch_size"
        else:
            hint = ("an epoch of n samples has ⌈n / batch_size⌉ batches "
                    "(⌊n / batch_size⌋ with drop_last)")
        raise AssertionError(f"{name}: expected {len(expected)} batches, got {len(got)} — {hint}")
    sizes = [len(b) for b in got]
    want = [len(b) for b in expected]
    if sizes != want:
        raise AssertionError(f"{name}: the batch sizes are {sizes}, expected {want} — batches are "
                             "consecutive slices of batch_size indices; only the last one may "
                             "be shorter")
    seen = np.concatenate(got) if got else np.zeros(0, dtype=int)
    if seen.size and (seen.min() < 0 or seen.max() >= n):
        raise AssertionError(f"{name}: index {seen.min() if seen.min() < 0 else seen.max()} is "
                             f"out of range; sample indices run from 0 to n − 1 = {n - 1}")
    if len(np.unique(seen)) != seen.size:
        raise AssertionError(f"{name}: some samples appear twice in one epoch — every sample "
                             "is used exactly once: slice a permutation, do not draw indices "
                             "with replacement")
    if n >= 3 and seen.size > 1 and np.array_equal(seen, np.arange(seen.size)):
        raise AssertionError(f"{name}: the indices come in the order 0, 1, 2, … — shuffle: "
                             "the batches are slices of rng.permutation(n)")
    if not np.array_equal(seen, np.concatenate(expected) if expected else seen):
        raise AssertionError(
            f"{name}: the order for seed {seed} should start {order[:6].tolist()}, got "
            f"{seen[:6].tolist()} — draw it exactly as specified: "
            "rng = np.random.default_rng(seed); order = rng.permutation(n)")
    again = _index_batches(minibatches(n, batch_size, seed, drop_last=drop_last), name)
    if len(again) != len(got) or any(not np.array_equal(a, b) for a, b in zip(again, got,
                                                                               strict=True)):
        raise AssertionError(f"{name}: two calls with seed {seed} gave different batches — "
                             "draw the order from np.random.default_rng(seed)")
    other = seed + 1
    moved_expected = _batched(_spec_order(n, other), batch_size, drop_last)
    if any(not np.array_equal(a, b) for a, b in zip(moved_expected, expected, strict=True)):
        moved = _index_batches(minibatches(n, batch_size, other, drop_last=drop_last), name)
        if len(moved) == len(got) and all(np.array_equal(a, b) for a, b in zip(moved, got,
                                                                                strict=True)):
            raise AssertionError(f"{name}: seeds {seed} and {other} gave the same batches — "
                                 "use the seed argument")


# ---------------------------------------------------------------- mini-batch SGD


def least_squares_problem(seed: int, n: int, dim: int, noise: float = 0.3):
    """X (n, dim) standard normal, y = X·w + noise, and a start θ₀ (all seeded)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, size=(n, dim))
    y = X @ rng.normal(0.0, 1.0, size=dim) + rng.normal(0.0, noise, size=n)
    return X, y, rng.normal(0.0, 1.0, size=dim)


def _torch_minibatch_sgd(X, y, theta0, lr, batch_size, epochs, seed, *, orders="spec",
                         loss="half_mse", drop_last=False) -> np.ndarray:
    """θ after each epoch (θ₀ first) of ``torch.optim.SGD`` on ½·mse_loss per batch.

    The other options build known mistakes: ``orders`` "fixed" (no shuffling) or "same"
    (a fresh generator every epoch); ``loss`` "mse" (no ½), "half_sum" (no mean) or
    "per_batch_size" (divided by batch_size even for a shorter last batch).
    """
    n = len(y)
    rng = np.random.default_rng(seed)
    X_t, y_t = float64_tensor(X), float64_tensor(y)
    param = float64_tensor(theta0, grad=True)
    optimizer = torch.optim.SGD([param], lr=lr, foreach=False)
    path = [param.detach().numpy().copy()]
    for _ in range(epochs):
        if orders == "fixed":
            order = np.arange(n)
        elif orders == "same":
            order = _spec_order(n, seed)
        else:
            order = rng.permutation(n)
        for batch in _batched(order, batch_size, drop_last):
            optimizer.zero_grad()
            index = torch.as_tensor(batch)
            prediction, target = X_t[index] @ param, y_t[index]
            if loss == "mse":
                value = F.mse_loss(prediction, target)
            elif loss == "half_sum":
                value = 0.5 * F.mse_loss(prediction, target, reduction="sum")
            elif loss == "per_batch_size":
                value = 0.5 * F.mse_loss(prediction, target, reduction="sum") / batch_size
            else:
                value = 0.5 * F.mse_loss(prediction, target)
            value.backward()
            optimizer.step()
        path.append(param.detach().numpy().copy())
    return np.array(path)


def check_minibatch_sgd(minibatch_sgd, seed=0, n=12, dim=3, batch_size=5, epochs=4, lr=0.05):
    """θ after every epoch of mini-batch SGD on least squares, against ``torch.optim.SGD``.

    Each epoch draws ``order = rng.permutation(n)`` from one ``rng =
    np.random.default_rng(seed)`` made before the first epoch, and steps on the batches
    ``order[0:m], order[m:2m], …`` (the last one shorter) with the loss
    ½·mean((X_B θ − y_B)²), as ``0.5 * F.mse_loss`` with autograd.
    """
    name = f"minibatch_sgd (n={n}, batch_size={batch_size}, epochs={epochs}, lr={lr:g})"
    X, y, theta0 = least_squares_problem(seed, n, dim)
    saved = X.copy(), y.copy(), theta0.copy()
    run_seed = seed + 7
    got = as_float_array(minibatch_sgd(X, y, theta0, lr, batch_size, epochs, run_seed), name,
                         "result")
    for before, after, what in zip(saved, (X, y, theta0), ("X", "y", "theta0"), strict=True):
        assert_unchanged(name, before, after, what)
    args = (*saved, lr, batch_size, epochs, run_seed)
    expected = _torch_minibatch_sgd(*args)
    if got.shape != expected.shape:
        if got.shape == theta0.shape:
            hint = "return θ after every epoch, not only the last one"
        elif got.shape == (epochs, dim):
            hint = "row 0 is θ₀, so there are epochs + 1 rows"
        else:
            hint = "one row per epoch (not per step), θ₀ first: shape (epochs + 1, d)"
        raise AssertionError(f"{name}: the result has shape {got.shape}, expected "
                             f"{expected.shape} — {hint}")

    def variants():
        return {
            "the loss has a ½: its gradient is (1/m)·X_Bᵀ(X_Bθ − y_B), without a factor 2":
                _torch_minibatch_sgd(*args, loss="mse"),
            "average over the batch: the gradient is (1/m)·X_Bᵀ(X_Bθ − y_B), not the sum":
                _torch_minibatch_sgd(*args, loss="half_sum"),
            "divide by the size of THIS batch, m = len(batch): the last batch is shorter":
                _torch_minibatch_sgd(*args, loss="per_batch_size"),
            "keep the last, shorter batch: every sample is used once per epoch":
                _torch_minibatch_sgd(*args, drop_last=True),
            "shuffle every epoch: order = rng.permutation(n), not 0, 1, …, n − 1":
                _torch_minibatch_sgd(*args, orders="fixed"),
            "every epoch uses the same order: create rng = np.random.default_rng(seed) ONCE, "
            "before the loop over epochs, and call rng.permutation(n) at each epoch":
                _torch_minibatch_sgd(*args, orders="same"),
        }

    _first_bad_row(name, got, expected, variants, "per epoch: order = rng.permutation(n); "
                   "for each batch B: θ ← θ − lr·(1/|B|)·X_Bᵀ(X_Bθ − y_B)", "after epoch")


# ---------------------------------------------------------------- the largest stable step


def _gd_growth(hessian: torch.Tensor, theta0: torch.Tensor, lr: float, steps: int) -> float:
    """‖θ_T‖ / ‖θ₀‖ for gradient descent on ½θᵀHθ: θ_T = (I − lr·H)ᵀ θ₀."""
    identity = torch.eye(hessian.shape[0], dtype=torch.float64)
    theta = torch.linalg.matrix_power(identity - lr * hessian, steps) @ theta0
    return float(torch.linalg.vector_norm(theta) / torch.linalg.vector_norm(theta0))


def _growth_words(ratio: float) -> str:
    if not np.isfinite(ratio):
        return "blows ‖θ‖ up beyond the range of float64"
    return f"multiplies ‖θ‖ by {ratio:.3g}"


def check_max_stable_lr(max_stable_lr, seed=0, dim=4, condition=10.0, scale=1.0,
                        diagonal=False, steps=4000):
    """2/λ_max of a symmetric positive-definite Hessian, closed form and behaviour.

    Gradient descent on J(θ) = ½θᵀHθ is θ ← (I − αH)θ; it converges for every start iff
    |1 − αλ_i| < 1 for every eigenvalue, i.e. α < 2/λ_max. The check iterates it: with
    0.99 α it must shrink θ, with 1.01 α it must blow it up.
    """
    name = f"max_stable_lr (dim={dim}, condition number {condition:g})"
    hessian = rotated_hessian(seed, dim, condition=condition, scale=scale, diagonal=diagonal)
    saved = hessian.copy()
    got = as_float_array(max_stable_lr(hessian), name, "step size")
    assert_unchanged(name, saved, hessian, "the hessian")
    if got.size != 1:
        raise AssertionError(f"{name}: return one number (the largest stable learning rate), "
                             f"got shape {got.shape}")
    alpha = float(got.reshape(()))
    h = float64_tensor(saved)
    eigenvalues = torch.linalg.eigvalsh(h).numpy()
    expected = 2.0 / eigenvalues.max()
    diag = np.diag(saved)
    hint = _diagnose(got.reshape(()), {
        "1/λ_max is the best step for the steepest direction alone; the stability limit is "
        "twice that, 2/λ_max": 1.0 / eigenvalues.max(),
        "use the LARGEST eigenvalue: the steepest direction is the first to diverge":
            2.0 / eigenvalues.min(),
        "the trace sums ALL the eigenvalues; use the largest one only": 2.0 / eigenvalues.sum(),
        "the diagonal entries are not the eigenvalues unless H is diagonal: use "
        "np.linalg.eigvalsh(H)": 2.0 / diag.max(),
        "the step is 2 DIVIDED by λ_max": eigenvalues.max() / 2.0,
    }, "α_max = 2 / λ_max, with λ_max the largest eigenvalue of H (np.linalg.eigvalsh)")
    if not np.isfinite(alpha) or alpha <= 0:
        raise AssertionError(f"{name}: expected a positive step size, got {alpha:g} — {hint}")
    theta0 = float64_tensor(np.random.default_rng(seed + 1).normal(size=dim))
    below = _gd_growth(h, theta0, 0.99 * alpha, steps)
    if not below < 1.0:
        raise AssertionError(
            f"{name}: gradient descent with 0.99 × your step ({0.99 * alpha:.6g}) "
            f"{_growth_words(below)} in {steps} steps, so your step is beyond the stable "
            f"range — {hint}")
    above = _gd_growth(h, theta0, 1.01 * alpha, steps)
    if not above > 1e3:
        raise AssertionError(
            f"{name}: gradient descent with 1.01 × your step ({1.01 * alpha:.6g}) "
            f"{_growth_words(above)} in {steps} steps: it still converges, so a larger step "
            f"would be stable too — {hint}")
    assert_close(name, got.reshape(()), expected, hint=hint, what="step size")
