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
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch

from descent.checks._compare import as_float_array, assert_close, assert_unchanged
from descent.checks._oracle import float64_tensor
from descent.checks._trajectory import (
    TRAJECTORY_ARGUMENTS,
    AnyOf,
    WithNaN,
    _is_real,
    _matches,
    _pair,
    _quietly,
    _torch_run,
    _torch_step,
    assert_state_unchanged,
    compare_with_hint,
    refuse_bad_arguments,
    require_state_keys,
    snapshot_state,
)
from descent.checks.misconceptions import misconception

#: Standard errors allowed in the statistical check of the noise: P(|N(0,1)| > 6) ≈ 2·10⁻⁹.
Z = 6.0
#: Coordinates of θ in the statistical check of the noise (2¹⁷).
NOISE_SIZE = 2**17

PAGE = "05_optimizers"
_mistake = partial(misconception, page=PAGE)

# ---------------------------------------------------------------- the mistakes the checks name

_INTERFACE = "One interface for every rule"
HARD_CODED = _mistake(
    "interface.hard-coded-hyper-parameter",
    "a hyper-parameter is a constant in your code: use the argument the function is given "
    "(its default belongs in the signature only)", section=_INTERFACE)
DEFAULTS = _mistake(
    "interface.defaults",
    "a default in the signature differs from the task's: give every hyper-parameter the "
    "default the task states (PyTorch's, where PyTorch has the rule)", section=_INTERFACE)
STEP_NOT_STORED = _mistake(
    "interface.step-not-stored",
    "state['step'] is the number of updates done: increment it first (1 after the first call) "
    "and return it in the new state", section=_INTERFACE)

MOMENTUM_BUFFER = _mistake(
    "momentum.pytorch-buffer",
    "you stored PyTorch's buffer b ← γb + g; the course's velocity includes η: v ← γv + ηg "
    "(v = η·b), then θ ← θ − v", section="Momentum")
MOMENTUM_NO_LR = _mistake(
    "momentum.buffer-without-lr",
    "the velocity includes the learning rate: v ← γv + ηg (you wrote PyTorch's buffer "
    "b ← γb + g and stepped by it without η)", section="Momentum")
MOMENTUM_LR_TWICE = _mistake(
    "momentum.lr-twice",
    "the velocity already includes η: θ ← θ − v, not θ − η·v", section="Momentum")
MOMENTUM_DAMPENED = _mistake(
    "momentum.dampened",
    "PyTorch's momentum has no (1 − γ) factor, and neither has the course's: v ← γv + ηg",
    section="Momentum")
MOMENTUM_SIGN = _mistake(
    "momentum.wrong-sign",
    "subtract the step: the velocity points uphill, like g, so θ ← θ − v", section="Momentum")
MOMENTUM_NO_VELOCITY = _mistake(
    "momentum.no-velocity",
    "the step forgot the velocity, which is plain gradient descent θ − ηg: step by "
    "v ← γv + ηg", section="Momentum")
MOMENTUM_OLD_VELOCITY = _mistake(
    "momentum.old-velocity-stored",
    "store the updated velocity v ← γv + ηg, not the one you were given", section="Momentum")
MOMENTUM_VELOCITY_SIGN = _mistake(
    "momentum.velocity-sign",
    "the stored velocity has the wrong sign: the course's v ← γv + ηg points uphill, like g, "
    "and θ ← θ − v (Keras and Wikipedia keep −v and add it)", section="Momentum")

_NESTEROV = "Nesterov accelerated gradient"
NESTEROV_CLASSICAL = _mistake(
    "nesterov.classical-momentum",
    "θ moved by classical momentum's step γ·v_old + ηg: Nesterov steps by γv + ηg with the "
    "UPDATED velocity v", section=_NESTEROV)
NESTEROV_STORES_STEP = _mistake(
    "nesterov.stores-step",
    "store the velocity v ← γv + ηg, not the step γv + ηg you took", section=_NESTEROV)

ADAGRAD_EPS_INSIDE = _mistake(
    "adagrad.eps-inside-root",
    "ε goes outside the root, √G + ε, as in torch.optim.Adagrad (the lecture slides, Ruder "
    "and Keras write √(G + ε))", section="Adagrad")
ADAGRAD_OLD_SUM = _mistake(
    "adagrad.old-sum",
    "add g² to G first, then divide by √G with the updated G", section="Adagrad")
ADAGRAD_NO_ROOT = _mistake(
    "adagrad.no-root", "divide by the square ROOT of the sum: √G + ε", section="Adagrad")
ADAGRAD_LAST_SQUARE = _mistake(
    "adagrad.last-square-only",
    "G is the running SUM of all past g²: add g² to the previous G", section="Adagrad")
ADAGRAD_NOT_SQUARED = _mistake(
    "adagrad.g-not-squared",
    "G sums the SQUARED gradients, G ← G + g² (a sum of g goes negative, and its root is "
    "NaN)", section="Adagrad")
ADAGRAD_SIGN = _mistake(
    "adagrad.wrong-sign", "subtract the step: θ ← θ − η·g/(√G + ε)", section="Adagrad")
ADAGRAD_INITIAL = _mistake(
    "adagrad.initial-accumulator",
    "G starts at 0 (torch.optim.Adagrad's initial_accumulator_value): this is Keras's G, "
    "which starts at 0.1 (Keras also puts ε inside the root, where the course has √G + ε)",
    section="Adagrad")

ADADELTA_NO_LR = _mistake(
    "adadelta.no-lr",
    "multiply Δ by lr, θ ← θ − lr·Δ (PyTorch's factor; Zeiler's rule is lr = 1, the default)",
    section="Adadelta")
ADADELTA_EPS_OUTSIDE = _mistake(
    "adadelta.eps-outside-roots",
    "ε goes inside both roots: Δ = √(E[Δ²] + ε) / √(E[g²] + ε) · g", section="Adadelta")
ADADELTA_NO_NUMERATOR = _mistake(
    "adadelta.no-numerator",
    "the numerator √(E[Δ²] + ε) gives the step θ's units: without it this is RMSprop",
    section="Adadelta")
ADADELTA_SIGN = _mistake(
    "adadelta.wrong-sign", "subtract the step: θ ← θ − lr·Δ (Δ points uphill, like g)",
    section="Adadelta")
ADADELTA_RHO_SWAPPED = _mistake(
    "adadelta.rho-swapped",
    "ρ multiplies the old averages: E ← ρ·E + (1 − ρ)·(new value)", section="Adadelta")
ADADELTA_OLD_SQUARE = _mistake(
    "adadelta.old-square-avg",
    "update E[g²] first, then divide by √(E[g²] + ε) with the updated average",
    section="Adadelta")
ADADELTA_SCALED_DELTA = _mistake(
    "adadelta.lr-in-acc-delta",
    "average the squared update Δ, without lr: E[Δ²] ← ρE[Δ²] + (1 − ρ)Δ² (lr only scales "
    "the step θ takes)", section="Adadelta")
ADADELTA_ACC_NOT_UPDATED = _mistake(
    "adadelta.acc-delta-not-updated",
    "after computing Δ with the previous E[Δ²], update it: E[Δ²] ← ρE[Δ²] + (1 − ρ)Δ²",
    section="Adadelta")

RMSPROP_EPS_INSIDE = _mistake(
    "rmsprop.eps-inside-root",
    "ε goes outside the root, √s + ε, as in torch.optim.RMSprop (TensorFlow/Keras and some "
    "texts write √(s + ε))", section="RMSprop")
RMSPROP_ALPHA_SWAPPED = _mistake(
    "rmsprop.alpha-swapped",
    "α multiplies the OLD average: s ← α·s + (1 − α)·g²", section="RMSprop")
RMSPROP_NO_ONE_MINUS = _mistake(
    "rmsprop.no-one-minus-alpha",
    "the new g² is weighted by (1 − α): s ← α·s + (1 − α)·g² (a running sum of g² is "
    "AdaGrad's)", section="RMSprop")
RMSPROP_NO_ROOT = _mistake(
    "rmsprop.no-root", "divide by the square ROOT of the average: √s + ε", section="RMSprop")
RMSPROP_SIGN = _mistake(
    "rmsprop.wrong-sign", "subtract the step: θ ← θ − η·g/(√s + ε)", section="RMSprop")
