"""The chapter 04 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from checktools import (
    WRONG_OUTPUTS,
    assert_misconceptions_reached,
    assert_refused,
    assert_teaches,
    checks_of,
    fails_with,
    failure,
    wrong,
)

from descent.answers import load
from descent.checks import gradient_descent as checks
from descent.checks.misconceptions import find

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
        (checks.check_steps_per_digit, "steps_per_digit", {}),
        (checks.check_steps_per_digit, "steps_per_digit", {"kappa": 1}),
        (checks.check_steps_per_digit, "steps_per_digit", {"kappa": 1.0001}),
        (checks.check_steps_per_digit, "steps_per_digit", {"kappa": 1e8}),
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


def gd_stops_early(grad_fn, theta0, lr, steps):
    theta, path = np.array(theta0, dtype=float), [np.array(theta0, dtype=float)]
    for _ in range(steps):
        theta = theta - lr * grad_fn(theta)
        if np.linalg.norm(theta) > 1e6:  # "it diverged, stop"
            break
        path.append(theta)
    return np.array(path)


def gd_lr_ignored(grad_fn, theta0, lr, steps):
    return answers.gradient_descent(grad_fn, theta0, 1.0, steps)


def gd_point_when_no_steps(grad_fn, theta0, lr, steps):
    if steps == 0:
        return np.array(theta0, dtype=float)
    return answers.gradient_descent(grad_fn, theta0, lr, steps)


def gd_flattened(grad_fn, theta0, lr, steps):
    path = answers.gradient_descent(grad_fn, theta0, lr, steps)
    return path.reshape(len(path), -1)


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


def _cut(order, batch_size, drop_last):
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def mb_legacy_rng(n, batch_size, seed, drop_last=False):
    return _cut(np.random.RandomState(seed).permutation(n), batch_size, drop_last)


def mb_float_indices(n, batch_size, seed, drop_last=False):
    return [b.astype(float) for b in answers.minibatches(n, batch_size, seed, drop_last)]


# ---------------------------------------------------------------- minibatch_sgd mutants


def _sgd_loop(X, y, theta0, lr, batch_size, epochs, seed, *, orders="spec", divisor=None,
              factor=1.0, drop_last=False, record="epoch", full=False):
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    theta, n = np.array(theta0, dtype=float), len(y)
    rng = np.random.default_rng(seed)
    path = [theta]
    for epoch in range(epochs):
        if orders == "fixed":
            order = np.arange(n)
        elif orders == "same":
            order = np.random.default_rng(seed).permutation(n)
        elif orders == "reseeded":
            order = np.random.default_rng(seed + epoch).permutation(n)
        else:
            order = rng.permutation(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            batch = np.arange(n) if full else order[start:start + batch_size]
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


def sgd_reseeded(*args):
    return _sgd_loop(*args, orders="reseeded")


def sgd_full_batch(*args):
    return _sgd_loop(*args, full=True)


def sgd_ascent(*args):
    return _sgd_loop(*args, factor=-1.0)


def sgd_without_start(*args):
    return _sgd_loop(*args)[1:]


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


def lr_frobenius(h):
    return 2.0 / np.linalg.norm(h)


def lr_every_eigenvalue(h):
    return 2.0 / np.linalg.eigvalsh(h)


# ---------------------------------------------------------------- steps_per_digit mutants


def digits_e_fold(kappa):
    return 0.0 if kappa == 1 else 1.0 / np.log((kappa + 1) / (kappa - 1))


def digits_approximation(kappa):
    return np.log(10.0) / 2.0 * kappa


def digits_one_over_lambda(kappa):
    return 0.0 if kappa == 1 else np.log(10.0) / -np.log(1.0 - 1.0 / kappa)


def digits_loss(kappa):
    return 0.5 * answers.steps_per_digit(kappa)


def digits_rounded_up(kappa):
    return float(np.ceil(answers.steps_per_digit(kappa)))


def digits_divides_by_zero(kappa):
    return float(np.log(10.0) / np.log((kappa + 1.0) / (kappa - 1.0)))  # ZeroDivisionError at 1


def digits_nan_at_one(kappa):
    q = (kappa - 1.0) / (kappa + 1.0)
    return np.log(10.0) / np.log(1.0 / q) if q else np.nan


MUTANTS = [
    (checks.check_gradient_descent, gd_last_point, {}, "gd.last-point-only"),
    (checks.check_gradient_descent, gd_without_start, {}, "gd.missing-start"),
    (checks.check_gradient_descent, gd_ascent, {}, "gd.ascent"),
    (checks.check_gradient_descent, gd_aliased, {}, "gd.aliased-rows"),
    (checks.check_gradient_descent, gd_gradient_once, {}, "gd.gradient-once"),
    (checks.check_gradient_descent, gd_lr_ignored, {}, "gd.lr-ignored"),
    # the visible call is stable: its diverging run catches these
    (checks.check_gradient_descent, gd_clipped, {}, "gd.stops-on-divergence"),
    (checks.check_gradient_descent, gd_stops_early, {}, "gd.stops-on-divergence"),
    # and its run of zero steps this one
    (checks.check_gradient_descent, gd_point_when_no_steps, {}, "gd.last-point-only"),
    (checks.check_minibatches, mb_no_shuffle, {}, "minibatch.no-shuffle"),
    (checks.check_minibatches, mb_drops_always, {}, "minibatch.last-batch-dropped"),
    (checks.check_minibatches, mb_never_drops, {"drop_last": True},
     "minibatch.drop-last-ignored"),
    (checks.check_minibatches, mb_with_replacement, {}, "minibatch.with-replacement"),
    (checks.check_minibatches, mb_array_split, {}, "minibatch.not-consecutive"),
    (checks.check_minibatches, mb_generator, {}, "minibatch.generator-not-list"),
    (checks.check_minibatches, mb_choice, {}, "minibatch.choice-not-permutation"),
    (checks.check_minibatches, mb_legacy_rng, {}, "minibatch.legacy-rng"),
    (checks.check_minibatches, mb_global_rng, {}, "minibatch.global-rng"),
    (checks.check_minibatches, mb_fixed_seed, {}, "minibatch.seed-ignored"),
    (checks.check_minibatches, mb_float_indices, {}, "minibatch.float-indices"),
    (checks.check_minibatch_sgd, sgd_no_shuffle, {}, "minibatch.no-shuffle"),
    (checks.check_minibatch_sgd, sgd_same_order, {}, "sgd.rng-per-epoch"),
    (checks.check_minibatch_sgd, sgd_reseeded, {}, "sgd.rng-per-epoch"),
    (checks.check_minibatch_sgd, sgd_sum, {}, "sgd.batch-sum"),
    (checks.check_minibatch_sgd, sgd_by_batch_size, {}, "sgd.divide-by-batch-size"),
    (checks.check_minibatch_sgd, sgd_mse_gradient, {}, "sgd.mse-factor-two"),
    (checks.check_minibatch_sgd, sgd_drop_last, {}, "minibatch.last-batch-dropped"),
    (checks.check_minibatch_sgd, sgd_full_batch, {}, "sgd.full-batch-gradient"),
    (checks.check_minibatch_sgd, sgd_ascent, {}, "gd.ascent"),
    (checks.check_minibatch_sgd, sgd_per_step, {}, "sgd.rows-per-step"),
    (checks.check_minibatch_sgd, sgd_final_only, {}, "sgd.last-epoch-only"),
    (checks.check_minibatch_sgd, sgd_without_start, {}, "sgd.missing-start"),
    (checks.check_max_stable_lr, lr_one_over, {}, "stable-lr.one-over-lambda"),
    (checks.check_max_stable_lr, lr_smallest, {}, "stable-lr.smallest-eigenvalue"),
    (checks.check_max_stable_lr, lr_trace, {}, "stable-lr.trace"),
    (checks.check_max_stable_lr, lr_diagonal, {}, "stable-lr.diagonal"),
    (checks.check_max_stable_lr, lr_inverted, {}, "stable-lr.inverted"),
    (checks.check_max_stable_lr, lr_frobenius, {}, "stable-lr.frobenius-norm"),
    (checks.check_max_stable_lr, lr_every_eigenvalue, {}, "stable-lr.every-eigenvalue"),
    (checks.check_steps_per_digit, digits_e_fold, {}, "steps-per-digit.e-fold"),
    (checks.check_steps_per_digit, digits_approximation, {},
     "steps-per-digit.large-kappa-approximation"),
    (checks.check_steps_per_digit, digits_one_over_lambda, {},
     "steps-per-digit.step-one-over-lambda"),
    (checks.check_steps_per_digit, digits_loss, {}, "steps-per-digit.loss-not-error"),
    (checks.check_steps_per_digit, digits_rounded_up, {}, "steps-per-digit.rounded"),
    (checks.check_steps_per_digit, digits_divides_by_zero, {}, "steps-per-digit.kappa-one"),
    (checks.check_steps_per_digit, digits_nan_at_one, {}, "steps-per-digit.kappa-one"),
]


@pytest.mark.parametrize("check, mutant, kwargs, misconception", MUTANTS)
def test_plausible_mistakes_are_named_by_the_visible_calls(check, mutant, kwargs, misconception):
    """Called as the notebook's visible test cell calls it, the check names the mistake."""
    fails_with(check, mutant, misconception, **kwargs)


