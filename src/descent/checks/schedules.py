"""Checks for chapter 06: learning-rate schedules.

Five schedules are pure functions of the step index, ``lr = <name>_lr(step, lr0, ...)`` with
``step`` = 0, 1, 2, … the number of updates already done; reduce-on-plateau reacts to a
metric and keeps a state, ``new_lr, new_state = reduce_on_plateau(metric, lr, state, ...)``
with ``state = {}`` on the first call.

Oracles: ``torch.optim.lr_scheduler`` driving plain SGD on a dummy float64 parameter; the
learning rate of step t is ``optimizer.param_groups[0]["lr"]`` after t calls of
``scheduler.step()`` (t = 0 before the first). The student's schedule is evaluated at every
step from 0 to at least 50, past the end of its decay, and the whole sequence is compared:

- piecewise-linear: ``LinearLR`` (from η₀ down, or from η_τ up when η_τ > η₀);
- step and exponential: ``StepLR`` and ``ExponentialLR``;
- inverse time: ``LambdaLR`` with the closed form η₀/(1 + k·t), and the property that 1/η_t
  grows by k/η₀ at every step;
- cosine with warm-up: ``SequentialLR`` chaining ``LambdaLR`` (the warm-up) and
  ``CosineAnnealingLR``, up to the end of the cosine; past it, the course's η_min (PyTorch's
  cosine would rise again);
- reduce-on-plateau: ``ReduceLROnPlateau`` (threshold_mode "rel") stepped with the same
  metric sequence, seeded noisy descents with plateaus and sub-threshold improvements; the
  learning rate (to 1e-12) and the three counters are compared after every call.

Whatever its arguments, each check also runs the conventions the task states that its
arguments might not reach: the piecewise-linear schedule in the other direction (a ramp up
when the arguments decay, and the reverse), the cosine without a warm-up (or with one), and
reduce-on-plateau in mode "max" with a cooldown, a floor min_lr and a relative threshold, and
with rates so small that eps skips the cuts.

When a sequence differs, the check computes a few classic mistakes (an off-by-one step, an
integer division, PyTorch schedulers with a hyper-parameter dropped, Keras's conventions, …)
and names the one the student's sequence reproduces as a misconception
(:mod:`descent.checks.misconceptions`). Those variants only choose the hint; the verdict
comes from the oracle. Arguments a check cannot use (a step size of 0, a decay factor
above 1, …) are refused with a ValueError before the student's function is called.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch.optim import lr_scheduler

from descent.checks._arguments import SEED, integer, number, one_of, require
from descent.checks._compare import (
    as_float_array,
    as_number,
    as_tuple,
    assert_close,
    describe_mismatch,
    diagnose,
)
from descent.checks._trajectory import (
    assert_state_unchanged,
    require_state_keys,
    snapshot_state,
)
from descent.checks.misconceptions import on_page

#: Tolerances of a schedule: PyTorch's chained products differ from a closed form by a few
#: units of 1e-16 per step, and every mistake by far more than 1e-9.
RTOL, ATOL = 1e-9, 1e-15
#: The fewest steps a schedule is checked over.
MIN_STEPS = 50


# ---------------------------------------------------------------- the known mistakes

_PAGE = "06_schedules"
_PIECEWISE = "The lecture's piecewise-linear decay"
_DECAYS = "Step, exponential and inverse-time decay"
_COSINE = "Cosine annealing and warm-up"
_PLATEAU = "Reduce on plateau"
_mistake = on_page(_PAGE)

PIECEWISE_INTEGER_BETA = _mistake(
    "piecewise.integer-beta",
    "f = i/τ is a fraction between 0 and 1: with integer division (i // τ) the rate jumps "
    "from η₀ to η_τ at step τ instead of sliding", _PIECEWISE)
PIECEWISE_SWAPPED = _mistake(
    "piecewise.weights-swapped",
    "the weights are swapped: (1 − f) multiplies η₀ and f multiplies η_τ, so that the rate "
    "starts at η₀", _PIECEWISE)
PIECEWISE_NO_FLOOR = _mistake(
    "piecewise.no-floor",
    "from step τ on the rate stays at η_τ; it does not keep moving along the line",
    _PIECEWISE)
PIECEWISE_LATE = _mistake(
    "piecewise.one-step-late",
    "the slide is one step late: η_1 already differs from η₀ (f = i/τ, not (i − 1)/τ)",
    _PIECEWISE)
PIECEWISE_EARLY = _mistake(
    "piecewise.one-step-early",
    "the slide is one step early: η_0 must be η₀ (f = i/τ, not (i + 1)/τ)", _PIECEWISE)
PIECEWISE_LINSPACE = _mistake(
    "piecewise.linspace-endpoint",
    "η_τ is reached at step τ, not τ − 1: f = i/τ, not i/(τ − 1) (np.linspace(η₀, η_τ, τ) "
    "ends one step early)", _PIECEWISE)
PIECEWISE_DECAY_ONLY = _mistake(
    "piecewise.decay-only",
    "the same formula ramps a value up when η_τ > η₀ (as a momentum warm-up does): do not "
    "clip the rate to η₀ or assume η_τ < η₀", "Momentum warm-up, the mirror image")

STEP_EARLY = _mistake(
    "step-decay.one-step-early",
    "the first decay comes at step step_size, not one step earlier: steps 0 … step_size − 1 "
    "use η₀ (⌊t/s⌋ with t counted from 0, not ⌊(t + 1)/s⌋)", _DECAYS)
STEP_LATE = _mistake(
    "step-decay.one-step-late",
    "the first decay comes at step step_size, not one step later (⌊t/s⌋, not ⌊(t − 1)/s⌋)",
    _DECAYS)
STEP_EVERY_STEP = _mistake(
    "step-decay.every-step",
    "the factor d (gamma) is applied once every step_size steps, not at every step (that is "
    "exponential decay)",
    _DECAYS)
STEP_CONTINUOUS = _mistake(
    "step-decay.continuous-exponent",
    "the exponent is the whole number ⌊t/s⌋ (t // step_size), not t/s: a staircase, as Keras's "
    "ExponentialDecay only with staircase=True", _DECAYS)
STEP_ONE_MINUS = _mistake(
    "step-decay.one-minus-gamma",
    "d (gamma) is the factor the rate is multiplied by at each decay: η₀·d^⌊t/s⌋, not "
    "η₀·(1 − d)^⌊t/s⌋",
    _DECAYS)

EXPONENTIAL_EARLY = _mistake(
    "exponential.one-step-early",
    "η_0 is η₀: the exponent is t, the number of updates done (from 0), not t + 1", _DECAYS)
EXPONENTIAL_RATE = _mistake(
    "exponential.gamma-as-rate",
    "gamma is the factor d per step, η₀·d^t, not a rate k in η₀·e^(−kt) (that is d = e^(−k))",
    _DECAYS)
EXPONENTIAL_ONE_MINUS = _mistake(
    "exponential.one-minus-gamma",
    "d (gamma) is the factor the rate is multiplied by at each step: η₀·d^t, not η₀·(1 − d)^t",
    _DECAYS)

INVERSE_EARLY = _mistake(
    "inverse-time.one-step-early",
    "η_0 is η₀: use t, the number of updates done (from 0), not t + 1", _DECAYS)
INVERSE_SQRT = _mistake(
    "inverse-time.square-root",
    "no square root: η₀/(1 + k·t) falls like 1/t; η₀/√(1 + k·t) is the inverse-square-root "
    "schedule", _DECAYS)
INVERSE_POWER = _mistake(
    "inverse-time.power",
    "k multiplies t, it is not a power: η₀/(1 + k·t), not η₀/(1 + k)^t (that is exponential "
    "decay)", _DECAYS)
INVERSE_LINEAR = _mistake(
    "inverse-time.linear", "divide: η₀/(1 + k·t), not η₀·(1 − k·t)", _DECAYS)

COSINE_PERIODIC = _mistake(
    "cosine.periodic-past-end",
    "past total_steps the course keeps η_min: PyTorch's CosineAnnealingLR would follow the "
    "cosine back up", _COSINE)
COSINE_OVER_TOTAL = _mistake(
    "cosine.period-includes-warmup",
    "the cosine runs over the T − W steps after the warm-up, not over T steps "
    "(CosineAnnealingLR(T_max=T − W))", _COSINE)
COSINE_FROM_ZERO = _mistake(
    "cosine.progress-from-zero",
    "the cosine starts at the end of the warm-up: its progress is (t − W)/(T − W), not t/T",
    _COSINE)
COSINE_NO_LR_MIN = _mistake(
    "cosine.no-lr-min",
    "the cosine ends at η_min: η_min + ½(η₀ − η_min)(1 + cos …), not ½η₀(1 + cos …) (the "
    "schedule that ends at 0)", _COSINE)
COSINE_HALF = _mistake(
    "cosine.half-period",
    "the progress of the cosine is (t − W)/(T − W), from 0 to 1; cos(π·progress), not "
    "cos(π·progress/2)", _COSINE)
COSINE_OFF_BY_ONE = _mistake(
    "cosine.off-by-one",
    "the cosine reaches η_min at step T, not T − 1: its progress is (t − W)/(T − W), not "
    "(t − W)/(T − W − 1)", _COSINE)
WARMUP_FROM_ONE = _mistake(
    "warmup.starts-at-one",
    "the warm-up starts from 0 at step 0 and reaches η₀ at step W: η₀·t/W, not η₀·(t + 1)/W",
    _COSINE)
WARMUP_ENDS_EARLY = _mistake(
    "warmup.ends-early",
    "the warm-up reaches η₀ at step W, where the cosine starts: η₀·t/W, not η₀·t/(W − 1)",
    _COSINE)
WARMUP_NONE = _mistake(
    "warmup.when-none",
    "with W = 0 there is no warm-up: the cosine starts at step 0, with η₀ (mind t ≤ W and a "
    "division by W = 0)", _COSINE)
WARMUP_FROM_LR_MIN = _mistake(
    "warmup.from-lr-min",
    "the warm-up starts from 0, not from η_min: η₀·t/W", _COSINE)

PLATEAU_COOLDOWN = _mistake(
    "plateau.counts-during-cooldown",
    "during the cooldown (cooldown epochs after a cut) bad epochs are not counted: decrease "
    "cooldown_counter and reset num_bad_epochs to 0", _PLATEAU)
PLATEAU_NO_THRESHOLD = _mistake(
    "plateau.no-threshold",
    "an improvement must beat best by the relative threshold: metric < best·(1 − threshold) "
    "in mode 'min', not just metric < best", _PLATEAU)
PLATEAU_ABSOLUTE = _mistake(
    "plateau.absolute-threshold",
    "the threshold is relative: metric < best·(1 − threshold) in mode 'min', not "
    "best − threshold (Keras's min_delta and threshold_mode='abs' are absolute)", _PLATEAU)
PLATEAU_AT_PATIENCE = _mistake(
    "plateau.cut-at-patience",
    "cut when num_bad_epochs > patience, not ≥ patience (Keras cuts when wait ≥ patience; "
    "PyTorch one epoch later)", _PLATEAU)
PLATEAU_LATE = _mistake(
    "plateau.cut-late",
    "cut as soon as num_bad_epochs > patience, not one epoch later", _PLATEAU)
PLATEAU_MIN_LR = _mistake(
    "plateau.below-min-lr",
    "never go below min_lr: new_lr = max(lr·factor, min_lr)", _PLATEAU)
PLATEAU_EPS = _mistake(
    "plateau.ignores-eps",
    "skip a cut smaller than eps: apply new_lr only if lr − new_lr > eps", _PLATEAU)
PLATEAU_MODE = _mistake(
    "plateau.mode-reversed",
    "mode 'max' means that larger is better (an accuracy), 'min' that smaller is (a loss)",
    _PLATEAU)
PLATEAU_NO_RESET = _mistake(
    "plateau.no-reset-after-cut",
    "after a cut the count restarts: num_bad_epochs = 0 (and cooldown_counter = cooldown), "
    "or every later bad epoch cuts again", _PLATEAU)

#: Not a misconception (the book has no section on precision), but a classic.
FLOAT32_HINT = "right to about 7 digits only: compute in float64 (Python floats), not float32"


# ---------------------------------------------------------------- arguments

_POSITIVE = number(above=0)
_FACTOR = number(above=0, most=1, why=" (a decay factor)")


# ---------------------------------------------------------------- driving PyTorch


def _sgd(lr0: float) -> torch.optim.Optimizer:
    """Plain SGD on a dummy float64 parameter, for a scheduler to drive."""
    return torch.optim.SGD([torch.zeros(1, dtype=torch.float64, requires_grad=True)], lr=lr0)


def _torch_lrs(make: Callable, lr0: float, steps: int) -> np.ndarray:
    """Learning rates of steps 0..steps of ``make(optimizer)``, a torch scheduler."""
    optimizer = _sgd(lr0)
    scheduler = make(optimizer)
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    return np.array(lrs, dtype=float)


def _shift(sequence: np.ndarray, by: int) -> np.ndarray:
    """The sequence one step early (by = 1) or late (by = −1), repeating its end value."""
    if by > 0:
        return np.append(sequence[by:], [sequence[-1]] * by)
    return np.append([sequence[0]] * -by, sequence[:by])


# ---------------------------------------------------------------- reading the student's


def _schedule(student, name: str, steps: int, **hyper) -> np.ndarray:
    """The student's learning rates at steps 0..steps, each one number."""
    lrs = np.empty(steps + 1)
    for t in range(steps + 1):
        value = as_float_array(student(t, **hyper), name, f"learning rate at step {t}")
        if value.shape != ():
            raise AssertionError(f"{name}: at step {t} it returned an array of shape "
                                 f"{value.shape}; return one number, e.g. float(lr)")
        lrs[t] = value
    return lrs