RMSPROP_OLD_AVERAGE = _mistake(
    "rmsprop.old-average",
    "update s first, then divide by √s + ε with the updated average", section="RMSprop")
RMSPROP_NOT_SQUARED = _mistake(
    "rmsprop.g-not-squared",
    "s averages the SQUARED gradient, s ← α·s + (1 − α)·g² (an average of g goes negative, "
    "and its root is NaN)", section="RMSprop")

ADAM_NO_BIAS = _mistake(
    "adam.no-bias-correction",
    "is the bias correction applied? m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)", section="Adam")
ADAM_STEP_COUNT = _mistake(
    "adam-family.step-count",
    "t counts the updates done: increment step first (t = 1 at the first call), then use it "
    "in the bias corrections", section="Adam")
ADAM_STEP_BEFORE = _mistake(
    "adam-family.step-before-increment",
    "increment step first, then use it: t = 1 at the first call (with t = 0, 1 − β₁ᵗ = 0 and "
    "the step divides by 0)", section="Adam")
ADAM_BETAS_SWAPPED = _mistake(
    "adam-family.betas-swapped",
    "β₁ belongs to m (the average of g) and β₂ to v (the average of g², or AdaMax's u)",
    section="Adam")
ADAM_STORES_M_HAT = _mistake(
    "adam-family.stores-m-hat",
    "store m itself; the bias correction m/(1 − β₁ᵗ) is only used in the step",
    section="Adam")
ADAM_STORES_V_HAT = _mistake(
    "adam-family.stores-v-hat",
    "store v itself; the bias correction v/(1 − β₂ᵗ) is only used in the step",
    section="Adam")
ADAM_V_NOT_SQUARED = _mistake(
    "adam-family.v-not-squared",
    "v averages the SQUARED gradient: v ← β₂v + (1 − β₂)g² (an average of g goes negative, "
    "and √v is NaN there)", section="Adam")
ADAM_SIGN = _mistake(
    "adam-family.wrong-sign",
    "subtract the step: m points uphill, like g, so θ ← θ − η·m̂/(√v̂ + ε)", section="Adam")
ADAM_EPS_INSIDE = _mistake(
    "adam.eps-inside-root",
    "ε goes outside the root, √v̂ + ε, as in torch.optim.Adam", section="Adam")
ADAM_NO_ROOT = _mistake(
    "adam.no-root", "divide by the square ROOT of v̂: √v̂ + ε", section="Adam")
ADAM_KERAS = _mistake(
    "adam.keras-eps-hat",
    "this is Keras/TensorFlow's form, lr_t = η·√(1 − β₂ᵗ)/(1 − β₁ᵗ) with ε added to the "
    "UNcorrected root (their ε̂): PyTorch and the course add ε to the corrected root, "
    "θ ← θ − η·m̂/(√v̂ + ε)", section="Adam")

ADAMAX_NO_BIAS = _mistake(
    "adamax.no-bias-correction",
    "correct m's bias: θ ← θ − η/(1 − β₁ᵗ)·m/u (only m needs it)", section="AdaMax")
ADAMAX_U_CORRECTED = _mistake(
    "adamax.u-bias-corrected",
    "u needs no bias correction: θ ← θ − η/(1 − β₁ᵗ)·m/u", section="AdaMax")
ADAMAX_EPS_OUTSIDE = _mistake(
    "adamax.eps-outside-max",
    "ε goes inside the maximum: u ← max(β₂u, |g| + ε), not max(β₂u, |g|) + ε",
    section="AdaMax")
ADAMAX_NO_EPS = _mistake(
    "adamax.no-eps-in-u",
    "your u has no ε (or a far smaller one than the eps passed): u ← max(β₂u, |g| + ε), ε "
    "inside the maximum (the paper has no ε; Keras adds it in the step instead)",
    section="AdaMax")
ADAMAX_NO_ABS = _mistake(
    "adamax.no-abs", "take the absolute value: u ← max(β₂·u, |g| + ε)", section="AdaMax")
ADAMAX_NO_DECAY = _mistake(
    "adamax.u-not-decayed",
    "decay the old maximum by β₂: u ← max(β₂·u, |g| + ε)", section="AdaMax")

NADAM_CONSTANT_MU = _mistake(
    "nadam.constant-mu",
    "this is Nadam with a constant μ = β₁ (Ruder's form): the course follows PyTorch's "
    "schedule μₜ = β₁(1 − ½·0.96^(tψ)), for μₜ and μₜ₊₁ alike", section="Nadam")
NADAM_ADAM = _mistake(
    "nadam.adam-step",
    "this is Adam's step: Nadam mixes the gradient, weighted (1 − μₜ)/(1 − Π), with the "
    "look-ahead momentum μₜ₊₁·m/(1 − Π·μₜ₊₁)", section="Nadam")
NADAM_PRODUCT = _mistake(
    "nadam.mu-product",
    "Π is the running product μ₁·μ₂·…·μₜ: multiply the previous mu_product by μₜ",
    section="Nadam")
NADAM_MU_NEXT = _mistake(
    "nadam.mu-next",
    "the momentum term looks one step ahead, with μₜ₊₁: η·μₜ₊₁/(1 − Π·μₜ₊₁)·m/(√v̂ + ε)",
    section="Nadam")
NADAM_NO_BIAS = _mistake(
    "nadam.no-bias-correction",
    "v is corrected as in Adam, v̂ = v/(1 − β₂ᵗ) (m is corrected through Π)", section="Nadam")

AMSGRAD_ADAM = _mistake(
    "amsgrad.adam-step",
    "this is Adam's step: AMSGrad divides by the largest v so far, v_max ← max(v_max, v)",
    section="AMSGrad")
AMSGRAD_MAX_BEFORE = _mistake(
    "amsgrad.max-before-update",
    "take the maximum with the NEW v: update v first, then v_max ← max(v_max, v)",
    section="AMSGrad")
AMSGRAD_MAX_V_HAT = _mistake(
    "amsgrad.max-of-v-hat",
    "v_max ← max(v_max, v) is the maximum of the raw v: the bias correction divides it in "
    "the step only", section="AMSGrad")
AMSGRAD_NO_BIAS = _mistake(
    "amsgrad.no-bias-correction",
    "this is Reddi et al.'s rule, without bias correction: the course follows "
    "torch.optim.Adam(amsgrad=True), θ ← θ − η·m̂/(√(v_max/(1 − β₂ᵗ)) + ε)", section="AMSGrad")

_DBD = "Delta-bar-delta"
DBD_OLD_RATES = _mistake(
    "delta-bar-delta.old-rates",
    "step with the NEW rates: update η first, then θ ← θ − η⊙g", section=_DBD)
DBD_BAR_FIRST = _mistake(
    "delta-bar-delta.bar-updated-first",
    "compare g with δ̄ from BEFORE this step (update δ̄ last)", section=_DBD)
DBD_TIMES_PHI = _mistake(
    "delta-bar-delta.times-phi",
    "a sign flip multiplies the rate by (1 − φ), not by φ", section=_DBD)
DBD_MULTIPLICATIVE = _mistake(
    "delta-bar-delta.multiplicative-increase",
    "same sign: ADD κ to the rate (additive increase, multiplicative decrease)", section=_DBD)
DBD_SIGN = _mistake(
    "delta-bar-delta.wrong-sign", "subtract the step: θ ← θ − η⊙g", section=_DBD)
DBD_DECAY_SWAPPED = _mistake(
    "delta-bar-delta.decay-swapped",
    "δ̄ ← (1 − decay)·g + decay·δ̄: decay multiplies the OLD average", section=_DBD)
DBD_BAR_IS_GRADIENT = _mistake(
    "delta-bar-delta.bar-is-last-gradient",
    "δ̄ is an average of past gradients: δ̄ ← (1 − decay)·g + decay·δ̄", section=_DBD)

_NOISE = "Annealed gradient noise"
NOISE_VARIANCE_AS_STD = _mistake(
    "noisy-sgd.variance-as-std",
    "σₜ² = η/(1 + t)^γ is the VARIANCE: scale ξ by its square root σₜ", section=_NOISE)
NOISE_WITHOUT_LR = _mistake(
    "noisy-sgd.noise-without-lr",
    "the noise is added to the gradient, so lr multiplies it too: θ ← θ − lr·(g + σₜξ)",
    section=_NOISE)
