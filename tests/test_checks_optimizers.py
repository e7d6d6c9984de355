"""The chapter 05 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pytest
from checktools import (
    WRONG_OUTPUTS,
    assert_misconceptions_reached,
    assert_refused,
    assert_teaches,
    fails_with,
    failure,
    wrong,
)

from descent.answers import load
from descent.checks import optimizers as checks
from descent.checks import optimizers_mistakes
from descent.checks.misconceptions import find

answers = load("05_optimizers")

RULES = ["momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "nadam",
         "amsgrad", "delta_bar_delta", "noisy_sgd"]


def check_of(rule):
    return getattr(checks, f"check_{rule}_step")


def answer_of(rule):
    return getattr(answers, f"{rule}_step")


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("shape", [(), (1,), (3, 4)])
def test_model_answers_pass_on_every_shape(rule, shape):
    check_of(rule)(answer_of(rule), seed=5, shape=shape, steps=20)


@pytest.mark.parametrize(
    "rule, kwargs",
    [
        ("momentum", {"momentum": 0.0, "lr": 0.2}),
        ("nesterov", {"momentum": 0.0, "lr": 0.2}),
        ("momentum", {"momentum": 0.99, "lr": 0.01, "steps": 60}),
        ("adagrad", {"lr": 3.0, "eps": 0.1, "scale": 1e-3}),
        ("adadelta", {"lr": 5.0, "rho": 0.0}),
        ("rmsprop", {"alpha": 0.0, "lr": 0.1}),
        ("adam", {"betas": (0.0, 0.99), "lr": 0.5, "steps": 60}),
        ("adam", {"betas": (0.99, 0.0), "eps": 1.0}),
        ("adamax", {"betas": (0.0, 0.0)}),
        ("nadam", {"momentum_decay": 1e4}),
        ("nadam", {"momentum_decay": 0.0, "betas": (0.5, 0.9)}),
        ("amsgrad", {"betas": (0.0, 0.5), "lr": 1.0}),
        ("delta_bar_delta", {"kappa": 0.0, "phi": 0.0}),
        ("delta_bar_delta", {"decay": 1.0, "phi": 1.0, "lr": 0.1}),
        ("noisy_sgd", {"eta": 0.0}),
        ("noisy_sgd", {"eta": 5.0, "gamma": 0.0, "lr": 0.1}),
    ],
)
def test_model_answers_pass_at_edge_values(rule, kwargs):
    check_of(rule)(answer_of(rule), seed=9, **kwargs)


@pytest.mark.parametrize("rule", RULES)
def test_stub_raises_not_implemented(rule):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        check_of(rule)(stub)


# ---------------------------------------------------------------- mutants shared by every rule


def in_place(rule):
    """Updates the state dict it was given and returns it."""
    def step(theta, grad, state, **hyper):
        new_theta, new_state = answer_of(rule)(theta, grad, state, **hyper)
        state.update(new_state)
        return new_theta, state
    return step


def arrays_in_place(rule):
    """Writes the new values into the state's own arrays (from the second call on)."""
    def step(theta, grad, state, **hyper):
        new_theta, new_state = answer_of(rule)(theta, grad, state, **hyper)
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                value[...] = new_state[key]
        return new_theta, new_state
    return step


def theta_in_place(rule):
    def step(theta, grad, state, **hyper):
        new_theta, new_state = answer_of(rule)(theta, grad, state, **hyper)
        theta[...] = new_theta
        return theta, new_state
    return step


def missing_key(rule, key):
    def step(theta, grad, state, **hyper):
        new_theta, new_state = answer_of(rule)(theta, grad, state, **hyper)
        new_state = dict(new_state)
        value = new_state.pop(key)
        return new_theta, {**new_state, f"{key}_": value}
    return step


FIRST_KEY = {"momentum": "velocity", "nesterov": "velocity", "adagrad": "sum",
             "adadelta": "acc_delta", "rmsprop": "square_avg", "adam": "exp_avg_sq",
             "adamax": "exp_inf", "nadam": "mu_product", "amsgrad": "max_exp_avg_sq",
             "delta_bar_delta": "lr", "noisy_sgd": "step"}


@pytest.mark.parametrize("rule", RULES)
def test_state_dict_modified_in_place(rule):
    with pytest.raises(AssertionError, match="modified in place"):
        check_of(rule)(in_place(rule))


@pytest.mark.parametrize("rule", [r for r in RULES if r != "noisy_sgd"])
def test_state_arrays_modified_in_place(rule):
    with pytest.raises(AssertionError, match=r"state\['.*'\] \(the state it was given\) was "
                                             "modified in place"):
        check_of(rule)(arrays_in_place(rule))


@pytest.mark.parametrize("rule", RULES)
def test_theta_modified_in_place(rule):
    with pytest.raises(AssertionError, match="theta it was given was modified in place"):
        check_of(rule)(theta_in_place(rule))


@pytest.mark.parametrize("rule", RULES)
def test_missing_state_key(rule):
    key = FIRST_KEY[rule]
    with pytest.raises(AssertionError, match=f"the returned state has no '{key}' — store"):
        check_of(rule)(missing_key(rule, key))


@pytest.mark.parametrize("rule", RULES)
def test_not_a_pair(rule):
    with pytest.raises(AssertionError, match="return a pair"):
        check_of(rule)(lambda *a, **k: answer_of(rule)(*a, **k)[0])


# ---------------------------------------------------------------- rule-specific mistakes


def velocity_of(state, theta):
    return np.asarray(state.get("velocity", np.zeros_like(theta)), dtype=float)


def momentum_torch_convention(theta, grad, state, lr=0.01, momentum=0.9):
    """PyTorch's buffer b ← μb + g stored as the velocity, and θ − η·b: same θ, other state."""
    b = momentum * velocity_of(state, theta) + grad
    return theta - lr * b, {"velocity": b}


def momentum_without_lr(theta, grad, state, lr=0.01, momentum=0.9):
    v = momentum * velocity_of(state, theta) + grad
    return theta - v, {"velocity": v}


def momentum_lr_twice(theta, grad, state, lr=0.01, momentum=0.9):
    v = momentum * velocity_of(state, theta) + lr * grad
    return theta - lr * v, {"velocity": v}


def momentum_dampened(theta, grad, state, lr=0.01, momentum=0.9):
    v = momentum * velocity_of(state, theta) + (1 - momentum) * lr * grad
    return theta - v, {"velocity": v}


def momentum_plus(theta, grad, state, lr=0.01, momentum=0.9):
    new, state = answers.momentum_step(theta, grad, state, lr, momentum)
    return 2 * theta - new, state


def momentum_hardcoded(theta, grad, state, lr=0.01, momentum=0.9):
    return answers.momentum_step(theta, grad, state, lr, 0.9)


def momentum_other_default(theta, grad, state, lr=0.1, momentum=0.9):
    return answers.momentum_step(theta, grad, state, lr, momentum)


def nesterov_old_velocity(theta, grad, state, lr=0.01, momentum=0.9):
    v_old = velocity_of(state, theta)
    return theta - momentum * v_old - lr * grad, {"velocity": momentum * v_old + lr * grad}


def nesterov_without_lr(theta, grad, state, lr=0.01, momentum=0.9):
    """PyTorch's buffer b ← μb + g in the velocity, and a step μb + g without η."""
    b = momentum * velocity_of(state, theta) + grad
    return theta - (momentum * b + grad), {"velocity": b}