def _compare(name: str, got: np.ndarray, expected: np.ndarray, variants: Callable,
             default: str) -> None:
    """Compare two learning-rate sequences, naming the first mismatching step.

    ``variants()`` maps hints to the sequences of known mistakes; it is computed only when
    the sequences differ.
    """
    steps = np.arange(len(expected))
    try:
        assert_close(name, got, expected, inputs=steps, input_name="step", rtol=RTOL,
                     atol=ATOL, what="learning rate")
    except AssertionError:
        with np.errstate(all="ignore"):
            hint = diagnose(got, variants(), default)
            if np.allclose(got, expected, rtol=1e-6, atol=ATOL):
                hint = FLOAT32_HINT
            # Report the first step that differs, where a reader starts looking.
            bad = ~np.isclose(got, expected, rtol=RTOL, atol=ATOL)
        first = int(np.argmax(bad))
        assert_close(name, got[first], expected[first], inputs=first, input_name="step",
                     rtol=RTOL, atol=ATOL, what="learning rate", hint=hint)
        raise


def _label(**hyper) -> str:
    return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v:g}"
                     for k, v in hyper.items())


def _horizon(steps: int) -> int:
    return max(int(steps), MIN_STEPS)


# ---------------------------------------------------------------- piecewise linear

#: The stage every call adds in the other direction: a momentum warm-up (ramp up) after a
#: decay, the lecture's decay after a ramp up.
RAMP_UP = {"lr0": 0.5, "lr_tau": 0.99, "tau": 40}
DECAY = {"lr0": 0.1, "lr_tau": 0.001, "tau": 30}


