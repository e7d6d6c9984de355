"""The chapter 03 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from checktools import assert_misconceptions_reached, assert_refused, fails_as

from descent.answers import load
from descent.checks import regularization as checks

answers = load("03_regularization")


@pytest.mark.parametrize(
    "check, function, kwargs",
    [
        (checks.check_l2_penalty, "l2_penalty", {"seed": 3, "shapes": [(2, 2), (), (4,)]}),
        (checks.check_l2_penalty, "l2_penalty", {"shapes": [], "lam": 1.0}),
        (checks.check_l2_grad, "l2_grad", {"seed": 4, "lam": 10.0}),
        (checks.check_sgd_step, "sgd_step", {"seed": 5, "momentum": 0.0}),
        (checks.check_sgd_step, "sgd_step", {"seed": 6, "shape": (2, 3), "weight_decay": 0.0}),
        (checks.check_adamw_step, "adamw_step", {"seed": 7, "steps": 60, "weight_decay": 1.0}),
        (checks.check_adamw_step, "adamw_step", {"seed": 8, "betas": (0.5, 0.9), "eps": 0.1}),
        (checks.check_dropout_forward, "dropout_forward", {"seed": 9, "p": 0.95}),
        (checks.check_dropout_forward, "dropout_forward", {"shape": (4096, 32), "p": 0.0}),
        (checks.check_dropout_backward, "dropout_backward", {"seed": 10, "p": 0.1}),
        (checks.check_l2_optimum, "l2_optimum", {}),
        (checks.check_l2_optimum, "l2_optimum",
         {"seed": 11, "dim": 8, "condition": 1e5, "scale": 1e-4, "weight_decay": 1e-3}),
        (checks.check_l2_optimum, "l2_optimum", {"weight_decay": 0}),
    ],
)
def test_model_answers_pass(check, function, kwargs):
    check(getattr(answers, function), **kwargs)


def sgd_decoupled(param, grad, lr, weight_decay=0.0, momentum=0.0, momentum_buffer=None):
    """Decay applied outside the momentum buffer (the 'SGDW' variant)."""
    new, buffer = answers.sgd_step(param, grad, lr, 0.0, momentum, momentum_buffer)
    return new - lr * weight_decay * np.asarray(param), buffer


def sgd_decay_without_lr(param, grad, lr, weight_decay=0.0, momentum=0.0, momentum_buffer=None):
    new, buffer = answers.sgd_step(param, grad, lr, 0.0, momentum, momentum_buffer)
    return new - weight_decay * np.asarray(param), buffer


def sgd_dampened(param, grad, lr, weight_decay=0.0, momentum=0.0, momentum_buffer=None):
    d_p = np.asarray(grad) + weight_decay * np.asarray(param)
    buffer = d_p if momentum_buffer is None else momentum * momentum_buffer + (1 - momentum) * d_p
    return param - lr * buffer, buffer


def sgd_buffer_from_zero_scaled(param, grad, lr, weight_decay=0.0, momentum=0.0,
                                momentum_buffer=None):
    """Starts the buffer at (1 − μ)·d instead of d: only the first step differs."""
    d_p = np.asarray(grad) + weight_decay * np.asarray(param)
    buffer = (1 - momentum) * d_p if momentum_buffer is None else momentum * momentum_buffer + d_p
    return param - lr * buffer, buffer


def sgd_in_place(param, grad, lr, weight_decay=0.0, momentum=0.0, momentum_buffer=None):
    new, buffer = answers.sgd_step(param, grad, lr, weight_decay, momentum, momentum_buffer)
    param[...] = new
    return param, buffer


def adam_with_l2(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999),
                 eps=1e-8, weight_decay=1e-2):
    """Coupled decay: λθ added to the gradient, as torch.optim.Adam(weight_decay=λ)."""
    return answers.adamw_step(param, np.asarray(grad) + weight_decay * np.asarray(param),
                              exp_avg, exp_avg_sq, step, lr, betas, eps, 0.0)


def adamw_decay_without_lr(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999),
                           eps=1e-8, weight_decay=1e-2):
    param = np.asarray(param) * (1 - weight_decay)
    return answers.adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps, 0.0)


def adamw_no_bias_correction(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3,
                             betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    beta1, beta2 = betas
    m = beta1 * exp_avg + (1 - beta1) * grad
    v = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
    return param * (1 - lr * weight_decay) - lr * m / (np.sqrt(v) + eps), m, v


def adamw_step_off_by_one(param, grad, exp_avg, exp_avg_sq, step, **kwargs):
    return answers.adamw_step(param, grad, exp_avg, exp_avg_sq, step + 1, **kwargs)


def adamw_decay_in_moments(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999),
                           eps=1e-8, weight_decay=1e-2):
    """Decoupled decay on θ, but the moments also see λθ: the moments are checked first."""
    new, _, _ = answers.adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps,
                                   weight_decay)
    _, m, v = answers.adamw_step(param, np.asarray(grad) + weight_decay * np.asarray(param),
                                 exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay)
    return new, m, v


def dropout_keep_with_p(x, p, train=True, seed=0):
    if not train:
        return np.array(x, dtype=float), np.ones(np.shape(x))
    mask = (np.random.default_rng(seed).random(np.shape(x)) < p).astype(float)
    return x * mask / (1 - p), mask


def dropout_scale_by_p(x, p, train=True, seed=0):
    out, mask = answers.dropout_forward(x, p, train, seed)
    return (out * (1 - p) / p if train else out), mask


def dropout_unscaled(x, p, train=True, seed=0):
    out, mask = answers.dropout_forward(x, p, train, seed)
    return (x * mask if train else out), mask


def dropout_scaled_mask(x, p, train=True, seed=0):
    out, mask = answers.dropout_forward(x, p, train, seed)
    return out, (mask / (1 - p) if train else mask)


def dropout_always(x, p, train=True, seed=0):
    return answers.dropout_forward(x, p, True, seed)


def dropout_ignores_seed(x, p, train=True, seed=0):
    return answers.dropout_forward(x, p, train, 1234)


def dropout_one_mask_per_feature(x, p, train=True, seed=0):
    x = np.asarray(x, dtype=float)
    if not train:
        return x.copy(), np.ones_like(x)
    row = (np.random.default_rng(seed).random(x.shape[-1]) >= p).astype(float)
    mask = np.broadcast_to(row, x.shape).copy()
    return x * mask / (1 - p), mask


def dropout_eval_scaled(x, p, train=True, seed=0):
    out, mask = answers.dropout_forward(x, p, train, seed)
    return (out if train else out * (1 - p)), mask


def sgd_ignores_decay(param, grad, lr, weight_decay=0.0, momentum=0.0, momentum_buffer=None):
    return answers.sgd_step(param, grad, lr, 0.0, momentum, momentum_buffer)


def sgd_ascent(param, grad, lr, weight_decay=0.0, momentum=0.0, momentum_buffer=None):
    new, buffer = answers.sgd_step(param, grad, lr, weight_decay, momentum, momentum_buffer)
    return 2 * np.asarray(param) - new, buffer


def adamw_ignores_decay(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999),
                        eps=1e-8, weight_decay=1e-2):
    return answers.adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps, 0.0)


def _strong_decay(mutant):
    """At step 1 Adam's step is ±lr whatever the gradient's size, so ignoring the decay and
    adding λθ to g (Adam with L2) give the same θ unless λθ flips the sign of some g: a
    strong decay tells them apart (with a weak one the check names Adam with L2)."""
    return lambda: checks.check_adamw_step(mutant, weight_decay=1.0)


def adamw_counts_from_zero(param, grad, exp_avg, exp_avg_sq, step, **kwargs):
    """Uses step − 1 in β₁ᵗ, β₂ᵗ, guarded against 1 − β⁰ = 0: right only at step 1."""
    return answers.adamw_step(param, grad, exp_avg, exp_avg_sq, max(step - 1, 1), **kwargs)


def dropout_unseeded(x, p, train=True, seed=0):
    return answers.dropout_forward(x, p, train, int(np.random.default_rng().integers(2**31)))


def _solve(h, t, omega, *, matrix=None, rhs=None):
    h, t = np.asarray(h, dtype=float), np.asarray(t, dtype=float)
    matrix = h + omega * np.eye(len(t)) if matrix is None else matrix
    return np.linalg.solve(matrix, h @ t if rhs is None else rhs)


def optimum_ignored(hessian, theta_star, weight_decay):
    return np.array(theta_star, dtype=float)


def optimum_uniform(hessian, theta_star, weight_decay):
    return np.asarray(theta_star, dtype=float) / (1.0 + weight_decay)


def optimum_doubled(hessian, theta_star, weight_decay):
    h = np.asarray(hessian, dtype=float)
    return _solve(h, theta_star, weight_decay, matrix=h + 2 * weight_decay * np.eye(len(h)))


def optimum_diagonal(hessian, theta_star, weight_decay):
    d = np.diag(hessian)
    return d / (d + weight_decay) * np.asarray(theta_star, dtype=float)


def optimum_without_h(hessian, theta_star, weight_decay):
    return _solve(hessian, theta_star, weight_decay, rhs=np.asarray(theta_star, dtype=float))


def optimum_in_place(hessian, theta_star, weight_decay):
    hessian += weight_decay * np.eye(len(hessian))
    return np.linalg.solve(hessian, (hessian - weight_decay * np.eye(len(hessian))) @ theta_star)


# (check, mutant, what the message must contain): a misconception's id, found by its tag,
# or, for mistakes that are not misconceptions (a wrong type, an input modified), a phrase.
MUTANTS = [
    (checks.check_l2_penalty, lambda ps, lam: lam * sum(np.sum(p**2) for p in ps), "l2.no-half"),
    (checks.check_l2_penalty, lambda ps, lam: 0.5 * lam * sum(np.linalg.norm(p) for p in ps),
     "l2.norm-not-squared"),
    (checks.check_l2_penalty, lambda ps, lam: 0.5 * sum(np.sum(p**2) for p in ps),
     "l2.no-lambda"),
    (checks.check_l2_penalty, lambda ps, lam: 0.5 * lam * np.sum(ps[0] ** 2),
     "l2.first-parameter-only"),
    (checks.check_l2_penalty, lambda ps, lam: [0.5 * lam * np.sum(p**2) for p in ps],
     "one number"),
    (checks.check_l2_grad, lambda ps, lam: [2 * lam * p for p in ps], "l2.gradient-doubled"),
    (checks.check_l2_grad, lambda ps, lam: [np.array(p) for p in ps], "l2.no-lambda"),
    (checks.check_l2_grad, lambda ps, lam: lam * ps[0], "list of 2 arrays"),
    (checks.check_sgd_step, sgd_decoupled, "weight-decay.decoupled-in-sgd"),
    (checks.check_sgd_step, sgd_decay_without_lr, "weight-decay.without-lr"),
    (checks.check_sgd_step, sgd_ignores_decay, "weight-decay.ignored"),
    (checks.check_sgd_step, sgd_dampened, "sgd-step.dampening"),
    (checks.check_sgd_step, sgd_ascent, "sgd-step.wrong-sign"),
    (checks.check_sgd_step, sgd_buffer_from_zero_scaled, "step 1"),
    (checks.check_sgd_step, sgd_in_place, "modified in place"),
    (checks.check_sgd_step, lambda *a, **k: answers.sgd_step(*a, **k)[0], "pair"),
    (checks.check_adamw_step, adam_with_l2, "adamw.coupled-l2"),
    (_strong_decay(adamw_ignores_decay), None, "adamw.decay-ignored"),
    (_strong_decay(adam_with_l2), None, "adamw.coupled-l2"),
    (checks.check_adamw_step, adamw_decay_without_lr, "adamw.decay-without-lr"),
    (checks.check_adamw_step, adamw_no_bias_correction, "adamw.no-bias-correction"),
    (checks.check_adamw_step, adamw_step_off_by_one, "adamw.step-plus-one"),
    (checks.check_adamw_step, adamw_counts_from_zero, "adamw.step-minus-one"),
    (checks.check_adamw_step, adamw_decay_in_moments, "adamw.decay-in-moments"),
    (checks.check_dropout_forward, dropout_keep_with_p, "dropout.keep-with-p"),
    (checks.check_dropout_forward, dropout_scale_by_p, "dropout.scale-by-p"),
    (checks.check_dropout_forward, dropout_unscaled, "dropout.unscaled"),
    (checks.check_dropout_forward, dropout_scaled_mask, "dropout.scaled-mask"),
    (checks.check_dropout_forward, dropout_always, "dropout.not-identity-at-test-time"),
    (checks.check_dropout_forward, dropout_eval_scaled, "dropout.not-identity-at-test-time"),
    (checks.check_dropout_forward, dropout_unseeded, "dropout.unseeded"),
    (checks.check_dropout_forward, dropout_ignores_seed, "dropout.seed-ignored"),
    (checks.check_dropout_forward, dropout_one_mask_per_feature, "dropout.shared-mask"),
    (checks.check_dropout_backward, lambda dout, mask, p: dout * mask,
     "dropout.backward-unscaled"),
    (checks.check_dropout_backward, lambda dout, mask, p: dout / (1 - p),
     "dropout.backward-without-mask"),
    (checks.check_l2_optimum, optimum_ignored, "l2-optimum.decay-ignored"),
    (checks.check_l2_optimum, optimum_uniform, "l2-optimum.uniform-shrink"),
    (checks.check_l2_optimum, optimum_doubled, "l2-optimum.penalty-gradient-doubled"),
    (checks.check_l2_optimum, optimum_diagonal, "l2-optimum.diagonal"),
    (checks.check_l2_optimum, optimum_without_h, "l2-optimum.missing-hessian"),
    (checks.check_l2_optimum, optimum_in_place, "modified in place"),
    (checks.check_l2_optimum, lambda h, t, w: answers.l2_optimum(h, t, w)[:, None],
     "shape (4, 1)"),
]


@pytest.mark.parametrize("check, mutant, expected", MUTANTS)
def test_plausible_mistakes_fail_with_a_hint(check, mutant, expected):
    fails_as(check, expected, *([] if mutant is None else [mutant]))


def test_every_misconception_is_diagnosed_and_points_at_a_section():
    """Each id the module defines is reached by a mutant above, and its section is a heading
    of the page it names."""
    assert_misconceptions_reached(checks, [e for *_, e in MUTANTS])


def test_the_l2_optimum_shrinks_each_eigen_direction_by_its_own_factor():
    """Along the eigenvector of λ_i the penalty scales θ* by λ_i/(λ_i + ω): flat directions
    (λ_i ≪ ω) are nearly erased, stiff ones (λ_i ≫ ω) kept; the gradient vanishes there."""
    hessian, theta_star = checks.l2_quadratic_problem(0, 4, 100.0, 0.1)
    omega = 1.0
    got = answers.l2_optimum(hessian, theta_star, omega)
    eigenvalues, vectors = np.linalg.eigh(hessian)
    ratios = (vectors.T @ got) / (vectors.T @ theta_star)
    assert np.allclose(ratios, eigenvalues / (eigenvalues + omega), rtol=1e-10)
    assert np.allclose(hessian @ (got - theta_star) + omega * got, 0.0, atol=1e-12)


def test_dropout_p_mismatch_is_caught_when_p_is_not_one_half():
    """Keeping with probability p passes at p = 0.5 only; the default p = 0.3 catches it."""
    checks.check_dropout_forward(dropout_keep_with_p, p=0.5)
    with pytest.raises(AssertionError, match="dropped"):
        checks.check_dropout_forward(dropout_keep_with_p, p=0.3)


def test_stub_raises_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for check in (checks.check_l2_penalty, checks.check_l2_grad, checks.check_sgd_step,
                  checks.check_adamw_step, checks.check_dropout_forward,
                  checks.check_dropout_backward, checks.check_l2_optimum):
        with pytest.raises(NotImplementedError):
            check(stub)


def _torch_trajectory(optimizer_class, steps=30, **kwargs) -> np.ndarray:
    rng = np.random.default_rng(0)
    theta = torch.tensor(rng.normal(size=6), dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([theta], **kwargs)
    scales = np.geomspace(0.1, 10.0, 6)
    path = []
    for _ in range(steps):
        theta.grad = torch.tensor(rng.normal(size=6) * scales, dtype=torch.float64)
        optimizer.step()
        path.append(theta.detach().numpy().copy())
    return np.array(path)


def test_the_oracles_tell_coupled_from_decoupled_decay():
    """Under SGD, L2 and decoupled decay coincide; under Adam they do not (Loshchilov & Hutter)."""
    settings = {"lr": 0.05, "weight_decay": 0.1}
    adam_l2 = _torch_trajectory(torch.optim.Adam, **settings)
    adamw = _torch_trajectory(torch.optim.AdamW, **settings)
    assert np.max(np.abs(adam_l2 - adamw)) > 1e-2
    # and the model answers reproduce both: adamw_step, and adamw_step on g + λθ without decay
    with pytest.raises(AssertionError, match="Adam with L2"):
        checks.check_adamw_step(adam_with_l2)
    checks.check_adamw_step(answers.adamw_step)


# ---------------------------------------------------------------- the L2 gradient's differences


@pytest.mark.parametrize("lam, shapes", [(0.0, ((3,), (2, 4))), (1e-6, ((4,),)),
                                         (1e6, ((2, 3), ())), (0.1, ((0,), (5,)))])
def test_l2_grad_differences_accept_the_right_gradient_at_every_scale(lam, shapes):
    checks.check_l2_grad(answers.l2_grad, lam=lam, shapes=shapes)
    checks.check_l2_grad(lambda ps, lam: [lam * np.asarray(p, dtype=float) for p in ps],
                         lam=lam, shapes=shapes)


def test_l2_grad_differences_see_a_small_error():
    """A gradient off by one part in 10⁵ is far outside the differences' error bound."""
    with pytest.raises(AssertionError, match="central differences give"):
        checks.check_l2_grad(lambda ps, lam: [lam * (1 + 1e-5) * p for p in ps])