NOISE_T_OFF_BY_ONE = _mistake(
    "noisy-sgd.t-off-by-one",
    "t = step − 1 is 0 on the first call: σₜ² = η/(1 + t)^γ and ξ of that t",
    section=_NOISE)
NOISE_SIGN = _mistake(
    "noisy-sgd.wrong-sign", "subtract the step: θ ← θ − lr·(g + σₜξ)", section=_NOISE)
NOISE_IGNORES_SEED = _mistake(
    "noisy-sgd.ignores-seed",
    "draw ξ from np.random.default_rng([seed, t]) with the seed argument", section=_NOISE)
NOISE_ONE_GENERATOR = _mistake(
    "noisy-sgd.one-generator",
    "a new generator per step: np.random.default_rng([seed, t]), not default_rng(seed) "
    "(which repeats the same ξ every step)", section=_NOISE)
NOISE_WRONG_STREAM = _mistake(
    "noisy-sgd.wrong-stream",
    "draw ξ from np.random.default_rng([seed, t]): the list [seed, t], in that order",
    section=_NOISE)


# ---------------------------------------------------------------- a check's arguments


def _between(low, high):
    return lambda x: _is_real(x) and low <= x <= high


def _at_least(low):
    return lambda x: _is_real(x) and x >= low


def _betas(x) -> bool:
    return (isinstance(x, tuple | list) and len(x) == 2
            and all(_is_real(b) and 0 <= b < 1 for b in x))


#: What the checks accept: name -> (test, what is allowed and why).
_ALLOWED = {
    **TRAJECTORY_ARGUMENTS,
    "lr": (_at_least(0), "the learning rate must be a number ≥ 0 (a negative one climbs)"),
    "momentum": (_between(0, 1), "γ must be in [0, 1] (with γ > 1 the velocity grows "
                                 "without bound)"),
    "eps": (lambda x: _is_real(x) and x > 0, "ε must be > 0 (it keeps the division finite)"),
    "rho": (_between(0, 1), "ρ must be in [0, 1] (it weighs the old averages)"),
    "alpha": (_between(0, 1), "α must be in [0, 1] (it weighs the old average, which must "
                              "stay ≥ 0)"),
    "betas": (_betas, "betas must be a pair (β₁, β₂) of numbers in [0, 1) (β = 1 makes the "
                      "bias correction divide by 0)"),
    "momentum_decay": (_at_least(0), "ψ must be ≥ 0"),
    "kappa": (_at_least(0), "κ, the increase of a rate, must be ≥ 0"),
    "phi": (_between(0, 1), "φ, the fraction of a rate removed on a sign flip, must be in "
                            "[0, 1]"),
    "decay": (_between(0, 1), "decay must be in [0, 1] (it weighs the old average δ̄)"),
    "eta": (_at_least(0), "η, the noise's variance at t = 0, must be ≥ 0"),
    "gamma": (_is_real, "γ must be a finite number"),
}


def _refuse(check: str, **arguments) -> None:
    refuse_bad_arguments(check, arguments, _ALLOWED)


# ---------------------------------------------------------------- the trajectory


class _Quadratic:
    """½θᵀAθ + bᵀθ on θ of ``shape``, A = Q·diag(0.5 … 5)·Qᵀ, with a seeded perturbation.

    The gradient at step t (1, 2, …) is scale·(Aθ + b + ξₜ), ξₜ ~ N(0, I) fixed by the seed:
    non-trivial gradients that change sign now and then, as in training. Started ``near``
    the minimum instead (within 0.1), the noise dominates and the signs flip often.
    """

    def __init__(self, seed: int, shape, steps: int, scale: float, near: bool = False):
        rng = np.random.default_rng(seed)
        self.shape = tuple(shape)
        n = math.prod(self.shape)
        q = np.linalg.qr(rng.normal(size=(n, n)))[0]
        self.a = (q * np.geomspace(0.5, 5.0, n)) @ q.T
        self.b = rng.normal(size=n)
        self.theta0 = rng.normal(0.0, 2.0, size=self.shape)
        self.noise = rng.normal(size=(steps + 3, n))
        self.scale = scale
        if near:
            self.theta0 = (np.linalg.solve(self.a, -self.b)
                           + rng.normal(0.0, 0.1, size=n)).reshape(self.shape)

    def grad(self, theta: np.ndarray, t: int) -> np.ndarray:
        flat = np.asarray(theta, dtype=float).reshape(-1)
        return (self.scale * (self.a @ flat + self.b + self.noise[t - 1])).reshape(self.shape)


@dataclass
class _Step:
    """One step: the oracle's input (θ, g, PyTorch state) and output, and the student's."""

    t: int
    theta: np.ndarray
    grad: np.ndarray
    before: dict
    after: dict
    expected: np.ndarray
    #: the state the student's function was given, and the θ and state it returned
    state: dict
    got: np.ndarray
    returned: object = None

    def run(self, optimizer_class, hyper: dict, **state_changes) -> np.ndarray:
        """θ after PyTorch's step from this step's input, with altered hyper or state."""
        return _torch_step(optimizer_class, self.theta, self.grad,
                           {**self.before, **state_changes}, **hyper)


@dataclass
class _Rule:
    """How to check one update rule, at given hyper-parameters, against its oracle."""

    name: str
    #: step(θ, g, oracle state, t) -> (θ after, oracle state after)
    oracle: Callable
    #: the oracle's state before the first step (shape -> dict)
    initial: Callable
    #: the state keys the student must return: key -> (symbol, what it stores)
    keys: dict
    #: _Step -> {key: expected value} in the course's names
    course_state: Callable
    #: _Step -> {hint: θ a known mistake gives (or a function computing it)}
    theta_hints: Callable
    default_hint: str
    #: _Step -> {key: {hint: value a known mistake stores}}
    state_hints: Callable = lambda step: {}


def _given(step: _Step, key: str) -> np.ndarray:
    """The student's own state[key] before this step, where a mistake that drifts the state
    slowly (within the tolerance) builds up; the oracle's when it cannot be read."""
    try:
        return np.asarray(step.state[key], dtype=float)
    except (KeyError, TypeError, ValueError):
        return np.asarray(step.before[key], dtype=float)


def _torch_oracle(optimizer_class, **hyper) -> Callable:
    def step(theta, grad, state, t):
        return _torch_run(optimizer_class, theta, grad, state, **hyper)
    return step


def _stores(keys: dict, key: str) -> str:
    symbol, what = keys[key]
    return f"{symbol} ({what})"


def _read_state(name, state, keys: dict) -> dict:
    state = require_state_keys(name, state, {key: _stores(keys, key) for key in keys})
    return {key: as_float_array(state[key], name, f"state['{key}'] ({keys[key][0]})")
            for key in keys}


def _hints(*builders: Callable) -> dict:
    """The hints of several builders, in order; one that cannot be built is left out."""
    merged = {}
    for build in builders:
        merged.update(_quietly(build) or {})
    return merged


def _trajectory(rule: _Rule, student, passed: dict, name: str, problem: _Quadratic, steps: int,
                first: Callable | None = None, last: Callable | None = None,
                first_state: Callable | None = None, last_state: Callable | None = None) -> list:
    """Run the student's rule (called with the keywords ``passed``) and the oracle side by
    side; return the student's path, a list of (θ, state read as float arrays).

    ``first`` and ``last`` (_Step -> hints) add hints for θ before and after the rule's own,
    ``first_state`` and ``last_state`` (_Step -> {key: hints}) for the state.
    """
    theta, state, oracle_state = problem.theta0.copy(), {}, rule.initial(problem.shape)
    path = []
    for t in range(1, steps + 1):
        g = problem.grad(theta, t)
        saved_theta, saved_grad, saved_state = theta.copy(), g.copy(), snapshot_state(state)
        result = student(theta, g, state, **passed)
        assert_unchanged(name, saved_theta, theta, "the theta it was given")
        assert_unchanged(name, saved_grad, g, "the grad it was given")
        assert_state_unchanged(name, saved_state, state)
        new_theta, new_state = _pair(result, name, "(new_theta, new_state)")
        new_theta = as_float_array(new_theta, name, "new θ")

        expected, oracle_after = rule.oracle(saved_theta, saved_grad, oracle_state, t)
        step = _Step(t, saved_theta, saved_grad, oracle_state, oracle_after, expected, state,
                     new_theta, new_state)
        where = f"{name}, after {t} step{'s' if t > 1 else ''}"
        compare_with_hint(
            where, new_theta, expected,
            lambda step=step: _hints(*(lambda b=b: b(step) for b in (first, rule.theta_hints,
                                                                      last) if b)),
            rule.default_hint, "new θ")
        read = _read_state(where, new_state, rule.keys)
        for key, value in rule.course_state(step).items():
            compare_with_hint(where, read[key], value, lambda key=key, step=step: _hints(
                lambda: first_state(step).get(key, {}) if first_state else {},
                lambda: rule.state_hints(step).get(key, {}),
                lambda: last_state(step).get(key, {}) if last_state else {}),
                f"store {_stores(rule.keys, key)}", f"state['{key}'] ({rule.keys[key][0]})")
        path.append((new_theta, read))
        theta, state, oracle_state = new_theta, new_state, oracle_after
    return path