def check_piecewise_linear_lr(piecewise_linear_lr, lr0=0.1, lr_tau=0.001, tau=30, steps=60):
    """(1 − f)η₀ + fη_τ with f = i/τ for i < τ, then η_τ, against ``LinearLR``.

    ``LinearLR`` multiplies the optimizer's initial rate by a factor that moves linearly from
    ``start_factor`` to ``end_factor`` over ``total_iters`` steps; both factors must lie in
    (0, 1], so a decay starts from η₀ and a ramp up (η_τ > η₀) from η_τ. Every call also
    checks the other direction (:data:`RAMP_UP` after a decay, :data:`DECAY` after a ramp).
    """
    check = "check_piecewise_linear_lr"
    require(check, _POSITIVE, lr0=lr0)
    require(check, number(least=0), lr_tau=lr_tau)
    require(check, integer(1), tau=tau, steps=steps)
    _piecewise_stage(piecewise_linear_lr, lr0, lr_tau, tau, steps)
    other = RAMP_UP if lr_tau <= lr0 else DECAY
    _piecewise_stage(piecewise_linear_lr, **other, steps=other["tau"] + 20)


def _piecewise_stage(student, lr0, lr_tau, tau, steps) -> None:
    hyper = {"lr0": lr0, "lr_tau": lr_tau, "tau": tau}
    name = f"piecewise_linear_lr({_label(**hyper)})"
    steps = _horizon(max(steps, tau + 10))
    got = _schedule(student, name, steps, **hyper)
    if lr_tau <= lr0:
        expected = _torch_lrs(lambda opt: lr_scheduler.LinearLR(
            opt, start_factor=1.0, end_factor=lr_tau / lr0, total_iters=tau), lr0, steps)
    else:
        expected = _torch_lrs(lambda opt: lr_scheduler.LinearLR(
            opt, start_factor=lr0 / lr_tau, end_factor=1.0, total_iters=tau), lr_tau, steps)
    t = np.arange(steps + 1)

    def variants():
        found = {
            PIECEWISE_INTEGER_BETA: np.where(t < tau, lr0, lr_tau),
            PIECEWISE_SWAPPED: np.where(t < tau, lr0 + lr_tau - expected, lr_tau),
            PIECEWISE_NO_FLOOR: lr0 + (lr_tau - lr0) * t / tau,
            PIECEWISE_LATE: _shift(expected, -1),
            PIECEWISE_EARLY: _shift(expected, 1),
        }
        if tau > 1:
            found[PIECEWISE_LINSPACE] = np.where(
                t < tau - 1, lr0 + (lr_tau - lr0) * t / (tau - 1), lr_tau)
        if lr_tau > lr0:
            found[PIECEWISE_DECAY_ONLY] = np.minimum(expected, lr0)
        return found

    _compare(name, got, expected, variants,
             "η_i = (1 − i/τ)·η₀ + (i/τ)·η_τ for i < τ, η_τ from step τ on")


