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
  diverges with 1.01 times it;
- ``steps_per_digit``: the closed form ln 10 / ln((κ + 1)/(κ − 1)) (computed as
  ``math.log1p``, exact for large κ), and 0 for κ = 1; the tests check it against gradient
  descent itself, run with the best fixed step on a quadratic of condition number κ.

When a result leaves the oracle's, the check reruns the oracle with a few classic
mistakes (ascending, no shuffling, the same order every epoch, a sum instead of a
mean, ...) and names the mistake the student's result reproduces (a
:mod:`~descent.checks.misconceptions` tag). Those variants only choose the hint; the
verdict always comes from the oracle.

Whatever the arguments, ``check_gradient_descent`` also runs a diverging trajectory
from a 2-D θ₀ and one of zero steps, and ``check_minibatches`` a batch size above n
and one that divides n: what the tasks state is caught by their visible test cells.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import BatchSampler

from descent.checks._arguments import (
    FLAG,
    SEED,
    array_shape,
    integer,
    number,
    one_of,
    require,
)
from descent.checks._compare import (
    as_float_array,
    as_number,
    assert_close,
    assert_unchanged,
    diagnose,
)
from descent.checks._oracle import float64_tensor
from descent.checks.misconceptions import on_page
from descent.surfaces import SURFACES, rosenbrock_grad

_PAGE = "04_gradient_descent"
_mistake = on_page(_PAGE)

_GD = "Gradient descent"
_LEARNING_RATE = "The learning rate on an elongated bowl"
_STABLE = "The largest stable step and the condition number"
_MINIBATCH = "Stochastic and mini-batch gradient descent"
_CONVENTIONS = "Where conventions differ"

GD_ASCENT = _mistake(
    "gd.ascent",
    "step against the gradient: θ ← θ − η·∇L(θ); adding it climbs the loss", _GD)
GD_ALIASED = _mistake(
    "gd.aliased-rows",
    "the rows are one array, updated in place (θ -= …) and stored at every step: store a "
    "copy, or compute a new array, θ = θ − lr·g", _GD)
GD_GRADIENT_ONCE = _mistake(
    "gd.gradient-once",
    "evaluate the gradient at the current point θ_t at every step, not once at θ₀", _GD)
GD_LR_IGNORED = _mistake(
    "gd.lr-ignored", "multiply the gradient by the learning rate lr", _GD)
GD_LAST_ONLY = _mistake(
    "gd.last-point-only",
    "return the whole trajectory θ₀, θ₁, …, θ_T as one array, not only the last point", _GD)
GD_NO_START = _mistake(
    "gd.missing-start",
    "the trajectory starts with θ₀: row 0 is the start, so there are steps + 1 rows", _GD)
GD_STOPS = _mistake(
    "gd.stops-on-divergence",
    "do not stop, clip or rescale when the values grow: beyond the stable range gradient "
    "descent diverges, and the trajectory is returned as it is", _LEARNING_RATE)
MB_LAST_DROPPED = _mistake(
    "minibatch.last-batch-dropped",
    "keep the last, shorter batch of the n mod batch_size remaining samples (unless "
    "drop_last): every sample is used once per epoch", _MINIBATCH)
MB_DROP_IGNORED = _mistake(
    "minibatch.drop-last-ignored",
    "with drop_last=True, drop the last batch when it is shorter than batch_size (and only "
    "then)", _MINIBATCH)
MB_NOT_CONSECUTIVE = _mistake(
    "minibatch.not-consecutive",
    "batches are consecutive slices of batch_size indices, order[0:b], order[b:2b], …; only "
    "the last may be shorter (np.array_split balances the sizes instead)", _MINIBATCH)
MB_REPLACEMENT = _mistake(
    "minibatch.with-replacement",
    "every sample is used exactly once per epoch: slice a permutation, do not draw indices "
    "with replacement", _MINIBATCH)
MB_NO_SHUFFLE = _mistake(
    "minibatch.no-shuffle",
    "shuffle: the batches are cut from rng.permutation(n), not from 0, 1, …, n − 1",
    _MINIBATCH)
MB_LEGACY_RNG = _mistake(
    "minibatch.legacy-rng",
    "np.random.seed / np.random.permutation (RandomState) is NumPy's legacy generator, with "
    "other numbers: use rng = np.random.default_rng(seed); order = rng.permutation(n)",
    _CONVENTIONS)
