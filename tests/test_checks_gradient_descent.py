"""The chapter 04 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from descent.answers import load
from descent.checks import gradient_descent as checks

answers = load("04_gradient_descent")


@pytest.mark.parametrize(
    "check, function, kwargs",
    [
        (checks.check_gradient_descent, "gradient_descent", {"seed": 3, "shape": (3, 2)}),
        (checks.check_gradient_descent, "gradient_descent", {"lr": 0.5, "steps": 25}),
        (checks.check_gradient_descent, "gradient_descent",
         {"problem": "rosenbrock", "lr": 1e-3, "steps": 10}),
        (checks.check_gradient_descent, "gradient_descent", {"steps": 0}),
        (checks.check_minibatches, "minibatches", {"n": 33, "batch_size": 8, "seed": 4}),
        (checks.check_minibatches, "minibatches", {"n": 3, "batch_size": 5}),
        (checks.check_minibatches, "minibatches", {"n": 3, "batch_size": 5, "drop_last": True}),
        (checks.check_minibatches, "minibatches", {"n": 6, "batch_size": 1, "drop_last": True}),
        (checks.check_minibatch_sgd, "minibatch_sgd", {"seed": 5, "batch_size": 1}),
        (checks.check_minibatch_sgd, "minibatch_sgd", {"seed": 6, "batch_size": 12}),
        (checks.check_minibatch_sgd, "minibatch_sgd", {"n": 11, "batch_size": 30}),
        (checks.check_max_stable_lr, "max_stable_lr", {"seed": 7, "dim": 5, "condition": 1e3}),
        (checks.check_max_stable_lr, "max_stable_lr", {"dim": 1, "scale": 0.01}),
    ],
)
def test_model_answers_pass(check, function, kwargs):
    check(getattr(answers, function), **kwargs)


# ---------------------------------------------------------------- gradient_descent mutants


def gd_last_point(grad_fn, theta0, lr, steps):
    return answers.gradient_descent(grad_fn, theta0, lr, steps)[-1]


def gd_without_start(grad_fn, theta0, lr, steps):
    return answers.gradient_descent(grad_fn, theta0, lr, steps)[1:]


def gd_ascent(grad_fn, theta0, lr, steps):
    return answers.gradient_descent(grad_fn, theta0, -lr, steps)


def gd_aliased(grad_fn, theta0, lr, steps):
    theta = np.array(theta0, dtype=float)
    path = []
    for _ in range(steps):
        path.append(theta)
        theta -= lr * grad_fn(theta)
    path.append(theta)
    return np.array(path)


def gd_gradient_once(grad_fn, theta0, lr, steps):
    g = np.asarray(grad_fn(theta0), dtype=float)
    return np.array([theta0 - t * lr * g for t in range(steps + 1)])


def gd_in_place(grad_fn, theta0, lr, steps):
    path = [theta0.copy()]
    for _ in range(steps):
        theta0 -= lr * grad_fn(theta0)
        path.append(theta0.copy())
    return np.array(path)


def gd_clipped(grad_fn, theta0, lr, steps):
    """Stops (repeats the point) once the values blow up: hides divergence."""
    path = answers.gradient_descent(grad_fn, theta0, lr, steps)
    return np.clip(path, -50, 50)


# ---------------------------------------------------------------- minibatches mutants


def mb_no_shuffle(n, batch_size, seed, drop_last=False):
    order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def mb_drops_always(n, batch_size, seed, drop_last=False):
    return answers.minibatches(n, batch_size, seed, drop_last=True)


def mb_never_drops(n, batch_size, seed, drop_last=False):
    return answers.minibatches(n, batch_size, seed, drop_last=False)


def mb_with_replacement(n, batch_size, seed, drop_last=False):
    order = np.random.default_rng(seed).integers(0, n, n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def mb_array_split(n, batch_size, seed, drop_last=False):
    order = np.random.default_rng(seed).permutation(n)
    return np.array_split(order, -(-n // batch_size))


def mb_generator(n, batch_size, seed, drop_last=False):
    yield from answers.minibatches(n, batch_size, seed, drop_last)


def mb_choice(n, batch_size, seed, drop_last=False):
    order = np.random.default_rng(seed).choice(n, n, replace=False)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def mb_fixed_seed(n, batch_size, seed, drop_last=False):
    return answers.minibatches(n, batch_size, 0, drop_last)


def mb_global_rng(n, batch_size, seed, drop_last=False):
    order = np.random.permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


# ---------------------------------------------------------------- minibatch_sgd mutants


def _sgd_loop(X, y, theta0, lr, batch_size, epochs, seed, *, orders="spec", divisor=None,
              factor=1.0, drop_last=False, record="epoch"):
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    theta, n = np.array(theta0, dtype=float), len(y)
    rng = np.random.default_rng(seed)
    path = [theta]
    for _ in range(epochs):
        if orders == "fixed":
            order = np.arange(n)
        elif orders == "same":
            order = np.random.default_rng(seed).permutation(n)
        else:
            order = rng.permutation(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            batch = order[start:start + batch_size]
            m = len(batch) if divisor is None else divisor
            theta = theta - lr * factor * X[batch].T @ (X[batch] @ theta - y[batch]) / m
            if record == "step":
                path.append(theta)
        if record == "epoch":
            path.append(theta)
    return np.array(path)


def sgd_no_shuffle(*args):
    return _sgd_loop(*args, orders="fixed")


def sgd_same_order(*args):
    return _sgd_loop(*args, orders="same")


def sgd_sum(*args):
    return _sgd_loop(*args, divisor=1)


def sgd_by_batch_size(X, y, theta0, lr, batch_size, epochs, seed):
    return _sgd_loop(X, y, theta0, lr, batch_size, epochs, seed, divisor=batch_size)


def sgd_mse_gradient(*args):
    return _sgd_loop(*args, factor=2.0)


def sgd_drop_last(*args):
    return _sgd_loop(*args, drop_last=True)


def sgd_per_step(*args):
    return _sgd_loop(*args, record="step")


def sgd_final_only(*args):
    return _sgd_loop(*args)[-1]


# ---------------------------------------------------------------- max_stable_lr mutants


def lr_one_over(h):
    return 1.0 / np.linalg.eigvalsh(h)[-1]


def lr_smallest(h):
    return 2.0 / np.linalg.eigvalsh(h)[0]


def lr_trace(h):
    return 2.0 / np.trace(h)


def lr_diagonal(h):
    return 2.0 / np.max(np.diag(h))


def lr_inverted(h):
    return np.linalg.eigvalsh(h)[-1] / 2.0


MUTANTS = [
    (checks.check_gradient_descent, gd_last_point, "not only the last point"),
    (checks.check_gradient_descent, gd_without_start, "starts with θ₀"),
    (checks.check_gradient_descent, gd_ascent, "AGAINST the gradient"),
    (checks.check_gradient_descent, gd_aliased, "every row is the last point"),
    (checks.check_gradient_descent, gd_gradient_once, "CURRENT point"),
    (checks.check_gradient_descent, gd_in_place, "modified in place"),
    (checks.check_minibatches, mb_no_shuffle, "shuffle"),
    (checks.check_minibatches, mb_drops_always, "keep the last, shorter batch"),
    (checks.check_minibatches, mb_with_replacement, "exactly once"),
    (checks.check_minibatches, mb_array_split, "consecutive slices"),
    (checks.check_minibatches, mb_generator, "generator"),
    (checks.check_minibatches, mb_choice, "rng.permutation(n)"),
    (checks.check_minibatches, mb_global_rng, "rng.permutation(n)"),
    (checks.check_minibatches, mb_fixed_seed, "use the seed argument"),
    (checks.check_minibatch_sgd, sgd_no_shuffle, "shuffle every epoch"),
    (checks.check_minibatch_sgd, sgd_same_order, "ONCE"),
    (checks.check_minibatch_sgd, sgd_sum, "not the sum"),
    (checks.check_minibatch_sgd, sgd_by_batch_size, "THIS batch"),
    (checks.check_minibatch_sgd, sgd_mse_gradient, "without a factor 2"),
    (checks.check_minibatch_sgd, sgd_drop_last, "keep the last, shorter batch"),
    (checks.check_minibatch_sgd, sgd_per_step, "not per step"),
    (checks.check_minibatch_sgd, sgd_final_only, "after every epoch"),
    (checks.check_max_stable_lr, lr_one_over, "twice that"),
    (checks.check_max_stable_lr, lr_smallest, "LARGEST eigenvalue"),
    (checks.check_max_stable_lr, lr_trace, "trace"),
    (checks.check_max_stable_lr, lr_diagonal, "diagonal entries"),
    (checks.check_max_stable_lr, lr_inverted, "DIVIDED"),
]


@pytest.mark.parametrize("check, mutant, message", MUTANTS)
def test_plausible_mistakes_fail_with_a_hint(check, mutant, message):
    with pytest.raises(AssertionError) as failure:
        check(mutant)
    assert message in str(failure.value)


def test_hidden_edge_cases_catch_what_the_defaults_miss():
    """Clipping hides only a divergence; dropping the flag shows only with drop_last."""
    checks.check_gradient_descent(gd_clipped)
    with pytest.raises(AssertionError, match="row"):
        checks.check_gradient_descent(gd_clipped, lr=0.45, steps=30)
    checks.check_minibatches(mb_never_drops)
    with pytest.raises(AssertionError, match="drop_last=True, drop the last batch"):
        checks.check_minibatches(mb_never_drops, drop_last=True)
    # dividing by batch_size only differs from len(batch) when the last batch is shorter
    checks.check_minibatch_sgd(sgd_by_batch_size, n=12, batch_size=4)
    # a diagonal Hessian cannot tell its diagonal from its eigenvalues
    checks.check_max_stable_lr(lr_diagonal, diagonal=True)


def test_stub_raises_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for check in (checks.check_gradient_descent, checks.check_minibatches,
                  checks.check_minibatch_sgd, checks.check_max_stable_lr):
        with pytest.raises(NotImplementedError):
            check(stub)


def test_the_stability_limit_is_sharp():
    """Just below 2/λ_max gradient descent contracts, just above it blows up."""
    hessian = checks.rotated_hessian(0, 4, condition=10.0)
    limit = 2.0 / np.linalg.eigvalsh(hessian)[-1]
    h, theta0 = torch.tensor(hessian), torch.ones(4, dtype=torch.float64)
    assert checks._gd_growth(h, theta0, 0.99 * limit, 4000) < 1e-6
    assert checks._gd_growth(h, theta0, 1.01 * limit, 4000) > 1e30
    assert not np.allclose(np.diag(hessian), np.sort(np.linalg.eigvalsh(hessian)))


def test_full_batch_sgd_is_gradient_descent():
    """With batch_size = n the oracle's epochs are the steps of batch gradient descent."""
    X, y, theta0 = checks.least_squares_problem(0, 12, 3)
    per_epoch = checks._torch_minibatch_sgd(X, y, theta0, 0.1, 12, 5, seed=1)

    def grad(theta):
        return X.T @ (X @ theta - y) / len(y)

    assert np.allclose(per_epoch, answers.gradient_descent(grad, theta0, 0.1, 5), rtol=1e-12)