# ---------------------------------------------------------------- step and exponential


def check_step_lr(step_lr, lr0=0.1, step_size=10, gamma=0.5, steps=60):
    """η₀·d^⌊t/s⌋ against ``StepLR``, and the default d = 0.1."""
    check = "check_step_lr"
    require(check, _POSITIVE, lr0=lr0)
    require(check, integer(1), step_size=step_size, steps=steps)
    require(check, _FACTOR, gamma=gamma)
    hyper = {"lr0": lr0, "step_size": step_size, "gamma": gamma}
    name = f"step_lr({_label(**hyper)})"
    steps = _horizon(max(steps, 3 * step_size))
    got = _schedule(step_lr, name, steps, **hyper)
    expected = _torch_lrs(lambda opt: lr_scheduler.StepLR(opt, step_size, gamma), lr0, steps + 1)
    expected, one_step_early = expected[:-1], expected[1:]
    t = np.arange(steps + 1)

    def variants():
        return {
            STEP_EARLY: one_step_early,
            STEP_LATE: _shift(expected, -1),
            STEP_EVERY_STEP: _torch_lrs(lambda opt: lr_scheduler.ExponentialLR(opt, gamma),
                                        lr0, steps),
            STEP_CONTINUOUS: lr0 * gamma ** (t / step_size),
            STEP_ONE_MINUS: lr0 * (1 - gamma) ** (t // step_size),
        }

    _compare(name, got, expected, variants, "η_t = η₀·d^⌊t/step_size⌋")
    default_name = f"step_lr(lr0={lr0:g}, step_size={step_size}) without gamma"
    got = _schedule(step_lr, default_name, steps, lr0=lr0, step_size=step_size)
    expected = _torch_lrs(lambda opt: lr_scheduler.StepLR(opt, step_size), lr0, steps)
    _compare(default_name, got, expected, lambda: {STEP_ONE_MINUS: lr0 * 0.9 ** (t // step_size)},
             "the default factor d (gamma) is StepLR's, gamma=0.1")


def check_exponential_lr(exponential_lr, lr0=0.1, gamma=0.95, steps=60):
    """η₀·d^t against ``ExponentialLR``."""
    check = "check_exponential_lr"
    require(check, _POSITIVE, lr0=lr0)
    require(check, _FACTOR, gamma=gamma)
    require(check, integer(1), steps=steps)
    hyper = {"lr0": lr0, "gamma": gamma}
    name = f"exponential_lr({_label(**hyper)})"
    steps = _horizon(steps)
    got = _schedule(exponential_lr, name, steps, **hyper)
    expected = _torch_lrs(lambda opt: lr_scheduler.ExponentialLR(opt, gamma), lr0, steps + 1)
    expected, one_step_early = expected[:-1], expected[1:]
    t = np.arange(steps + 1)

    def variants():
        return {
            EXPONENTIAL_EARLY: one_step_early,
            EXPONENTIAL_RATE: lr0 * np.exp(-gamma * t),
            EXPONENTIAL_ONE_MINUS: lr0 * (1 - gamma) ** t,
        }

    _compare(name, got, expected, variants, "η_t = η₀·d^t")


# ---------------------------------------------------------------- inverse time


def check_inverse_time_lr(inverse_time_lr, lr0=0.1, decay=0.1, steps=60):
    """η₀/(1 + k·t) against ``LambdaLR`` and the closed form, and 1/η_t linear in t."""
    check = "check_inverse_time_lr"
    require(check, _POSITIVE, lr0=lr0)
    require(check, number(least=0), decay=decay)
    require(check, integer(1), steps=steps)
    hyper = {"lr0": lr0, "decay": decay}
    name = f"inverse_time_lr({_label(**hyper)})"
    steps = _horizon(steps)
    got = _schedule(inverse_time_lr, name, steps, **hyper)
    expected = _torch_lrs(lambda opt: lr_scheduler.LambdaLR(
        opt, lambda t: 1.0 / (1.0 + decay * t)), lr0, steps + 1)
    expected, one_step_early = expected[:-1], expected[1:]
    t = np.arange(steps + 1)

    def variants():
        return {
            INVERSE_EARLY: one_step_early,
            INVERSE_SQRT: lr0 / np.sqrt(1 + decay * t),
            INVERSE_POWER: lr0 / (1 + decay) ** t,
            INVERSE_LINEAR: lr0 * (1 - decay * t),
        }

    _compare(name, got, expected, variants, "η_t = η₀/(1 + decay·t)")
    # The same rule seen another way: 1/η_t = 1/η₀ + (k/η₀)·t goes up by k/η₀ per step.
    growth = np.diff(1.0 / got)
    assert_close(f"{name}, 1/η_{{t+1}} − 1/η_t", growth, np.full(steps, decay / lr0),
                 rtol=1e-7, atol=1e-9, what="growth of 1/η",
                 hint="1/η_t must grow by the same amount decay/η₀ at every step")


# ---------------------------------------------------------------- cosine with warm-up


def _cosine_torch(lr0, warmup_steps, total_steps, lr_min, steps, t_max=None) -> np.ndarray:
    """SequentialLR: LambdaLR t/W for W steps, then CosineAnnealingLR(T − W, η_min)."""
    t_max = total_steps - warmup_steps if t_max is None else t_max

    def make(opt):
        cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=lr_min)
        if warmup_steps == 0:
            return cosine
        warmup = lr_scheduler.LambdaLR(opt, lambda t: t / warmup_steps)
        return lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[warmup_steps])

    return _torch_lrs(make, lr0, steps)


#: The warm-up of the stage every call adds: none when the arguments have one, else this.
OTHER_WARMUP = 10


def check_cosine_warmup_lr(cosine_warmup_lr, lr0=0.1, warmup_steps=10, total_steps=60,
                           lr_min=0.001, past=20):
    """Warm-up t/W·η₀, then η_min + ½(η₀ − η_min)(1 + cos(π(t − W)/(T − W))), then η_min.

    Against ``SequentialLR(LambdaLR, CosineAnnealingLR)`` up to step T; from T to T + past
    (and at least step 50) the course keeps η_min. Also checks the default η_min = 0, and the
    same schedule without a warm-up (W = 0), or with :data:`OTHER_WARMUP` steps of warm-up
    when W is already 0.
    """
    check = "check_cosine_warmup_lr"
    require(check, _POSITIVE, lr0=lr0)
    require(check, integer(0), warmup_steps=warmup_steps, past=past)
    require(check, integer(warmup_steps + 1, why=" (the check needs total_steps > "
                                                 "warmup_steps ≥ 0)"), total_steps=total_steps)
    require(check, number(least=0, most=lr0, why=" (at most lr0)"), lr_min=lr_min)
    steps = _horizon(total_steps + past)
    _cosine_stage(cosine_warmup_lr, lr0, warmup_steps, total_steps, lr_min, steps)

    t = np.arange(steps + 1)
    default_name = (f"cosine_warmup_lr(lr0={lr0:g}, warmup_steps={warmup_steps}, "
                    f"total_steps={total_steps}) without lr_min")
    got = _schedule(cosine_warmup_lr, default_name, steps, lr0=lr0, warmup_steps=warmup_steps,
                    total_steps=total_steps)
    expected = np.where(t < total_steps,
                        _cosine_torch(lr0, warmup_steps, total_steps, 0.0, steps), 0.0)
    _compare(default_name, got, expected, dict, "the default lr_min is 0.0")

    other = 0 if warmup_steps else min(OTHER_WARMUP, total_steps - 1)
    _cosine_stage(cosine_warmup_lr, lr0, other, total_steps, lr_min, steps)


def _cosine_stage(student, lr0, warmup_steps, total_steps, lr_min, steps) -> None:
    hyper = {"lr0": lr0, "warmup_steps": warmup_steps, "total_steps": total_steps,
             "lr_min": lr_min}
    name = f"cosine_warmup_lr({_label(**hyper)})"
    got = _schedule(student, name, steps, **hyper)
    torch_lrs = _cosine_torch(lr0, warmup_steps, total_steps, lr_min, steps)
    t = np.arange(steps + 1)
    expected = np.where(t < total_steps, torch_lrs, lr_min)
    span = total_steps - warmup_steps
    cosine_part = (t >= warmup_steps) & (t < total_steps)
    warming = t < warmup_steps

    def cosine(progress):
        return np.where(cosine_part, lr_min + 0.5 * (lr0 - lr_min) * (1 + np.cos(
            np.pi * progress)), expected)

    def variants():
        progress = (t - warmup_steps) / span
        found = {
            COSINE_PERIODIC: torch_lrs,
            COSINE_OVER_TOTAL: np.where(t < total_steps, _cosine_torch(
                lr0, warmup_steps, total_steps, lr_min, steps, t_max=total_steps), lr_min),
            COSINE_FROM_ZERO: cosine(t / total_steps),
            COSINE_NO_LR_MIN: np.where(t < total_steps, _cosine_torch(
                lr0, warmup_steps, total_steps, 0.0, steps), lr_min),
            COSINE_HALF: cosine(progress / 2),
        }
        if span > 1:
            found[COSINE_OFF_BY_ONE] = cosine((t - warmup_steps) / (span - 1))
        if warmup_steps:
            found[WARMUP_FROM_ONE] = np.where(warming, lr0 * (t + 1) / warmup_steps, expected)
            found[WARMUP_FROM_LR_MIN] = np.where(
                warming, lr_min + (lr0 - lr_min) * t / warmup_steps, expected)
        else:
            found[WARMUP_NONE] = np.where(t == 0, 0.0, expected)
        if warmup_steps > 1:
            found[WARMUP_ENDS_EARLY] = np.where(warming, np.minimum(
                lr0 * t / (warmup_steps - 1), lr0), expected)
        return found

    _compare(name, got, expected, variants,
             "η₀·t/W for t < W; η_min + ½(η₀ − η_min)(1 + cos(π(t − W)/(T − W))) for "
             "W ≤ t < T; η_min from T on")


# ---------------------------------------------------------------- reduce on plateau

#: The metric sequence of the run with PyTorch's defaults: four cuts in 80 epochs, and
#: changing any default changes the learning rates.
DEFAULTS_SEED = 104
#: The state keys of reduce-on-plateau, with what to store there.
PLATEAU_KEYS = {
    "best": "the best metric so far",
    "num_bad_epochs": "the number of epochs since the last improvement",
    "cooldown_counter": "the epochs of cooldown left",
}
#: The runs every call adds, whatever its arguments (seed, epochs, lr, hyper-parameters):
#: mode "max" with a cooldown, a floor min_lr reached and a relative threshold that an
#: absolute one would not match; then rates so small that eps skips the last cuts.
PLATEAU_STAGES = (
    (1, 70, 0.1, {"factor": 0.5, "patience": 3, "threshold": 1e-3, "cooldown": 2,
                  "min_lr": 0.02, "mode": "max", "eps": 1e-8}),
    (3, 60, 1e-7, {"factor": 0.5, "patience": 1, "threshold": 1e-4, "cooldown": 0,
                   "min_lr": 0.0, "mode": "min", "eps": 1e-8}),
)


def plateau_metrics(seed: int, steps: int, patience: int, threshold: float,
                    mode: str = "min") -> np.ndarray:
    """A positive metric sequence that descends in bursts and stalls in between.

    Segments of 1 to 2·patience + 3 epochs, each of one kind: a descent (a relative drop of
    0.5 % to 5 % per epoch), a plateau (values up to 2 % above the current level, never an
    improvement) or a creep (relative drops of 0.1 to 0.9 threshold: below the threshold, so
    not improvements either). In mode "max" the sequence is inverted (1/m), which turns
    each drop into a rise of about the same relative size.
    """
    rng = np.random.default_rng(seed)
    level, metrics = 1.0 + rng.uniform(), []
    while len(metrics) < steps:
        kind = rng.choice(3, p=[0.35, 0.4, 0.25])
        for _ in range(int(rng.integers(1, 2 * patience + 4))):
            if kind == 0:
                level *= 1 - rng.uniform(0.005, 0.05)
            elif kind == 2:
                level *= 1 - rng.uniform(0.1, 0.9) * threshold
            metrics.append(level * (1 + rng.uniform(0.0, 0.02)) if kind == 1 else level)
    metrics = np.array(metrics[:steps])
    return metrics if mode == "min" else 1.0 / metrics


def _plateau_torch(metrics, lr, threshold_mode="rel", reset=True, **hyper) -> np.ndarray:
    """Rows (lr, best, num_bad_epochs, cooldown_counter) after each ReduceLROnPlateau step.

    ``reset=False`` builds a mistake: the count of bad epochs is not restarted after a cut.
    """
    optimizer = _sgd(lr)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, threshold_mode=threshold_mode,
                                               **hyper)
    counts_at_cut = []
    if not reset:
        reduce = scheduler._reduce_lr

        def reduce_and_remember(epoch):
            counts_at_cut.append(scheduler.num_bad_epochs)
            reduce(epoch)

        scheduler._reduce_lr = reduce_and_remember
    rows = []
    for metric in metrics:
        optimizer.step()
        scheduler.step(float(metric))
        if counts_at_cut:
            scheduler.num_bad_epochs = counts_at_cut.pop()
        rows.append((optimizer.param_groups[0]["lr"], scheduler.best, scheduler.num_bad_epochs,
                     scheduler.cooldown_counter))
    return np.array(rows, dtype=float)