def _label(**hyper) -> str:
    return ", ".join(f"{k}={v}" if isinstance(v, tuple) else f"{k}={v:g}"
                     for k, v in hyper.items())


def _hard_coded(make: Callable, hyper: dict, defaults: dict) -> tuple[Callable, Callable]:
    """Hints for θ and for the state (_Step -> hints): what the oracle gives when one
    hyper-parameter (or one β) keeps its default instead of the value passed, as it does
    when a student writes it as a constant."""
    changes = []
    for key, value in hyper.items():
        default = defaults.get(key)
        if default is None or value == default:
            continue
        if isinstance(value, tuple):
            differ = [i for i, (v, d) in enumerate(zip(value, default, strict=True)) if v != d]
            changes += [{key: tuple(default[j] if j == i else value[j]
                                    for j in range(len(value)))} for i in differ]
            if len(differ) == 1:
                continue
        changes.append({key: default})

    def hint(change) -> str:
        return (f"the result is that of {_label(**change)}, not of the "
                f"{_label(**{k: hyper[k] for k in change})} passed: {HARD_CODED}")

    def oracle(change, step):
        return make(**{**hyper, **change}).oracle(step.theta, step.grad, step.before, step.t)

    def theta_hints(step: _Step) -> dict:
        return {hint(change): lambda change=change: oracle(change, step)[0]
                for change in changes}

    def state_hints(step: _Step) -> dict:
        hints = {}
        for change in changes:
            after = _quietly(lambda change=change: oracle(change, step)[1])
            if after is None:
                continue
            course = make(**{**hyper, **change}).course_state(replace(step, after=after))
            for key, value in course.items():
                hints.setdefault(key, {})[hint(change)] = value
        return hints

    return theta_hints, state_hints


def _run(make: Callable, student, hyper: dict, defaults: dict, seed, shape, steps, scale,
         why: str = "", near: bool = False) -> list:
    """The student's rule against ``make(**hyper)`` along one trajectory."""
    rule = make(**hyper)
    label = _label(**hyper) + (f", scale={scale:g}" if scale != 1 else "")
    name = f"{rule.name} ({why + ': ' if why else ''}{label})"
    theta_hints, state_hints = _hard_coded(make, hyper, defaults)
    return _trajectory(rule, student, hyper, name, _Quadratic(seed, shape, steps, scale, near),
                       steps, last=theta_hints, last_state=state_hints)


def _check_defaults(make: Callable, student, defaults: dict, seed, scale, near=False,
                    shape=(6,), steps=6) -> None:
    """A few calls without hyper-parameters follow the oracle built with ``defaults``, on
    gradients of ``scale``."""
    rule = make(**defaults)
    name = f"{rule.name} (called without hyper-parameters" + (
        f", scale={scale:g})" if scale != 1 else ")")

    def mended(step: _Step, passed: dict, key=None):
        # The student's own function, given some defaults explicitly: if that mends the step,
        # the signature's default is what differs. The value returned is then the student's.
        theta, state = _pair(student(step.theta.copy(), step.grad.copy(), dict(step.state),
                                     **passed), name, "")
        if not _matches(theta, step.expected):
            return None
        if key is None:
            return step.got
        if _matches(state[key], rule.course_state(step)[key]):
            return step.returned[key]
        return None

    def wrong_default(param) -> str:
        return f"the default of {param} is not {_label(**{param: defaults[param]})}: {DEFAULTS}"

    def probes(step: _Step) -> dict:
        hints = {wrong_default(param): lambda param=param: mended(step, {param: defaults[param]})
                 for param in defaults}
        hints[f"the defaults are not {_label(**defaults)}: {DEFAULTS}"] = \
            lambda: mended(step, defaults)
        return hints

    def state_probes(step: _Step) -> dict:
        return {key: {wrong_default(param): lambda key=key, param=param: mended(
            step, {param: defaults[param]}, key) for param in defaults} for key in rule.keys}

    _trajectory(rule, student, {}, name, _Quadratic(seed + 1, shape, steps, scale, near), steps,
                first=probes, first_state=state_probes)


#: The second run's trajectory: a 2×3 θ (a matrix), a few steps, its own seed.
SECOND_SHAPE, SECOND_STEPS = (2, 3), 8


def _check(make: Callable, student, hyper: dict, defaults: dict, second: dict, *, seed, shape,
           steps, scale, second_scale=1.0, why="", defaults_scale=1.0, near=False,
           properties: Callable | None = None) -> list:
    """The three trajectories of a check (see the module's docstring) and its properties,
    checked on the first one's path, which is returned. ``near``: the second and third start
    near the minimum."""
    path = _run(make, student, hyper, defaults, seed, shape, steps, scale)
    _run(make, student, second, defaults, seed + 2, SECOND_SHAPE, SECOND_STEPS, second_scale,
         f"second run{', ' + why if why else ''}", near)
    if properties is not None:
        properties(path)
    _check_defaults(make, student, defaults, seed, 1.0, near)
    if defaults_scale != 1:
        # θ only, in effect: states of this size are within the comparison's atol.
        _check_defaults(make, student, defaults, seed, defaults_scale, near, steps=3)
    return path


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


#: Where ε matters: gradients scaled by 0.01, with ε = 0.01, so that √v and ε are of the
#: same size.
_SMALL = 1e-2
_EPS_MATTERS = "small gradients, so that ε matters"


# ---------------------------------------------------------------- momentum and Nesterov


def _sgd_rule(name, nesterov) -> Callable:
    # torch.optim.SGD keeps b ← μb + g (b = g at the first step) and steps θ − η·b
    # (θ − η(g + μb) with Nesterov). With v = η·b at a constant η this is the course's
    # v ← γv + ηg; θ ← θ − v (θ − (γv + ηg) with Nesterov): the same trajectory.
    # (torch refuses nesterov=True without momentum; with γ = 0 both are gradient descent.)
    def make(lr, momentum) -> _Rule:
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
                hints[NESTEROV_CLASSICAL] = lambda: step.run(torch.optim.SGD,
                                                             {**hyper, "nesterov": False})
            if momentum:
                # The student's velocity read as PyTorch's buffer, with lr = 1: θ − (γv + g).
                hints[MOMENTUM_NO_LR] = lambda: step.run(
                    torch.optim.SGD, {**hyper, "lr": 1.0}, momentum_buffer=velocity(step, True))
            hints[MOMENTUM_SIGN] = lambda: 2 * step.theta - step.expected
            if not nesterov:
                hints[MOMENTUM_LR_TWICE] = lambda: step.theta - lr * (step.theta - step.expected)
                hints[MOMENTUM_DAMPENED] = lambda: step.expected + momentum * lr * step.grad
            hints[MOMENTUM_NO_VELOCITY] = lambda: step.theta - lr * step.grad
            return hints

        def state_hints(step):
            v = velocity(step)
            hints = {MOMENTUM_OLD_VELOCITY: lambda: velocity(step, True),
                     MOMENTUM_BUFFER: lambda: v / lr if lr else None,
                     MOMENTUM_VELOCITY_SIGN: -v}
            if nesterov:
                hints[NESTEROV_STORES_STEP] = lambda: step.theta - step.expected
            return {"velocity": hints}

        return _Rule(name, _torch_oracle(torch.optim.SGD, **hyper), lambda shape: {},
                     {"velocity": ("v", "the velocity, v ← γv + ηg")},
                     lambda step: {"velocity": velocity(step)}, theta_hints,
                     ("v ← γ·v + η·g (v = 0 at first), then θ ← θ − (γ·v + η·g)" if nesterov
                      else "v ← γ·v + η·g (v = 0 at first), then θ ← θ − v"), state_hints)
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
        g = _Quadratic(seed, shape, steps, scale).grad(theta, steps + 1)
        got, _ = _pair(student(theta.copy(), g.copy(), dict(state), lr=lr, momentum=0.0),
                       name, "(new_theta, new_state)")
        hard_coded = f"the result is that of momentum=0.9, not of the momentum=0 passed: " \
                     f"{HARD_CODED}"
        compare_with_hint(
            f"{name} (lr={lr:g}, momentum=0, from a non-zero velocity)", got, theta - lr * g,
            {hard_coded: lambda: make(lr, defaults["momentum"]).oracle(
                theta, g, {"momentum_buffer": state["velocity"] / lr}, steps + 1)[0]
             if lr else None},
            "with γ = 0 the velocity is forgotten: v = ηg and θ ← θ − ηg, plain gradient "
            "descent", "new θ")

    _check(make, student, {"lr": lr, "momentum": momentum}, defaults,
           {"lr": 0.2, "momentum": 0.5}, seed=seed, shape=shape, steps=steps, scale=scale,
           properties=forgets_velocity)


