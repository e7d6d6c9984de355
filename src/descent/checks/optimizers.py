"""Checks for chapter 05: the optimizers' update rules, one pure function each,

    new_theta, new_state = <name>_step(theta, grad, state, **hyper)

with ``state = {}`` on the first call and then exactly what the previous call returned.

Oracles: ``torch.optim`` in float64 (SGD with and without Nesterov, Adagrad, Adadelta,
RMSprop, Adam, Adamax, NAdam, Adam(amsgrad=True)), driven along the same trajectory as
the student's function: at every step the gradient is computed at the student's current θ
on a fixed random quadratic ½θᵀAθ + bᵀθ (A symmetric positive definite and not diagonal)
plus a seeded perturbation, and the same gradient array is handed to PyTorch. θ and the
returned state are compared after every step, and the check stops at the first step that
differs. Delta-bar-delta has no PyTorch optimizer: its oracle is the closed form of Jacobs
(1988), written with torch tensors below, plus the properties of its rate updates. Noisy
SGD's noise is specified exactly (``np.random.default_rng([seed, t])``), so its oracle
draws the same numbers, after a statistical check of the noise's mean and variance.

Every check runs three trajectories, so that the call with default arguments (the visible
test) already catches every convention the task states:

1. the one its arguments describe;
2. a short second run on a 2×3 θ with other values of every hyper-parameter, chosen so that
   the conventions show: small gradients and a large ε for the adaptive rules, where ε's
   place (inside or outside a root or a maximum) and an ignored ``eps`` argument change the
   step by far more than the tolerance (with ε = 1e-8 and gradients near 1 they change it
   by 1e-8 relative, which no tolerance can see);
3. six calls without hyper-parameters, against the task's defaults (PyTorch's), and for the
   adaptive rules three more on gradients of ε's size, so that a wrong default ε shows too;
   when a step differs, the student's function is called again with one default passed
   explicitly, to name the default that differs.

Delta-bar-delta's second and third runs start near the minimum, where the gradient's signs
flip and φ matters.
When a step differs, the check recomputes it with known mistakes and names the one the
student's result reproduces (a :mod:`~descent.checks.misconceptions` id). Each check also
verifies that θ, the gradient and every state value are left unchanged, that the state is a
dict with the named keys, and a property that links rules (momentum = 0 is plain gradient
descent, AdaGrad's sum never decreases, AMSGrad's maximum never decreases, Nadam with a huge
momentum_decay has μₜ = β₁). A check called with a meaningless argument (ε = 0, β = 1, a
negative learning rate, steps < 1, …) raises ValueError before it runs any student code.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from descent.checks import optimizers_mistakes as mistake
from descent.checks._arguments import (
    BETAS,
    SEED,
    array_shape,
    integer,
    number,
    refuse,
    require,
    require_each,
)
from descent.checks._compare import (
    AnyOf,
    WithNaN,
    as_float_array,
    as_number,
    as_tuple,
    assert_close,
    compare_with_hint,
    diagnose,
)
from descent.checks._oracle import float64_tensor
from descent.checks._trajectory import torch_step
from descent.checks._update_rules import (
    EPS_MATTERS,
    SMALL,
    Quadratic,
    Step,
    UpdateRule,
    check_rule,
    first_growth,
    given_state,
    hyper_label,
    same_state,
    torch_oracle,
    zero_state,
)

#: Standard errors allowed in the statistical check of the noise: P(|N(0,1)| > 6) ≈ 2·10⁻⁹.
Z = 6.0
#: Coordinates of θ in the statistical check of the noise (2¹⁷).
NOISE_SIZE = 2**17

#: What the checks' arguments may be.
_ALLOWED = {
    "seed": SEED,
    "shape": array_shape(1, why=", e.g. () or (5,) or (3, 4)"),
    "steps": integer(1),
    "scale": number(above=0, why=" (the gradients' scale)"),
    "lr": number(least=0, why=" (a negative learning rate climbs)"),
    "momentum": number(least=0, most=1, why=" (with μ > 1 the velocity grows without bound)"),
    "eps": number(above=0, why=" (ε keeps the division finite)"),
    "rho": number(least=0, most=1, why=" (ρ weighs the old averages)"),
    "alpha": number(least=0, most=1, why=" (α weighs the old average, which must stay ≥ 0)"),
    "betas": BETAS,
    "momentum_decay": number(least=0, why=" (ψ, the decay of the momentum schedule)"),
    "kappa": number(least=0, why=" (a, the increase of a rate; Jacobs' κ)"),
    "phi": number(least=0, most=1, why=" (φ, the fraction of a rate removed on a sign flip)"),
    "decay": number(least=0, most=1, why=" (it weighs the old average δ̄)"),
    "eta": number(least=0, why=" (c, the noise's variance at t = 0)"),
    "gamma": number(),
}


def _refuse(check: str, **arguments) -> None:
    require_each(check, _ALLOWED, **arguments)


# ---------------------------------------------------------------- momentum and Nesterov


def _sgd_rule(name, nesterov) -> Callable:
    # torch.optim.SGD keeps b ← μb + g (b = g at the first step) and steps θ − η·b
    # (θ − η(g + μb) with Nesterov). With v = η·b at a constant η this is the course's
    # v ← μv + ηg; θ ← θ − v (θ − (μv + ηg) with Nesterov): the same trajectory.
    # (torch refuses nesterov=True without momentum; with μ = 0 both are gradient descent.)
    def make(lr, momentum) -> UpdateRule:
        hyper = {"lr": lr, "momentum": momentum, "nesterov": nesterov and momentum != 0}

        def velocity(step, before=False):
            state = step.before if before else step.after
            buffer = state.get("momentum_buffer")
            if buffer is None:
                return np.zeros_like(step.theta) if before else lr * step.grad
            return lr * buffer

        def theta_hints(step):
            hints = {}
            if nesterov:
                # θ − v with the new v is θ − (μ·v_old + ηg): classical momentum.
                hints[mistake.NESTEROV_CLASSICAL] = lambda: step.run(
                    torch.optim.SGD, {**hyper, "nesterov": False})
            if momentum:
                # The student's velocity read as PyTorch's buffer, with lr = 1: θ − (μv + g).
                hints[mistake.MOMENTUM_NO_LR] = lambda: step.run(
                    torch.optim.SGD, {**hyper, "lr": 1.0}, momentum_buffer=velocity(step, True))
            hints[mistake.MOMENTUM_SIGN] = lambda: 2 * step.theta - step.expected
            if not nesterov:
                hints[mistake.MOMENTUM_LR_TWICE] = lambda: step.theta - lr * (step.theta
                                                                              - step.expected)
                hints[mistake.MOMENTUM_DAMPENED] = lambda: (step.expected
                                                            + momentum * lr * step.grad)
            hints[mistake.MOMENTUM_NO_VELOCITY] = lambda: step.theta - lr * step.grad
            return hints

        def state_hints(step):
            v = velocity(step)
            hints = {mistake.MOMENTUM_OLD_VELOCITY: lambda: velocity(step, True),
                     mistake.MOMENTUM_BUFFER: lambda: v / lr if lr else None,
                     mistake.MOMENTUM_VELOCITY_SIGN: -v}
            if nesterov:
                hints[mistake.NESTEROV_STORES_STEP] = lambda: step.theta - step.expected
            return {"velocity": hints}

        return UpdateRule(name, torch_oracle(torch.optim.SGD, **hyper), lambda shape: {},
                     {"velocity": ("v", "the velocity, v ← μv + ηg")},
                     lambda step: {"velocity": velocity(step)}, theta_hints,
                     ("v ← μ·v + η·g (v = 0 at first), then θ ← θ − (μ·v + η·g)" if nesterov
                      else "v ← μ·v + η·g (v = 0 at first), then θ ← θ − v"), state_hints)
    return make


def _check_sgd(name, student, nesterov, seed, shape, steps, scale, lr, momentum) -> None:
    _refuse(f"check_{name}", lr=lr, momentum=momentum, seed=seed, shape=shape, steps=steps,
            scale=scale)
    make = _sgd_rule(name, nesterov)
    defaults = {"lr": 0.01, "momentum": 0.9}

    def forgets_velocity(path):
        # Cross-link: with momentum = 0 the rule is plain gradient descent θ − ηg, whatever
        # velocity the state holds.
        theta, state = path[-1]
        g = Quadratic(seed, shape, steps, scale).grad(theta, steps + 1)
        got, _ = as_tuple(student(theta.copy(), g.copy(), dict(state), lr=lr, momentum=0.0),
                       name, "(new_theta, new_state)")
        hard_coded = f"the result is that of momentum=0.9, not of the momentum=0 passed: " \
                     f"{mistake.HARD_CODED}"
        compare_with_hint(
            f"{name} (lr={lr:g}, momentum=0, from a non-zero velocity)", got, theta - lr * g,
            {hard_coded: lambda: make(lr, defaults["momentum"]).oracle(
                theta, g, {"momentum_buffer": state["velocity"] / lr}, steps + 1)[0]
             if lr else None},
            "with μ = 0 the velocity is forgotten: v = ηg and θ ← θ − ηg, plain gradient "
            "descent", "new θ")

    check_rule(make, student, {"lr": lr, "momentum": momentum}, defaults,
           {"lr": 0.2, "momentum": 0.5}, seed=seed, shape=shape, steps=steps, scale=scale,
           properties=forgets_velocity)


def check_momentum_step(momentum_step, seed=0, shape=(5,), steps=30, lr=0.05, momentum=0.9,
                        scale=1.0):
    """Heavy-ball momentum v ← μv + ηg; θ ← θ − v, against ``torch.optim.SGD(momentum=μ)``."""
    _check_sgd("momentum_step", momentum_step, False, seed, shape, steps, scale, lr, momentum)


def check_nesterov_step(nesterov_step, seed=0, shape=(5,), steps=30, lr=0.05, momentum=0.9,
                        scale=1.0):
    """v ← μv + ηg; θ ← θ − (μv + ηg), against ``torch.optim.SGD(nesterov=True)``."""
    _check_sgd("nesterov_step", nesterov_step, True, seed, shape, steps, scale, lr, momentum)


# ---------------------------------------------------------------- AdaGrad, AdaDelta, RMSProp


def _adagrad_rule(lr, eps) -> UpdateRule:
    hyper = {"lr": lr, "eps": eps}

    def theta_hints(step):
        g, before, total = step.grad, step.before["sum"], step.after["sum"]
        return {
            mistake.ADAGRAD_EPS_INSIDE: lambda: step.theta - lr * g / np.sqrt(total + eps),
            mistake.ADAGRAD_OLD_SUM: lambda: step.theta - lr * g / (np.sqrt(before) + eps),
            mistake.ADAGRAD_NO_ROOT: lambda: step.theta - lr * g / (total + eps),
            mistake.ADAGRAD_SIGN: lambda: 2 * step.theta - step.expected,
            mistake.ADAGRAD_LAST_SQUARE: lambda: step.run(torch.optim.Adagrad, hyper,
                                                          sum=np.zeros_like(g)),
            mistake.ADAGRAD_NOT_SQUARED: lambda: WithNaN(
                step.theta - lr * g / (np.sqrt(before + g) + eps)),
            # Keras: initial_accumulator_value=0.1, with or without its ε inside the root.
            mistake.ADAGRAD_INITIAL: AnyOf(
                lambda: step.run(torch.optim.Adagrad, hyper, sum=before + 0.1),
                lambda: step.theta - lr * g / np.sqrt(total + 0.1 + eps)),
        }

    def state_hints(step):
        g = step.grad
        return {"sum": {mistake.ADAGRAD_LAST_SQUARE: lambda: g * g,
                        mistake.ADAGRAD_INITIAL: lambda: step.after["sum"] + 0.1,
                        mistake.ADAGRAD_NOT_SQUARED: lambda: step.before["sum"] + g}}

    return UpdateRule("adagrad_step", torch_oracle(torch.optim.Adagrad, **hyper), zero_state("sum"),
                 {"sum": ("s", "the running sum of g²")}, same_state("sum"), theta_hints,
                 "s ← s + g² (s = 0 at first), then θ ← θ − η·g/(√s + ε), element-wise",
                 state_hints)


def check_adagrad_step(adagrad_step, seed=0, shape=(5,), steps=30, lr=0.5, eps=1e-10,
                       scale=1.0):
    """s ← s + g²; θ ← θ − η·g/(√s + ε), against ``torch.optim.Adagrad``.

    Properties along the student's own path: s never decreases, so the effective step
    η/(√s + ε) never grows.
    """
    _refuse("check_adagrad_step", lr=lr, eps=eps, seed=seed, shape=shape, steps=steps,
            scale=scale)

    def never_grows(path):
        if (t := first_growth(path, "sum", lr, eps)) is not None:
            raise AssertionError("adagrad_step: the sum s decreased (so the effective step "
                                 f"η/(√s + ε) grew) at step {t} — s only accumulates g² ≥ 0")

    check_rule(_adagrad_rule, adagrad_step, {"lr": lr, "eps": eps}, {"lr": 0.01, "eps": 1e-10},
           {"lr": 0.3, "eps": 1e-2}, seed=seed, shape=shape, steps=steps, scale=scale,
           second_scale=SMALL, why=EPS_MATTERS, defaults_scale=1e-10, properties=never_grows)


def _adadelta_rule(lr, rho, eps) -> UpdateRule:
    hyper = {"lr": lr, "rho": rho, "eps": eps}

    def theta_hints(step):
        g, square, acc = step.grad, step.after["square_avg"], step.before["acc_delta"]
        return {
            mistake.ADADELTA_NO_LR: lambda: step.run(torch.optim.Adadelta, {**hyper, "lr": 1.0}),
            mistake.ADADELTA_EPS_OUTSIDE: lambda: step.theta - lr * (np.sqrt(acc) + eps) / (
                np.sqrt(square) + eps) * g,
            mistake.ADADELTA_NO_NUMERATOR: lambda: step.theta - lr * g / np.sqrt(square + eps),
            mistake.ADADELTA_SIGN: lambda: 2 * step.theta - step.expected,
            mistake.ADADELTA_RHO_SWAPPED: lambda: step.run(torch.optim.Adadelta,
                                                           {**hyper, "rho": 1 - rho}),
            mistake.ADADELTA_OLD_SQUARE: lambda: step.theta - lr * np.sqrt(acc + eps) / np.sqrt(
                step.before["square_avg"] + eps) * g,
        }

    def state_hints(step):
        g, acc = step.grad, step.before["acc_delta"]
        return {"acc_delta": {
            # The step θ took is lr·Δ.
            mistake.ADADELTA_SCALED_DELTA: lambda: rho * acc + (1 - rho) * (
                step.theta - step.expected) ** 2,
            mistake.ADADELTA_ACC_NOT_UPDATED: acc,
        }, "square_avg": {
            mistake.ADADELTA_RHO_SWAPPED: lambda: (1 - rho) * step.before["square_avg"]
            + rho * g * g,
        }}

    return UpdateRule(
        "adadelta_step", torch_oracle(torch.optim.Adadelta, **hyper),
        zero_state("square_avg", "acc_delta"),
        {"square_avg": ("E[g²]", "the decaying average of g²"),
         "acc_delta": ("E[Δ²]", "the decaying average of the squared updates")},
        same_state("square_avg", "acc_delta"), theta_hints,
        "E[g²] ← ρE[g²] + (1 − ρ)g²; Δ = √(E[Δ²] + ε)/√(E[g²] + ε)·g; E[Δ²] ← ρE[Δ²] + "
        "(1 − ρ)Δ²; θ ← θ − lr·Δ", state_hints)


def check_adadelta_step(adadelta_step, seed=0, shape=(5,), steps=30, lr=1.0, rho=0.9, eps=1e-6,
                        scale=1.0):
    """Zeiler's AdaDelta (times lr), against ``torch.optim.Adadelta``."""
    _refuse("check_adadelta_step", lr=lr, rho=rho, eps=eps, seed=seed, shape=shape,
            steps=steps, scale=scale)
    check_rule(_adadelta_rule, adadelta_step, {"lr": lr, "rho": rho, "eps": eps},
           {"lr": 1.0, "rho": 0.9, "eps": 1e-6}, {"lr": 2.0, "rho": 0.8, "eps": 1e-3},
           seed=seed, shape=shape, steps=steps, scale=scale, second_scale=0.1,
           defaults_scale=1e-3)