MB_CHOICE = _mistake(
    "minibatch.choice-not-permutation",
    "rng.choice(n, n, replace=False) draws another order than rng.permutation(n): use the "
    "permutation, as specified", _CONVENTIONS)
MB_GLOBAL_RNG = _mistake(
    "minibatch.global-rng",
    "draw the order from rng = np.random.default_rng(seed), not from np.random's global "
    "state: the same seed must give the same batches", _CONVENTIONS)
MB_SEED_IGNORED = _mistake(
    "minibatch.seed-ignored",
    "use the seed argument, rng = np.random.default_rng(seed): another seed must give another "
    "order", _CONVENTIONS)
MB_GENERATOR = _mistake(
    "minibatch.generator-not-list",
    "return a list of index arrays: a generator (yield) can be read only once and cannot be "
    "graded; return list(...) of it", _MINIBATCH)
MB_FLOAT_INDICES = _mistake(
    "minibatch.float-indices",
    "sample indices are integers: slices of rng.permutation(n) already are, while a float "
    "array cannot index X", _MINIBATCH)
SGD_MSE = _mistake(
    "sgd.mse-factor-two",
    "the loss has a ½: L_B = 1/(2m)·‖X_Bθ − y_B‖², whose gradient is (1/m)·X_Bᵀ(X_Bθ − y_B), "
    "without a factor 2", _CONVENTIONS)
SGD_SUM = _mistake(
    "sgd.batch-sum",
    "average over the batch: the gradient is (1/m)·X_Bᵀ(X_Bθ − y_B), the mean of the "
    "per-sample gradients, not their sum", _MINIBATCH)
SGD_BY_BATCH_SIZE = _mistake(
    "sgd.divide-by-batch-size",
    "divide by the size of THIS batch, m = len(batch): the last batch is shorter than "
    "batch_size", _MINIBATCH)
SGD_RNG_PER_EPOCH = _mistake(
    "sgd.rng-per-epoch",
    "create rng = np.random.default_rng(seed) ONCE, before the loop over epochs, and call "
    "rng.permutation(n) at each epoch: a generator made inside the loop repeats (or "
    "reseeds) the order", _CONVENTIONS)
SGD_FULL_BATCH = _mistake(
    "sgd.full-batch-gradient",
    "each step uses the batch's rows only, X_B = X[batch] and y_B = y[batch], not the whole "
    "data set", _MINIBATCH)
SGD_LAST_ONLY = _mistake(
    "sgd.last-epoch-only", "return θ after every epoch, θ₀ first, not only the final θ",
    _MINIBATCH)
SGD_NO_START = _mistake(
    "sgd.missing-start", "row 0 is θ₀, so there are epochs + 1 rows", _MINIBATCH)
SGD_PER_STEP = _mistake(
    "sgd.rows-per-step",
    "one row per epoch (θ after each full pass over the data), not one per step", _MINIBATCH)
STABLE_ONE_OVER = _mistake(
    "stable-lr.one-over-lambda",
    "1/λ_max is the best step for the steepest direction alone; the stability limit is twice "
    "that, 2/λ_max", _STABLE)
STABLE_SMALLEST = _mistake(
    "stable-lr.smallest-eigenvalue",
    "use the LARGEST eigenvalue: the steepest direction is the first to diverge "
    "(np.linalg.eigvalsh sorts them ascending: the largest is the last)", _STABLE)
STABLE_TRACE = _mistake(
    "stable-lr.trace",
    "the trace sums ALL the eigenvalues; the limit uses the largest one only", _STABLE)
STABLE_DIAGONAL = _mistake(
    "stable-lr.diagonal",
    "the diagonal entries are not the eigenvalues unless H is diagonal: use "
    "np.linalg.eigvalsh(H)", _STABLE)
STABLE_INVERTED = _mistake(
    "stable-lr.inverted", "the step is 2 DIVIDED by λ_max, not λ_max/2", _STABLE)
STABLE_FROBENIUS = _mistake(
    "stable-lr.frobenius-norm",
    "np.linalg.norm(H) is the Frobenius norm √(Σ λ_i²), larger than λ_max: use the largest "
    "eigenvalue (np.linalg.eigvalsh, or the spectral norm np.linalg.norm(H, 2))", _STABLE)
STABLE_EVERY_EIGENVALUE = _mistake(
    "stable-lr.every-eigenvalue",
    "return one number, 2/λ_max, not 2/λ for every eigenvalue", _STABLE)