# ---------------------------------------------------------------- the checks' arguments


@pytest.mark.parametrize("check, kwargs, shown", [
    (checks.check_l2_penalty, {"lam": -0.1}, "lam=-0.1"),
    (checks.check_l2_penalty, {"shapes": 5}, "shapes=5"),
    (checks.check_l2_penalty, {"shapes": [(2, -1)]}, "shapes=[(2, -1)]"),
    (checks.check_l2_grad, {"shapes": [3]}, "shapes=[3]"),
    (checks.check_l2_penalty, {"seed": 1.5}, "seed=1.5"),
    (checks.check_l2_grad, {"lam": float("nan")}, "lam=nan"),
    (checks.check_sgd_step, {"lr": 0.0}, "lr=0.0"),
    (checks.check_sgd_step, {"weight_decay": -0.1}, "weight_decay=-0.1"),
    (checks.check_sgd_step, {"momentum": 1.5}, "momentum=1.5"),
    (checks.check_sgd_step, {"steps": 0}, "steps=0"),
    (checks.check_sgd_step, {"shape": (0,)}, "shape=(0,)"),
    (checks.check_sgd_step, {"scale": 0}, "scale=0"),
    (checks.check_adamw_step, {"betas": (0.9, 1.0)}, "betas=(0.9, 1.0)"),
    (checks.check_adamw_step, {"betas": (0.9,)}, "betas=(0.9,)"),
    (checks.check_adamw_step, {"eps": 0.0}, "eps=0.0"),
    (checks.check_adamw_step, {"weight_decay": -1}, "weight_decay=-1"),
    (checks.check_adamw_step, {"lr": float("inf")}, "lr=inf"),
    (checks.check_dropout_forward, {"p": 1.0}, "p=1.0"),
    (checks.check_dropout_forward, {"p": -0.1}, "p=-0.1"),
    (checks.check_dropout_forward, {"shape": (10,)}, "shape=(10,)"),
    (checks.check_dropout_forward, {"shape": (0, 4)}, "shape=(0, 4)"),
    (checks.check_dropout_backward, {"p": 1}, "p=1"),
    (checks.check_dropout_backward, {"shape": (3, -2)}, "shape=(3, -2)"),
    (checks.check_l2_optimum, {"weight_decay": -1.0}, "weight_decay=-1.0"),
    (checks.check_l2_optimum, {"condition": 0.5}, "condition=0.5"),
    (checks.check_l2_optimum, {"scale": 0.0}, "scale=0.0"),
    (checks.check_l2_optimum, {"dim": 0}, "dim=0"),
])
def test_bad_arguments_are_refused_before_the_student_is_called(check, kwargs, shown):
    assert_refused(check, kwargs, shown)