def _rmsprop_rule(lr, alpha, eps) -> UpdateRule:
    hyper = {"lr": lr, "alpha": alpha, "eps": eps}

    def theta_hints(step):
        g, s, before = step.grad, step.after["square_avg"], step.before["square_avg"]
        return {
            mistake.RMSPROP_EPS_INSIDE: lambda: step.theta - lr * g / np.sqrt(s + eps),
            mistake.RMSPROP_ALPHA_SWAPPED: lambda: step.run(torch.optim.RMSprop,
                                                            {**hyper, "alpha": 1 - alpha}),
            mistake.RMSPROP_NO_ONE_MINUS: lambda: step.theta - lr * g / (
                np.sqrt(alpha * before + g * g) + eps),
            mistake.RMSPROP_NO_ROOT: lambda: step.theta - lr * g / (s + eps),
            mistake.RMSPROP_SIGN: lambda: 2 * step.theta - step.expected,
            mistake.RMSPROP_OLD_AVERAGE: lambda: step.theta - lr * g / (np.sqrt(before) + eps),
            mistake.RMSPROP_NOT_SQUARED: lambda: WithNaN(step.theta - lr * g / (
                np.sqrt(alpha * before + (1 - alpha) * g) + eps)),
        }

    def state_hints(step):
        g, before = step.grad, step.before["square_avg"]
        return {"square_avg": {
            mistake.RMSPROP_ALPHA_SWAPPED: lambda: (1 - alpha) * before + alpha * g * g,
            mistake.RMSPROP_NO_ONE_MINUS: lambda: alpha * before + g * g,
            mistake.RMSPROP_NOT_SQUARED: lambda: alpha * before + (1 - alpha) * g,
        }}

    return UpdateRule(
        "rmsprop_step", torch_oracle(torch.optim.RMSprop, **hyper), zero_state("square_avg"),
        {"square_avg": ("s", "the decaying average of g²")}, same_state("square_avg"), theta_hints,
        "s ← α·s + (1 − α)·g² (s = 0 at first), then θ ← θ − η·g/(√s + ε)", state_hints)