def _plateau_variants(metrics, lr, hyper: dict) -> dict:
    """Misconceptions -> the rows that PyTorch gives with one change (the mistake)."""
    changes = {
        PLATEAU_COOLDOWN: {"cooldown": 0},
        PLATEAU_NO_THRESHOLD: {"threshold": 0.0},
        PLATEAU_ABSOLUTE: {"threshold_mode": "abs"},
        PLATEAU_AT_PATIENCE: {"patience": hyper["patience"] - 1},
        PLATEAU_LATE: {"patience": hyper["patience"] + 1},
        PLATEAU_MIN_LR: {"min_lr": 0.0},
        PLATEAU_EPS: {"eps": 0.0},
        PLATEAU_MODE: {"mode": "max" if hyper["mode"] == "min" else "min"},
        PLATEAU_NO_RESET: {"reset": False},
    }
    variants = {}
    for hint, change in changes.items():
        altered = {**hyper, **change}
        if altered != hyper and altered["patience"] >= 0:
            variants[hint] = _plateau_torch(metrics, lr, **altered)
    return variants


def _require_plateau(check, seed, steps, lr, factor, patience, threshold, cooldown, min_lr,
                     mode, eps) -> None:
    require(check, SEED, seed=seed)
    require(check, integer(0), patience=patience, cooldown=cooldown)
    require(check, integer(1), steps=steps)
    require(check, _POSITIVE, lr=lr)
    require(check, number(above=0, below=1, why=" (the factor that cuts the rate)"),
            factor=factor)
    require(check, number(least=0), threshold=threshold, min_lr=min_lr, eps=eps)
    require(check, one_of("min", "max"), mode=mode)


