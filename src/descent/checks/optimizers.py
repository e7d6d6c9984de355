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

Each check also verifies that θ, the gradient and every state value are left unchanged,
that the state is a dict with the named keys, that the hyper-parameters' defaults are
PyTorch's, and a property that links rules (momentum = 0 is plain gradient descent,
AdaGrad's sum never decreases, AMSGrad's maximum never decreases, Nadam with a huge
momentum_decay has μₜ = β₁).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from descent.checks._compare import as_float_array, assert_close, assert_unchanged
from descent.checks._oracle import float64_tensor
from descent.checks._trajectory import (
    _pair,
    _torch_run,
    _torch_step,
    assert_state_unchanged,
    compare_with_hint,
    require_state_keys,
    snapshot_state,
)

#: Standard errors allowed in the statistical check of the noise: P(|N(0,1)| > 6) ≈ 2·10⁻⁹.
Z = 6.0
#: Coordinates of θ in the statistical check of the noise (2¹⁷).
NOISE_SIZE = 2**17


# ---------------------------------------------------------------- the trajectory


class _Quadratic:
    """½θᵀAθ + bᵀθ on θ of ``shape``, A = Q·diag(0.5 … 5)·Qᵀ, with a seeded perturbation.

    The gradient at step t (1, 2, …) is scale·(Aθ + b + ξₜ), ξₜ ~ N(0, I) fixed by the seed:
    non-trivial gradients that change sign now and then, as in training.
    """

    def __init__(self, seed: int, shape, steps: int, scale: float):
        rng = np.random.default_rng(seed)
        self.shape = tuple(shape)
        n = math.prod(self.shape)
        q = np.linalg.qr(rng.normal(size=(n, n)))[0]
        self.a = (q * np.geomspace(0.5, 5.0, n)) @ q.T
        self.b = rng.normal(size=n)
        self.theta0 = rng.normal(0.0, 2.0, size=self.shape)
        self.noise = rng.normal(size=(steps + 3, n))
        self.scale = scale

    def grad(self, theta: np.ndarray, t: int) -> np.ndarray:
        flat = np.asarray(theta, dtype=float).reshape(-1)
        return (self.scale * (self.a @ flat + self.b + self.noise[t - 1])).reshape(self.shape)


@dataclass
class _Step:
    """One step of the oracle: its input (θ, g, PyTorch state) and its output."""

    t: int
    theta: np.ndarray
    grad: np.ndarray
    before: dict
    after: dict
    expected: np.ndarray

    def run(self, optimizer_class, hyper: dict, **state_changes) -> np.ndarray:
        """θ after PyTorch's step from this step's input, with altered hyper or state."""
        return _torch_step(optimizer_class, self.theta, self.grad,
                           {**self.before, **state_changes}, **hyper)


@dataclass
class _Rule:
    """How to check one update rule against its oracle."""

    name: str
    #: step(θ, g, oracle state, t) -> (θ after, oracle state after)
    oracle: Callable
    #: the oracle's state before the first step (shape -> dict)
    initial: Callable
    #: the state keys the student must return, each with what to store there
    keys: dict
    #: _Step -> {key: expected value} in the course's names
    course_state: Callable
    #: _Step -> {hint: θ a known mistake gives}
    theta_hints: Callable
    default_hint: str
    #: _Step -> {key: {hint: value a known mistake stores}}
    state_hints: Callable = lambda step: {}


def _torch_oracle(optimizer_class, **hyper) -> Callable:
    def step(theta, grad, state, t):
        return _torch_run(optimizer_class, theta, grad, state, **hyper)
    return step


def _read_state(name, state, keys: dict) -> dict:
    state = require_state_keys(name, state, keys)
    return {key: as_float_array(state[key], name, f"state['{key}']") for key in keys}


def _trajectory(rule: _Rule, student, hyper: dict, label: str, seed, shape, steps, scale,
                call_extra: dict | None = None) -> list[tuple[np.ndarray, dict]]:
    """Run the student's rule and the oracle side by side; return the student's path.

    The path is a list of (θ, state read as float arrays), one per step.
    """
    name = f"{rule.name} ({label})"
    problem = _Quadratic(seed, shape, steps, scale)
    theta, state, oracle_state = problem.theta0.copy(), {}, rule.initial(problem.shape)
    path = []
    for t in range(1, steps + 1):
        g = problem.grad(theta, t)
        saved_theta, saved_grad, saved_state = theta.copy(), g.copy(), snapshot_state(state)
        result = student(theta, g, state, **hyper, **(call_extra or {}))
        assert_unchanged(name, saved_theta, theta, "the theta it was given")
        assert_unchanged(name, saved_grad, g, "the grad it was given")
        assert_state_unchanged(name, saved_state, state)
        new_theta, new_state = _pair(result, name, "(new_theta, new_state)")
        new_theta = as_float_array(new_theta, name, "new theta")

        expected, oracle_after = rule.oracle(saved_theta, saved_grad, oracle_state, t)
        step = _Step(t, saved_theta, saved_grad, oracle_state, oracle_after, expected)
        where = f"{name}, after {t} step{'s' if t > 1 else ''}"
        compare_with_hint(f"{where}, θ", new_theta, expected,
                          lambda step=step: rule.theta_hints(step), rule.default_hint, "new theta")
        read = _read_state(where, new_state, rule.keys)
        for key, value in rule.course_state(step).items():
            compare_with_hint(f"{where}, state['{key}']", read[key], value,
                              lambda key=key, step=step: rule.state_hints(step).get(key, {}),
                              f"store {rule.keys[key]}", f"state['{key}']")
        path.append((new_theta, read))
        theta, state, oracle_state = new_theta, new_state, oracle_after
    return path