def test_every_misconception_is_exercised_and_explained_by_its_page():
    assert_misconceptions_reached(checks, [id for *_, id in MUTANTS])


def mb_drops_a_full_batch(n, batch_size, seed, drop_last=False):
    order = np.random.default_rng(seed).permutation(n)
    stop = n - batch_size if drop_last else n  # drops a whole batch when b divides n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


@pytest.mark.parametrize("check, mutant, kwargs, message", [
    (checks.check_gradient_descent, gd_in_place, {}, "modified in place"),
    (checks.check_gradient_descent, gd_flattened, {}, "shape (61, 2), expected (61, 2, 1)"),
    (checks.check_minibatches, mb_drops_a_full_batch, {"drop_last": True},
     "expected 3 batches, got 2"),
])
def test_other_mistakes_get_a_plain_message(check, mutant, kwargs, message):
    got = failure(check, mutant, **kwargs)
    assert message in got and not find(got), got


def test_hidden_edge_cases_catch_what_the_defaults_miss():
    """Dropping the flag shows only with drop_last, dividing by batch_size only with a
    shorter last batch, and the diagonal only on a rotated Hessian."""
    checks.check_minibatches(mb_never_drops)
    with pytest.raises(AssertionError, match="drop_last=True, drop the last batch"):
        checks.check_minibatches(mb_never_drops, drop_last=True)
    checks.check_minibatch_sgd(sgd_by_batch_size, n=12, batch_size=4)
    checks.check_max_stable_lr(lr_diagonal, diagonal=True)