def check_reduce_on_plateau(reduce_on_plateau, seed=0, steps=80, lr=0.1, factor=0.5,
                            patience=5, threshold=1e-4, cooldown=0, min_lr=0.0, mode="min",
                            eps=1e-8):
    """Drive the student's rule and ``ReduceLROnPlateau`` with the same metric sequence.

    The metric of epoch t comes from :func:`plateau_metrics`; after every call the new
    learning rate must equal PyTorch's to 1e-12 and the state must hold PyTorch's ``best``,
    ``num_bad_epochs`` and ``cooldown_counter``. The student's own returned lr and state are
    passed to the next call. Then a short run without hyper-parameters follows PyTorch's
    defaults, and the runs of :data:`PLATEAU_STAGES` check the rules the arguments may not
    reach (mode "max", cooldown, min_lr, eps, the relative threshold).
    """
    _require_plateau("check_reduce_on_plateau", seed, steps, lr, factor, patience, threshold,
                     cooldown, min_lr, mode, eps)
    hyper = {"factor": factor, "patience": patience, "threshold": threshold,
             "cooldown": cooldown, "min_lr": min_lr, "mode": mode, "eps": eps}
    _plateau_stage(reduce_on_plateau, seed, _horizon(steps), lr, hyper)

    defaults = {"factor": 0.1, "patience": 10, "threshold": 1e-4, "cooldown": 0,
                "min_lr": 0.0, "mode": "min", "eps": 1e-8}
    metrics = plateau_metrics(DEFAULTS_SEED, 80, defaults["patience"], defaults["threshold"])
    _drive_plateau(reduce_on_plateau, "reduce_on_plateau (called without hyper-parameters)",
                   metrics, lr, defaults, _plateau_torch(metrics, lr, **defaults), call={},
                   default_hint="the defaults are ReduceLROnPlateau's: factor=0.1, "
                                "patience=10, threshold=1e-4, cooldown=0, min_lr=0.0, "
                                "mode='min', eps=1e-8")
    for stage_seed, stage_steps, stage_lr, stage_hyper in PLATEAU_STAGES:
        _plateau_stage(reduce_on_plateau, stage_seed, stage_steps, stage_lr, stage_hyper)