def _check_defaults(rule: _Rule, oracle: Callable, student, defaults: str, seed=0, shape=(4,),
                    steps=3) -> None:
    """A few calls without hyper-parameters follow ``oracle``, built with PyTorch's defaults."""
    name = f"{rule.name} (called without hyper-parameters)"
    problem = _Quadratic(seed + 1, shape, steps, 1.0)
    theta, state, oracle_state = problem.theta0.copy(), {}, rule.initial(problem.shape)
    for t in range(1, steps + 1):
        g = problem.grad(theta, t)
        new_theta, state = _pair(student(theta.copy(), g.copy(), state), name,
                                 "(new_theta, new_state)")
        expected, oracle_state = oracle(theta, g, oracle_state, t)
        assert_close(f"{name}, after {t} step{'s' if t > 1 else ''}", new_theta, expected,
                     what="new theta", hint=f"the defaults are PyTorch's: {defaults}")
        theta = as_float_array(new_theta, name, "new theta")


def _first_growth(path, key: str, lr, eps) -> int | None:
    """The first step (2, 3, …) after which ``state[key]`` (a sum or maximum of g²) decreased,
    so that the effective step η/(√state[key] + ε) grew; None when it never did."""
    for t in range(1, len(path)):
        previous, current = path[t - 1][1][key], path[t][1][key]
        if np.any(current < previous) or np.any(
                lr / (np.sqrt(current) + eps) > lr / (np.sqrt(previous) + eps)):
            return t + 1
    return None


def _zeros(*keys, **numbers) -> Callable:
    """The PyTorch state before the first step: ``keys`` at 0, ``step`` = 0, ``numbers``."""
    def initial(shape):
        return {"step": 0, **{k: np.zeros(shape) for k in keys}, **numbers}
    return initial


def _same(*keys) -> Callable:
    """The course's state is PyTorch's for ``keys`` (and ``step`` as an int)."""
    def course(step: _Step) -> dict:
        return {k: step.after[k] if k != "step" else float(step.t) for k in keys}
    return course


_STEP_HINT = ("step is the number of updates done: increment it first (1 after the first "
              "call) and return it")


def _label(**hyper) -> str:
    return ", ".join(f"{k}={v}" if isinstance(v, tuple) else f"{k}={v:g}"
                     for k, v in hyper.items())


# ---------------------------------------------------------------- momentum and Nesterov


_BUFFER_HINT = ("you wrote PyTorch's buffer b ← γb + g; the course's velocity already "
                "includes η: v ← γv + ηg, then θ ← θ − v")


def _sgd_rule(name, lr, momentum, nesterov) -> _Rule:
    # torch.optim.SGD keeps b ← μb + g (b = g at the first step) and steps θ − η·b
    # (θ − η(g + μb) with Nesterov). With v = η·b at a constant η this is the course's
    # v ← γv + ηg; θ ← θ − v (θ − (γv + ηg) with Nesterov): the same trajectory.
    # (torch refuses nesterov=True without momentum; with γ = 0 both are gradient descent.)
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
            # θ − v with the new v is θ − (γ·v_old + ηg): classical momentum.
            hints["this is classical momentum, θ ← θ − v: Nesterov steps by γv + ηg with the "
                  "UPDATED velocity v"] = step.run(torch.optim.SGD, {**hyper, "nesterov": False})
        if momentum:
            # The student's velocity read as PyTorch's buffer, with lr = 1: θ − (γv + g).
            hints["the velocity includes the learning rate: v ← γv + ηg (you wrote PyTorch's "
                  "buffer b ← γb + g and stepped by it without η)"] = step.run(
                torch.optim.SGD, {**hyper, "lr": 1.0}, momentum_buffer=velocity(step, True))
        hints["subtract the step: the velocity points uphill, like g"] = \
            2 * step.theta - step.expected
        if not nesterov:
            hints["the velocity already includes η: θ ← θ − v, not θ − η·v"] = \
                step.theta - lr * (step.theta - step.expected)
            hints["PyTorch's momentum has no (1 − γ) factor, and neither has the course's: "
                  "v ← γv + ηg"] = step.expected + momentum * lr * step.grad
            hints["the step forgot the velocity: that is plain gradient descent θ − ηg"] = \
                step.theta - lr * step.grad
        return hints

    def state_hints(step):
        v_new = velocity(step)
        hints = {"velocity": {
            "store the updated velocity v ← γv + ηg": velocity(step, True),
            _BUFFER_HINT: v_new / lr if lr else None,
        }}
        if nesterov:
            hints["velocity"]["store v ← γv + ηg, not the step γv + ηg you took"] = \
                step.theta - step.expected
        return hints

    def initial(shape):
        return {}

    return _Rule(name, _torch_oracle(torch.optim.SGD, **hyper), initial,
                 {"velocity": "the velocity v (v ← γv + ηg)"},
                 lambda step: {"velocity": velocity(step)}, theta_hints,
                 ("v ← γ·v + η·g (v = 0 at first), then θ ← θ − (γ·v + η·g)" if nesterov else
                  "v ← γ·v + η·g (v = 0 at first), then θ ← θ − v"), state_hints)