DIGITS_E_FOLD = _mistake(
    "steps-per-digit.e-fold",
    "a digit is a factor 10, not a factor e: solve q^k = 1/10, k = ln 10 / ln(1/q); "
    "1 / ln(1/q) counts the steps per factor e, 2.3 times fewer", _STABLE)
DIGITS_APPROXIMATION = _mistake(
    "steps-per-digit.large-kappa-approximation",
    "(ln 10 / 2)·κ ≈ 1.15κ is the large-κ approximation (ln((κ + 1)/(κ − 1)) ≈ 2/κ); it is "
    "10 % off at κ = 2 and wrong at κ = 1: use the exact factor q = (κ − 1)/(κ + 1)", _STABLE)
DIGITS_ONE_OVER = _mistake(
    "steps-per-digit.step-one-over-lambda",
    "the best fixed step is η = 2/(λ_min + λ_max), whose factor per step is q = (κ − 1)/(κ + 1) "
    "at both ends of the spectrum; η = 1/λ_max leaves 1 − 1/κ on the flattest direction, about "
    "twice as many steps", _STABLE)
DIGITS_LOSS = _mistake(
    "steps-per-digit.loss-not-error",
    "count the digits of the error ‖θ_t − θ*‖, multiplied by q per step; the loss, quadratic "
    "in the error, is multiplied by q² and gains a digit in half as many steps", _STABLE)
DIGITS_ROUNDED = _mistake(
    "steps-per-digit.rounded",
    "return the real number k = ln 10 / ln(1/q), not rounded to a whole number of steps",
    _STABLE)
DIGITS_KAPPA_ONE = _mistake(
    "steps-per-digit.kappa-one",
    "with κ = 1 the best step η = 1/λ lands on the minimum in one step (q = 0): return 0, "
    "without dividing by κ − 1 = 0", _STABLE)

#: A learning rate: a step against the gradient.
_LR = number(above=0, why=" (a step against the gradient)")


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
    """∇L(θ) = H(θ − c) of L(θ) = ½(θ − c)ᵀH(θ − c), for θ of any shape (flattened)."""

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


def _first_bad_row(name: str, got: np.ndarray, expected: np.ndarray, candidates: Callable,
                   default, row: str):
    """Compare row by row, so that the message names the first step that goes wrong; only
    then compute ``candidates()``, the (hint, thunk) pairs of known mistakes the whole
    result may reproduce. ``default`` is the hint otherwise, or a function of the row."""
    try:
        assert_close(name, got, expected)
    except AssertionError:
        pass
    else:
        return
    for t in range(expected.shape[0]):
        try:
            assert_close(f"{name}, {row} {t}", got[t], expected[t])
        except AssertionError:
            otherwise = default(t) if callable(default) else default
            hint = diagnose(got, candidates(), otherwise)
            assert_close(f"{name}, {row} {t}", got[t], expected[t], hint=hint)
    assert_close(name, got, expected, hint=default(0) if callable(default) else default)


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


def _check_trajectory(gradient_descent, seed, problem, shape, lr, steps):
    name = f"gradient_descent ({problem}, lr={lr:g}, steps={steps})"
    theta0, grad_fn = _problem(problem, seed, shape)
    saved = theta0.copy()
    got = as_float_array(gradient_descent(grad_fn, theta0, lr, steps), name, "trajectory")
    assert_unchanged(name, saved, theta0, "theta0")
    expected = _torch_gd(grad_fn, saved, lr, steps)
    # beyond this size the oracle has diverged: a result that parts there, smaller, was
    # stopped, clipped or rescaled
    diverged = 10.0 * max(1.0, float(np.max(np.abs(saved))))
    blown_up = bool(np.max(np.abs(expected)) > diverged)

    if got.shape != expected.shape:
        if got.shape == saved.shape:
            hint = GD_LAST_ONLY
        elif got.shape == (steps, *saved.shape):
            hint = GD_NO_START
        elif blown_up and got.ndim == expected.ndim and got.shape[0] < expected.shape[0] \
                and got.shape[1:] == expected.shape[1:]:
            hint = GD_STOPS
        else:
            hint = "one row per point, θ₀ first: shape (steps + 1, *theta0.shape)"
        raise AssertionError(f"{name}: the trajectory has shape {got.shape}, expected "
                             f"{expected.shape} — {hint}")
    final = np.broadcast_to(expected[-1], expected.shape)

    def candidates():
        yield GD_ASCENT, lambda: _torch_gd(grad_fn, saved, lr, steps, maximize=True)
        yield GD_ALIASED, lambda: final
        yield GD_ALIASED, lambda: np.concatenate([saved[None], final[1:]])
        yield GD_GRADIENT_ONCE, lambda: saved - lr * np.multiply.outer(np.arange(steps + 1),
                                                                       grad_fn(saved))
        yield GD_LR_IGNORED, lambda: _torch_gd(grad_fn, saved, 1.0, steps)

    def default(t):
        # right until the values grew, smaller after: it stopped, clipped or rescaled them
        size = np.max(np.abs(expected[t]))
        with np.errstate(invalid="ignore"):
            smaller = not np.max(np.abs(got[t])) >= size
        if size > diverged and smaller:
            return GD_STOPS
        return "θ_{t+1} = θ_t − lr·grad_fn(θ_t), rows θ₀ … θ_T"

    _first_bad_row(name, got, expected, candidates, default, "row")