def test_messages_name_the_row_that_differs():
    def wrong_after_three(grad_fn, theta0, lr, steps):
        path = answers.gradient_descent(grad_fn, theta0, lr, steps)
        path[4:] += 1.0
        return path

    with pytest.raises(AssertionError, match=r"steps=20\), row 4: the result at index"):
        checks.check_gradient_descent(wrong_after_three)


def test_stub_raises_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for check in (checks.check_gradient_descent, checks.check_minibatches,
                  checks.check_minibatch_sgd, checks.check_max_stable_lr,
                  checks.check_steps_per_digit):
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


@pytest.mark.parametrize("kappa", [1.5, 10.0, 1000.0])
def test_steps_per_digit_is_what_gradient_descent_does(kappa):
    """The closed form against gradient descent itself: with η = 2/(λ_min + λ_max) on a
    rotated 2-D quadratic of condition number κ, the error shrinks by q per step, so the
    first step with ‖θ_t‖ ≤ 10^(−d)·‖θ₀‖ is ⌈d·k⌉, for d = 1 … 4 digits."""
    hessian = checks.rotated_hessian(5, 2, condition=kappa, scale=0.3)
    eigenvalues = np.linalg.eigvalsh(hessian)
    lr = 2.0 / (eigenvalues[0] + eigenvalues[-1])
    k = checks.steps_per_digit_closed_form(kappa)
    theta0 = np.array([1.0, -2.0])
    theta, norms = theta0, [np.linalg.norm(theta0)]
    for _ in range(int(np.ceil(4 * k)) + 2):
        theta = theta - lr * hessian @ theta
        norms.append(np.linalg.norm(theta))
    ratios = np.array(norms) / norms[0]
    for digits in range(1, 5):
        first = int(np.argmax(ratios <= 10.0 ** -digits * (1 + 1e-9)))
        assert first == int(np.ceil(digits * k - 1e-9)), (kappa, digits, first, k)