def _check_sgd(name, student, seed, shape, steps, scale, lr, momentum, nesterov) -> None:
    rule = _sgd_rule(name, lr, momentum, nesterov)
    path = _trajectory(rule, student, {"lr": lr, "momentum": momentum}, _label(
        lr=lr, momentum=momentum), seed, shape, steps, scale)
    _check_defaults(rule, _torch_oracle(torch.optim.SGD, lr=0.01, momentum=0.9,
                                        nesterov=nesterov), student, "lr=0.01, momentum=0.9")
    # Cross-link: with momentum = 0 the rule is plain gradient descent θ − ηg, whatever
    # velocity the state holds.
    theta, state = path[-1]
    g = _Quadratic(seed, shape, steps, scale).grad(theta, steps + 1)
    got, _ = _pair(student(theta.copy(), g.copy(), dict(state), lr=lr, momentum=0.0), name,
                   "(new_theta, new_state)")
    assert_close(f"{name} (lr={lr:g}, momentum=0, from a non-zero velocity)", got,
                 theta - lr * g, what="new theta",
                 hint="with γ = 0 the velocity is forgotten: v = ηg and θ ← θ − ηg, plain "
                      "gradient descent")


def check_momentum_step(momentum_step, seed=0, shape=(5,), steps=30, lr=0.05, momentum=0.9,
                        scale=1.0):
    """Heavy-ball momentum v ← γv + ηg; θ ← θ − v, against ``torch.optim.SGD(momentum=γ)``."""
    _check_sgd("momentum_step", momentum_step, seed, shape, steps, scale, lr, momentum, False)


def check_nesterov_step(nesterov_step, seed=0, shape=(5,), steps=30, lr=0.05, momentum=0.9,
                        scale=1.0):
    """v ← γv + ηg; θ ← θ − (γv + ηg), against ``torch.optim.SGD(nesterov=True)``."""
    _check_sgd("nesterov_step", nesterov_step, seed, shape, steps, scale, lr, momentum, True)


# ---------------------------------------------------------------- AdaGrad, AdaDelta, RMSProp


def check_adagrad_step(adagrad_step, seed=0, shape=(5,), steps=30, lr=0.5, eps=1e-10,
                       scale=1.0):
    """G ← G + g²; θ ← θ − η·g/(√G + ε), against ``torch.optim.Adagrad``.

    Properties along the student's own path: G never decreases, so the effective step
    η/(√G + ε) never grows.
    """
    hyper = {"lr": lr, "eps": eps}

    def theta_hints(step):
        total, g = step.after["sum"], step.grad
        return {
            "ε goes outside the root: √G + ε (as torch.optim.Adagrad)":
                step.theta - lr * g / np.sqrt(total + eps),
            "add g² to G first, then divide by √G with the updated G":
                step.theta - lr * g / (np.sqrt(step.before["sum"]) + eps),
            "divide by the square ROOT of the sum: √G + ε":
                step.theta - lr * g / (total + eps),
            "G is the running SUM of all past g², not only the last one":
                step.run(torch.optim.Adagrad, hyper, sum=np.zeros_like(g)),
        }

    rule = _Rule(
        "adagrad_step", _torch_oracle(torch.optim.Adagrad, **hyper), _zeros("sum"),
        {"sum": "G (the running sum of g²)"}, _same("sum"), theta_hints,
        "G ← G + g² (G = 0 at first), then θ ← θ − η·g/(√G + ε), element-wise",
        lambda step: {"sum": {"G is the running SUM: add g² to the previous G":
                              step.grad * step.grad}})
    path = _trajectory(rule, adagrad_step, hyper, _label(**hyper), seed, shape, steps, scale)
    if (t := _first_growth(path, "sum", lr, eps)) is not None:
        raise AssertionError("adagrad_step: the sum G decreased (so the effective step "
                             f"η/(√G + ε) grew) at step {t} — G only accumulates g² ≥ 0")
    _check_defaults(rule, _torch_oracle(torch.optim.Adagrad), adagrad_step, "lr=0.01, eps=1e-10")