def check_rmsprop_step(rmsprop_step, seed=0, shape=(5,), steps=30, lr=0.01, alpha=0.99,
                       eps=1e-8, scale=1.0):
    """s ← αs + (1 − α)g²; θ ← θ − η·g/(√s + ε), against ``torch.optim.RMSprop``."""
    _refuse("check_rmsprop_step", lr=lr, alpha=alpha, eps=eps, seed=seed, shape=shape,
            steps=steps, scale=scale)
    check_rule(_rmsprop_rule, rmsprop_step, {"lr": lr, "alpha": alpha, "eps": eps},
           {"lr": 0.01, "alpha": 0.99, "eps": 1e-8}, {"lr": 0.05, "alpha": 0.9, "eps": 1e-2},
           seed=seed, shape=shape, steps=steps, scale=scale, second_scale=SMALL,
           why=EPS_MATTERS, defaults_scale=1e-8)


# ---------------------------------------------------------------- Adam and its relatives


_ADAM_KEYS = {"step": ("t", "the number of updates done"),
              "exp_avg": ("m", "the average of g, not m̂"),
              "exp_avg_sq": ("v", "the average of g², not v̂")}
_ADAM_DEFAULTS = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}
_ADAM_SECOND = {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-2}


def _adam_family_hints(optimizer_class, hyper, step: Step, no_bias_correction) -> dict:
    """Classic mistakes of the Adam family, as PyTorch steps from this step's input."""
    betas = tuple(hyper["betas"])
    hints = {
        mistake.ADAM_STEP_COUNT: lambda: step.run(optimizer_class, hyper, step=step.t),
        mistake.ADAM_BETAS_SWAPPED: lambda: step.run(optimizer_class,
                                                     {**hyper, "betas": betas[::-1]}),
        mistake.ADAM_SIGN: lambda: 2 * step.theta - step.expected,
    }
    if no_bias_correction is not None:
        # After ten million steps β₁ᵗ and β₂ᵗ are 0: the corrections divide by 1.
        hints = {no_bias_correction: lambda: step.run(optimizer_class, hyper, step=10_000_000),
                 **hints}
    # (at the first step PyTorch refuses t = 0: ZeroDivisionError, and the hint is skipped)
    hints[mistake.ADAM_STEP_BEFORE] = lambda: step.run(optimizer_class, hyper, step=step.t - 2)
    return hints