def test_steps_per_digit_grows_like_kappa():
    """≈ (ln 10 / 2)·κ for large κ: κ = 1000 costs about 1151 steps per digit."""
    assert abs(checks.steps_per_digit_closed_form(1000.0) - 1151.29) < 0.01
    assert checks.steps_per_digit_closed_form(1.0) == 0.0


def test_full_batch_sgd_is_gradient_descent():
    """With batch_size = n the oracle's epochs are the steps of batch gradient descent."""
    X, y, theta0 = checks.least_squares_problem(0, 12, 3)
    per_epoch = checks._torch_minibatch_sgd(X, y, theta0, 0.1, 12, 5, seed=1)

    def grad(theta):
        return X.T @ (X @ theta - y) / len(y)

    assert np.allclose(per_epoch, answers.gradient_descent(grad, theta0, 0.1, 5), rtol=1e-12)


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("check, kwargs", [
    (checks.check_gradient_descent, {"seed": None}),
    (checks.check_gradient_descent, {"problem": "himmelblau"}),
    (checks.check_gradient_descent, {"shape": (0, 2)}),
    (checks.check_gradient_descent, {"lr": 0.0}),
    (checks.check_gradient_descent, {"lr": -0.1}),
    (checks.check_gradient_descent, {"steps": -1}),
    (checks.check_gradient_descent, {"steps": 2.0}),
    (checks.check_minibatches, {"n": 0}),
    (checks.check_minibatches, {"batch_size": 0}),
    (checks.check_minibatches, {"seed": 1.0}),
    (checks.check_minibatches, {"drop_last": 1}),
    (checks.check_minibatch_sgd, {"dim": 0}),
    (checks.check_minibatch_sgd, {"epochs": -2}),
    (checks.check_minibatch_sgd, {"lr": float("nan")}),
    (checks.check_max_stable_lr, {"condition": 0.5}),
    (checks.check_max_stable_lr, {"scale": 0.0}),
    (checks.check_max_stable_lr, {"steps": 0}),
    (checks.check_max_stable_lr, {"diagonal": "yes"}),
    (checks.check_steps_per_digit, {"kappa": 0.5}),
    (checks.check_steps_per_digit, {"kappa": float("inf")}),
    (checks.check_steps_per_digit, {"kappa": "10"}),
])
def test_bad_arguments_are_refused_before_the_student_runs(check, kwargs):
    assert_refused(check, kwargs)


# ---------------------------------------------------------------- generic wrong answers


@pytest.mark.parametrize("change", WRONG_OUTPUTS)
@pytest.mark.parametrize("check, function", checks_of(checks))
def test_generic_wrong_answers_fail_with_an_assertion_that_teaches(check, function, change):
    assert_teaches(failure(check, wrong(getattr(answers, function), WRONG_OUTPUTS[change])),
                   function)


def test_a_generator_seen_through_the_grader_is_named():
    """In the sandbox a student's generator reaches the check as the grader's stand-in."""
    from autograder.wire import Unsupported

    fails_with(checks.check_minibatches, lambda *args, **kwargs: Unsupported("generator"),
               "minibatch.generator-not-list")