def check_adadelta_step(adadelta_step, seed=0, shape=(5,), steps=30, lr=1.0, rho=0.9, eps=1e-6,
                        scale=1.0):
    """Zeiler's AdaDelta (times lr), against ``torch.optim.Adadelta``."""
    hyper = {"lr": lr, "rho": rho, "eps": eps}

    def theta_hints(step):
        g, sq, acc = step.grad, step.after["square_avg"], step.before["acc_delta"]
        return {
            "multiply Δ by lr (PyTorch's factor; Zeiler's rule is lr = 1, the default)":
                step.run(torch.optim.Adadelta, {**hyper, "lr": 1.0}),
            "ε goes inside both roots: Δ = √(E[Δ²] + ε) / √(E[g²] + ε) · g":
                step.theta - lr * (np.sqrt(acc) + eps) / (np.sqrt(sq) + eps) * g,
            "the numerator √(E[Δ²] + ε) gives the step θ's units: without it this is "
            "RMSProp": step.theta - lr * g / np.sqrt(sq + eps),
            "ρ multiplies the old averages: E ← ρ·E + (1 − ρ)·(new value)":
                step.run(torch.optim.Adadelta, {**hyper, "rho": 1 - rho}),
        }

    def state_hints(step):
        delta = (step.theta - step.expected) / lr if lr else None
        return {"acc_delta": {
            "average the squared update Δ (without lr): E[Δ²] ← ρE[Δ²] + (1 − ρ)Δ²":
                None if delta is None else
                rho * step.before["acc_delta"] + (1 - rho) * (lr * delta) ** 2,
            "update E[Δ²] AFTER computing Δ with the previous E[Δ²]":
                step.before["acc_delta"]}}

    rule = _Rule(
        "adadelta_step", _torch_oracle(torch.optim.Adadelta, **hyper),
        _zeros("square_avg", "acc_delta"),
        {"square_avg": "E[g²] (the decaying average of g²)",
         "acc_delta": "E[Δ²] (the decaying average of the squared updates)"},
        _same("square_avg", "acc_delta"), theta_hints,
        "E[g²] ← ρE[g²] + (1 − ρ)g²; Δ = √(E[Δ²] + ε)/√(E[g²] + ε)·g; E[Δ²] ← ρE[Δ²] + "
        "(1 − ρ)Δ²; θ ← θ − lr·Δ", state_hints)
    _trajectory(rule, adadelta_step, hyper, _label(**hyper), seed, shape, steps, scale)
    _check_defaults(rule, _torch_oracle(torch.optim.Adadelta),
                    adadelta_step, "lr=1.0, rho=0.9, eps=1e-6")


def check_rmsprop_step(rmsprop_step, seed=0, shape=(5,), steps=30, lr=0.01, alpha=0.99,
                       eps=1e-8, scale=1.0):
    """s ← αs + (1 − α)g²; θ ← θ − η·g/(√s + ε), against ``torch.optim.RMSprop``."""
    hyper = {"lr": lr, "alpha": alpha, "eps": eps}

    def theta_hints(step):
        g, s = step.grad, step.after["square_avg"]
        return {
            "ε goes outside the root: √s + ε (as torch.optim.RMSprop)":
                step.theta - lr * g / np.sqrt(s + eps),
            "α multiplies the OLD average: s ← α·s + (1 − α)·g²":
                step.run(torch.optim.RMSprop, {**hyper, "alpha": 1 - alpha}),
            "the new g² is weighted by (1 − α): s ← α·s + (1 − α)·g²":
                step.theta - lr * g / (np.sqrt(alpha * step.before["square_avg"] + g * g)
                                       + eps),
            "a running sum of g² is AdaGrad: RMSProp decays the average":
                step.run(torch.optim.Adagrad, {"lr": lr, "eps": eps},
                         sum=step.before["square_avg"]),
            "divide by the square ROOT of the average: √s + ε":
                step.theta - lr * g / (s + eps),
        }

    rule = _Rule(
        "rmsprop_step", _torch_oracle(torch.optim.RMSprop, **hyper), _zeros("square_avg"),
        {"square_avg": "s (the decaying average of g²)"}, _same("square_avg"), theta_hints,
        "s ← α·s + (1 − α)·g² (s = 0 at first), then θ ← θ − η·g/(√s + ε)")
    _trajectory(rule, rmsprop_step, hyper, _label(**hyper), seed, shape, steps, scale)
    _check_defaults(rule, _torch_oracle(torch.optim.RMSprop),
                    rmsprop_step, "lr=0.01, alpha=0.99, eps=1e-8")


# ---------------------------------------------------------------- Adam and its relatives


_ADAM_KEYS = {"step": "t (the number of updates done)",
              "exp_avg": "m (the average of g, not m̂)",
              "exp_avg_sq": "v (the average of g², not v̂)"}


def _adam_hints(optimizer_class, hyper, step: _Step, **more) -> dict:
    """Classic mistakes of the Adam family, as PyTorch steps from this step's input."""
    betas = tuple(hyper["betas"])
    hints = {
        # After ten million steps β₁ᵗ and β₂ᵗ are 0: the corrections divide by 1.
        "is the bias correction applied? m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)":
            step.run(optimizer_class, hyper, step=10_000_000),
        "t counts the updates done: increment step first (t = 1 at the first call), "
        "then use it in β₁ᵗ and β₂ᵗ": step.run(optimizer_class, hyper, step=step.t),
        "β₁ belongs to m (the average of g) and β₂ to v (the average of g²)":
            step.run(optimizer_class, {**hyper, "betas": betas[::-1]}),
    }
    if step.t > 1:
        hints["t counts the updates done (1 at the first call): do not increment it twice"] = \
            step.run(optimizer_class, hyper, step=step.t - 2)
    return {**hints, **more}


