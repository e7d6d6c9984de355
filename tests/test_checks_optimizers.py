"""The chapter 05 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from descent.answers import load
from descent.checks import optimizers as checks

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
    """PyTorch's buffer b ← γb + g stored as the velocity, and θ − η·b: same θ, other state."""
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
    """PyTorch's buffer b ← γb + g in the velocity, and a step γb + g without η."""
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


MUTANTS = [
    ("momentum", momentum_torch_convention, {}, "you wrote PyTorch's buffer"),
    ("momentum", momentum_without_lr, {}, "the velocity includes the learning rate"),
    ("momentum", momentum_lr_twice, {}, "already includes η"),
    ("momentum", momentum_dampened, {}, "no (1 − γ) factor"),
    ("momentum", momentum_plus, {}, "subtract the step"),
    ("momentum", momentum_hardcoded, {}, "with γ = 0 the velocity is forgotten"),
    ("momentum", momentum_other_default, {}, "the defaults are PyTorch's"),
    ("nesterov", answers.momentum_step, {}, "this is classical momentum"),
    ("nesterov", nesterov_old_velocity, {}, "with the UPDATED velocity"),
    ("nesterov", nesterov_stores_step, {}, "not the step γv + ηg you took"),
    ("nesterov", nesterov_without_lr, {}, "the velocity includes the learning rate"),
    ("adagrad", adagrad_eps_inside, {"eps": 1e-2, "scale": 1e-2}, "outside the root"),
    ("adagrad", adagrad_old_sum, {}, "add g² to G first"),
    ("adagrad", adagrad_no_root, {}, "square ROOT"),
    ("adagrad", adagrad_last_square, {}, "running SUM"),
    ("adadelta", adadelta_no_lr, {"lr": 10.0}, "multiply Δ by lr"),
    ("adadelta", adadelta_eps_outside, {}, "ε goes inside both roots"),
    ("adadelta", adadelta_rho_swapped, {}, "ρ multiplies the old averages"),
    ("adadelta", adadelta_scaled_delta, {"lr": 10.0}, "squared update Δ (without lr)"),
    ("rmsprop", rmsprop_alpha_swapped, {}, "α multiplies the OLD average"),
    ("rmsprop", rmsprop_no_one_minus, {}, "weighted by (1 − α)"),
    ("rmsprop", rmsprop_eps_inside, {"eps": 1e-2}, "outside the root"),
    # At step 1 a running sum and an average without (1 − α) coincide: s = g².
    ("rmsprop", rmsprop_sum, {}, "weighted by (1 − α)"),
    ("adam", adam_no_bias_correction, {}, "is the bias correction applied?"),
    ("adam", adam_step_plus_one, {}, "t counts the updates done: increment step first"),
    ("adam", adam_stores_m_hat, {}, "store m itself"),
    ("adam", adam_eps_inside, {"eps": 1e-2}, "ε goes outside the root"),
    ("adam", adam_betas_swapped, {}, "β₁ belongs to m"),
    ("adam", adam_step_not_returned, {}, "step is the number of updates done"),
    ("adamax", adamax_corrected_u, {}, "u needs no bias correction"),
    ("adamax", adamax_eps_outside, {"eps": 1e-2}, "ε goes inside the maximum"),
    ("adamax", adamax_no_abs, {}, "absolute value"),
    ("adamax", adamax_no_bias_correction, {}, "bias correction"),
    ("nadam", nadam_constant_mu, {}, "Ruder's Nadam with a constant μ = β₁"),
    ("nadam", nadam_is_adam, {}, "this is Adam's step"),
    ("nadam", nadam_no_product, {}, "running product"),
    ("amsgrad", amsgrad_is_adam, {}, "this is Adam's step"),
    ("amsgrad", amsgrad_max_of_v_hat, {}, "the maximum of the raw v"),
    ("amsgrad", amsgrad_max_before_update, {}, "take the maximum with the NEW v"),
    ("delta_bar_delta", dbd_old_rates, {}, "step with the NEW rates"),
    ("delta_bar_delta", dbd_bar_first, {}, "BEFORE this step"),
    ("delta_bar_delta", dbd_times_phi, {}, "not by φ"),
    ("delta_bar_delta", dbd_multiplicative_increase, {"kappa": 0.05}, "ADD κ"),
    ("delta_bar_delta", dbd_decay_swapped, {}, "decay multiplies the OLD average"),
    ("noisy_sgd", noisy_std_is_variance, {}, "is the VARIANCE"),
    ("noisy_sgd", noisy_noise_without_lr, {}, "lr multiplies it too"),
    ("noisy_sgd", noisy_t_is_step, {}, "t = step − 1 is 0 on the first call"),
    ("noisy_sgd", noisy_one_generator, {}, "a new generator per step"),
    ("noisy_sgd", noisy_ignores_seed, {}, "with the seed argument"),
]


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("rule, mutant, kwargs, message", MUTANTS,
                         ids=[f"{r}-{m.__name__}" for r, m, _, _ in MUTANTS])
def test_plausible_mistakes_fail_with_a_hint(rule, mutant, kwargs, message):
    with pytest.raises(AssertionError) as failure:
        check_of(rule)(mutant, **kwargs)
    assert message in str(failure.value)


def test_a_failure_names_the_step_and_the_values():
    with pytest.raises(AssertionError) as failure:
        checks.check_adam_step(adam_no_bias_correction)
    message = str(failure.value)
    assert message.startswith("adam_step (lr=0.05, betas=(0.9, 0.999), eps=1e-08), after 1 "
                              "step, θ: at index (")
    assert "expected" in message and "got" in message


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