def check_momentum_step(momentum_step, seed=0, shape=(5,), steps=30, lr=0.05, momentum=0.9,
                        scale=1.0):
    """Heavy-ball momentum v ← γv + ηg; θ ← θ − v, against ``torch.optim.SGD(momentum=γ)``."""
    _check_sgd("momentum_step", momentum_step, False, seed, shape, steps, scale, lr, momentum)


def check_nesterov_step(nesterov_step, seed=0, shape=(5,), steps=30, lr=0.05, momentum=0.9,
                        scale=1.0):
    """v ← γv + ηg; θ ← θ − (γv + ηg), against ``torch.optim.SGD(nesterov=True)``."""
    _check_sgd("nesterov_step", nesterov_step, True, seed, shape, steps, scale, lr, momentum)


# ---------------------------------------------------------------- AdaGrad, AdaDelta, RMSProp


def _adagrad_rule(lr, eps) -> _Rule:
    hyper = {"lr": lr, "eps": eps}

    def theta_hints(step):
        g, before, total = step.grad, step.before["sum"], step.after["sum"]
        return {
            ADAGRAD_EPS_INSIDE: lambda: step.theta - lr * g / np.sqrt(total + eps),
            ADAGRAD_OLD_SUM: lambda: step.theta - lr * g / (np.sqrt(before) + eps),
            ADAGRAD_NO_ROOT: lambda: step.theta - lr * g / (total + eps),
            ADAGRAD_SIGN: lambda: 2 * step.theta - step.expected,
            ADAGRAD_LAST_SQUARE: lambda: step.run(torch.optim.Adagrad, hyper,
                                                  sum=np.zeros_like(g)),
            ADAGRAD_NOT_SQUARED: lambda: WithNaN(step.theta
                                                 - lr * g / (np.sqrt(before + g) + eps)),
            # Keras: initial_accumulator_value=0.1, with or without its ε inside the root.
            ADAGRAD_INITIAL: AnyOf(
                lambda: step.run(torch.optim.Adagrad, hyper, sum=before + 0.1),
                lambda: step.theta - lr * g / np.sqrt(total + 0.1 + eps)),
        }

    def state_hints(step):
        g = step.grad
        return {"sum": {ADAGRAD_LAST_SQUARE: lambda: g * g,
                        ADAGRAD_INITIAL: lambda: step.after["sum"] + 0.1,
                        ADAGRAD_NOT_SQUARED: lambda: step.before["sum"] + g}}

    return _Rule("adagrad_step", _torch_oracle(torch.optim.Adagrad, **hyper), _zeros("sum"),
                 {"sum": ("G", "the running sum of g²")}, _same("sum"), theta_hints,
                 "G ← G + g² (G = 0 at first), then θ ← θ − η·g/(√G + ε), element-wise",
                 state_hints)


def check_adagrad_step(adagrad_step, seed=0, shape=(5,), steps=30, lr=0.5, eps=1e-10,
                       scale=1.0):
    """G ← G + g²; θ ← θ − η·g/(√G + ε), against ``torch.optim.Adagrad``.

    Properties along the student's own path: G never decreases, so the effective step
    η/(√G + ε) never grows.
    """
    _refuse("check_adagrad_step", lr=lr, eps=eps, seed=seed, shape=shape, steps=steps,
            scale=scale)

    def never_grows(path):
        if (t := _first_growth(path, "sum", lr, eps)) is not None:
            raise AssertionError("adagrad_step: the sum G decreased (so the effective step "
                                 f"η/(√G + ε) grew) at step {t} — G only accumulates g² ≥ 0")

    _check(_adagrad_rule, adagrad_step, {"lr": lr, "eps": eps}, {"lr": 0.01, "eps": 1e-10},
           {"lr": 0.3, "eps": 1e-2}, seed=seed, shape=shape, steps=steps, scale=scale,
           second_scale=_SMALL, why=_EPS_MATTERS, defaults_scale=1e-10, properties=never_grows)


def _adadelta_rule(lr, rho, eps) -> _Rule:
    hyper = {"lr": lr, "rho": rho, "eps": eps}

    def theta_hints(step):
        g, square, acc = step.grad, step.after["square_avg"], step.before["acc_delta"]
        return {
            ADADELTA_NO_LR: lambda: step.run(torch.optim.Adadelta, {**hyper, "lr": 1.0}),
            ADADELTA_EPS_OUTSIDE: lambda: step.theta - lr * (np.sqrt(acc) + eps) / (
                np.sqrt(square) + eps) * g,
            ADADELTA_NO_NUMERATOR: lambda: step.theta - lr * g / np.sqrt(square + eps),
            ADADELTA_SIGN: lambda: 2 * step.theta - step.expected,
            ADADELTA_RHO_SWAPPED: lambda: step.run(torch.optim.Adadelta,
                                                   {**hyper, "rho": 1 - rho}),
            ADADELTA_OLD_SQUARE: lambda: step.theta - lr * np.sqrt(acc + eps) / np.sqrt(
                step.before["square_avg"] + eps) * g,
        }

    def state_hints(step):
        g, acc = step.grad, step.before["acc_delta"]
        return {"acc_delta": {
            # The step θ took is lr·Δ.
            ADADELTA_SCALED_DELTA: lambda: rho * acc + (1 - rho) * (step.theta
                                                                    - step.expected) ** 2,
            ADADELTA_ACC_NOT_UPDATED: acc,
        }, "square_avg": {
            ADADELTA_RHO_SWAPPED: lambda: (1 - rho) * step.before["square_avg"] + rho * g * g,
        }}

    return _Rule(
        "adadelta_step", _torch_oracle(torch.optim.Adadelta, **hyper),
        _zeros("square_avg", "acc_delta"),
        {"square_avg": ("E[g²]", "the decaying average of g²"),
         "acc_delta": ("E[Δ²]", "the decaying average of the squared updates")},
        _same("square_avg", "acc_delta"), theta_hints,
        "E[g²] ← ρE[g²] + (1 − ρ)g²; Δ = √(E[Δ²] + ε)/√(E[g²] + ε)·g; E[Δ²] ← ρE[Δ²] + "
        "(1 − ρ)Δ²; θ ← θ − lr·Δ", state_hints)


def check_adadelta_step(adadelta_step, seed=0, shape=(5,), steps=30, lr=1.0, rho=0.9, eps=1e-6,
                        scale=1.0):
    """Zeiler's AdaDelta (times lr), against ``torch.optim.Adadelta``."""
    _refuse("check_adadelta_step", lr=lr, rho=rho, eps=eps, seed=seed, shape=shape,
            steps=steps, scale=scale)
    _check(_adadelta_rule, adadelta_step, {"lr": lr, "rho": rho, "eps": eps},
           {"lr": 1.0, "rho": 0.9, "eps": 1e-6}, {"lr": 2.0, "rho": 0.8, "eps": 1e-3},
           seed=seed, shape=shape, steps=steps, scale=scale, second_scale=0.1,
           defaults_scale=1e-3)