def _moment_hints(step: _Step, betas) -> dict:
    beta1, beta2 = betas
    t = step.t
    g = step.grad
    swapped = "β₁ belongs to m (the average of g) and β₂ to v (the average of g²)"
    return {
        "exp_avg": {"store m itself; the bias correction m/(1 − β₁ᵗ) is only used in the step":
                    step.after["exp_avg"] / (1 - beta1**t) if beta1 < 1 else None,
                    swapped: beta2 * step.before["exp_avg"] + (1 - beta2) * g},
        "exp_avg_sq": {"store v itself; the bias correction v/(1 − β₂ᵗ) is only used in the "
                       "step": step.after["exp_avg_sq"] / (1 - beta2**t) if beta2 < 1 else None,
                       "v averages the SQUARED gradient: v ← β₂v + (1 − β₂)g²":
                       beta2 * step.before.get("exp_avg_sq", 0.0) + (1 - beta2) * g,
                       swapped: beta1 * step.before.get("exp_avg_sq", 0.0) + (1 - beta1) * g * g},
        "step": {_STEP_HINT: float(step.t - 1)},
    }


def check_adam_step(adam_step, seed=0, shape=(5,), steps=30, lr=0.05, betas=(0.9, 0.999),
                    eps=1e-8, scale=1.0):
    """Adam, against ``torch.optim.Adam`` driven by the same gradients."""
    hyper = {"lr": lr, "betas": tuple(betas), "eps": eps}

    def theta_hints(step):
        beta1, beta2 = betas
        m_hat = step.after["exp_avg"] / (1 - beta1**step.t)
        v_hat = step.after["exp_avg_sq"] / (1 - beta2**step.t)
        return _adam_hints(torch.optim.Adam, hyper, step, **{
            "ε goes outside the root: √v̂ + ε": step.theta - lr * m_hat / np.sqrt(v_hat + eps),
            "divide by the square ROOT of v̂: √v̂ + ε": step.theta - lr * m_hat / (v_hat + eps),
        })

    rule = _Rule("adam_step", _torch_oracle(torch.optim.Adam, **hyper),
                 _zeros("exp_avg", "exp_avg_sq"), _ADAM_KEYS,
                 _same("step", "exp_avg", "exp_avg_sq"), theta_hints,
                 "t ← t + 1; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; "
                 "θ ← θ − η·m̂/(√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)",
                 lambda step: _moment_hints(step, betas))
    _trajectory(rule, adam_step, hyper, _label(**hyper), seed, shape, steps, scale)
    _check_defaults(rule, _torch_oracle(torch.optim.Adam),
                    adam_step, "lr=1e-3, betas=(0.9, 0.999), eps=1e-8")


def check_adamax_step(adamax_step, seed=0, shape=(5,), steps=30, lr=0.05, betas=(0.9, 0.999),
                      eps=1e-8, scale=1.0):
    """AdaMax, against ``torch.optim.Adamax``."""
    hyper = {"lr": lr, "betas": tuple(betas), "eps": eps}
    beta1, beta2 = betas

    def theta_hints(step):
        m, u, g = step.after["exp_avg"], step.after["exp_inf"], step.grad
        u_outside = np.maximum(beta2 * step.before["exp_inf"], np.abs(g)) + eps
        return _adam_hints(torch.optim.Adamax, hyper, step, **{
            "u needs no bias correction: θ ← θ − η/(1 − β₁ᵗ)·m/u":
                step.theta - lr / (1 - beta1**step.t) * m / (u / (1 - beta2**step.t)),
            "ε goes inside the maximum: u ← max(β₂u, |g| + ε)":
                step.theta - lr / (1 - beta1**step.t) * m / u_outside,
            "take the absolute value: u ← max(β₂·u, |g| + ε)":
                step.theta - lr / (1 - beta1**step.t) * m / np.maximum(
                    beta2 * step.before["exp_inf"], g + eps),
        })

    def state_hints(step):
        g, before = step.grad, step.before["exp_inf"]
        return {**_moment_hints(step, betas), "exp_inf": {
            "u ← max(β₂·u, |g| + ε): decay the old maximum by β₂": np.maximum(before,
                                                                           np.abs(g) + eps),
            "take the absolute value: u ← max(β₂·u, |g| + ε)": np.maximum(beta2 * before,
                                                                          g + eps),
            "ε goes inside the maximum: u ← max(β₂u, |g| + ε)":
                np.maximum(beta2 * before, np.abs(g)) + eps}}

    rule = _Rule("adamax_step", _torch_oracle(torch.optim.Adamax, **hyper),
                 _zeros("exp_avg", "exp_inf"),
                 {"step": _ADAM_KEYS["step"], "exp_avg": _ADAM_KEYS["exp_avg"],
                  "exp_inf": "u (the decaying maximum of |g|)"}, _same(
                     "step", "exp_avg", "exp_inf"), theta_hints,
                 "t ← t + 1; m ← β₁m + (1 − β₁)g; u ← max(β₂u, |g| + ε); "
                 "θ ← θ − η/(1 − β₁ᵗ)·m/u", state_hints)
    _trajectory(rule, adamax_step, hyper, _label(**hyper), seed, shape, steps, scale)
    _check_defaults(rule, _torch_oracle(torch.optim.Adamax),
                    adamax_step, "lr=2e-3, betas=(0.9, 0.999), eps=1e-8")