def check_gradient_descent(gradient_descent, seed=0, problem="quadratic", shape=(3,), lr=0.1,
                           steps=20):
    """The whole trajectory θ₀, θ₁, …, θ_T of θ ← θ − η·∇L(θ), against ``torch.optim.SGD``.

    ``problem`` is "quadratic" (a rotated bowl with eigenvalues in [0.5, 5], stable for
    lr < 0.4, so a larger lr must diverge, and be returned as it is) or "rosenbrock".
    Whatever the arguments, two more runs on the quadratic follow: a diverging one
    (lr = 0.5, 60 steps) with a 2-D θ₀ of shape (2, 1), and one with steps = 0.
    """
    check = "check_gradient_descent"
    require(check, SEED, seed=seed)
    require(check, one_of("quadratic", "rosenbrock"), problem=problem)
    require(check, array_shape(1, why=" (the shape of θ₀)"), shape=shape)
    require(check, _LR, lr=lr)
    require(check, integer(0), steps=steps)
    _check_trajectory(gradient_descent, seed, problem, shape, lr, steps)
    _check_trajectory(gradient_descent, seed + 1, "quadratic", (2, 1), 0.5, 60)
    _check_trajectory(gradient_descent, seed + 2, "quadratic", (3,), 0.1, 0)


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
        kind = f"a {type(result).__name__}"
        if kind in ("a RemoteObject", "a Unsupported"):  # the grader's stand-ins name the type
            kind = repr(result)
        extra = f" — {MB_GENERATOR}" if "generator" in kind else ""
        raise AssertionError(f"{name}: return a list of index arrays, one per batch, got "
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
        kind = np.asarray(batch).dtype.kind
        if values.size and kind not in "iu":
            raise AssertionError(f"{name}: batch {i} has dtype {np.asarray(batch).dtype} — "
                                 f"{MB_FLOAT_INDICES}")
        batches.append(values.astype(int))
    return batches


def _same_batches(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _check_epoch(minibatches, n, batch_size, seed, drop_last):
    name = f"minibatches (n={n}, batch_size={batch_size}, drop_last={drop_last})"
    got = _index_batches(minibatches(n, batch_size, seed, drop_last=drop_last), name)
    order = _spec_order(n, seed)
    expected = _batched(order, batch_size, drop_last)

    if len(got) != len(expected):
        partial = n % batch_size != 0
        if partial and not drop_last and len(got) == n // batch_size:
            hint = MB_LAST_DROPPED
        elif partial and drop_last and len(got) == -(-n // batch_size):
            hint = MB_DROP_IGNORED
        else:
            hint = ("an epoch of n samples has ⌈n / batch_size⌉ batches "
                    "(⌊n / batch_size⌋ with drop_last)")
        raise AssertionError(f"{name}: expected {len(expected)} batches, got {len(got)} — {hint}")
    sizes = [len(b) for b in got]
    want = [len(b) for b in expected]
    if sizes != want:
        raise AssertionError(f"{name}: the batch sizes are {sizes}, expected {want} — "
                             f"{MB_NOT_CONSECUTIVE}")
    seen = np.concatenate(got) if got else np.zeros(0, dtype=int)
    if seen.size and (seen.min() < 0 or seen.max() >= n):
        raise AssertionError(f"{name}: index {seen.min() if seen.min() < 0 else seen.max()} is "
                             f"out of range; sample indices run from 0 to n − 1 = {n - 1}")
    if len(np.unique(seen)) != seen.size:
        raise AssertionError(f"{name}: some samples appear twice in one epoch — "
                             f"{MB_REPLACEMENT}")
    if n >= 3 and seen.size > 1 and np.array_equal(seen, np.arange(seen.size)):
        raise AssertionError(f"{name}: the indices come in the order 0, 1, 2, … — "
                             f"{MB_NO_SHUFFLE}")
    again = _index_batches(minibatches(n, batch_size, seed, drop_last=drop_last), name)
    if not _same_batches(again, got):
        raise AssertionError(f"{name}: two calls with seed {seed} gave different batches — "
                             f"{MB_GLOBAL_RNG}")
    if not np.array_equal(seen, np.concatenate(expected) if expected else seen):
        hint = diagnose(seen, [
            (MB_LEGACY_RNG, lambda: np.random.RandomState(seed).permutation(n)[:seen.size]),
            (MB_CHOICE, lambda: np.random.default_rng(seed).choice(n, n, replace=False)[
                :seen.size]),
        ], "draw it exactly as specified: rng = np.random.default_rng(seed); "
           "order = rng.permutation(n)")
        raise AssertionError(f"{name}: the order for seed {seed} should start "
                             f"{order[:6].tolist()}, got {seen[:6].tolist()} — {hint}")
    other = seed + 1
    if not _same_batches(_batched(_spec_order(n, other), batch_size, drop_last), expected):
        moved = _index_batches(minibatches(n, batch_size, other, drop_last=drop_last), name)
        if _same_batches(moved, got):
            raise AssertionError(f"{name}: seeds {seed} and {other} gave the same batches — "
                                 f"{MB_SEED_IGNORED}")


def check_minibatches(minibatches, n=10, batch_size=3, seed=0, drop_last=False):
    """One epoch's batches: each index once, the right sizes, and the order of the spec.

    The expected batches are ``BatchSampler(order, batch_size, drop_last)`` with
    ``order = np.random.default_rng(seed).permutation(n)``. Whatever the arguments, the
    same ``drop_last`` is also tried with a batch size above n (5 samples, batches of 8)
    and with one that divides n (12 samples, batches of 4).
    """
    check = "check_minibatches"
    require(check, integer(1), n=n, batch_size=batch_size)
    require(check, SEED, seed=seed)
    require(check, FLAG, drop_last=drop_last)
    _check_epoch(minibatches, n, batch_size, seed, drop_last)
    _check_epoch(minibatches, 5, 8, seed + 2, drop_last)
    _check_epoch(minibatches, 12, 4, seed + 3, drop_last)


# ---------------------------------------------------------------- mini-batch SGD


def least_squares_problem(seed: int, n: int, dim: int, noise: float = 0.3):
    """X (n, dim) standard normal, y = X·w + noise, and a start θ₀ (all seeded)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, size=(n, dim))
    y = X @ rng.normal(0.0, 1.0, size=dim) + rng.normal(0.0, noise, size=n)
    return X, y, rng.normal(0.0, 1.0, size=dim)


def _torch_minibatch_sgd(X, y, theta0, lr, batch_size, epochs, seed, *, orders="spec",
                         loss="half_mse", drop_last=False, maximize=False) -> np.ndarray:
    """θ after each epoch (θ₀ first) of ``torch.optim.SGD`` on ½·mse_loss per batch.

    The other options build known mistakes: ``orders`` "fixed" (no shuffling), "same"
    (a fresh generator every epoch) or "reseeded" (seeded seed + epoch); ``loss`` "mse"
    (no ½), "half_sum" (no mean), "per_batch_size" (divided by batch_size even for a
    shorter last batch) or "full" (every step on the whole data set); ``maximize``.
    """
    n = len(y)
    rng = np.random.default_rng(seed)
    X_t, y_t = float64_tensor(X), float64_tensor(y)
    param = float64_tensor(theta0, grad=True)
    optimizer = torch.optim.SGD([param], lr=lr, maximize=maximize, foreach=False)
    path = [param.detach().numpy().copy()]
    for epoch in range(epochs):
        if orders == "fixed":
            order = np.arange(n)
        elif orders == "same":
            order = _spec_order(n, seed)
        elif orders == "reseeded":
            order = _spec_order(n, seed + epoch)
        else:
            order = rng.permutation(n)
        for batch in _batched(order, batch_size, drop_last):
            optimizer.zero_grad()
            index = torch.arange(n) if loss == "full" else torch.as_tensor(batch)
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
    check = "check_minibatch_sgd"
    require(check, SEED, seed=seed)
    require(check, integer(1), n=n, dim=dim, batch_size=batch_size)
    require(check, integer(0), epochs=epochs)
    require(check, _LR, lr=lr)
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
        steps = epochs * -(-n // batch_size)
        if got.shape == theta0.shape:
            hint = SGD_LAST_ONLY
        elif got.shape == (epochs, dim):
            hint = SGD_NO_START
        elif got.shape in ((steps + 1, dim), (steps, dim)):
            hint = SGD_PER_STEP
        else:
            hint = "one row per epoch (not per step), θ₀ first: shape (epochs + 1, d)"
        raise AssertionError(f"{name}: the result has shape {got.shape}, expected "
                             f"{expected.shape} — {hint}")

    def candidates():
        yield SGD_MSE, lambda: _torch_minibatch_sgd(*args, loss="mse")
        yield SGD_SUM, lambda: _torch_minibatch_sgd(*args, loss="half_sum")
        yield SGD_BY_BATCH_SIZE, lambda: _torch_minibatch_sgd(*args, loss="per_batch_size")
        yield MB_LAST_DROPPED, lambda: _torch_minibatch_sgd(*args, drop_last=True)
        yield MB_NO_SHUFFLE, lambda: _torch_minibatch_sgd(*args, orders="fixed")
        yield SGD_RNG_PER_EPOCH, lambda: _torch_minibatch_sgd(*args, orders="same")
        yield SGD_RNG_PER_EPOCH, lambda: _torch_minibatch_sgd(*args, orders="reseeded")
        yield SGD_FULL_BATCH, lambda: _torch_minibatch_sgd(*args, loss="full")
        yield GD_ASCENT, lambda: _torch_minibatch_sgd(*args, maximize=True)

    _first_bad_row(name, got, expected, candidates, "per epoch: order = rng.permutation(n); "
                   "for each batch B: θ ← θ − lr·(1/|B|)·X_Bᵀ(X_Bθ − y_B)", "after epoch")


# ---------------------------------------------------------------- the largest stable step


def _gd_growth(hessian: torch.Tensor, theta0: torch.Tensor, lr: float, steps: int) -> float:
    """‖θ_T‖ / ‖θ₀‖ for gradient descent on ½θᵀHθ: θ_T = (I − ηH)ᵀ θ₀."""
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

    Gradient descent on L(θ) = ½θᵀHθ is θ ← (I − ηH)θ; it converges for every start iff
    |1 − ηλ_i| < 1 for every eigenvalue, i.e. η < 2/λ_max. The check iterates it: with
    0.99 η it must shrink θ, with 1.01 η it must blow it up.
    """
    check = "check_max_stable_lr"
    require(check, SEED, seed=seed)
    require(check, integer(1), dim=dim)
    require(check, number(least=1, why=" (λ_max / λ_min)"), condition=condition)
    require(check, number(above=0, why=" (the smallest eigenvalue)"), scale=scale)
    require(check, FLAG, diagonal=diagonal)
    require(check, integer(1), steps=steps)
    name = f"max_stable_lr (dim={dim}, condition number {condition:g})"
    hessian = rotated_hessian(seed, dim, condition=condition, scale=scale, diagonal=diagonal)
    saved = hessian.copy()
    got = as_float_array(max_stable_lr(hessian), name, "step size")
    assert_unchanged(name, saved, hessian, "the hessian")
    h = float64_tensor(saved)
    eigenvalues = torch.linalg.eigvalsh(h).numpy()
    expected = 2.0 / eigenvalues.max()
    if got.size != 1:
        every = diagnose(np.sort(got.ravel()), [
            (STABLE_EVERY_EIGENVALUE, lambda: np.sort(2.0 / eigenvalues))], "")
        raise AssertionError(f"{name}: return one number (the largest stable learning rate), "
                             f"got shape {got.shape}" + (f" — {every}" if every else ""))
    alpha = float(got.reshape(()))
    diag = np.diag(saved)
    hint = diagnose(got.reshape(()), [
        (STABLE_ONE_OVER, lambda: 1.0 / eigenvalues.max()),
        (STABLE_SMALLEST, lambda: 2.0 / eigenvalues.min()),
        (STABLE_TRACE, lambda: 2.0 / eigenvalues.sum()),
        (STABLE_DIAGONAL, lambda: 2.0 / diag.max()),
        (STABLE_INVERTED, lambda: eigenvalues.max() / 2.0),
        (STABLE_FROBENIUS, lambda: 2.0 / float(torch.linalg.matrix_norm(h))),
    ], "η_max = 2 / λ_max, with λ_max the largest eigenvalue of H (np.linalg.eigvalsh)")
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


# ---------------------------------------------------------------- steps per digit


def best_step_factor(kappa: float) -> float:
    """q = (κ − 1)/(κ + 1): what the best fixed step η = 2/(λ_min + λ_max) multiplies the
    error by, per step, along the steepest and the flattest direction alike."""
    return (kappa - 1.0) / (kappa + 1.0)


def steps_per_digit_closed_form(kappa: float) -> float:
    """k = ln 10 / ln(1/q) = ln 10 / ln((κ + 1)/(κ − 1)), with ln((κ + 1)/(κ − 1)) computed as
    log1p(2/(κ − 1)) (exact for large κ); 0 for κ = 1, where one step reaches the minimum."""
    if kappa == 1.0:
        return 0.0
    return math.log(10.0) / math.log1p(2.0 / (kappa - 1.0))


#: Whatever the argument, the visible call also tries these: κ = 1 (one step suffices),
#: κ = 2 (where the large-κ approximation is 10 % off) and κ = 1000 (about 1151 steps).
_KAPPAS = (1.0, 2.0, 1000.0)


def _check_one_kappa(steps_per_digit, kappa: float) -> None:
    name = f"steps_per_digit (κ = {kappa:g})"
    expected = steps_per_digit_closed_form(kappa)
    try:
        result = steps_per_digit(kappa)
    except ZeroDivisionError as error:
        if kappa != 1.0:
            raise
        raise AssertionError(f"{name}: your function raised ZeroDivisionError ({error}) — "
                             f"{DIGITS_KAPPA_ONE}") from None
    got = as_number(result, name, "number of steps", ", e.g. float(np.log(10) / np.log(1 / q))")
    q = best_step_factor(kappa)
    if kappa == 1.0:
        if not abs(got) <= 1e-12:
            raise AssertionError(f"{name}: expected 0, got {got:g} — {DIGITS_KAPPA_ONE}")
        return
    hint = diagnose(got, [
        (DIGITS_E_FOLD, lambda: 1.0 / math.log1p(2.0 / (kappa - 1.0))),
        (DIGITS_APPROXIMATION, lambda: 0.5 * math.log(10.0) * kappa),
        (DIGITS_ONE_OVER, lambda: math.log(10.0) / -math.log1p(-1.0 / kappa)),
        (DIGITS_LOSS, lambda: 0.5 * expected),
        (DIGITS_ROUNDED, lambda: float(math.ceil(expected))),
        (DIGITS_ROUNDED, lambda: float(round(expected))),
        (DIGITS_ROUNDED, lambda: float(math.floor(expected))),
    ], f"the error is multiplied by q = (κ − 1)/(κ + 1) = {q:.6g} per step; a digit is a "
       "factor 10, so k solves q^k = 1/10")
    assert_close(name, got, expected, rtol=1e-6, atol=0.0, hint=hint, what="number of steps")


def check_steps_per_digit(steps_per_digit, kappa=10.0):
    """Steps per decimal digit of ‖θ_t − θ*‖ with the best fixed step, against the closed form.

    On a quadratic with eigenvalues in [λ_min, λ_max], κ = λ_max/λ_min, the step
    η = 2/(λ_min + λ_max) multiplies the error along both extreme eigenvectors by
    q = (κ − 1)/(κ + 1) in absolute value; one digit takes k = ln 10 / ln(1/q) steps (a real
    number, not rounded), and 0 when κ = 1. The tolerance is a relative 1e-6. Whatever the
    argument, κ = 1, 2 and 1000 are tried too.
    """
    check = "check_steps_per_digit"
    require(check, number(least=1, why=" (the condition number λ_max / λ_min)"), kappa=kappa)
    for value in dict.fromkeys((float(kappa), *_KAPPAS)):
        _check_one_kappa(steps_per_digit, value)