def _rmsprop_rule(lr, alpha, eps) -> _Rule:
    hyper = {"lr": lr, "alpha": alpha, "eps": eps}

    def theta_hints(step):
        g, s, before = step.grad, step.after["square_avg"], step.before["square_avg"]
        return {
            RMSPROP_EPS_INSIDE: lambda: step.theta - lr * g / np.sqrt(s + eps),
            RMSPROP_ALPHA_SWAPPED: lambda: step.run(torch.optim.RMSprop,
                                                    {**hyper, "alpha": 1 - alpha}),
            RMSPROP_NO_ONE_MINUS: lambda: step.theta - lr * g / (np.sqrt(alpha * before + g * g)
                                                                 + eps),
            RMSPROP_NO_ROOT: lambda: step.theta - lr * g / (s + eps),
            RMSPROP_SIGN: lambda: 2 * step.theta - step.expected,
            RMSPROP_OLD_AVERAGE: lambda: step.theta - lr * g / (np.sqrt(before) + eps),
            RMSPROP_NOT_SQUARED: lambda: WithNaN(step.theta - lr * g / (
                np.sqrt(alpha * before + (1 - alpha) * g) + eps)),
        }

    def state_hints(step):
        g, before = step.grad, step.before["square_avg"]
        return {"square_avg": {
            RMSPROP_ALPHA_SWAPPED: lambda: (1 - alpha) * before + alpha * g * g,
            RMSPROP_NO_ONE_MINUS: lambda: alpha * before + g * g,
            RMSPROP_NOT_SQUARED: lambda: alpha * before + (1 - alpha) * g,
        }}

    return _Rule(
        "rmsprop_step", _torch_oracle(torch.optim.RMSprop, **hyper), _zeros("square_avg"),
        {"square_avg": ("s", "the decaying average of g²")}, _same("square_avg"), theta_hints,
        "s ← α·s + (1 − α)·g² (s = 0 at first), then θ ← θ − η·g/(√s + ε)", state_hints)


def check_rmsprop_step(rmsprop_step, seed=0, shape=(5,), steps=30, lr=0.01, alpha=0.99,
                       eps=1e-8, scale=1.0):
    """s ← αs + (1 − α)g²; θ ← θ − η·g/(√s + ε), against ``torch.optim.RMSprop``."""
    _refuse("check_rmsprop_step", lr=lr, alpha=alpha, eps=eps, seed=seed, shape=shape,
            steps=steps, scale=scale)
    _check(_rmsprop_rule, rmsprop_step, {"lr": lr, "alpha": alpha, "eps": eps},
           {"lr": 0.01, "alpha": 0.99, "eps": 1e-8}, {"lr": 0.05, "alpha": 0.9, "eps": 1e-2},
           seed=seed, shape=shape, steps=steps, scale=scale, second_scale=_SMALL,
           why=_EPS_MATTERS, defaults_scale=1e-8)


# ---------------------------------------------------------------- Adam and its relatives


_ADAM_KEYS = {"step": ("t", "the number of updates done"),
              "exp_avg": ("m", "the average of g, not m̂"),
              "exp_avg_sq": ("v", "the average of g², not v̂")}
_ADAM_DEFAULTS = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}
_ADAM_SECOND = {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-2}


def _adam_family_hints(optimizer_class, hyper, step: _Step, no_bias_correction) -> dict:
    """Classic mistakes of the Adam family, as PyTorch steps from this step's input."""
    betas = tuple(hyper["betas"])
    hints = {
        ADAM_STEP_COUNT: lambda: step.run(optimizer_class, hyper, step=step.t),
        ADAM_BETAS_SWAPPED: lambda: step.run(optimizer_class, {**hyper, "betas": betas[::-1]}),
        ADAM_SIGN: lambda: 2 * step.theta - step.expected,
    }
    if no_bias_correction is not None:
        # After ten million steps β₁ᵗ and β₂ᵗ are 0: the corrections divide by 1.
        hints = {no_bias_correction: lambda: step.run(optimizer_class, hyper, step=10_000_000),
                 **hints}
    # (at the first step PyTorch refuses t = 0: ZeroDivisionError, and the hint is skipped)
    hints[ADAM_STEP_BEFORE] = lambda: step.run(optimizer_class, hyper, step=step.t - 2)
    return hints


def _unsquared(step: _Step, beta2):
    """The v of a student who averages g instead of g² (from the right v before)."""
    return beta2 * step.before["exp_avg_sq"] + (1 - beta2) * step.grad


def _moment_hints(step: _Step, betas) -> dict:
    """The state a known mistake stores, for the Adam family's keys this step has."""
    beta1, beta2 = betas
    t, g = step.t, step.grad
    hints = {"step": {STEP_NOT_STORED: float(t - 1)},
             "exp_avg": {ADAM_STORES_M_HAT: lambda: step.after["exp_avg"] / (1 - beta1**t),
                         ADAM_BETAS_SWAPPED: lambda: beta2 * step.before["exp_avg"]
                         + (1 - beta2) * g}}
    if "exp_avg_sq" in step.after:
        hints["exp_avg_sq"] = {
            ADAM_STORES_V_HAT: lambda: step.after["exp_avg_sq"] / (1 - beta2**t),
            ADAM_V_NOT_SQUARED: lambda: _unsquared(step, beta2),
            ADAM_BETAS_SWAPPED: lambda: beta1 * step.before["exp_avg_sq"] + (1 - beta1) * g * g}
    return hints


def _adam_rule(lr, betas, eps) -> _Rule:
    hyper = {"lr": lr, "betas": tuple(betas), "eps": eps}
    beta1, beta2 = betas

    def theta_hints(step):
        t, m, v = step.t, step.after["exp_avg"], step.after["exp_avg_sq"]
        m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
        return {
            **_adam_family_hints(torch.optim.Adam, hyper, step, ADAM_NO_BIAS),
            # t + 1 in one of the two corrections only
            ADAM_STEP_COUNT: AnyOf(
                lambda: step.run(torch.optim.Adam, hyper, step=t),
                lambda: step.theta - lr * m / (1 - beta1 ** (t + 1)) / (np.sqrt(v_hat) + eps),
                lambda: step.theta - lr * m_hat / (np.sqrt(v / (1 - beta2 ** (t + 1))) + eps)),
            ADAM_EPS_INSIDE: lambda: step.theta - lr * m_hat / np.sqrt(v_hat + eps),
            ADAM_NO_ROOT: lambda: step.theta - lr * m_hat / (v_hat + eps),
            ADAM_KERAS: lambda: step.theta - lr * math.sqrt(1 - beta2**t) / (1 - beta1**t) * m / (
                np.sqrt(v) + eps),
            ADAM_V_NOT_SQUARED: lambda: WithNaN(step.theta - lr * m_hat / (
                np.sqrt(_unsquared(step, beta2) / (1 - beta2**t)) + eps)),
            # t − 1 in the corrections: NaN at the first step, where both divide by 0
            ADAM_STEP_BEFORE: lambda: WithNaN(step.theta - lr * m / (1 - beta1 ** (t - 1)) / (
                np.sqrt(v / (1 - beta2 ** (t - 1))) + eps)),
        }

    return _Rule("adam_step", _torch_oracle(torch.optim.Adam, **hyper),
                 _zeros("exp_avg", "exp_avg_sq"), _ADAM_KEYS,
                 _same("step", "exp_avg", "exp_avg_sq"), theta_hints,
                 "t ← t + 1; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; "
                 "θ ← θ − η·m̂/(√v̂ + ε) with m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)",
                 lambda step: _moment_hints(step, betas))


def check_adam_step(adam_step, seed=0, shape=(5,), steps=30, lr=0.05, betas=(0.9, 0.999),
                    eps=1e-8, scale=1.0):
    """Adam, against ``torch.optim.Adam`` driven by the same gradients."""
    _refuse("check_adam_step", lr=lr, betas=betas, eps=eps, seed=seed, shape=shape,
            steps=steps, scale=scale)
    _check(_adam_rule, adam_step, {"lr": lr, "betas": tuple(betas), "eps": eps},
           _ADAM_DEFAULTS, _ADAM_SECOND, seed=seed, shape=shape, steps=steps, scale=scale,
           second_scale=_SMALL, why=_EPS_MATTERS, defaults_scale=1e-8)