def check_nadam_step(nadam_step, seed=0, shape=(5,), steps=30, lr=0.05, betas=(0.9, 0.999),
                     eps=1e-8, momentum_decay=4e-3, scale=1.0):
    """Nadam with Dozat's momentum schedule, against ``torch.optim.NAdam``.

    With a huge momentum_decay (ψ ≥ 100), also checks the property μₜ = β₁ for every t:
    the returned mu_product must be β₁ᵗ.
    """
    hyper = {"lr": lr, "betas": tuple(betas), "eps": eps, "momentum_decay": momentum_decay}

    def theta_hints(step):
        adam_state = {k: step.before[k] for k in ("step", "exp_avg", "exp_avg_sq")}
        return _adam_hints(torch.optim.NAdam, hyper, step, **{
            "this is Ruder's Nadam with a constant μ = β₁: the course follows PyTorch's "
            "schedule μₜ = β₁(1 − ½·0.96^(tψ))": step.run(
                torch.optim.NAdam, {**hyper, "momentum_decay": 1e9}),
            "this is Adam's step: Nadam mixes the gradient, weighted (1 − μₜ)/(1 − Π), with "
            "the look-ahead momentum μₜ₊₁·m/(1 − Π·μₜ₊₁)": _torch_step(
                torch.optim.Adam, step.theta, step.grad, adam_state,
                **{k: hyper[k] for k in ("lr", "betas", "eps")}),
            "Π is the running product μ₁·μ₂·…·μₜ: multiply the previous mu_product by μₜ":
                step.run(torch.optim.NAdam, hyper, mu_product=1.0),
        })

    def state_hints(step):
        return {**_moment_hints(step, betas), "mu_product": {
            "Π is the running product μ₁·…·μₜ: multiply the previous mu_product by μₜ":
                step.after["mu_product"] / step.before["mu_product"]}}

    rule = _Rule("nadam_step", _torch_oracle(torch.optim.NAdam, **hyper),
                 _zeros("exp_avg", "exp_avg_sq", mu_product=1.0),
                 {**_ADAM_KEYS, "mu_product": "Π (the product μ₁·μ₂·…·μₜ, a number)"},
                 _same("step", "mu_product", "exp_avg", "exp_avg_sq"), theta_hints,
                 "μₜ = β₁(1 − ½·0.96^(tψ)); Π ← Π·μₜ; θ ← θ − η(1 − μₜ)/(1 − Π)·g/(√v̂ + ε) "
                 "− η·μₜ₊₁/(1 − Π·μₜ₊₁)·m/(√v̂ + ε)", state_hints)
    path = _trajectory(rule, nadam_step, hyper, _label(**hyper), seed, shape, steps, scale)
    if momentum_decay >= 100:
        # 0.96^(tψ) underflows to 0: every μₜ is β₁ and Π = β₁ᵗ (Ruder's constant momentum).
        for t, (_, state) in enumerate(path, start=1):
            assert_close(f"nadam_step (momentum_decay={momentum_decay:g}), after {t} steps",
                         state["mu_product"], betas[0] ** t, what="state['mu_product']",
                         hint="as ψ → ∞, μₜ = β₁ for every t, so Π = β₁ᵗ")
    _check_defaults(rule, _torch_oracle(torch.optim.NAdam),
                    nadam_step, "lr=2e-3, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3")