def _unsquared(step: Step, beta2):
    """The v of a student who averages g instead of g² (from the right v before)."""
    return beta2 * step.before["exp_avg_sq"] + (1 - beta2) * step.grad


def _moment_hints(step: Step, betas) -> dict:
    """The state a known mistake stores, for the Adam family's keys this step has."""
    beta1, beta2 = betas
    t, g = step.t, step.grad
    hints = {"step": {mistake.STEP_NOT_STORED: float(t - 1)},
             "exp_avg": {
                 mistake.ADAM_STORES_M_HAT: lambda: step.after["exp_avg"] / (1 - beta1**t),
                 mistake.ADAM_BETAS_SWAPPED: lambda: beta2 * step.before["exp_avg"]
                 + (1 - beta2) * g}}
    if "exp_avg_sq" in step.after:
        hints["exp_avg_sq"] = {
            mistake.ADAM_STORES_V_HAT: lambda: step.after["exp_avg_sq"] / (1 - beta2**t),
            mistake.ADAM_V_NOT_SQUARED: lambda: _unsquared(step, beta2),
            mistake.ADAM_BETAS_SWAPPED: lambda: beta1 * step.before["exp_avg_sq"]
            + (1 - beta1) * g * g}
    return hints


def _adam_rule(lr, betas, eps) -> UpdateRule:
    hyper = {"lr": lr, "betas": tuple(betas), "eps": eps}
    beta1, beta2 = betas

    def theta_hints(step):
        t, m, v = step.t, step.after["exp_avg"], step.after["exp_avg_sq"]
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        return {
            **_adam_family_hints(torch.optim.Adam, hyper, step, mistake.ADAM_NO_BIAS),
            # t + 1 in one of the two corrections only
            mistake.ADAM_STEP_COUNT: AnyOf(
                lambda: step.run(torch.optim.Adam, hyper, step=t),
                lambda: step.theta - lr * m / (1 - beta1 ** (t + 1)) / (np.sqrt(v_hat) + eps),
                lambda: step.theta - lr * m_hat / (np.sqrt(v / (1 - beta2 ** (t + 1))) + eps)),
            mistake.ADAM_EPS_INSIDE: lambda: step.theta - lr * m_hat / np.sqrt(v_hat + eps),
            mistake.ADAM_NO_ROOT: lambda: step.theta - lr * m_hat / (v_hat + eps),
            mistake.ADAM_KERAS: lambda: step.theta - lr * math.sqrt(1 - beta2**t) / (
                1 - beta1**t) * m / (np.sqrt(v) + eps),
            mistake.ADAM_V_NOT_SQUARED: lambda: WithNaN(step.theta - lr * m_hat / (
                np.sqrt(_unsquared(step, beta2) / (1 - beta2**t)) + eps)),
            # t − 1 in the corrections: NaN at the first step, where both divide by 0
            mistake.ADAM_STEP_BEFORE: lambda: WithNaN(
                step.theta - lr * m / (1 - beta1 ** (t - 1))
                / (np.sqrt(v / (1 - beta2 ** (t - 1))) + eps)),
        }

    return UpdateRule("adam_step", torch_oracle(torch.optim.Adam, **hyper),
                 zero_state("exp_avg", "exp_avg_sq"), _ADAM_KEYS,
                 same_state("step", "exp_avg", "exp_avg_sq"), theta_hints,
                 "t ← t + 1; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; "
                 "θ ← θ − η·m̂/(√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)",
                 lambda step: _moment_hints(step, betas))


def check_adam_step(adam_step, seed=0, shape=(5,), steps=30, lr=0.05, betas=(0.9, 0.999),
                    eps=1e-8, scale=1.0):
    """Adam, against ``torch.optim.Adam`` driven by the same gradients."""
    _refuse("check_adam_step", lr=lr, betas=betas, eps=eps, seed=seed, shape=shape,
            steps=steps, scale=scale)
    check_rule(_adam_rule, adam_step, {"lr": lr, "betas": tuple(betas), "eps": eps},
           _ADAM_DEFAULTS, _ADAM_SECOND, seed=seed, shape=shape, steps=steps, scale=scale,
           second_scale=SMALL, why=EPS_MATTERS, defaults_scale=1e-8)


def _adamax_rule(lr, betas, eps) -> UpdateRule:
    hyper = {"lr": lr, "betas": tuple(betas), "eps": eps}
    beta1, beta2 = betas

    def theta_hints(step):
        g, m, u = step.grad, step.after["exp_avg"], step.after["exp_inf"]
        # From the student's own u: a misplaced ε of 1e-8 drifts it within the tolerance
        # for many steps before θ shows it.
        decayed = beta2 * given_state(step, "exp_inf")
        rate = lr / (1 - beta1**step.t)
        return {
            **_adam_family_hints(torch.optim.Adamax, hyper, step, mistake.ADAMAX_NO_BIAS),
            mistake.ADAMAX_U_CORRECTED: lambda: step.theta - rate * m / (u / (1 - beta2**step.t)),
            # Keras's step too: u without ε, and m/(u + ε).
            mistake.ADAMAX_EPS_OUTSIDE: lambda: step.theta - rate * m / (
                np.maximum(decayed, np.abs(g)) + eps),
            mistake.ADAMAX_NO_EPS: lambda: step.theta - rate * m / np.maximum(decayed, np.abs(g)),
            mistake.ADAMAX_NO_ABS: lambda: step.theta - rate * m / np.maximum(decayed, g + eps),
            mistake.ADAMAX_NO_DECAY: lambda: step.theta - rate * m / np.maximum(
                step.before["exp_inf"], np.abs(g) + eps),
        }

    def state_hints(step):
        g, before = step.grad, given_state(step, "exp_inf")
        return {**_moment_hints(step, betas), "exp_inf": {
            mistake.ADAMAX_NO_DECAY: lambda: np.maximum(before, np.abs(g) + eps),
            mistake.ADAMAX_NO_ABS: lambda: np.maximum(beta2 * before, g + eps),
            mistake.ADAMAX_EPS_OUTSIDE: lambda: np.maximum(beta2 * before, np.abs(g)) + eps,
            mistake.ADAMAX_NO_EPS: lambda: np.maximum(beta2 * before, np.abs(g)),
            mistake.ADAM_BETAS_SWAPPED: lambda: np.maximum(beta1 * before, np.abs(g) + eps)}}

    return UpdateRule("adamax_step", torch_oracle(torch.optim.Adamax, **hyper),
                 zero_state("exp_avg", "exp_inf"),
                 {"step": _ADAM_KEYS["step"], "exp_avg": _ADAM_KEYS["exp_avg"],
                  "exp_inf": ("u", "the decaying maximum of |g|")},
                 same_state("step", "exp_avg", "exp_inf"), theta_hints,
                 "t ← t + 1; m ← β₁m + (1 − β₁)g; u ← max(β₂u, |g| + ε); "
                 "θ ← θ − η/(1 − β₁ᵗ)·m/u", state_hints)