def test_edge_arguments_are_accepted():
    checks.check_dropout_forward(answers.dropout_forward, shape=(8, 8), p=0.0)
    checks.check_dropout_backward(answers.dropout_backward, shape=(), p=0.0)
    checks.check_sgd_step(answers.sgd_step, momentum=1.0, steps=2, shape=[2, 2])
    checks.check_adamw_step(answers.adamw_step, betas=[0.0, 0.0], steps=2, seed=np.int32(4))


# ---------------------------------------------------------------- generic wrong answers


def _arrays(result, change):
    """``result`` with ``change`` applied to its numbers and arrays (one level deep)."""
    def numeric(x):
        return isinstance(x, np.ndarray | float | int | np.floating)

    if isinstance(result, tuple | list):
        return type(result)(change(np.asarray(x, dtype=float)) if numeric(x) else x
                            for x in result)
    return change(np.asarray(result, dtype=float))


WRONG = {
    "None": lambda result: None,
    "a string": lambda result: "not an array",
    "NaN": lambda result: _arrays(result, lambda x: np.full_like(x, np.nan)),
    "the wrong shape": lambda result: _arrays(result, lambda x: np.append(x, x)[1:-2]),
    "a tuple too long": lambda result: (*result, result[0]) if isinstance(result, tuple | list)
    else (result, result),
    "a tuple too short": lambda result: result[:-1] if isinstance(result, tuple | list)
    else (result,),
    "negated": lambda result: _arrays(result, lambda x: -x),
    "scaled by 1.01": lambda result: _arrays(result, lambda x: 1.01 * x),
    "strings inside": lambda result: _arrays(result, lambda x: np.full(x.shape, "a")),
    "ragged lists": lambda result: _arrays(result, lambda x: [[1.0], [1.0, 2.0]]),
}

BATTERY = [
    ("l2_penalty", lambda f: checks.check_l2_penalty(f), answers.l2_penalty),
    ("l2_grad", lambda f: checks.check_l2_grad(f), answers.l2_grad),
    ("sgd_step", lambda f: checks.check_sgd_step(f, steps=3), answers.sgd_step),
    ("adamw_step", lambda f: checks.check_adamw_step(f, steps=3), answers.adamw_step),
    ("dropout_forward", lambda f: checks.check_dropout_forward(f, shape=(32, 32), p=0.5),
     answers.dropout_forward),
    ("dropout_backward", lambda f: checks.check_dropout_backward(f), answers.dropout_backward),
    ("l2_optimum", lambda f: checks.check_l2_optimum(f), answers.l2_optimum),
]


@pytest.mark.parametrize("change", WRONG, ids=str)
@pytest.mark.parametrize("label, run, model", BATTERY, ids=[b[0] for b in BATTERY])
def test_generic_wrong_answers_end_in_assertion_error(label, run, model, change):
    def wrong(*args, **kwargs):
        return WRONG[change](model(*args, **kwargs))

    with pytest.raises(AssertionError):
        run(wrong)