def _plateau_stage(student, seed, steps, lr, hyper) -> None:
    label = f"reduce_on_plateau(lr={lr:g}, {_label(**hyper)}, seed={seed})"
    metrics = plateau_metrics(seed, steps, hyper["patience"], hyper["threshold"],
                              hyper["mode"])
    _drive_plateau(student, label, metrics, lr, hyper, _plateau_torch(metrics, lr, **hyper))


def _drive_plateau(student, label, metrics, lr, hyper, expected, call=None,
                   default_hint=None) -> None:
    """Feed the metrics one by one; fail at the first epoch whose lr or state differs.

    After a mismatch the student's rule is still driven (with its own lr and state) to the
    end of the sequence, to tell apart mistakes that agree up to that epoch; that
    continuation stops quietly at anything unreadable, the verdict being already known.
    """
    call = hyper if call is None else call
    state, current, history, failure = {}, lr, [], None
    for t, metric in enumerate(metrics, start=1):
        where = f"{label}, epoch {t} (metric {metric:.6g})"
        try:
            row, new_state = _plateau_call(student, where, float(metric), current, state, call)
        except Exception:
            if failure is None:
                raise
            break
        history.append(row)
        if failure is None:
            with np.errstate(invalid="ignore"):
                ok = np.isclose(row, expected[t - 1], rtol=1e-12, atol=0.0)
            ok |= np.asarray(row) == expected[t - 1]  # best = ±inf
            if not ok.all():
                failure = (where, t, int(np.argmin(ok)))
        current, state = row[0], new_state
    if failure is None:
        return
    where, t, column = failure
    got = np.array(history)
    hint = default_hint
    if hint is None:
        # The mistake the whole run reproduces, else the first that agrees up to epoch t.
        variants = _plateau_variants(metrics, lr, hyper)
        with np.errstate(all="ignore"):
            hint = diagnose(got, {h: rows[:len(got)] for h, rows in variants.items()}, None)
            hint = hint or diagnose(got[:t], {h: rows[:t] for h, rows in variants.items()},
                                     _PLATEAU_HINTS[column])
    what = "new learning rate" if column == 0 else f"state['{list(PLATEAU_KEYS)[column - 1]}']"
    raise AssertionError(f"{where}: the {what}: "
                         f"{describe_mismatch(expected[t - 1][column], got[t - 1][column])}"
                         f" — {hint}")


def _plateau_call(student, where, metric, lr, state, call) -> tuple[list, dict]:
    """One call of the student's rule: the row (lr, best, num_bad_epochs, cooldown_counter)
    and the new state, once both are readable and ``state`` is untouched."""
    saved = snapshot_state(state)
    new_lr, new_state = as_tuple(student(metric, lr, state, **call), where, "(new_lr, new_state)")
    assert_state_unchanged(where, saved, state)
    row = [as_number(new_lr, where, "new learning rate")]
    require_state_keys(where, new_state, PLATEAU_KEYS)
    row += [as_number(new_state[key], where, f"state['{key}']") for key in PLATEAU_KEYS]
    return row, new_state


_PLATEAU_HINTS = [
    "cut to max(lr·factor, min_lr) when num_bad_epochs > patience (and the cut exceeds eps)",
    "best ← metric when it improves: metric < best·(1 − threshold) in mode 'min', "
    "metric > best·(1 + threshold) in mode 'max' (best = ±inf before the first call)",
    "num_bad_epochs: +1 without improvement, 0 after an improvement, during the cooldown "
    "and after a cut",
    "cooldown_counter: set to cooldown after a cut, then decreased by 1 each epoch while > 0",
]


# ---------------------------------------------------------------- the noise floor

_BOUNCE = "Why a constant rate bounces"

FLOOR_SMALL_LR = _mistake(
    "noise-floor.small-lr-approximation",
    "ησ²/(2λ) is the small-step approximation (ηλ ≪ 1); the exact floor keeps the (2 − ηλ): "
    "v* = ησ²/(λ(2 − ηλ)), twice as large at ηλ = 1 and 20 times at ηλ = 1.9", _BOUNCE)