def nesterov_stores_step(theta, grad, state, lr=0.01, momentum=0.9):
    new, _ = answers.nesterov_step(theta, grad, state, lr, momentum)
    return new, {"velocity": theta - new}


def adagrad_eps_inside(theta, grad, state, lr=0.01, eps=1e-10):
    total = state.get("sum", 0.0) + grad**2
    return theta - lr * grad / np.sqrt(total + eps), {"sum": total}


def adagrad_old_sum(theta, grad, state, lr=0.01, eps=1e-10):
    total = state.get("sum", np.zeros_like(theta))
    return theta - lr * grad / (np.sqrt(total) + eps), {"sum": total + grad**2}


def adagrad_no_root(theta, grad, state, lr=0.01, eps=1e-10):
    total = state.get("sum", 0.0) + grad**2
    return theta - lr * grad / (total + eps), {"sum": total}


def adagrad_last_square(theta, grad, state, lr=0.01, eps=1e-10):
    return answers.adagrad_step(theta, grad, {}, lr, eps)


def adadelta_no_lr(theta, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    return answers.adadelta_step(theta, grad, state, 1.0, rho, eps)


def adadelta_eps_outside(theta, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    sq = rho * state.get("square_avg", 0.0) + (1 - rho) * grad**2
    acc = state.get("acc_delta", np.zeros_like(theta))
    delta = (np.sqrt(acc) + eps) / (np.sqrt(sq) + eps) * grad
    return theta - lr * delta, {"square_avg": sq,
                                "acc_delta": rho * acc + (1 - rho) * delta**2}


def adadelta_rho_swapped(theta, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    return answers.adadelta_step(theta, grad, state, lr, 1 - rho, eps)


def adadelta_scaled_delta(theta, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    """Averages (lr·Δ)², the step taken, instead of Δ²."""
    new, new_state = answers.adadelta_step(theta, grad, state, lr, rho, eps)
    acc = state.get("acc_delta", np.zeros_like(theta))
    return new, {**new_state, "acc_delta": rho * acc + (1 - rho) * (theta - new) ** 2}


def rmsprop_alpha_swapped(theta, grad, state, lr=0.01, alpha=0.99, eps=1e-8):
    return answers.rmsprop_step(theta, grad, state, lr, 1 - alpha, eps)


def rmsprop_no_one_minus(theta, grad, state, lr=0.01, alpha=0.99, eps=1e-8):
    s = alpha * state.get("square_avg", 0.0) + grad**2
    return theta - lr * grad / (np.sqrt(s) + eps), {"square_avg": s}


def rmsprop_eps_inside(theta, grad, state, lr=0.01, alpha=0.99, eps=1e-8):
    s = alpha * state.get("square_avg", 0.0) + (1 - alpha) * grad**2
    return theta - lr * grad / np.sqrt(s + eps), {"square_avg": s}


def rmsprop_sum(theta, grad, state, lr=0.01, alpha=0.99, eps=1e-8):
    new, new_state = answers.adagrad_step(theta, grad, {"sum": state.get("square_avg", 0.0)},
                                          lr, eps)
    return new, {"square_avg": new_state["sum"]}


def adam_no_bias_correction(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    new_state = answers.adam_step(theta, grad, state, lr, betas, eps)[1]
    m, v = new_state["exp_avg"], new_state["exp_avg_sq"]
    return theta - lr * m / (np.sqrt(v) + eps), new_state


def adam_step_plus_one(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    shifted = {**state, "step": state.get("step", 0) + 1}
    new, new_state = answers.adam_step(theta, grad, shifted, lr, betas, eps)
    return new, {**new_state, "step": new_state["step"] - 1}


def adam_stores_m_hat(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    new, new_state = answers.adam_step(theta, grad, state, lr, betas, eps)
    t = new_state["step"]
    return new, {**new_state, "exp_avg": new_state["exp_avg"] / (1 - betas[0] ** t)}


def adam_eps_inside(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    new_state = answers.adam_step(theta, grad, state, lr, betas, eps)[1]
    t = new_state["step"]
    m_hat = new_state["exp_avg"] / (1 - betas[0] ** t)
    v_hat = new_state["exp_avg_sq"] / (1 - betas[1] ** t)
    return theta - lr * m_hat / np.sqrt(v_hat + eps), new_state


def adam_betas_swapped(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    return answers.adam_step(theta, grad, state, lr, betas[::-1], eps)


def adam_step_not_returned(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """Computes with the right t but forgets to store the incremented step."""
    new, new_state = answers.adam_step(theta, grad, state, lr, betas, eps)
    return new, {**new_state, "step": state.get("step", 0)}


def adamax_corrected_u(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
    new_state = answers.adamax_step(theta, grad, state, lr, betas, eps)[1]
    t = new_state["step"]
    u_hat = new_state["exp_inf"] / (1 - betas[1] ** t)
    return theta - lr / (1 - betas[0] ** t) * new_state["exp_avg"] / u_hat, new_state


def adamax_eps_outside(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
    new, new_state = answers.adamax_step(theta, grad, state, lr, betas, 0.0)
    u = new_state["exp_inf"] + eps
    m, t = new_state["exp_avg"], new_state["step"]
    return theta - lr / (1 - betas[0] ** t) * m / u, {**new_state, "exp_inf": u}


def adamax_no_abs(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
    new_state = answers.adamax_step(theta, grad, state, lr, betas, eps)[1]
    u = np.maximum(betas[1] * state.get("exp_inf", np.zeros_like(theta)), grad + eps)
    t = new_state["step"]
    with np.errstate(divide="ignore"):
        return theta - lr / (1 - betas[0] ** t) * new_state["exp_avg"] / u, {**new_state,
                                                                         "exp_inf": u}


def adamax_no_bias_correction(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
    new_state = answers.adamax_step(theta, grad, state, lr, betas, eps)[1]
    return theta - lr * new_state["exp_avg"] / new_state["exp_inf"], new_state


def nadam_constant_mu(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                      momentum_decay=4e-3):
    return answers.nadam_step(theta, grad, state, lr, betas, eps, 1e9)


def nadam_is_adam(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                  momentum_decay=4e-3):
    adam_state = {k: v for k, v in state.items() if k != "mu_product"}
    new, new_state = answers.adam_step(theta, grad, adam_state, lr, betas, eps)
    right = answers.nadam_step(theta, grad, state, lr, betas, eps, momentum_decay)[1]
    return new, {**new_state, "mu_product": right["mu_product"]}


def nadam_no_product(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                     momentum_decay=4e-3):
    """Keeps only the current μₜ as mu_product."""
    new, new_state = answers.nadam_step(theta, grad, {**state, "mu_product": 1.0}, lr, betas,
                                        eps, momentum_decay)
    return new, new_state


def amsgrad_is_adam(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    adam_state = {k: v for k, v in state.items() if k != "max_exp_avg_sq"}
    new, new_state = answers.adam_step(theta, grad, adam_state, lr, betas, eps)
    right = answers.amsgrad_step(theta, grad, state, lr, betas, eps)[1]
    return new, {**new_state, "max_exp_avg_sq": right["max_exp_avg_sq"]}


def amsgrad_max_of_v_hat(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    new_state = answers.adam_step(theta, grad, {k: v for k, v in state.items()
                                                if k != "max_exp_avg_sq"}, lr, betas, eps)[1]
    t = new_state["step"]
    v_max = np.maximum(state.get("max_exp_avg_sq", 0.0),
                       new_state["exp_avg_sq"] / (1 - betas[1] ** t))
    m_hat = new_state["exp_avg"] / (1 - betas[0] ** t)
    return theta - lr * m_hat / (np.sqrt(v_max) + eps), {**new_state, "max_exp_avg_sq": v_max}


def amsgrad_max_before_update(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    old_v = state.get("exp_avg_sq", np.zeros_like(theta))
    v_max = np.maximum(state.get("max_exp_avg_sq", 0.0), old_v)
    new_state = answers.adam_step(theta, grad, {k: v for k, v in state.items()
                                                if k != "max_exp_avg_sq"}, lr, betas, eps)[1]
    t = new_state["step"]
    m_hat = new_state["exp_avg"] / (1 - betas[0] ** t)
    new = theta - lr * m_hat / (np.sqrt(v_max / (1 - betas[1] ** t)) + eps)
    return new, {**new_state, "max_exp_avg_sq": v_max}


def dbd_parts(theta, state, lr):
    rates = np.asarray(state.get("lr", np.full(np.shape(theta), lr)), dtype=float)
    bar = np.asarray(state.get("bar_grad", np.zeros(np.shape(theta))), dtype=float)
    return rates, bar


def dbd_old_rates(theta, grad, state, lr=0.01, kappa=1e-3, phi=0.1, decay=0.7):
    new_state = answers.delta_bar_delta_step(theta, grad, state, lr, kappa, phi, decay)[1]
    return theta - dbd_parts(theta, state, lr)[0] * grad, new_state


def dbd_bar_first(theta, grad, state, lr=0.01, kappa=1e-3, phi=0.1, decay=0.7):
    rates, bar = dbd_parts(theta, state, lr)
    bar = (1 - decay) * grad + decay * bar
    agree = bar * grad
    rates = np.where(agree > 0, rates + kappa, np.where(agree < 0, (1 - phi) * rates, rates))
    return theta - rates * grad, {"lr": rates, "bar_grad": bar}


def dbd_times_phi(theta, grad, state, lr=0.01, kappa=1e-3, phi=0.1, decay=0.7):
    rates, bar = dbd_parts(theta, state, lr)
    agree = bar * grad
    rates = np.where(agree > 0, rates + kappa, np.where(agree < 0, phi * rates, rates))
    return theta - rates * grad, {"lr": rates, "bar_grad": (1 - decay) * grad + decay * bar}


def dbd_multiplicative_increase(theta, grad, state, lr=0.01, kappa=1e-3, phi=0.1, decay=0.7):
    rates, bar = dbd_parts(theta, state, lr)
    agree = bar * grad
    rates = np.where(agree > 0, rates * (1 + kappa), np.where(agree < 0, (1 - phi) * rates,
                                                               rates))
    return theta - rates * grad, {"lr": rates, "bar_grad": (1 - decay) * grad + decay * bar}


def dbd_decay_swapped(theta, grad, state, lr=0.01, kappa=1e-3, phi=0.1, decay=0.7):
    return answers.delta_bar_delta_step(theta, grad, state, lr, kappa, phi, 1 - decay)


def noisy_std_is_variance(theta, grad, state, lr=0.01, eta=0.3, gamma=0.55, seed=0):
    new, new_state = answers.noisy_sgd_step(theta, grad, state, lr, eta, gamma, seed)
    noise = (theta - new) / lr - grad  # σξ
    sigma = np.sqrt(eta / (1 + new_state["step"] - 1) ** gamma)
    return theta - lr * (grad + sigma * noise), new_state


def noisy_noise_without_lr(theta, grad, state, lr=0.01, eta=0.3, gamma=0.55, seed=0):
    new, new_state = answers.noisy_sgd_step(theta, grad, state, lr, eta, gamma, seed)
    noise = (theta - new) / lr - grad
    return theta - lr * grad - noise, new_state


def noisy_t_is_step(theta, grad, state, lr=0.01, eta=0.3, gamma=0.55, seed=0):
    shifted = {"step": state.get("step", 0) + 1}
    new, _ = answers.noisy_sgd_step(theta, grad, shifted, lr, eta, gamma, seed)
    return new, {"step": shifted["step"]}


def noisy_one_generator(theta, grad, state, lr=0.01, eta=0.3, gamma=0.55, seed=0):
    step = state.get("step", 0) + 1
    sigma = np.sqrt(eta / step**gamma)
    xi = np.random.default_rng(seed).standard_normal(np.shape(theta))
    return theta - lr * (grad + sigma * xi), {"step": step}


def noisy_ignores_seed(theta, grad, state, lr=0.01, eta=0.3, gamma=0.55, seed=0):
    return answers.noisy_sgd_step(theta, grad, state, lr, eta, gamma, 0)


# ---------------------------------------------------------------- mistakes copied from elsewhere


def momentum_keras_sign(theta, grad, state, lr=0.01, momentum=0.9):
    """Keras and Wikipedia: m ← μm − ηg; θ ← θ + m (the same θ, the state is −v)."""
    m = momentum * np.asarray(state.get("velocity", np.zeros_like(theta)), dtype=float) - lr * grad
    return theta + m, {"velocity": m}


def adagrad_keras_initial(theta, grad, state, lr=0.01, eps=1e-10):
    """Keras's initial_accumulator_value=0.1, ε outside the root."""
    return answers.adagrad_step(theta, grad, {"sum": state.get("sum", 0.1)}, lr, eps)


def adagrad_keras(theta, grad, state, lr=0.01, eps=1e-10):
    total = state.get("sum", 0.1) + grad**2
    return theta - lr * grad / np.sqrt(total + eps), {"sum": total}


def adagrad_unsquared(theta, grad, state, lr=0.01, eps=1e-10):
    total = state.get("sum", 0.0) + grad
    with np.errstate(invalid="ignore"):
        return theta - lr * grad / (np.sqrt(total) + eps), {"sum": total}


def with_eps(answer, eps_value):
    """The model answer with ε hard-coded (the student ignores the ``eps`` argument)."""
    def step(theta, grad, state, **hyper):
        return answer(theta, grad, state, **{**hyper, "eps": eps_value})
    return step


def adadelta_old_square(theta, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    old = state.get("square_avg", np.zeros_like(theta))
    acc = state.get("acc_delta", np.zeros_like(theta))
    delta = np.sqrt(acc + eps) / np.sqrt(old + eps) * grad
    return theta - lr * delta, {"square_avg": rho * old + (1 - rho) * grad**2,
                                "acc_delta": rho * acc + (1 - rho) * delta**2}


def adadelta_acc_not_updated(theta, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    new, new_state = answers.adadelta_step(theta, grad, state, lr, rho, eps)
    return new, {**new_state, "acc_delta": state.get("acc_delta", np.zeros_like(theta))}


def rmsprop_old_average(theta, grad, state, lr=0.01, alpha=0.99, eps=1e-8):
    old = state.get("square_avg", np.zeros_like(theta))
    return (theta - lr * grad / (np.sqrt(old) + eps),
            {"square_avg": alpha * old + (1 - alpha) * grad**2})


def rmsprop_unsquared(theta, grad, state, lr=0.01, alpha=0.99, eps=1e-8):
    s = alpha * state.get("square_avg", 0.0) + (1 - alpha) * grad
    with np.errstate(invalid="ignore"):
        return theta - lr * grad / (np.sqrt(s) + eps), {"square_avg": s}


def adam_parts(theta, grad, state, betas, square=True):
    beta1, beta2 = betas
    t = state.get("step", 0) + 1
    m = beta1 * state.get("exp_avg", 0.0) + (1 - beta1) * grad
    v = beta2 * state.get("exp_avg_sq", 0.0) + (1 - beta2) * (grad**2 if square else grad)
    return t, m, v


def adam_keras(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """TensorFlow/Keras: lr_t = η·√(1 − β₂ᵗ)/(1 − β₁ᵗ); θ ← θ − lr_t·m/(√v + ε̂)."""
    t, m, v = adam_parts(theta, grad, state, betas)
    lr_t = lr * np.sqrt(1 - betas[1] ** t) / (1 - betas[0] ** t)
    return theta - lr_t * m / (np.sqrt(v) + eps), {"step": t, "exp_avg": m, "exp_avg_sq": v}


def adam_plus(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    new, new_state = answers.adam_step(theta, grad, state, lr, betas, eps)
    return 2 * theta - new, new_state


def adam_unsquared(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t, m, v = adam_parts(theta, grad, state, betas, square=False)
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    with np.errstate(invalid="ignore"):
        return theta - lr * m_hat / (np.sqrt(v_hat) + eps), {"step": t, "exp_avg": m,
                                                             "exp_avg_sq": v}


def adam_m_hat_one_ahead(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """t + 1 in the correction of m only."""
    t, m, v = adam_parts(theta, grad, state, betas)
    m_hat, v_hat = m / (1 - betas[0] ** (t + 1)), v / (1 - betas[1] ** t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), {"step": t, "exp_avg": m,
                                                         "exp_avg_sq": v}


def adamax_keras(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
    """Keras: u ← max(β₂u, |g|) without ε, and θ ← θ − η/(1 − β₁ᵗ)·m/(u + ε)."""
    t = state.get("step", 0) + 1
    m = betas[0] * state.get("exp_avg", 0.0) + (1 - betas[0]) * grad
    u = np.maximum(betas[1] * state.get("exp_inf", np.zeros_like(theta)), np.abs(grad))
    return (theta - lr / (1 - betas[0] ** t) * m / (u + eps),
            {"step": t, "exp_avg": m, "exp_inf": u})


def adamax_not_decayed(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
    return answers.adamax_step(theta, grad, state, lr, (betas[0], 1.0), eps)


def adamax_plus(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
    new, new_state = answers.adamax_step(theta, grad, state, lr, betas, eps)
    return 2 * theta - new, new_state


def nadam_parts(state, betas, momentum_decay, t):
    def mu(k):
        return betas[0] * (1 - 0.5 * 0.96 ** (k * momentum_decay))
    return mu(t), mu(t + 1)


def nadam_with(theta, grad, state, lr, betas, eps, mu, mu_next, product, v_hat=None):
    t, m, v = adam_parts(theta, grad, state, betas)
    denominator = np.sqrt(v / (1 - betas[1] ** t) if v_hat is None else v_hat(v, t)) + eps
    new = theta - lr * ((1 - mu) / (1 - product) * grad
                        + mu_next / (1 - product * mu_next) * m) / denominator
    return new, {"step": t, "mu_product": product, "exp_avg": m, "exp_avg_sq": v}


def nadam_mu_is_beta1(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                      momentum_decay=4e-3):
    """μₜ = β₁ and μₜ₊₁ from the schedule (one line of the model answer changed)."""
    t = state.get("step", 0) + 1
    _, mu_next = nadam_parts(state, betas, momentum_decay, t)
    return nadam_with(theta, grad, state, lr, betas, eps, betas[0], mu_next,
                      state.get("mu_product", 1.0) * betas[0])


def nadam_ruder(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                momentum_decay=4e-3):
    """Ruder's overview: θ ← θ − η/(√v̂ + ε)·(β₁m̂ + (1 − β₁)g/(1 − β₁ᵗ))."""
    t, m, v = adam_parts(theta, grad, state, betas)
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    new = theta - lr / (np.sqrt(v_hat) + eps) * (betas[0] * m_hat
                                                 + (1 - betas[0]) * grad / (1 - betas[0] ** t))
    product = state.get("mu_product", 1.0) * nadam_parts(state, betas, momentum_decay, t)[0]
    return new, {"step": t, "mu_product": product, "exp_avg": m, "exp_avg_sq": v}


def nadam_mu_next_is_mu(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                        momentum_decay=4e-3):
    t = state.get("step", 0) + 1
    mu, _ = nadam_parts(state, betas, momentum_decay, t)
    return nadam_with(theta, grad, state, lr, betas, eps, mu, mu,
                      state.get("mu_product", 1.0) * mu)


def nadam_no_bias_correction(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                             momentum_decay=4e-3):
    t = state.get("step", 0) + 1
    mu, mu_next = nadam_parts(state, betas, momentum_decay, t)
    return nadam_with(theta, grad, state, lr, betas, eps, mu, mu_next,
                      state.get("mu_product", 1.0) * mu, v_hat=lambda v, t: v)


def nadam_eps_inside(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                     momentum_decay=4e-3):
    t = state.get("step", 0) + 1
    mu, mu_next = nadam_parts(state, betas, momentum_decay, t)
    new, new_state = nadam_with(theta, grad, state, lr, betas, 0.0, mu, mu_next,
                                state.get("mu_product", 1.0) * mu,
                                v_hat=lambda v, t: v / (1 - betas[1] ** t) + eps)
    return new, new_state


def nadam_plus(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
               momentum_decay=4e-3):
    new, new_state = answers.nadam_step(theta, grad, state, lr, betas, eps, momentum_decay)
    return 2 * theta - new, new_state


def amsgrad_reddi(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """Reddi et al.: no bias correction."""
    t, m, v = adam_parts(theta, grad, state, betas)
    v_max = np.maximum(state.get("max_exp_avg_sq", 0.0), v)
    return theta - lr * m / (np.sqrt(v_max) + eps), {"step": t, "exp_avg": m, "exp_avg_sq": v,
                                                      "max_exp_avg_sq": v_max}


def amsgrad_keras(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t, m, v = adam_parts(theta, grad, state, betas)
    v_max = np.maximum(state.get("max_exp_avg_sq", 0.0), v)
    lr_t = lr * np.sqrt(1 - betas[1] ** t) / (1 - betas[0] ** t)
    return theta - lr_t * m / (np.sqrt(v_max) + eps), {"step": t, "exp_avg": m,
                                                        "exp_avg_sq": v, "max_exp_avg_sq": v_max}


def amsgrad_max_of_v_hat_corrected(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """v_max ← max(v_max, v̂), then corrected once more in the step."""
    t, m, v = adam_parts(theta, grad, state, betas)
    v_max = np.maximum(state.get("max_exp_avg_sq", 0.0), v / (1 - betas[1] ** t))
    m_hat = m / (1 - betas[0] ** t)
    new = theta - lr * m_hat / (np.sqrt(v_max / (1 - betas[1] ** t)) + eps)
    return new, {"step": t, "exp_avg": m, "exp_avg_sq": v, "max_exp_avg_sq": v_max}


def amsgrad_eps_inside(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t, m, v = adam_parts(theta, grad, state, betas)
    v_max = np.maximum(state.get("max_exp_avg_sq", 0.0), v)
    new = theta - lr * m / (1 - betas[0] ** t) / np.sqrt(v_max / (1 - betas[1] ** t) + eps)
    return new, {"step": t, "exp_avg": m, "exp_avg_sq": v, "max_exp_avg_sq": v_max}


def amsgrad_unsquared(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t, m, v = adam_parts(theta, grad, state, betas, square=False)
    v_max = np.maximum(state.get("max_exp_avg_sq", 0.0), v)
    with np.errstate(invalid="ignore"):
        new = theta - lr * m / (1 - betas[0] ** t) / (np.sqrt(v_max / (1 - betas[1] ** t)) + eps)
    return new, {"step": t, "exp_avg": m, "exp_avg_sq": v, "max_exp_avg_sq": v_max}


def amsgrad_plus(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    new, new_state = answers.amsgrad_step(theta, grad, state, lr, betas, eps)
    return 2 * theta - new, new_state


def dbd_plus(theta, grad, state, lr=0.01, kappa=1e-3, phi=0.1, decay=0.7):
    new, new_state = answers.delta_bar_delta_step(theta, grad, state, lr, kappa, phi, decay)
    return 2 * theta - new, new_state


def dbd_bar_is_gradient(theta, grad, state, lr=0.01, kappa=1e-3, phi=0.1, decay=0.7):
    new, new_state = answers.delta_bar_delta_step(theta, grad, state, lr, kappa, phi, decay)
    return new, {**new_state, "bar_grad": np.array(grad, dtype=float)}


def noisy_swapped_stream(theta, grad, state, lr=0.01, eta=0.3, gamma=0.55, seed=0):
    step = state.get("step", 0) + 1
    sigma = np.sqrt(eta / step**gamma)
    xi = np.random.default_rng([step - 1, seed]).standard_normal(np.shape(theta))
    return theta - lr * (grad + sigma * xi), {"step": step}


def flipped(answer):
    """The model answer stepping uphill: θ + (its step)."""
    def step(theta, grad, state, **hyper):
        new, new_state = answer(theta, grad, state, **hyper)
        return 2 * np.asarray(theta) - new, new_state
    return step


def momentum_no_velocity(theta, grad, state, lr=0.01, momentum=0.9):
    new_state = answers.momentum_step(theta, grad, state, lr, momentum)[1]
    return theta - lr * grad, new_state


def momentum_old_velocity(theta, grad, state, lr=0.01, momentum=0.9):
    new, _ = answers.momentum_step(theta, grad, state, lr, momentum)
    return new, {"velocity": velocity_of(state, theta)}


def adadelta_no_numerator(theta, grad, state, lr=1.0, rho=0.9, eps=1e-6):
    square = rho * state.get("square_avg", 0.0) + (1 - rho) * grad**2
    delta = grad / np.sqrt(square + eps)
    return theta - lr * delta, {"square_avg": square, "acc_delta": (
        rho * state.get("acc_delta", 0.0) + (1 - rho) * delta**2)}


def rmsprop_no_root(theta, grad, state, lr=0.01, alpha=0.99, eps=1e-8):
    s = alpha * state.get("square_avg", 0.0) + (1 - alpha) * grad**2
    return theta - lr * grad / (s + eps), {"square_avg": s}


def adam_no_root(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    t, m, v = adam_parts(theta, grad, state, betas)
    m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
    return theta - lr * m_hat / (v_hat + eps), {"step": t, "exp_avg": m, "exp_avg_sq": v}


def adam_stores_v_hat(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    new, new_state = answers.adam_step(theta, grad, state, lr, betas, eps)
    t = new_state["step"]
    return new, {**new_state, "exp_avg_sq": new_state["exp_avg_sq"] / (1 - betas[1] ** t)}


def adam_step_before_increment(theta, grad, state, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """Uses the step count it was given (0 at the first call) in the corrections."""
    t, m, v = adam_parts(theta, grad, state, betas)
    with np.errstate(divide="ignore", invalid="ignore"):
        m_hat, v_hat = m / (1 - betas[0] ** (t - 1)), v / (1 - betas[1] ** (t - 1))
        return theta - lr * m_hat / (np.sqrt(v_hat) + eps), {"step": t, "exp_avg": m,
                                                             "exp_avg_sq": v}


def other_default(answer, name, value):
    """The model answer whose signature gives ``name`` the default ``value``."""
    def step(theta, grad, state, **hyper):
        return answer(theta, grad, state, **{name: value, **hyper})
    return step


# Every mistake is caught by the call with default arguments, the notebook's visible test.
MUTANTS = [
    ("momentum", momentum_torch_convention, "momentum.pytorch-buffer"),
    ("momentum", momentum_without_lr, "momentum.buffer-without-lr"),
    ("momentum", momentum_lr_twice, "momentum.lr-twice"),
    ("momentum", momentum_dampened, "momentum.dampened"),
    ("momentum", momentum_plus, "momentum.wrong-sign"),
    ("momentum", momentum_hardcoded, "interface.hard-coded-hyper-parameter"),
    ("momentum", momentum_other_default, "interface.defaults"),
    ("momentum", momentum_keras_sign, "momentum.velocity-sign"),
    ("momentum", momentum_no_velocity, "momentum.no-velocity"),
    ("momentum", momentum_old_velocity, "momentum.old-velocity-stored"),
    ("nesterov", answers.momentum_step, "nesterov.classical-momentum"),
    ("nesterov", nesterov_old_velocity, "nesterov.classical-momentum"),
    ("nesterov", nesterov_stores_step, "nesterov.stores-step"),
    ("nesterov", nesterov_without_lr, "momentum.buffer-without-lr"),
    ("adagrad", adagrad_eps_inside, "adagrad.eps-inside-root"),
    ("adagrad", adagrad_old_sum, "adagrad.old-sum"),
    ("adagrad", adagrad_no_root, "adagrad.no-root"),
    ("adagrad", adagrad_last_square, "adagrad.last-square-only"),
    ("adagrad", adagrad_keras_initial, "adagrad.initial-accumulator"),
    ("adagrad", adagrad_keras, "adagrad.initial-accumulator"),
    ("adagrad", adagrad_unsquared, "adagrad.g-not-squared"),
    ("adagrad", flipped(answers.adagrad_step), "adagrad.wrong-sign"),
    ("adagrad", with_eps(answers.adagrad_step, 1e-10), "interface.hard-coded-hyper-parameter"),
    ("adadelta", adadelta_no_lr, "adadelta.no-lr"),
    ("adadelta", adadelta_eps_outside, "adadelta.eps-outside-roots"),
    ("adadelta", adadelta_rho_swapped, "adadelta.rho-swapped"),
    ("adadelta", adadelta_scaled_delta, "adadelta.lr-in-acc-delta"),
    ("adadelta", adadelta_old_square, "adadelta.old-square-avg"),
    ("adadelta", adadelta_acc_not_updated, "adadelta.acc-delta-not-updated"),
    ("adadelta", adadelta_no_numerator, "adadelta.no-numerator"),
    ("adadelta", flipped(answers.adadelta_step), "adadelta.wrong-sign"),
    ("adadelta", with_eps(answers.adadelta_step, 1e-6), "interface.hard-coded-hyper-parameter"),
    ("rmsprop", rmsprop_alpha_swapped, "rmsprop.alpha-swapped"),
    ("rmsprop", rmsprop_no_one_minus, "rmsprop.no-one-minus-alpha"),
    ("rmsprop", rmsprop_eps_inside, "rmsprop.eps-inside-root"),
    # At step 1 a running sum and an average without (1 − α) coincide: s = g².
    ("rmsprop", rmsprop_sum, "rmsprop.no-one-minus-alpha"),
    ("rmsprop", rmsprop_old_average, "rmsprop.old-average"),
    ("rmsprop", rmsprop_unsquared, "rmsprop.g-not-squared"),
    ("rmsprop", rmsprop_no_root, "rmsprop.no-root"),
    ("rmsprop", flipped(answers.rmsprop_step), "rmsprop.wrong-sign"),
    ("rmsprop", with_eps(answers.rmsprop_step, 1e-8), "interface.hard-coded-hyper-parameter"),
    ("rmsprop", other_default(answers.rmsprop_step, "alpha", 0.9), "interface.defaults"),
    ("adam", adam_no_bias_correction, "adam.no-bias-correction"),
    ("adam", adam_step_plus_one, "adam-family.step-count"),
    ("adam", adam_m_hat_one_ahead, "adam-family.step-count"),
    ("adam", adam_stores_m_hat, "adam-family.stores-m-hat"),
    ("adam", adam_eps_inside, "adam.eps-inside-root"),
    ("adam", adam_betas_swapped, "adam-family.betas-swapped"),
    ("adam", adam_step_not_returned, "interface.step-not-stored"),
    ("adam", adam_keras, "adam.keras-eps-hat"),
    ("adam", adam_plus, "adam-family.wrong-sign"),
    ("adam", adam_unsquared, "adam-family.v-not-squared"),
    ("adam", adam_no_root, "adam.no-root"),
    ("adam", adam_stores_v_hat, "adam-family.stores-v-hat"),
    ("adam", adam_step_before_increment, "adam-family.step-before-increment"),
    ("adam", with_eps(answers.adam_step, 1e-8), "interface.hard-coded-hyper-parameter"),
    ("adam", other_default(answers.adam_step, "lr", 0.01), "interface.defaults"),
    ("adamax", adamax_corrected_u, "adamax.u-bias-corrected"),
    ("adamax", adamax_eps_outside, "adamax.eps-outside-max"),
    ("adamax", adamax_no_abs, "adamax.no-abs"),
    ("adamax", adamax_no_bias_correction, "adamax.no-bias-correction"),
    ("adamax", adamax_keras, "adamax.no-eps-in-u"),
    ("adamax", adamax_not_decayed, "adamax.u-not-decayed"),
    ("adamax", adamax_plus, "adam-family.wrong-sign"),
    # In θ, ε = 1e-8 is as good as none when ε = 0.01 is passed.
    ("adamax", with_eps(answers.adamax_step, 1e-8), "adamax.no-eps-in-u"),
    ("nadam", nadam_constant_mu, "nadam.constant-mu"),
    ("nadam", nadam_mu_is_beta1, "nadam.constant-mu"),
    ("nadam", nadam_ruder, "nadam.constant-mu"),
    ("nadam", nadam_is_adam, "nadam.adam-step"),
    ("nadam", nadam_no_product, "nadam.mu-product"),
    ("nadam", nadam_mu_next_is_mu, "nadam.mu-next"),
    ("nadam", nadam_no_bias_correction, "nadam.no-bias-correction"),
    ("nadam", nadam_eps_inside, "adam.eps-inside-root"),
    ("nadam", nadam_plus, "adam-family.wrong-sign"),
    ("nadam", with_eps(answers.nadam_step, 1e-8), "interface.hard-coded-hyper-parameter"),
    ("amsgrad", amsgrad_is_adam, "amsgrad.adam-step"),
    ("amsgrad", amsgrad_max_of_v_hat, "amsgrad.max-of-v-hat"),
    ("amsgrad", amsgrad_max_of_v_hat_corrected, "amsgrad.max-of-v-hat"),
    ("amsgrad", amsgrad_max_before_update, "amsgrad.max-before-update"),
    ("amsgrad", amsgrad_reddi, "amsgrad.no-bias-correction"),
    ("amsgrad", amsgrad_keras, "adam.keras-eps-hat"),
    ("amsgrad", amsgrad_eps_inside, "adam.eps-inside-root"),
    ("amsgrad", amsgrad_unsquared, "adam-family.v-not-squared"),
    ("amsgrad", amsgrad_plus, "adam-family.wrong-sign"),
    ("amsgrad", with_eps(answers.amsgrad_step, 1e-8), "interface.hard-coded-hyper-parameter"),
    ("delta_bar_delta", dbd_old_rates, "delta-bar-delta.old-rates"),
    ("delta_bar_delta", dbd_bar_first, "delta-bar-delta.bar-updated-first"),
    ("delta_bar_delta", dbd_times_phi, "delta-bar-delta.times-phi"),
    ("delta_bar_delta", dbd_multiplicative_increase, "delta-bar-delta.multiplicative-increase"),
    ("delta_bar_delta", dbd_decay_swapped, "delta-bar-delta.decay-swapped"),
    ("delta_bar_delta", dbd_plus, "delta-bar-delta.wrong-sign"),
    ("delta_bar_delta", dbd_bar_is_gradient, "delta-bar-delta.bar-is-last-gradient"),
    ("noisy_sgd", noisy_std_is_variance, "noisy-sgd.variance-as-std"),
    ("noisy_sgd", noisy_noise_without_lr, "noisy-sgd.noise-without-lr"),
    ("noisy_sgd", noisy_t_is_step, "noisy-sgd.t-off-by-one"),
    ("noisy_sgd", noisy_one_generator, "noisy-sgd.one-generator"),
    ("noisy_sgd", noisy_ignores_seed, "noisy-sgd.ignores-seed"),
    ("noisy_sgd", noisy_swapped_stream, "noisy-sgd.wrong-stream"),
    ("noisy_sgd", flipped(answers.noisy_sgd_step), "noisy-sgd.wrong-sign"),
]


def mutant_id(mutant) -> str:
    return getattr(mutant, "__qualname__", "").split(".")[0] or repr(mutant)


@pytest.mark.parametrize("rule, mutant, misconception", MUTANTS,
                         ids=[f"{r}-{mutant_id(m)}-{i}" for r, m, i in MUTANTS])
def test_plausible_mistakes_fail_the_visible_call_and_are_named(rule, mutant, misconception):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may escape the check's hints
        fails_with(check_of(rule), mutant, misconception)


def test_every_misconception_of_the_chapter_is_diagnosed_by_a_test():
    # (the registry also holds other chapters' ids that point at this page: chapter 09's Adam)
    assert_misconceptions_reached(optimizers_mistakes, [m for _, _, m in MUTANTS]
                                  + [m for _, m in HEAVY_BALL_MUTANTS])


def test_a_failure_names_the_run_the_step_and_the_array():
    with pytest.raises(AssertionError) as failure:
        checks.check_adam_step(adam_no_bias_correction)
    assert str(failure.value).startswith(
        "adam_step (lr=0.05, betas=(0.9, 0.999), eps=1e-08), after 1 step: the new θ at index (")
    with pytest.raises(AssertionError) as failure:
        checks.check_adam_step(adam_stores_m_hat)
    assert str(failure.value).startswith(
        "adam_step (lr=0.05, betas=(0.9, 0.999), eps=1e-08), after 1 step: the state['exp_avg'] "
        "(m) at index (")
    with pytest.raises(AssertionError) as failure:
        checks.check_adam_step(adam_eps_inside)
    assert str(failure.value).startswith(
        "adam_step (second run, small gradients, so that ε matters: lr=0.1, betas=(0.8, 0.99), "
        "eps=0.01, scale=0.01), after 1 step: the new θ at index (")
    with pytest.raises(AssertionError) as failure:
        checks.check_adam_step(other_default(answers.adam_step, "eps", 1e-7))
    message = str(failure.value)
    assert message.startswith("adam_step (called without hyper-parameters, scale=1e-08), after 1 "
                              "step: ")
    assert "the default of eps is not eps=1e-08" in message


def adamax_stores_m_hat(theta, grad, state, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
    new, new_state = answers.adamax_step(theta, grad, state, lr, betas, eps)
    return new, {**new_state, "exp_avg": new_state["exp_avg"] / (1 - betas[0] ** new_state["step"])}


def test_adamax_state_hints_do_not_read_adams_state():
    """Regression: a wrong exp_avg or exp_inf raised KeyError: 'exp_avg_sq' (the hints read
    Adam's state names) instead of failing with a hint."""
    with pytest.raises(AssertionError) as failure:
        checks.check_adamax_step(adamax_stores_m_hat, seed=72, shape=(1,), lr=0.5, eps=1e-3)
    assert find(str(failure.value)) == ["adam-family.stores-m-hat"]
    with pytest.raises(AssertionError, match=r"the state\['exp_inf'\] \(u\)"):
        checks.check_adamax_step(scaled_key(answers.adamax_step, "exp_inf"), seed=72, shape=(1,),
                                 lr=0.5, eps=1e-3)


def test_the_unsquared_v_is_named_from_its_nans():
    with pytest.raises(AssertionError) as failure:
        checks.check_adam_step(adam_unsquared)
    message = str(failure.value)
    assert ", got nan" in message and find(message) == ["adam-family.v-not-squared"]


# ---------------------------------------------------------------- a check's own arguments


BAD_ARGUMENTS = [
    ("adam", {"eps": 0}, "check_adam_step: eps=0 is not allowed: eps must be a finite number > 0"),
    ("adam", {"lr": -0.1}, "check_adam_step: lr=-0.1 is not allowed"),
    ("adam", {"betas": (0.9, 1.0)}, r"betas=\(0.9, 1.0\) is not allowed: betas must be a pair"),
    ("adam", {"betas": 0.9}, "betas=0.9 is not allowed"),
    ("amsgrad", {"betas": (-0.1, 0.9)}, "betas="),
    ("nadam", {"momentum_decay": -1.0}, "momentum_decay=-1.0 is not allowed: .* ≥ 0 \\(ψ"),
    ("adamax", {"steps": 0}, "steps=0 is not allowed: steps must be an integer ≥ 1"),
    ("adagrad", {"eps": -1e-10}, "eps=-1e-10 is not allowed"),
    ("adagrad", {"shape": (3, -1)}, r"shape=\(3, -1\) is not allowed: shape must be a tuple"),
    ("rmsprop", {"alpha": 1.5}, r"alpha=1.5 is not allowed: alpha must be a number in \[0, 1\]"),
    ("rmsprop", {"eps": float("nan")}, "eps=nan is not allowed"),
    ("adadelta", {"rho": -0.5}, "rho=-0.5 is not allowed"),
    ("momentum", {"momentum": 1.5}, r"momentum=1.5 is not allowed: .* in \[0, 1\] \(with μ"),
    ("nesterov", {"momentum": -0.1}, "momentum=-0.1 is not allowed"),
    ("nesterov", {"seed": -1}, "seed=-1 is not allowed"),
    ("delta_bar_delta", {"phi": 2.0}, "phi=2.0 is not allowed"),
    ("delta_bar_delta", {"decay": -0.1}, "decay=-0.1 is not allowed"),
    ("delta_bar_delta", {"kappa": -1.0}, "kappa=-1.0 is not allowed"),
    ("noisy_sgd", {"eta": -0.3}, "eta=-0.3 is not allowed"),
    ("noisy_sgd", {"steps": 2.5}, "steps=2.5 is not allowed"),
    ("noisy_sgd", {"scale": 0.0}, "scale=0.0 is not allowed"),
]


@pytest.mark.parametrize("rule, kwargs, message", BAD_ARGUMENTS,
                         ids=[f"{r}-{next(iter(k))}" for r, k, _ in BAD_ARGUMENTS])
def test_bad_check_arguments_are_refused_before_the_student_runs(rule, kwargs, message):
    assert re.search(message, assert_refused(check_of(rule), kwargs))


# ---------------------------------------------------------------- generic wrong answers


def scaled_key(answer, key, factor=1.01):
    """The model answer with state[key] scaled by ``factor``."""
    def step(theta, grad, state, **hyper):
        new, new_state = answer(theta, grad, state, **hyper)
        return new, {**new_state, key: np.asarray(new_state[key], dtype=float) * factor}
    return step


def returning(answer, make_result):
    def step(theta, grad, state, **hyper):
        return make_result(*answer(theta, grad, state, **hyper))
    return step


GENERIC = {
    "returns None": lambda theta, state: None,
    "returns θ only": lambda theta, state: theta,
    "a triple": lambda theta, state: (theta, state, state),
    "state None": lambda theta, state: (theta, None),
    "state a list": lambda theta, state: (theta, list(state.values())),
    "NaN θ": lambda theta, state: (np.full_like(theta, np.nan), state),
    "θ of another shape": lambda theta, state: (np.append(theta, 0.0), state),
    "θ as a string": lambda theta, state: ("theta", state),
    "a state value as a string": lambda theta, state: (theta, dict.fromkeys(state, "x")),
    "θ negated": lambda theta, state: (-np.asarray(theta), state),
    "θ off by 1e-6": lambda theta, state: (np.asarray(theta) * (1 + 1e-6) + 1e-9, state),
    "keys missing": lambda theta, state: (theta, {}),
}
STATE_KEYS = {"momentum": ["velocity"], "nesterov": ["velocity"], "adagrad": ["sum"],
              "adadelta": ["square_avg", "acc_delta"], "rmsprop": ["square_avg"],
              "adam": ["step", "exp_avg", "exp_avg_sq"], "adamax": ["step", "exp_avg", "exp_inf"],
              "nadam": ["step", "mu_product", "exp_avg", "exp_avg_sq"],
              "amsgrad": ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
              "delta_bar_delta": ["lr", "bar_grad"], "noisy_sgd": ["step"]}


def fails_cleanly(check, student, **kwargs) -> str:
    """The check rejects ``student`` with an AssertionError and nothing else, no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AssertionError) as failure:
            check(student, steps=3, shape=(2,), **kwargs)
    return str(failure.value)


@pytest.mark.parametrize("rule", RULES)
def test_generic_wrong_answers_end_in_an_assertion_error(rule):
    for make_result in GENERIC.values():
        fails_cleanly(check_of(rule), returning(answer_of(rule), make_result))
    for key in STATE_KEYS[rule]:
        message = fails_cleanly(check_of(rule), scaled_key(answer_of(rule), key))
        assert f"the state['{key}'] (" in message, (key, message)


@pytest.mark.parametrize("rule", RULES)
def test_every_hyper_parameter_written_as_a_constant_or_defaulting_wrongly_is_named(rule):
    """Each hyper-parameter of the signature, ignored in favour of its default (the student
    wrote it as a constant), or given another default, fails the visible call and says so."""
    answer = answer_of(rule)
    defaults = {name: p.default for name, p in inspect.signature(answer).parameters.items()
                if p.default is not inspect.Parameter.empty}
    for name, value in defaults.items():
        ignored = lambda theta, grad, state, name=name, value=value, **hyper: answer(  # noqa: E731
            theta, grad, state, **{**hyper, name: value})
        message = fails_cleanly(check_of(rule), ignored)
        assert find(message) in (["interface.hard-coded-hyper-parameter"], *[
            [shadow] for shadow in SAME_AS_HARD_CODED.get((rule, name), ())]), message
        other = (0.8, 0.99) if isinstance(value, tuple) else value + 1 if name == "seed" else \
            value / 2
        message = fails_cleanly(check_of(rule), other_default(answer, name, other))
        assert find(message) == ["interface.defaults"], message
        assert f"the default of {name} is not" in message, message


#: Constants that another, more precise, diagnosis names.
SAME_AS_HARD_CODED = {
    ("adadelta", "lr"): ["adadelta.no-lr"],          # Zeiler's rule: lr = 1
    ("adamax", "eps"): ["adamax.no-eps-in-u"],       # 1e-8 is as good as none beside 0.01
    ("noisy_sgd", "seed"): ["noisy-sgd.ignores-seed"],
}


def test_the_momentum_conventions_give_the_same_path_but_not_the_same_state():
    """PyTorch's buffer and the course's velocity differ by η: only the state tells them."""
    theta, g = np.array([1.0, -2.0]), np.array([0.5, 0.3])
    ours, theirs = ({}, theta), ({}, theta)
    for _ in range(5):
        new, state = answers.momentum_step(ours[1], g, ours[0], lr=0.1)
        ours = (state, new)
        new, state = momentum_torch_convention(theirs[1], g, theirs[0], lr=0.1)
        theirs = (state, new)
    assert np.allclose(ours[1], theirs[1])
    assert np.allclose(ours[0]["velocity"], 0.1 * theirs[0]["velocity"])


# ---------------------------------------------------------------- Polyak's heavy-ball tuning


@pytest.mark.parametrize("low, high", [(1.0, 100.0), (3.0, 3.0), (1e-8, 1e4), (0.2, 0.2001)])
def test_heavy_ball_tuning_passes(low, high):
    checks.check_heavy_ball_tuning(answers.heavy_ball_tuning, lambda_min=low, lambda_max=high)


def test_heavy_ball_tuning_stub_raises_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        checks.check_heavy_ball_tuning(stub)


@pytest.mark.parametrize("low, high", [(2.0, 20.0), (1.0, 100.0), (1e-3, 1.0)])
def test_polyak_pair_is_the_best_pair(low, high):
    """The closed form against the spectral radius of the 2×2 iteration matrix: its worst
    rate over [λ_min, λ_max] is √μ*, and no nearby pair does better."""
    lr, momentum = checks.heavy_ball_closed_form(low, high)
    curvatures = np.linspace(low, high, 201)
    worst = max(np.abs(np.linalg.eigvals(checks.heavy_ball_matrix(lr, momentum, c))).max()
                for c in curvatures)
    assert worst == pytest.approx(np.sqrt(momentum), rel=1e-6)
    best = checks.heavy_ball_rate(lr, momentum, low, high)
    for d_lr in (-0.02, 0.0, 0.02):
        for d_mu in (-0.02, 0.0, 0.02):
            if d_lr or d_mu:
                other = checks.heavy_ball_rate(lr * (1 + d_lr), momentum * (1 + d_mu), low, high)
                assert other > best, (d_lr, d_mu)


def test_polyak_pair_on_the_book_bowl():
    """x² + 10y²: rate 0.52 per step against plain descent's 0.82 (the page's numbers)."""
    lr, momentum = checks.heavy_ball_closed_form(2.0, 20.0)
    assert np.sqrt(momentum) == pytest.approx(0.5195, abs=1e-4)
    assert lr == pytest.approx(0.11544, abs=1e-5)


def hb_swapped(low, high):
    return answers.heavy_ball_tuning(low, high)[::-1]


def hb_gd_step(low, high):
    return 2.0 / (low + high), answers.heavy_ball_tuning(low, high)[1]


def hb_no_roots(low, high):
    return 4.0 / (low + high), answers.heavy_ball_tuning(low, high)[1]


def hb_rate(low, high):
    root = np.sqrt(high / low)
    return answers.heavy_ball_tuning(low, high)[0], (root - 1) / (root + 1)


def hb_kappa(low, high):
    kappa = high / low
    return answers.heavy_ball_tuning(low, high)[0], ((kappa - 1) / (kappa + 1)) ** 2


HEAVY_BALL_MUTANTS = [
    (hb_swapped, "heavy-ball.swapped"),
    (hb_gd_step, "heavy-ball.gd-step"),
    (hb_no_roots, "heavy-ball.eta-without-roots"),
    (hb_rate, "heavy-ball.rate-for-momentum"),
    (hb_kappa, "heavy-ball.kappa-not-root"),
]


@pytest.mark.parametrize("mutant, misconception", HEAVY_BALL_MUTANTS)
def test_heavy_ball_mistakes_are_named(mutant, misconception):
    fails_with(checks.check_heavy_ball_tuning, mutant, misconception)


@pytest.mark.parametrize("change", WRONG_OUTPUTS)
def test_heavy_ball_generic_wrong_answers_teach(change):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        message = failure(checks.check_heavy_ball_tuning,
                          wrong(answers.heavy_ball_tuning, WRONG_OUTPUTS[change]))
    assert_teaches(message, "heavy_ball_tuning")


def test_a_nearly_right_pair_is_told_its_rate():
    message = failure(checks.check_heavy_ball_tuning,
                      lambda low, high: (answers.heavy_ball_tuning(low, high)[0],
                                         answers.heavy_ball_tuning(low, high)[1] * 1.05))
    assert "your pair gives a worst rate of" in message and not find(message)


@pytest.mark.parametrize("kwargs", [{"lambda_min": 0.0}, {"lambda_max": -1.0},
                                    {"lambda_min": float("nan")}, {"lambda_max": "100"}])
def test_heavy_ball_bad_arguments_are_refused(kwargs):
    assert_refused(checks.check_heavy_ball_tuning, kwargs)


def test_heavy_ball_inverted_range_is_refused():
    assert_refused(checks.check_heavy_ball_tuning, {"lambda_min": 5.0, "lambda_max": 1.0},
                   shown="lambda_max=1.0")