def _adamax_rule(lr, betas, eps) -> _Rule:
    hyper = {"lr": lr, "betas": tuple(betas), "eps": eps}
    beta1, beta2 = betas

    def theta_hints(step):
        g, m, u = step.grad, step.after["exp_avg"], step.after["exp_inf"]
        # From the student's own u: a misplaced ε of 1e-8 drifts it within the tolerance
        # for many steps before θ shows it.
        decayed = beta2 * _given(step, "exp_inf")
        rate = lr / (1 - beta1**step.t)
        return {
            **_adam_family_hints(torch.optim.Adamax, hyper, step, ADAMAX_NO_BIAS),
            ADAMAX_U_CORRECTED: lambda: step.theta - rate * m / (u / (1 - beta2**step.t)),
            # Keras's step too: u without ε, and m/(u + ε).
            ADAMAX_EPS_OUTSIDE: lambda: step.theta - rate * m / (np.maximum(decayed, np.abs(g))
                                                                 + eps),
            ADAMAX_NO_EPS: lambda: step.theta - rate * m / np.maximum(decayed, np.abs(g)),
            ADAMAX_NO_ABS: lambda: step.theta - rate * m / np.maximum(decayed, g + eps),
            ADAMAX_NO_DECAY: lambda: step.theta - rate * m / np.maximum(step.before["exp_inf"],
                                                                        np.abs(g) + eps),
        }

    def state_hints(step):
        g, before = step.grad, _given(step, "exp_inf")
        return {**_moment_hints(step, betas), "exp_inf": {
            ADAMAX_NO_DECAY: lambda: np.maximum(before, np.abs(g) + eps),
            ADAMAX_NO_ABS: lambda: np.maximum(beta2 * before, g + eps),
            ADAMAX_EPS_OUTSIDE: lambda: np.maximum(beta2 * before, np.abs(g)) + eps,
            ADAMAX_NO_EPS: lambda: np.maximum(beta2 * before, np.abs(g)),
            ADAM_BETAS_SWAPPED: lambda: np.maximum(beta1 * before, np.abs(g) + eps)}}

    return _Rule("adamax_step", _torch_oracle(torch.optim.Adamax, **hyper),
                 _zeros("exp_avg", "exp_inf"),
                 {"step": _ADAM_KEYS["step"], "exp_avg": _ADAM_KEYS["exp_avg"],
                  "exp_inf": ("u", "the decaying maximum of |g|")},
                 _same("step", "exp_avg", "exp_inf"), theta_hints,
                 "t ← t + 1; m ← β₁m + (1 − β₁)g; u ← max(β₂u, |g| + ε); "
                 "θ ← θ − η/(1 − β₁ᵗ)·m/u", state_hints)


def check_adamax_step(adamax_step, seed=0, shape=(5,), steps=30, lr=0.05, betas=(0.9, 0.999),
                      eps=1e-8, scale=1.0):
    """AdaMax, against ``torch.optim.Adamax``."""
    _refuse("check_adamax_step", lr=lr, betas=betas, eps=eps, seed=seed, shape=shape,
            steps=steps, scale=scale)
    _check(_adamax_rule, adamax_step, {"lr": lr, "betas": tuple(betas), "eps": eps},
           {**_ADAM_DEFAULTS, "lr": 2e-3}, _ADAM_SECOND, seed=seed, shape=shape, steps=steps,
           scale=scale, second_scale=_SMALL, why=_EPS_MATTERS, defaults_scale=1e-8)


def _mu(beta1, psi, t) -> float:
    """Dozat's momentum schedule μₜ, as torch.optim.NAdam computes it."""
    return beta1 * (1 - 0.5 * 0.96 ** (t * psi))