FLOOR_NOISE_LR_ONCE = _mistake(
    "noise-floor.noise-lr-once",
    "the noise enters the step through η: θ ← θ − η(λθ + σξ) adds η²σ² to the variance per "
    "step, not ησ² (or σ²)", _BOUNCE)
FLOOR_NOT_SQUARED = _mistake(
    "noise-floor.contraction-not-squared",
    "a variance scales with the square of a factor: Var((1 − ηλ)θ) = (1 − ηλ)²·Var θ, so "
    "v = (1 − ηλ)²v + η²σ²", _BOUNCE)
FLOOR_STD = _mistake(
    "noise-floor.standard-deviation",
    "return the variance v* = Var θ_∞, not its square root", _BOUNCE)
FLOOR_LOSS = _mistake(
    "noise-floor.loss-not-variance",
    "(λ/2)·v* is the expected loss at the floor; return the variance of θ itself, v*", _BOUNCE)
FLOOR_UNSTABLE = _mistake(
    "noise-floor.unstable",
    "with ηλ ≥ 2 the factor |1 − ηλ| ≥ 1: the variance grows without end, so return math.inf "
    "(the formula, negative or divided by 0 there, does not apply)", _BOUNCE)


def noise_floor_closed_form(lr: float, curvature: float, noise_var: float) -> float:
    """v* = η²σ²/(1 − (1 − ηλ)²) = ησ²/(λ(2 − ηλ)) for 0 < ηλ < 2, inf from ηλ = 2 on (0 when
    σ² = 0 and the step is stable)."""
    product = lr * curvature
    if product >= 2.0:
        return math.inf
    return lr * noise_var / (curvature * (2.0 - product))


def noise_floor_recursion(lr: float, curvature: float, noise_var: float,
                          steps: int = 100_000) -> float:
    """The exact variance recursion v_{t+1} = (1 − ηλ)²v_t + η²σ², iterated from v₀ = 0."""
    v, factor = 0.0, (1.0 - lr * curvature) ** 2
    for _ in range(steps):
        v = factor * v + lr * lr * noise_var
    return v


#: ηλ the visible call also tries, with λ = 4 and σ² = 0.5: a small step, ηλ = 1 (the
#: contraction is 0: v* = η²σ²), ηλ = 1.9 (the small-step formula is 20 times too small), and
#: ηλ = 2 and 3 (unstable).
_FLOOR_PRODUCTS = (0.01, 1.0, 1.9, 2.0, 3.0)


def _check_one_floor(noise_floor_variance, lr: float, curvature: float, noise_var: float) -> None:
    name = f"noise_floor_variance (η = {lr:g}, λ = {curvature:g}, σ² = {noise_var:g})"
    expected = noise_floor_closed_form(lr, curvature, noise_var)
    product = lr * curvature
    try:
        result = noise_floor_variance(lr, curvature, noise_var)
    except ZeroDivisionError as error:
        if product < 2.0:
            raise
        raise AssertionError(f"{name}: your function raised ZeroDivisionError ({error}) — "
                             f"{FLOOR_UNSTABLE}") from None
    got = as_number(result, name, "variance", ", e.g. float(lr * noise_var / …)")
    if math.isinf(expected):
        if got != math.inf:
            raise AssertionError(f"{name}: ηλ = {product:g} ≥ 2, expected inf, got {got:g} — "
                                 f"{FLOOR_UNSTABLE}")
        return
    if noise_var > 0 and product < 2.0:
        hint = diagnose(got, [
            (FLOOR_SMALL_LR, lambda: lr * noise_var / (2.0 * curvature)),
            (FLOOR_NOISE_LR_ONCE, lambda: noise_var / (curvature * (2.0 - product))),
            (FLOOR_NOISE_LR_ONCE, lambda: noise_var / (lr * curvature * (2.0 - product))),
            (FLOOR_NOT_SQUARED, lambda: lr * noise_var / curvature),
            (FLOOR_STD, lambda: math.sqrt(expected)),
            (FLOOR_LOSS, lambda: 0.5 * curvature * expected),
        ], "at the floor the variance no longer changes: solve v = (1 − ηλ)²v + η²σ² for v")
    else:
        hint = "without noise (σ² = 0) the iterate settles on the minimum: v* = 0"
    assert_close(name, got, expected, rtol=1e-9, atol=1e-300, hint=hint, what="variance")


def check_noise_floor_variance(noise_floor_variance, lr=0.05, curvature=4.0, noise_var=1.0):
    """The stationary variance of constant-rate SGD on L(θ) = ½λθ², with gradient noise of
    variance σ², against the closed form v* = ησ²/(λ(2 − ηλ)) (relative tolerance 1e-9).

    θ ← θ − η(λθ + σξ) gives v_{t+1} = (1 − ηλ)²v_t + η²σ², whose fixed point is v*;
    from ηλ = 2 on the variance grows without end and the function must return math.inf.
    Whatever the arguments, ηλ = 0.01, 1, 1.9, 2 and 3 (with λ = 4, σ² = 0.5) are tried too
    (λ ≠ 2, so that the expected loss (λ/2)·v* differs from v*).
    The tests check the closed form against the recursion itself and against simulated runs.
    """
    check = "check_noise_floor_variance"
    require(check, number(above=0, why=" (a step against the gradient)"), lr=lr)
    require(check, number(above=0, why=" (the curvature λ of a minimum)"), curvature=curvature)
    require(check, number(least=0, why=" (a variance)"), noise_var=noise_var)
    cases = [(float(lr), float(curvature), float(noise_var))]
    cases += [(p / 4.0, 4.0, 0.5) for p in _FLOOR_PRODUCTS]
    for case in dict.fromkeys(cases):
        _check_one_floor(noise_floor_variance, *case)