def check_adamax_step(adamax_step, seed=0, shape=(5,), steps=30, lr=0.05, betas=(0.9, 0.999),
                      eps=1e-8, scale=1.0):
    """AdaMax, against ``torch.optim.Adamax``."""
    _refuse("check_adamax_step", lr=lr, betas=betas, eps=eps, seed=seed, shape=shape,
            steps=steps, scale=scale)
    check_rule(_adamax_rule, adamax_step, {"lr": lr, "betas": tuple(betas), "eps": eps},
           {**_ADAM_DEFAULTS, "lr": 2e-3}, _ADAM_SECOND, seed=seed, shape=shape, steps=steps,
           scale=scale, second_scale=SMALL, why=EPS_MATTERS, defaults_scale=1e-8)


def _mu(beta1, psi, t) -> float:
    """Dozat's momentum schedule μₜ, as torch.optim.NAdam computes it."""
    return beta1 * (1 - 0.5 * 0.96 ** (t * psi))


def _nadam_rule(lr, betas, eps, momentum_decay) -> UpdateRule:
    hyper = {"lr": lr, "betas": tuple(betas), "eps": eps, "momentum_decay": momentum_decay}
    beta1, beta2 = betas

    def theta_hints(step):
        t, g, m, v = step.t, step.grad, step.after["exp_avg"], step.after["exp_avg_sq"]
        before = step.before["mu_product"]
        root = np.sqrt(v / (1 - beta2**t)) + eps

        def nadam(mu, mu_next, product, denominator=root):
            # Nadam's step with altered μ's, Π or denominator, from the oracle's m and v.
            return step.theta - lr * ((1 - mu) / (1 - product) * g
                                      + mu_next / (1 - product * mu_next) * m) / denominator

        mu, mu_next = _mu(beta1, momentum_decay, t), _mu(beta1, momentum_decay, t + 1)
        adam_state = {k: step.before[k] for k in ("step", "exp_avg", "exp_avg_sq")}
        return {
            **_adam_family_hints(torch.optim.NAdam, hyper, step, None),
            mistake.NADAM_CONSTANT_MU: AnyOf(
                lambda: step.run(torch.optim.NAdam, {**hyper, "momentum_decay": 1e9}),
                # μₜ = β₁ but μₜ₊₁ from the schedule
                lambda: nadam(beta1, mu_next, before * beta1),
                # Ruder: θ − η/(√v̂ + ε)·(β₁m̂ + (1 − β₁)g/(1 − β₁ᵗ))
                lambda: step.theta - lr * (beta1 * m + (1 - beta1) * g) / (1 - beta1**t) / root),
            mistake.NADAM_ADAM: lambda: torch_step(torch.optim.Adam, step.theta, g, adam_state,
                                                   **{k: hyper[k] for k in ("lr", "betas", "eps")}),
            mistake.NADAM_PRODUCT: lambda: step.run(torch.optim.NAdam, hyper, mu_product=1.0),
            mistake.NADAM_MU_NEXT: lambda: nadam(mu, mu, before * mu),
            mistake.NADAM_NO_BIAS: lambda: nadam(mu, mu_next, before * mu, np.sqrt(v) + eps),
            mistake.ADAM_EPS_INSIDE: lambda: nadam(mu, mu_next, before * mu,
                                                   np.sqrt(v / (1 - beta2**t) + eps)),
            mistake.ADAM_V_NOT_SQUARED: lambda: WithNaN(nadam(mu, mu_next, before * mu, np.sqrt(
                _unsquared(step, beta2) / (1 - beta2**t)) + eps)),
        }

    def state_hints(step):
        before = step.before["mu_product"]
        return {**_moment_hints(step, betas), "mu_product": {
            mistake.NADAM_PRODUCT: lambda: step.after["mu_product"] / before,
            mistake.NADAM_CONSTANT_MU: lambda: before * beta1}}

    return UpdateRule("nadam_step", torch_oracle(torch.optim.NAdam, **hyper),
                 zero_state("exp_avg", "exp_avg_sq", mu_product=1.0),
                 {**_ADAM_KEYS, "mu_product": ("Π", "the product μ₁·μ₂·…·μₜ, a number")},
                 same_state("step", "mu_product", "exp_avg", "exp_avg_sq"), theta_hints,
                 "μₜ = β₁(1 − ½·0.96^(tψ)); Π ← Π·μₜ; θ ← θ − η(1 − μₜ)/(1 − Π)·g/(√v̂ + ε) "
                 "− η·μₜ₊₁/(1 − Π·μₜ₊₁)·m/(√v̂ + ε)", state_hints)


def check_nadam_step(nadam_step, seed=0, shape=(5,), steps=30, lr=0.05, betas=(0.9, 0.999),
                     eps=1e-8, momentum_decay=4e-3, scale=1.0):
    """Nadam with Dozat's momentum schedule, against ``torch.optim.NAdam``.

    With a huge momentum_decay (ψ ≥ 100), also checks the property μₜ = β₁ for every t:
    the returned mu_product must be β₁ᵗ.
    """
    _refuse("check_nadam_step", lr=lr, betas=betas, eps=eps, momentum_decay=momentum_decay,
            seed=seed, shape=shape, steps=steps, scale=scale)

    def constant_mu(path):
        if momentum_decay < 100:
            return
        # 0.96^(tψ) underflows to 0: every μₜ is β₁ and Π = β₁ᵗ (Ruder's constant momentum).
        for t, (_, state) in enumerate(path, start=1):
            assert_close(f"nadam_step (momentum_decay={momentum_decay:g}), after {t} steps",
                         state["mu_product"], betas[0] ** t, what="state['mu_product'] (Π)",
                         hint="as ψ → ∞, μₜ = β₁ for every t, so Π = β₁ᵗ")

    check_rule(_nadam_rule, nadam_step,
           {"lr": lr, "betas": tuple(betas), "eps": eps, "momentum_decay": momentum_decay},
           {**_ADAM_DEFAULTS, "lr": 2e-3, "momentum_decay": 4e-3},
           {**_ADAM_SECOND, "momentum_decay": 0.05}, seed=seed, shape=shape, steps=steps,
           scale=scale, second_scale=SMALL, why=EPS_MATTERS, defaults_scale=1e-8,
           properties=constant_mu)