def _nadam_rule(lr, betas, eps, momentum_decay) -> _Rule:
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
            NADAM_CONSTANT_MU: AnyOf(
                lambda: step.run(torch.optim.NAdam, {**hyper, "momentum_decay": 1e9}),
                # μₜ = β₁ but μₜ₊₁ from the schedule
                lambda: nadam(beta1, mu_next, before * beta1),
                # Ruder: θ − η/(√v̂ + ε)·(β₁m̂ + (1 − β₁)g/(1 − β₁ᵗ))
                lambda: step.theta - lr * (beta1 * m + (1 - beta1) * g) / (1 - beta1**t) / root),
            NADAM_ADAM: lambda: _torch_step(torch.optim.Adam, step.theta, g, adam_state,
                                            **{k: hyper[k] for k in ("lr", "betas", "eps")}),
            NADAM_PRODUCT: lambda: step.run(torch.optim.NAdam, hyper, mu_product=1.0),
            NADAM_MU_NEXT: lambda: nadam(mu, mu, before * mu),
            NADAM_NO_BIAS: lambda: nadam(mu, mu_next, before * mu, np.sqrt(v) + eps),
            ADAM_EPS_INSIDE: lambda: nadam(mu, mu_next, before * mu,
                                           np.sqrt(v / (1 - beta2**t) + eps)),
            ADAM_V_NOT_SQUARED: lambda: WithNaN(nadam(mu, mu_next, before * mu, np.sqrt(
                _unsquared(step, beta2) / (1 - beta2**t)) + eps)),
        }

    def state_hints(step):
        before = step.before["mu_product"]
        return {**_moment_hints(step, betas), "mu_product": {
            NADAM_PRODUCT: lambda: step.after["mu_product"] / before,
            NADAM_CONSTANT_MU: lambda: before * beta1}}

    return _Rule("nadam_step", _torch_oracle(torch.optim.NAdam, **hyper),
                 _zeros("exp_avg", "exp_avg_sq", mu_product=1.0),
                 {**_ADAM_KEYS, "mu_product": ("Π", "the product μ₁·μ₂·…·μₜ, a number")},
                 _same("step", "mu_product", "exp_avg", "exp_avg_sq"), theta_hints,
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

    _check(_nadam_rule, nadam_step,
           {"lr": lr, "betas": tuple(betas), "eps": eps, "momentum_decay": momentum_decay},
           {**_ADAM_DEFAULTS, "lr": 2e-3, "momentum_decay": 4e-3},
           {**_ADAM_SECOND, "momentum_decay": 0.05}, seed=seed, shape=shape, steps=steps,
           scale=scale, second_scale=_SMALL, why=_EPS_MATTERS, defaults_scale=1e-8,
           properties=constant_mu)


def _amsgrad_rule(lr, betas, eps) -> _Rule:
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
                                 AMSGRAD_NO_BIAS),
            AMSGRAD_ADAM: lambda: _torch_step(torch.optim.Adam, step.theta, step.grad, adam,
                                              **hyper),
            AMSGRAD_MAX_BEFORE: lambda: step.theta - lr * m_hat / (np.sqrt(np.maximum(
                v_max_before, step.before["exp_avg_sq"]) / correction) + eps),
            AMSGRAD_MAX_V_HAT: AnyOf(
                lambda: step.theta - lr * m_hat / (np.sqrt(v_hat_max) + eps),
                lambda: step.theta - lr * m_hat / (np.sqrt(v_hat_max / correction) + eps)),
            ADAM_EPS_INSIDE: lambda: step.theta - lr * m_hat / np.sqrt(v_max / correction + eps),
            ADAM_KERAS: lambda: step.theta - lr * math.sqrt(correction) / (1 - beta1**t) * m / (
                np.sqrt(v_max) + eps),
            ADAM_V_NOT_SQUARED: lambda: WithNaN(step.theta - lr * m_hat / (np.sqrt(np.maximum(
                v_max_before, _unsquared(step, beta2)) / correction) + eps)),
        }

    def state_hints(step):
        return {**_moment_hints(step, betas), "max_exp_avg_sq": {
            AMSGRAD_MAX_V_HAT: lambda: np.maximum(step.before["max_exp_avg_sq"],
                                                  step.after["exp_avg_sq"] / (1 - beta2**step.t)),
            AMSGRAD_ADAM: step.after["exp_avg_sq"]}}

    return _Rule("amsgrad_step", _torch_oracle(torch.optim.Adam, amsgrad=True, **hyper),
                 _zeros("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
                 {**_ADAM_KEYS, "max_exp_avg_sq": ("v_max", "the largest v so far")},
                 _same("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"), theta_hints,
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
        if (t := _first_growth(path, "max_exp_avg_sq", lr, eps)) is not None:
            raise AssertionError(f"amsgrad_step: max_exp_avg_sq decreased at step {t} — it is "
                                 "the largest v so far, so it never decreases and the effective "
                                 "step η/(√v_max + ε) never grows")

    _check(_amsgrad_rule, amsgrad_step, {"lr": lr, "betas": tuple(betas), "eps": eps},
           _ADAM_DEFAULTS, _ADAM_SECOND, seed=seed, shape=shape, steps=steps, scale=scale,
           second_scale=_SMALL, why=_EPS_MATTERS, defaults_scale=1e-8, properties=never_grows)


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


def _delta_bar_delta_rule(lr, kappa, phi, decay) -> _Rule:
    oracle = _delta_bar_delta_oracle(lr, kappa, phi, decay)

    def rates_before(step):
        return step.before["rates"] if step.before else np.full_like(step.grad, lr)

    def bar_before(step):
        return step.before["bar"] if step.before else np.zeros_like(step.grad)

    def theta_hints(step):
        old, new, g = rates_before(step), step.after["rates"], step.grad
        return {
            DBD_OLD_RATES: lambda: step.theta - old * g,
            DBD_BAR_FIRST: lambda: oracle(step.theta, g, {"rates": old, "bar": step.after["bar"]},
                                          step.t)[0],
            DBD_TIMES_PHI: lambda: step.theta - np.where(new < old, old * phi, new) * g
            if phi else None,
            DBD_MULTIPLICATIVE: lambda: step.theta - np.where(new > old, old * (1 + kappa),
                                                              new) * g,
            DBD_SIGN: lambda: 2 * step.theta - step.expected,
        }

    def state_hints(step):
        g, bar = step.grad, bar_before(step)
        return {"bar_grad": {DBD_DECAY_SWAPPED: lambda: decay * g + (1 - decay) * bar,
                             DBD_BAR_IS_GRADIENT: g}}

    return _Rule("delta_bar_delta_step", oracle, lambda shape: {},
                 {"lr": ("η", "the array of per-parameter rates"),
                  "bar_grad": ("δ̄", "the average of past gradients")},
                 lambda step: {"lr": step.after["rates"], "bar_grad": step.after["bar"]},
                 theta_hints,
                 "η ← η + κ where δ̄g > 0, η ← (1 − φ)η where δ̄g < 0; θ ← θ − η⊙g; "
                 "δ̄ ← (1 − decay)g + decay·δ̄ (η = lr, δ̄ = 0 at first)", state_hints)


def check_delta_bar_delta_step(delta_bar_delta_step, seed=0, shape=(5,), steps=30, lr=0.01,
                               kappa=1e-3, phi=0.1, decay=0.7, scale=1.0):
    """Jacobs' delta-bar-delta against its closed form, plus the properties of the rates:
    from one step to the next each rate grows by exactly κ, shrinks by exactly the factor
    1 − φ, or stays, as the sign of δ̄·g says.
    """
    _refuse("check_delta_bar_delta_step", lr=lr, kappa=kappa, phi=phi, decay=decay, seed=seed,
            shape=shape, steps=steps, scale=scale)
    hyper = {"lr": lr, "kappa": kappa, "phi": phi, "decay": decay}
    name = f"delta_bar_delta_step ({_label(**hyper)})"

    def rates_change_by_the_rule(path):
        previous = np.full(tuple(shape), float(lr))
        for t, (_, state) in enumerate(path, start=1):
            rates = state["lr"]
            allowed = (np.isclose(rates, previous + kappa, rtol=1e-12, atol=1e-15)
                       | np.isclose(rates, previous * (1 - phi), rtol=1e-12, atol=1e-15)
                       | (rates == previous))
            if not np.all(allowed):
                raise AssertionError(f"{name}, after {t} steps: a rate changed by something "
                                     "other than +κ or ×(1 − φ)")
            previous = rates

    _check(_delta_bar_delta_rule, delta_bar_delta_step, hyper,
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


def _noisy_sgd_rule(lr, eta, gamma, seed) -> _Rule:
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
            NOISE_T_OFF_BY_ONE: lambda: step.theta - lr * (g + sigma(t + 1)
                                                           * _noise(seed, t + 1, g.shape)),
            NOISE_IGNORES_SEED: lambda: step.theta - lr * (g + sigma(t) * _noise(0, t, g.shape)),
            NOISE_ONE_GENERATOR: lambda: step.theta - lr * (
                g + sigma(t) * np.random.default_rng(seed).standard_normal(g.shape)),
            NOISE_WRONG_STREAM: AnyOf(*(
                lambda entropy=entropy: step.theta - lr * (
                    g + sigma(t) * np.random.default_rng(entropy).standard_normal(g.shape))
                for entropy in ([t, seed], seed + t))),
            NOISE_VARIANCE_AS_STD: lambda: step.theta - lr * (g + sigma(t) ** 2 * xi),
            NOISE_WITHOUT_LR: lambda: step.theta - lr * g - sigma(t) * xi,
            NOISE_SIGN: lambda: 2 * step.theta - step.expected,
        }

    return _Rule("noisy_sgd_step", oracle, lambda shape: {},
                 {"step": ("step", "the number of updates done")},
                 lambda step: {"step": float(step.t)}, theta_hints,
                 "t = step − 1; σₜ² = η/(1 + t)^γ; ξ = np.random.default_rng([seed, t])"
                 ".standard_normal(θ.shape); θ ← θ − lr·(g + σₜ·ξ)",
                 lambda step: {"step": {STEP_NOT_STORED: float(step.t - 1)}})


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
        new_theta, _ = _pair(noisy_sgd_step(zeros.copy(), zeros.copy(), state, lr=lr, eta=eta,
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
                NOISE_VARIANCE_AS_STD: (lr * _sigma(eta, gamma, t) ** 2) ** 2,
                NOISE_WITHOUT_LR: _sigma(eta, gamma, t) ** 2,
                NOISE_T_OFF_BY_ONE: (lr * _sigma(eta, gamma, t + 1)) ** 2,
            }, "θ ← θ − lr·(g + σₜ·ξ) with σₜ² = η/(1 + t)^γ")
            raise AssertionError(f"{where}: the noise has variance {var:.4g}, expected "
                                 f"lr²·σₜ² = {sd**2:.4g} ± {tolerance:.2g} — {hint}")


def check_noisy_sgd_step(noisy_sgd_step, seed=0, shape=(5,), steps=30, lr=0.01, eta=0.3,
                         gamma=0.55, scale=1.0):
    """Gradient descent with annealed Gaussian noise (Neelakantan et al. 2015).

    1. Statistics, on θ of NOISE_SIZE coordinates with g = 0 at steps t = 0 and t = 9: the
       noise lr·σₜ·ξ has mean 0 and variance lr²·σₜ², σₜ² = η/(1 + t)^γ. Over n draws, the
       sample mean has standard error lr·σₜ/√n, and the sample variance s² of a Gaussian
       has standard error lr²·σₜ²·√(2/(n − 1)); each is allowed Z of them, so a correct
       rule fails with probability below 10⁻⁸ (and never, since the seeds are fixed).
    2. Exactly, along the trajectories, with the noise of the specified generator.
    The student's seed is ``seed + 7`` (``seed + 8`` in the second run, 0 by default).
    """
    _refuse("check_noisy_sgd_step", lr=lr, eta=eta, gamma=gamma, seed=seed, shape=shape,
            steps=steps, scale=scale)
    hyper = {"lr": lr, "eta": eta, "gamma": gamma, "seed": seed + 7}
    _noise_statistics(noisy_sgd_step, f"noisy_sgd_step ({_label(**hyper)})", seed + 7, lr, eta,
                      gamma)
    _check(_noisy_sgd_rule, noisy_sgd_step, hyper,
           {"lr": 0.01, "eta": 0.3, "gamma": 0.55, "seed": 0},
           {"lr": 0.05, "eta": 0.5, "gamma": 0.8, "seed": seed + 8}, seed=seed, shape=shape,
           steps=steps, scale=scale)
