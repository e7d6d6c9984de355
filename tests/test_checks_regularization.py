"""The chapter 03 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


MUTANTS = [
    (checks.check_l2_penalty, lambda ps, lam: lam * sum(np.sum(p**2) for p in ps), "1/2"),
    (checks.check_l2_penalty, lambda ps, lam: 0.5 * lam * sum(np.linalg.norm(p) for p in ps),
     "square the norm"),
    (checks.check_l2_penalty, lambda ps, lam: 0.5 * lam * np.sum(ps[0] ** 2), "ALL parameters"),
    (checks.check_l2_penalty, lambda ps, lam: [0.5 * lam * np.sum(p**2) for p in ps],
     "one number"),
    (checks.check_l2_grad, lambda ps, lam: [2 * lam * p for p in ps], "not 2λθ"),
    (checks.check_l2_grad, lambda ps, lam: [np.array(p) for p in ps], "multiply by λ"),
    (checks.check_l2_grad, lambda ps, lam: lam * ps[0], "list of 2 arrays"),
    (checks.check_sgd_step, sgd_decoupled, "BEFORE the momentum buffer"),
    (checks.check_sgd_step, sgd_decay_without_lr, "multiplied by lr too"),
    (checks.check_sgd_step, sgd_dampened, "no (1 − μ) factor"),
    (checks.check_sgd_step, sgd_buffer_from_zero_scaled, "step 1"),
    (checks.check_sgd_step, sgd_in_place, "modified in place"),
    (checks.check_sgd_step, lambda *a, **k: answers.sgd_step(*a, **k)[0], "pair"),
    (checks.check_adamw_step, adam_with_l2, "Adam with L2"),
    (checks.check_adamw_step, adamw_decay_without_lr, "multiply the decay by lr"),
    (checks.check_adamw_step, adamw_no_bias_correction, "bias correction"),
    (checks.check_adamw_step, adamw_step_off_by_one, "do not add 1"),
    (checks.check_adamw_step, adamw_decay_in_moments, "plain gradient"),
    (checks.check_dropout_forward, dropout_keep_with_p, "DROPPED with probability p"),
    (checks.check_dropout_forward, dropout_scale_by_p, "not 1/p"),
    (checks.check_dropout_forward, dropout_unscaled, "expectation is unchanged"),
    (checks.check_dropout_forward, dropout_scaled_mask, "only 0 (dropped) and 1"),
    (checks.check_dropout_forward, dropout_always, "identity"),
    (checks.check_dropout_forward, dropout_eval_scaled, "identity"),
    (checks.check_dropout_forward, dropout_ignores_seed, "use the seed"),
    (checks.check_dropout_forward, dropout_one_mask_per_feature, "same along one axis"),
    (checks.check_dropout_backward, lambda dout, mask, p: dout * mask, "1/(1 − p) too"),
    (checks.check_dropout_backward, lambda dout, mask, p: dout / (1 - p), "forward's mask"),
]


@pytest.mark.parametrize("check, mutant, message", MUTANTS)
def test_plausible_mistakes_fail_with_a_hint(check, mutant, message):
    with pytest.raises(AssertionError) as failure:
        check(mutant)
    assert message in str(failure.value)


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
                  checks.check_dropout_backward):
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