def _amsgrad_rule(lr, betas, eps) -> UpdateRule:
    hyper = {"lr": lr, "betas": tuple(betas), "eps": eps}
    beta1, beta2 = betas

    def theta_hints(step):
        t, m = step.t, step.after["exp_avg"]
        m_hat, correction = m / (1 - beta1**t), 1 - beta2**t
        v_max, v_max_before = step.after["max_exp_avg_sq"], step.before["max_exp_avg_sq"]
        v_hat_max = np.maximum(v_max_before, step.after["exp_avg_sq"] / correction)
        adam = {k: step.before[k] for k in ("step", "exp_avg", "exp_avg_sq")}
        return {
            **_adam_family_hints(torch.optim.Adam, {**hyper, "amsgrad": True}, step,
                                 mistake.AMSGRAD_NO_BIAS),
            mistake.AMSGRAD_ADAM: lambda: torch_step(torch.optim.Adam, step.theta, step.grad,
                                                     adam, **hyper),
            mistake.AMSGRAD_MAX_BEFORE: lambda: step.theta - lr * m_hat / (np.sqrt(np.maximum(
                v_max_before, step.before["exp_avg_sq"]) / correction) + eps),
            mistake.AMSGRAD_MAX_V_HAT: AnyOf(
                lambda: step.theta - lr * m_hat / (np.sqrt(v_hat_max) + eps),
                lambda: step.theta - lr * m_hat / (np.sqrt(v_hat_max / correction) + eps)),
            mistake.ADAM_EPS_INSIDE: lambda: step.theta - lr * m_hat / np.sqrt(
                v_max / correction + eps),
            mistake.ADAM_KERAS: lambda: step.theta - lr * math.sqrt(correction) / (
                1 - beta1**t) * m / (np.sqrt(v_max) + eps),
            mistake.ADAM_V_NOT_SQUARED: lambda: WithNaN(step.theta - lr * m_hat / (np.sqrt(
                np.maximum(v_max_before, _unsquared(step, beta2)) / correction) + eps)),
        }

    def state_hints(step):
        return {**_moment_hints(step, betas), "max_exp_avg_sq": {
            mistake.AMSGRAD_MAX_V_HAT: lambda: np.maximum(
                step.before["max_exp_avg_sq"], step.after["exp_avg_sq"] / (1 - beta2**step.t)),
            mistake.AMSGRAD_ADAM: step.after["exp_avg_sq"]}}

    return UpdateRule("amsgrad_step", torch_oracle(torch.optim.Adam, amsgrad=True, **hyper),
                 zero_state("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                 {**_ADAM_KEYS, "max_exp_avg_sq": ("v_max", "the largest v so far")},
                 same_state("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"), theta_hints,
                 "Adam's m and v; v_max ← max(v_max, v); θ ← θ − η·m̂/(√(v_max/(1 − β₂ᵗ)) + ε)",
                 state_hints)


def check_amsgrad_step(amsgrad_step, seed=0, shape=(5,), steps=30, lr=0.05, betas=(0.9, 0.999),
                       eps=1e-8, scale=1.0):
    """AMSGrad, against ``torch.optim.Adam(amsgrad=True)``.

    Property along the student's own path: max_exp_avg_sq never decreases, so the
    effective step η/(√v_max + ε) never grows.
    """
    _refuse("check_amsgrad_step", lr=lr, betas=betas, eps=eps, seed=seed, shape=shape,
            steps=steps, scale=scale)

    def never_grows(path):
        if (t := first_growth(path, "max_exp_avg_sq", lr, eps)) is not None:
            raise AssertionError(f"amsgrad_step: max_exp_avg_sq decreased at step {t} — it is "
                                 "the largest v so far, so it never decreases and the effective "
                                 "step η/(√v_max + ε) never grows")

    check_rule(_amsgrad_rule, amsgrad_step, {"lr": lr, "betas": tuple(betas), "eps": eps},
           _ADAM_DEFAULTS, _ADAM_SECOND, seed=seed, shape=shape, steps=steps, scale=scale,
           second_scale=SMALL, why=EPS_MATTERS, defaults_scale=1e-8, properties=never_grows)


# ---------------------------------------------------------------- delta-bar-delta


def _delta_bar_delta_oracle(lr, kappa, phi, decay) -> Callable:
    """Jacobs (1988), closed form in torch tensors: state {"rates", "bar"}."""

    def step(theta, grad, state, t):
        g = float64_tensor(grad)
        rates = float64_tensor(state["rates"]) if state else torch.full_like(g, float(lr))
        bar = float64_tensor(state["bar"]) if state else torch.zeros_like(g)
        agreement = torch.sign(bar) * torch.sign(g)
        rates = torch.where(agreement > 0, rates + kappa,
                            torch.where(agreement < 0, rates * (1 - phi), rates))
        new_theta = float64_tensor(theta) - rates * g
        bar = (1 - decay) * g + decay * bar
        return new_theta.numpy(), {"rates": rates.numpy(), "bar": bar.numpy()}

    return step


def _delta_bar_delta_rule(lr, kappa, phi, decay) -> UpdateRule:
    oracle = _delta_bar_delta_oracle(lr, kappa, phi, decay)

    def rates_before(step):
        return step.before["rates"] if step.before else np.full_like(step.grad, lr)

    def bar_before(step):
        return step.before["bar"] if step.before else np.zeros_like(step.grad)

    def theta_hints(step):
        old, new, g = rates_before(step), step.after["rates"], step.grad
        return {
            mistake.DBD_OLD_RATES: lambda: step.theta - old * g,
            mistake.DBD_BAR_FIRST: lambda: oracle(
                step.theta, g, {"rates": old, "bar": step.after["bar"]}, step.t)[0],
            mistake.DBD_TIMES_PHI: lambda: step.theta - np.where(new < old, old * phi, new) * g
            if phi else None,
            mistake.DBD_MULTIPLICATIVE: lambda: step.theta - np.where(
                new > old, old * (1 + kappa), new) * g,
            mistake.DBD_SIGN: lambda: 2 * step.theta - step.expected,
        }

    def state_hints(step):
        g, bar = step.grad, bar_before(step)
        return {"bar_grad": {mistake.DBD_DECAY_SWAPPED: lambda: decay * g + (1 - decay) * bar,
                             mistake.DBD_BAR_IS_GRADIENT: g}}

    return UpdateRule("delta_bar_delta_step", oracle, lambda shape: {},
                 {"lr": ("η", "the array of per-parameter rates"),
                  "bar_grad": ("δ̄", "the average of past gradients")},
                 lambda step: {"lr": step.after["rates"], "bar_grad": step.after["bar"]},
                 theta_hints,
                 "η ← η + a where δ̄g > 0, η ← (1 − φ)η where δ̄g < 0; θ ← θ − η⊙g; "
                 "δ̄ ← (1 − ρ)g + ρ·δ̄ (ρ = decay) (η = lr, δ̄ = 0 at first)", state_hints)


def check_delta_bar_delta_step(delta_bar_delta_step, seed=0, shape=(5,), steps=30, lr=0.01,
                               kappa=1e-3, phi=0.1, decay=0.7, scale=1.0):
    """Jacobs' delta-bar-delta against its closed form, plus the properties of the rates:
    from one step to the next each rate grows by exactly a (kappa), shrinks by exactly the factor
    1 − φ, or stays, as the sign of δ̄·g says.
    """
    _refuse("check_delta_bar_delta_step", lr=lr, kappa=kappa, phi=phi, decay=decay, seed=seed,
            shape=shape, steps=steps, scale=scale)
    hyper = {"lr": lr, "kappa": kappa, "phi": phi, "decay": decay}
    name = f"delta_bar_delta_step ({hyper_label(**hyper)})"

    def rates_change_by_the_rule(path):
        previous = np.full(tuple(shape), float(lr))
        for t, (_, state) in enumerate(path, start=1):
            rates = state["lr"]
            allowed = (np.isclose(rates, previous + kappa, rtol=1e-12, atol=1e-15)
                       | np.isclose(rates, previous * (1 - phi), rtol=1e-12, atol=1e-15)
                       | (rates == previous))
            if not np.all(allowed):
                raise AssertionError(f"{name}, after {t} steps: a rate changed by something "
                                     "other than +a (kappa) or ×(1 − φ)")
            previous = rates

    check_rule(_delta_bar_delta_rule, delta_bar_delta_step, hyper,
           {"lr": 0.01, "kappa": 1e-3, "phi": 0.1, "decay": 0.7},
           {"lr": 0.03, "kappa": 5e-3, "phi": 0.3, "decay": 0.4}, seed=seed, shape=shape,
           steps=steps, scale=scale, why="near the minimum, where signs flip", near=True,
           properties=rates_change_by_the_rule)


# ---------------------------------------------------------------- annealed gradient noise


def _noise(seed: int, t: int, shape) -> np.ndarray:
    """The specified draw ξ of step t (t = 0 on the first call)."""
    return np.random.default_rng([seed, t]).standard_normal(shape)


def _sigma(eta, gamma, t) -> float:
    """σₜ, the noise's standard deviation at t = step − 1."""
    return math.sqrt(eta / (1 + t) ** gamma)


def _noisy_sgd_rule(lr, eta, gamma, seed) -> UpdateRule:
    def sigma(t):
        return _sigma(eta, gamma, t)

    def oracle(theta, grad, state, t):
        xi = float64_tensor(_noise(seed, t - 1, np.shape(theta)))
        new = float64_tensor(theta) - lr * (float64_tensor(grad) + sigma(t - 1) * xi)
        return new.numpy(), {}

    def theta_hints(step):
        t, g = step.t - 1, step.grad
        xi = _noise(seed, t, g.shape)
        return {
            mistake.NOISE_T_OFF_BY_ONE: lambda: step.theta - lr * (
                g + sigma(t + 1) * _noise(seed, t + 1, g.shape)),
            mistake.NOISE_IGNORES_SEED: lambda: step.theta - lr * (
                g + sigma(t) * _noise(0, t, g.shape)),
            mistake.NOISE_ONE_GENERATOR: lambda: step.theta - lr * (
                g + sigma(t) * np.random.default_rng(seed).standard_normal(g.shape)),
            mistake.NOISE_WRONG_STREAM: AnyOf(*(
                lambda entropy=entropy: step.theta - lr * (
                    g + sigma(t) * np.random.default_rng(entropy).standard_normal(g.shape))
                for entropy in ([t, seed], seed + t))),
            mistake.NOISE_VARIANCE_AS_STD: lambda: step.theta - lr * (g + sigma(t) ** 2 * xi),
            mistake.NOISE_WITHOUT_LR: lambda: step.theta - lr * g - sigma(t) * xi,
            mistake.NOISE_SIGN: lambda: 2 * step.theta - step.expected,
        }

    return UpdateRule("noisy_sgd_step", oracle, lambda shape: {},
                 {"step": ("step", "the number of updates done")},
                 lambda step: {"step": float(step.t)}, theta_hints,
                 "t = step − 1; σₜ² = c/(1 + t)^p (c = eta, p = gamma); "
                 "ξ = np.random.default_rng([seed, t]).standard_normal(θ.shape); "
                 "θ ← θ − lr·(g + σₜ·ξ)",
                 lambda step: {"step": {mistake.STEP_NOT_STORED: float(step.t - 1)}})


def _near(variance: float, relative: float, variants: dict, default):
    """The hint of the first variant whose variance is within the test's tolerance."""
    for hint, candidate in variants.items():
        if abs(variance - candidate) <= relative * candidate:
            return hint
    return default


def _noise_statistics(noisy_sgd_step, name, student_seed, lr, eta, gamma) -> None:
    """The noise's mean and variance at t = 0 and t = 9, on NOISE_SIZE coordinates."""
    n = NOISE_SIZE
    zeros = np.zeros(n)
    for t in (0, 9):
        state = {} if t == 0 else {"step": t}
        new_theta, _ = as_tuple(noisy_sgd_step(zeros.copy(), zeros.copy(), state, lr=lr, eta=eta,
                                            gamma=gamma, seed=student_seed),
                             name, "(new_theta, new_state)")
        where = f"{name}, call {t + 1} (t = {t}), on {n} coordinates with g = 0"
        noise = -as_float_array(new_theta, where, "new θ")
        if noise.shape != zeros.shape:
            raise AssertionError(f"{where}: the new θ has shape {noise.shape}, expected "
                                 f"{zeros.shape}")
        if not np.all(np.isfinite(noise)):
            raise AssertionError(f"{where}: the new θ has {np.sum(~np.isfinite(noise))} "
                                 "entries that are NaN or infinite")
        sd = lr * _sigma(eta, gamma, t)
        mean, var = float(noise.mean()), float(noise.var(ddof=1))
        if abs(mean) > Z * sd / math.sqrt(n) + 1e-300:
            raise AssertionError(f"{where}: the noise has mean {mean:.4g}, expected 0 ± "
                                 f"{Z * sd / math.sqrt(n):.3g} — draw ξ ~ N(0, I)")
        tolerance = Z * sd**2 * math.sqrt(2 / (n - 1))
        if abs(var - sd**2) > tolerance + 1e-300:
            hint = _near(var, tolerance / sd**2 if sd else 0.0, {
                mistake.NOISE_VARIANCE_AS_STD: (lr * _sigma(eta, gamma, t) ** 2) ** 2,
                mistake.NOISE_WITHOUT_LR: _sigma(eta, gamma, t) ** 2,
                mistake.NOISE_T_OFF_BY_ONE: (lr * _sigma(eta, gamma, t + 1)) ** 2,
            }, "θ ← θ − lr·(g + σₜ·ξ) with σₜ² = c/(1 + t)^p (c = eta, p = gamma)")
            raise AssertionError(f"{where}: the noise has variance {var:.4g}, expected "
                                 f"lr²·σₜ² = {sd**2:.4g} ± {tolerance:.2g} — {hint}")


def check_noisy_sgd_step(noisy_sgd_step, seed=0, shape=(5,), steps=30, lr=0.01, eta=0.3,
                         gamma=0.55, scale=1.0):
    """Gradient descent with annealed Gaussian noise (Neelakantan et al. 2015).

    1. Statistics, on θ of NOISE_SIZE coordinates with g = 0 at steps t = 0 and t = 9: the
       noise lr·σₜ·ξ has mean 0 and variance lr²·σₜ², σₜ² = c/(1 + t)^p (c = eta,
       p = gamma). Over n draws, the
       sample mean has standard error lr·σₜ/√n, and the sample variance s² of a Gaussian
       has standard error lr²·σₜ²·√(2/(n − 1)); each is allowed Z of them, so a correct
       rule fails with probability below 10⁻⁸ (and never, since the seeds are fixed).
    2. Exactly, along the trajectories, with the noise of the specified generator.
    The student's seed is ``seed + 7`` (``seed + 8`` in the second run, 0 by default).
    """
    _refuse("check_noisy_sgd_step", lr=lr, eta=eta, gamma=gamma, seed=seed, shape=shape,
            steps=steps, scale=scale)
    hyper = {"lr": lr, "eta": eta, "gamma": gamma, "seed": seed + 7}
    _noise_statistics(noisy_sgd_step, f"noisy_sgd_step ({hyper_label(**hyper)})", seed + 7, lr, eta,
                      gamma)
    check_rule(_noisy_sgd_rule, noisy_sgd_step, hyper,
           {"lr": 0.01, "eta": 0.3, "gamma": 0.55, "seed": 0},
           {"lr": 0.05, "eta": 0.5, "gamma": 0.8, "seed": seed + 8}, seed=seed, shape=shape,
           steps=steps, scale=scale)


# ---------------------------------------------------------------- Polyak's heavy-ball tuning


def heavy_ball_matrix(lr: float, momentum: float, curvature: float) -> np.ndarray:
    """The 2×2 iteration matrix of heavy-ball momentum on one eigen-direction of curvature λ:
    (e_{t+1}, e_t) = M (e_t, e_{t−1}) with M = [[1 + μ − ηλ, −μ], [1, 0]]."""
    return np.array([[1.0 + momentum - lr * curvature, -momentum], [1.0, 0.0]])


def heavy_ball_rate(lr: float, momentum: float, lambda_min: float, lambda_max: float) -> float:
    """The worst spectral radius of the iteration matrix over the two extreme curvatures: the
    factor by which the error shrinks per step, in the long run, along the slowest direction
    (for (η, μ) in the stable range every curvature between them does at least as well)."""
    return max(float(np.max(np.abs(np.linalg.eigvals(heavy_ball_matrix(lr, momentum, lam)))))
               for lam in (lambda_min, lambda_max))


def heavy_ball_closed_form(lambda_min: float, lambda_max: float) -> tuple[float, float]:
    """Polyak's (1964) best constant pair: η* = 4/(√λ_max + √λ_min)²,
    μ* = ((√κ − 1)/(√κ + 1))² = ((√λ_max − √λ_min)/(√λ_max + √λ_min))²."""
    low, high = math.sqrt(lambda_min), math.sqrt(lambda_max)
    return 4.0 / (high + low) ** 2, ((high - low) / (high + low)) ** 2


#: Whatever the arguments, the visible call also tries these (λ_min, λ_max): κ = 1, where the
#: best momentum is 0; x² + 10y² (λ = 2 and 20, κ = 10); and κ = 10⁴ on a small scale.
_HB_PAIRS = ((3.0, 3.0), (2.0, 20.0), (1e-4, 1.0))


def _check_heavy_ball_pair(heavy_ball_tuning, lambda_min: float, lambda_max: float) -> None:
    name = f"heavy_ball_tuning (λ_min = {lambda_min:g}, λ_max = {lambda_max:g})"
    result = as_tuple(heavy_ball_tuning(lambda_min, lambda_max), name, "(lr, momentum)")
    got = np.array([as_number(value, name, what, ", e.g. float(4 / (a + b) ** 2)")
                    for value, what in zip(result, ("lr η*", "momentum μ*"), strict=True)])
    lr, momentum = heavy_ball_closed_form(lambda_min, lambda_max)
    low, high = math.sqrt(lambda_min), math.sqrt(lambda_max)
    root_kappa = high / low
    kappa = lambda_max / lambda_min
    best = heavy_ball_rate(lr, momentum, lambda_min, lambda_max)
    hint = diagnose(got, [
        (mistake.HB_SWAPPED, np.array([momentum, lr])),
        (mistake.HB_GD_STEP, AnyOf(np.array([2.0 / (lambda_min + lambda_max), momentum]),
                                   np.array([2.0 / (lambda_min + lambda_max), 0.0]))),
        (mistake.HB_ETA_NO_ROOTS, np.array([4.0 / (lambda_min + lambda_max), momentum])),
        (mistake.HB_RATE_NOT_MU, np.array([lr, (root_kappa - 1) / (root_kappa + 1)])),
        (mistake.HB_KAPPA_NOT_ROOT, AnyOf(np.array([lr, ((kappa - 1) / (kappa + 1)) ** 2]),
                                          np.array([lr, (kappa - 1) / (kappa + 1)]))),
    ], f"the best pair makes the error shrink by r = (√κ − 1)/(√κ + 1) = {math.sqrt(momentum):.6g}"
       " per step along both extreme directions (the spectral radius of "
       "[[1 + μ − ηλ, −μ], [1, 0]] at λ_min and at λ_max)")
    if isinstance(hint, str) and np.all(np.isfinite(got)):
        rate = heavy_ball_rate(float(got[0]), float(got[1]), lambda_min, lambda_max)
        if not math.isclose(rate, best, rel_tol=1e-6, abs_tol=1e-9):
            hint = (f"{hint}; your pair gives a worst rate of {rate:.6g} per step "
                    f"(the optimum: {best:.6g})")
    assert_close(name, got[0], lr, rtol=1e-7, atol=0.0, hint=hint, what="lr η*")
    assert_close(name, got[1], momentum, rtol=1e-7, atol=1e-12, hint=hint, what="momentum μ*")


def check_heavy_ball_tuning(heavy_ball_tuning, lambda_min=1.0, lambda_max=100.0):
    """Polyak's best constant (η*, μ*) for heavy-ball momentum on a quadratic whose Hessian
    has eigenvalues in [λ_min, λ_max], against the closed form (relative tolerance 1e-7).

    Along an eigen-direction of curvature λ the error obeys the 2×2 recursion
    (e_{t+1}, e_t) = [[1 + μ − ηλ, −μ], [1, 0]] (e_t, e_{t−1}); the best pair puts the two
    extreme curvatures on the two edges of the band (1 − √μ)² ≤ ηλ ≤ (1 + √μ)² where the
    spectral radius is √μ: λ_min at critical damping, λ_max at the other edge.
    When a pair differs, the message gives the worst spectral radius the student's pair
    reaches, computed with numpy's eigenvalues. Whatever the arguments, (3, 3), (2, 20) and
    (1e-4, 1) are tried too.
    """
    check = "check_heavy_ball_tuning"
    require(check, number(above=0, why=" (an eigenvalue of a positive-definite Hessian)"),
            lambda_min=lambda_min, lambda_max=lambda_max)
    if lambda_max < lambda_min:
        refuse(check, "lambda_max", lambda_max,
               f"lambda_max must be ≥ lambda_min = {lambda_min!r}")
    for low, high in dict.fromkeys(((float(lambda_min), float(lambda_max)), *_HB_PAIRS)):
        _check_heavy_ball_pair(heavy_ball_tuning, low, high)