def check_amsgrad_step(amsgrad_step, seed=0, shape=(5,), steps=30, lr=0.05, betas=(0.9, 0.999),
                       eps=1e-8, scale=1.0):
    """AMSGrad, against ``torch.optim.Adam(amsgrad=True)``.

    Property along the student's own path: max_exp_avg_sq never decreases, so the
    effective step η/(√v_max + ε) never grows.
    """
    hyper = {"lr": lr, "betas": tuple(betas), "eps": eps}

    def theta_hints(step):
        adam = {k: step.before[k] for k in ("step", "exp_avg", "exp_avg_sq")}
        return _adam_hints(torch.optim.Adam, {**hyper, "amsgrad": True}, step, **{
            "this is Adam's step: AMSGrad divides by the largest v so far, "
            "v_max ← max(v_max, v)": _torch_step(torch.optim.Adam, step.theta, step.grad, adam,
                                                 **hyper),
            "take the maximum with the NEW v: update v first, then v_max ← max(v_max, v)":
                step.theta - lr * step.after["exp_avg"] / (1 - betas[0] ** step.t) / (np.sqrt(
                    np.maximum(step.before["max_exp_avg_sq"], step.before["exp_avg_sq"])
                    / (1 - betas[1] ** step.t)) + eps),
        })

    def state_hints(step):
        return {**_moment_hints(step, betas), "max_exp_avg_sq": {
            "v_max ← max(v_max, v): the maximum of the raw v, not of v̂":
                np.maximum(step.before["max_exp_avg_sq"],
                           step.after["exp_avg_sq"] / (1 - betas[1] ** step.t))
                if betas[1] < 1 else None}}

    rule = _Rule("amsgrad_step", _torch_oracle(torch.optim.Adam, amsgrad=True, **hyper),
                 _zeros("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                 {**_ADAM_KEYS, "max_exp_avg_sq": "v_max (the largest v so far)"},
                 _same("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"), theta_hints,
                 "Adam's m and v; v_max ← max(v_max, v); θ ← θ − η·m̂/(√(v_max/(1 − β₂ᵗ)) + ε)",
                 state_hints)
    path = _trajectory(rule, amsgrad_step, hyper, _label(**hyper), seed, shape, steps, scale)
    if (t := _first_growth(path, "max_exp_avg_sq", lr, eps)) is not None:
        raise AssertionError(f"amsgrad_step: max_exp_avg_sq decreased at step {t} — it is the "
                             "largest v so far, so it never decreases and the effective step "
                             "η/(√v_max + ε) never grows")
    _check_defaults(rule, _torch_oracle(torch.optim.Adam, amsgrad=True), amsgrad_step,
                    "lr=1e-3, betas=(0.9, 0.999), eps=1e-8")


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


def check_delta_bar_delta_step(delta_bar_delta_step, seed=0, shape=(5,), steps=30, lr=0.01,
                               kappa=1e-3, phi=0.1, decay=0.7, scale=1.0):
    """Jacobs' delta-bar-delta against its closed form, plus the properties of the rates:
    from one step to the next each rate grows by exactly κ, shrinks by exactly the factor
    1 − φ, or stays, as the sign of δ̄·g says.
    """
    hyper = {"lr": lr, "kappa": kappa, "phi": phi, "decay": decay}
    name = f"delta_bar_delta_step ({_label(**hyper)})"
    oracle = _delta_bar_delta_oracle(lr, kappa, phi, decay)

    def rates_before(step):
        return step.before["rates"] if step.before else np.full_like(step.grad, lr)

    def theta_hints(step):
        old, new, g = rates_before(step), step.after["rates"], step.grad
        with_new_bar = oracle(step.theta, g, {"rates": old, "bar": step.after["bar"]}, step.t)
        return {
            "step with the NEW rates: update η first, then θ ← θ − η⊙g": step.theta - old * g,
            "compare g with δ̄ from BEFORE this step (update δ̄ last)": with_new_bar[0],
            "a sign flip multiplies the rate by (1 − φ), not by φ": step.theta - np.where(
                new < old, old * phi, new) * g if phi else None,
            "same sign: ADD κ to the rate (additive increase, multiplicative decrease)":
                step.theta - np.where(new > old, old * (1 + kappa), new) * g,
            "subtract the step: θ ← θ − η⊙g": 2 * step.theta - step.expected,
        }

    def state_hints(step):
        g = step.grad
        bar = step.before["bar"] if step.before else np.zeros_like(g)
        return {"bar_grad": {
            "δ̄ ← (1 − decay)·g + decay·δ̄: decay multiplies the OLD average":
                decay * g + (1 - decay) * bar,
            "δ̄ is an average of past gradients: δ̄ ← (1 − decay)·g + decay·δ̄": g}}

    rule = _Rule("delta_bar_delta_step", oracle, lambda shape: {},
                 {"lr": "η (the array of per-parameter rates)",
                  "bar_grad": "δ̄ (the average of past gradients)"},
                 lambda step: {"lr": step.after["rates"], "bar_grad": step.after["bar"]},
                 theta_hints,
                 "η ← η + κ where δ̄g > 0, η ← (1 − φ)η where δ̄g < 0; θ ← θ − η⊙g; "
                 "δ̄ ← (1 − decay)g + decay·δ̄ (η = lr, δ̄ = 0 at first)", state_hints)
    path = _trajectory(rule, delta_bar_delta_step, hyper, _label(**hyper), seed, shape, steps,
                       scale)
    previous = np.full(tuple(shape), float(lr))
    for t, (_, state) in enumerate(path, start=1):
        rates = state["lr"]
        allowed = (np.isclose(rates, previous + kappa, rtol=1e-12, atol=1e-15)
                   | np.isclose(rates, previous * (1 - phi), rtol=1e-12, atol=1e-15)
                   | (rates == previous))
        if not np.all(allowed):
            raise AssertionError(f"{name}, after {t} steps: a rate changed by something other "
                                 "than +κ or ×(1 − φ)")
        previous = rates
    _check_defaults(rule, _delta_bar_delta_oracle(0.01, 1e-3, 0.1, 0.7), delta_bar_delta_step,
                    "lr=0.01, kappa=1e-3, phi=0.1, decay=0.7")


# ---------------------------------------------------------------- annealed gradient noise


def _near(variance: float, relative: float, variants: dict, default: str) -> str:
    """The hint of the first variant whose variance is within the test's tolerance."""
    for hint, candidate in variants.items():
        if abs(variance - candidate) <= relative * candidate:
            return hint
    return default


def _noise(seed: int, t: int, shape) -> np.ndarray:
    """The specified draw ξ of step t (t = 0 on the first call)."""
    return np.random.default_rng([seed, t]).standard_normal(shape)


def check_noisy_sgd_step(noisy_sgd_step, seed=0, shape=(5,), steps=30, lr=0.01, eta=0.3,
                         gamma=0.55, scale=1.0):
    """Gradient descent with annealed Gaussian noise (Neelakantan et al. 2015).

    1. Statistics, on θ of NOISE_SIZE coordinates with g = 0 at steps t = 0 and t = 9: the
       noise lr·σₜ·ξ has mean 0 and variance lr²·σₜ², σₜ² = η/(1 + t)^γ. Over n draws, the
       sample mean has standard error lr·σₜ/√n, and the sample variance s² of a Gaussian
       has standard error lr²·σₜ²·√(2/(n − 1)); each is allowed Z of them, so a correct
       rule fails with probability below 10⁻⁸ (and never, since the seeds are fixed).
    2. Exactly, along a trajectory, with the noise of the specified generator.
    The student's seed is ``seed + 7``.
    """
    hyper = {"lr": lr, "eta": eta, "gamma": gamma}
    name = f"noisy_sgd_step ({_label(**hyper)})"
    student_seed = seed + 7

    def sigma(t):
        return math.sqrt(eta / (1 + t) ** gamma)

    n = NOISE_SIZE
    zeros = np.zeros(n)
    for t in (0, 9):
        state = {} if t == 0 else {"step": t}
        new_theta, _ = _pair(noisy_sgd_step(zeros.copy(), zeros.copy(), state, seed=student_seed,
                                            **hyper), name, "(new_theta, new_state)")
        noise = -as_float_array(new_theta, name, "new theta")
        if noise.shape != zeros.shape:
            raise AssertionError(f"{name}: the new theta has shape {noise.shape}, expected "
                                 f"{zeros.shape}")
        sd = lr * sigma(t)
        mean, var = float(noise.mean()), float(noise.var(ddof=1))
        where = f"{name}, call {t + 1} (t = {t}), on {n} coordinates with g = 0"
        if abs(mean) > Z * sd / math.sqrt(n) + 1e-300:
            raise AssertionError(f"{where}: the noise has mean {mean:.4g}, expected 0 ± "
                                 f"{Z * sd / math.sqrt(n):.3g} — draw ξ ~ N(0, I)")
        tolerance = Z * sd**2 * math.sqrt(2 / (n - 1))
        if abs(var - sd**2) > tolerance + 1e-300:
            hint = _near(var, tolerance / sd**2 if sd else 0.0, {
                "σₜ² = η/(1 + t)^γ is the VARIANCE: scale ξ by σₜ = √(η/(1 + t)^γ)":
                    (lr * sigma(t) ** 2) ** 2,
                "the noise is added to the gradient, so lr multiplies it too: θ − lr·(g + σₜξ)":
                    sigma(t) ** 2,
                "t = step − 1 is 0 on the first call: σₜ² = η/(1 + t)^γ":
                    (lr * sigma(t + 1)) ** 2,
            }, "θ ← θ − lr·(g + σₜ·ξ) with σₜ² = η/(1 + t)^γ")
            raise AssertionError(f"{where}: the noise has variance {var:.4g}, expected "
                                 f"lr²·σₜ² = {sd**2:.4g} ± {tolerance:.2g} — {hint}")

    def oracle(theta, grad, state, t):
        xi = float64_tensor(_noise(student_seed, t - 1, np.shape(theta)))
        new = float64_tensor(theta) - lr * (float64_tensor(grad) + sigma(t - 1) * xi)
        return new.numpy(), {}

    def theta_hints(step):
        t, g, xi = step.t - 1, step.grad, _noise(student_seed, step.t - 1, step.theta.shape)
        return {
            "t = step − 1 is 0 on the first call: σₜ and ξ of step t come from t = step − 1":
                step.theta - lr * (g + sigma(t + 1) * _noise(student_seed, t + 1, g.shape)),
            "draw ξ from np.random.default_rng([seed, t]) with the seed argument":
                step.theta - lr * (g + sigma(t) * _noise(0, t, g.shape)),
            "a new generator per step: np.random.default_rng([seed, t]), not "
            "default_rng(seed) (which repeats the same ξ every step)":
                step.theta - lr * (g + sigma(t) * np.random.default_rng(student_seed)
                                   .standard_normal(g.shape)),
            "σₜ² = η/(1 + t)^γ is the variance: scale ξ by its square root":
                step.theta - lr * (g + sigma(t) ** 2 * xi),
            "lr multiplies the noisy gradient: θ ← θ − lr·(g + σₜξ)":
                step.theta - lr * g - sigma(t) * xi,
        }

    rule = _Rule("noisy_sgd_step", oracle, lambda shape: {},
                 {"step": "the number of updates done"},
                 lambda step: {"step": float(step.t)}, theta_hints,
                 "t = step − 1; σₜ² = η/(1 + t)^γ; ξ = np.random.default_rng([seed, t])"
                 ".standard_normal(θ.shape); θ ← θ − lr·(g + σₜ·ξ)",
                 lambda step: {"step": {_STEP_HINT: float(step.t - 1)}})
    _trajectory(rule, noisy_sgd_step, hyper, _label(**hyper), seed, shape, steps, scale,
                call_extra={"seed": student_seed})
