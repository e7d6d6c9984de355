"""Checks for chapter 06: learning-rate schedules.

Five schedules are pure functions of the step index, ``lr = <name>_lr(step, lr0, ...)`` with
``step`` = 0, 1, 2, … the number of updates already done; reduce-on-plateau reacts to a
metric and keeps a state, ``new_lr, new_state = reduce_on_plateau(metric, lr, state, ...)``
with ``state = {}`` on the first call.

Oracles: ``torch.optim.lr_scheduler`` driving plain SGD on a dummy float64 parameter; the
learning rate of step t is ``optimizer.param_groups[0]["lr"]`` after t calls of
``scheduler.step()`` (t = 0 before the first). The student's schedule is evaluated at every
step from 0 to at least 50, past the end of its decay, and the whole sequence is compared:

- piecewise-linear: ``LinearLR`` (from α₀ down, or from α_τ up when α_τ > α₀);
- step and exponential: ``StepLR`` and ``ExponentialLR``;
- inverse time: ``LambdaLR`` with the closed form α₀/(1 + k·t), and the property that 1/α_t
  grows by k/α₀ at every step;
- cosine with warm-up: ``SequentialLR`` chaining ``LambdaLR`` (the warm-up) and
  ``CosineAnnealingLR``, up to the end of the cosine; past it, the course's α_min (PyTorch's
  cosine would rise again);
- reduce-on-plateau: ``ReduceLROnPlateau`` (threshold_mode "rel") stepped with the same
  metric sequence, seeded noisy descents with plateaus and sub-threshold improvements; the
  learning rate (to 1e-12) and the three counters are compared after every call.

When a sequence differs, the check computes a few classic mistakes (an off-by-one step, an
integer division, PyTorch schedulers with a hyper-parameter dropped, …) and names the one the
student's sequence reproduces. Those variants only choose the hint; the verdict comes from
the oracle.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.optim import lr_scheduler

from descent.checks._compare import as_float_array, assert_close
from descent.checks._trajectory import (
    _diagnose,
    _pair,
    assert_state_unchanged,
    require_state_keys,
    snapshot_state,
)

#: Tolerances of a schedule: PyTorch's chained products differ from a closed form by a few
#: units of 1e-16 per step, and every mistake by far more than 1e-9.
RTOL, ATOL = 1e-9, 1e-15
#: The fewest steps a schedule is checked over.
MIN_STEPS = 50


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
            hint = _diagnose(got, variants(), default)
            if np.allclose(got, expected, rtol=1e-6, atol=ATOL):
                hint = ("right to about 7 digits only: compute in float64 (Python floats), "
                        "not float32")
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


def check_piecewise_linear_lr(piecewise_linear_lr, lr0=0.1, lr_tau=0.001, tau=30, steps=60):
    """(1 − β)α₀ + βα_τ with β = i/τ for i < τ, then α_τ, against ``LinearLR``.

    ``LinearLR`` multiplies the optimizer's initial rate by a factor that moves linearly from
    ``start_factor`` to ``end_factor`` over ``total_iters`` steps; both factors must lie in
    (0, 1], so a decay starts from α₀ and a ramp up (α_τ > α₀) from α_τ.
    """
    hyper = {"lr0": lr0, "lr_tau": lr_tau, "tau": tau}
    name = f"piecewise_linear_lr({_label(**hyper)})"
    steps = _horizon(max(steps, tau + 10))
    got = _schedule(piecewise_linear_lr, name, steps, **hyper)
    if lr_tau <= lr0:
        expected = _torch_lrs(lambda opt: lr_scheduler.LinearLR(
            opt, start_factor=1.0, end_factor=lr_tau / lr0, total_iters=tau), lr0, steps)
    else:
        expected = _torch_lrs(lambda opt: lr_scheduler.LinearLR(
            opt, start_factor=lr0 / lr_tau, end_factor=1.0, total_iters=tau), lr_tau, steps)
    t = np.arange(steps + 1)

    def variants():
        return {
            "β = i/τ is a fraction between 0 and 1: with integer division (i // τ) the rate "
            "jumps from α₀ to α_τ at step τ instead of sliding": np.where(t < tau, lr0, lr_tau),
            "the weights are swapped: (1 − β) multiplies α₀, β multiplies α_τ":
                np.where(t < tau, lr0 + lr_tau - expected, lr_tau),
            "from step τ on the rate stays at α_τ; it does not keep decreasing":
                lr0 + (lr_tau - lr0) * t / tau,
            "the slide is one step late: α_1 is already below α₀ (β = i/τ, not (i − 1)/τ)":
                _shift(expected, -1),
            "the slide is one step early: α_0 must be α₀ (β = i/τ, not (i + 1)/τ)":
                _shift(expected, 1),
        }

    _compare(name, got, expected, variants,
             "α_i = (1 − i/τ)·α₀ + (i/τ)·α_τ for i < τ, α_τ from step τ on")


# ---------------------------------------------------------------- step and exponential


def check_step_lr(step_lr, lr0=0.1, step_size=10, gamma=0.5, steps=60):
    """α₀·γ^⌊t/s⌋ against ``StepLR``, and the default γ = 0.1."""
    hyper = {"lr0": lr0, "step_size": step_size, "gamma": gamma}
    name = f"step_lr({_label(**hyper)})"
    steps = _horizon(max(steps, 3 * step_size))
    got = _schedule(step_lr, name, steps, **hyper)
    expected = _torch_lrs(lambda opt: lr_scheduler.StepLR(opt, step_size, gamma), lr0, steps + 1)
    expected, one_step_early = expected[:-1], expected[1:]
    t = np.arange(steps + 1)

    def variants():
        return {
            "the first decay comes at step step_size, not one step earlier: steps 0 … "
            "step_size − 1 use α₀ (⌊t/s⌋, not ⌊(t + 1)/s⌋)": one_step_early,
            "decay at step step_size, not one step later (⌊t/s⌋, not ⌊(t − 1)/s⌋)":
                _shift(expected, -1),
            "γ is applied once every step_size steps, not at every step": _torch_lrs(
                lambda opt: lr_scheduler.ExponentialLR(opt, gamma), lr0, steps),
            "the exponent is the whole number ⌊t/s⌋ (t // step_size), not t/s": lr0 * gamma ** (
                t / step_size),
        }

    _compare(name, got, expected, variants, "α_t = α₀·γ^⌊t/step_size⌋")
    default_name = f"step_lr(lr0={lr0:g}, step_size={step_size}) without gamma"
    got = _schedule(step_lr, default_name, steps, lr0=lr0, step_size=step_size)
    expected = _torch_lrs(lambda opt: lr_scheduler.StepLR(opt, step_size), lr0, steps)
    _compare(default_name, got, expected, dict,
             "the default γ is StepLR's, gamma=0.1")


def check_exponential_lr(exponential_lr, lr0=0.1, gamma=0.95, steps=60):
    """α₀·γ^t against ``ExponentialLR``."""
    hyper = {"lr0": lr0, "gamma": gamma}
    name = f"exponential_lr({_label(**hyper)})"
    steps = _horizon(steps)
    got = _schedule(exponential_lr, name, steps, **hyper)
    expected = _torch_lrs(lambda opt: lr_scheduler.ExponentialLR(opt, gamma), lr0, steps + 1)
    expected, one_step_early = expected[:-1], expected[1:]
    t = np.arange(steps + 1)

    def variants():
        return {
            "α_0 is α₀: the exponent is t, not t + 1": one_step_early,
            "gamma is the factor per step, α₀·γ^t, not a rate in α₀·e^(−γt)":
                lr0 * np.exp(-gamma * t),
            "the factor multiplies: α₀·γ^t, not α₀·(1 − γ)^t": lr0 * (1 - gamma) ** t,
        }

    _compare(name, got, expected, variants, "α_t = α₀·γ^t")


# ---------------------------------------------------------------- inverse time


def check_inverse_time_lr(inverse_time_lr, lr0=0.1, decay=0.1, steps=60):
    """α₀/(1 + k·t) against ``LambdaLR`` and the closed form, and 1/α_t linear in t."""
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
            "α_0 is α₀: use t, not t + 1": one_step_early,
            "no square root: α₀/(1 + k·t)": lr0 / np.sqrt(1 + decay * t),
            "k multiplies t, it is not a power: α₀/(1 + k·t), not α₀/(1 + k)^t":
                lr0 / (1 + decay) ** t,
            "divide: α₀/(1 + k·t), not α₀·(1 − k·t)": lr0 * (1 - decay * t),
        }

    _compare(name, got, expected, variants, "α_t = α₀/(1 + decay·t)")
    # The same rule seen another way: 1/α_t = 1/α₀ + (k/α₀)·t goes up by k/α₀ per step.
    growth = np.diff(1.0 / got)
    assert_close(f"{name}, 1/α_{{t+1}} − 1/α_t", growth, np.full(steps, decay / lr0),
                 rtol=1e-7, atol=1e-9, what="growth of 1/α",
                 hint="1/α_t must grow by the same amount decay/α₀ at every step")


# ---------------------------------------------------------------- cosine with warm-up


def _cosine_torch(lr0, warmup_steps, total_steps, lr_min, steps, t_max=None) -> np.ndarray:
    """SequentialLR: LambdaLR t/W for W steps, then CosineAnnealingLR(T − W, α_min)."""
    t_max = total_steps - warmup_steps if t_max is None else t_max

    def make(opt):
        cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=lr_min)
        if warmup_steps == 0:
            return cosine
        warmup = lr_scheduler.LambdaLR(opt, lambda t: t / warmup_steps)
        return lr_scheduler.SequentialLR(opt, [warmup, cosine], milestones=[warmup_steps])

    return _torch_lrs(make, lr0, steps)


def check_cosine_warmup_lr(cosine_warmup_lr, lr0=0.1, warmup_steps=10, total_steps=60,
                           lr_min=0.001, past=20):
    """Warm-up t/W·α₀, then α_min + ½(α₀ − α_min)(1 + cos(π(t − W)/(T − W))), then α_min.

    Against ``SequentialLR(LambdaLR, CosineAnnealingLR)`` up to step T; from T to T + past
    (and at least step 50) the course keeps α_min. Also checks the default α_min = 0.
    """
    if not total_steps > warmup_steps >= 0:
        raise ValueError("the check needs total_steps > warmup_steps >= 0")
    hyper = {"lr0": lr0, "warmup_steps": warmup_steps, "total_steps": total_steps,
             "lr_min": lr_min}
    name = f"cosine_warmup_lr({_label(**hyper)})"
    steps = _horizon(total_steps + past)
    got = _schedule(cosine_warmup_lr, name, steps, **hyper)
    torch_lrs = _cosine_torch(lr0, warmup_steps, total_steps, lr_min, steps)
    t = np.arange(steps + 1)
    expected = np.where(t < total_steps, torch_lrs, lr_min)

    def variants():
        progress = (t - warmup_steps) / (total_steps - warmup_steps)
        return {
            "past total_steps the course keeps α_min: PyTorch's CosineAnnealingLR would "
            "follow the cosine back up": torch_lrs,
            "the cosine runs over T − W steps, starting at the end of the warm-up, not over "
            "T steps": np.where(t < total_steps, _cosine_torch(
                lr0, warmup_steps, total_steps, lr_min, steps, t_max=total_steps), lr_min),
            "the cosine starts at the end of the warm-up: its progress is (t − W)/(T − W), "
            "not t/T": np.where((t >= warmup_steps) & (t < total_steps), lr_min + 0.5 * (
                lr0 - lr_min) * (1 + np.cos(np.pi * t / total_steps)), expected),
            "the cosine ends at α_min: α_min + ½(α₀ − α_min)(1 + cos …), not ½α₀(1 + cos …)":
                np.where(t < total_steps, _cosine_torch(lr0, warmup_steps, total_steps, 0.0,
                                                        steps), lr_min),
            "the warm-up starts from 0 at step 0 and reaches α₀ at step W: α₀·t/W":
                np.where(t < warmup_steps, lr0 * (t + 1) / max(warmup_steps, 1), expected),
            "the progress of the cosine is (t − W)/(T − W), from 0 to 1; cos(π·progress), not "
            "cos(π·progress/2)": np.where(
                (t >= warmup_steps) & (t < total_steps),
                lr_min + 0.5 * (lr0 - lr_min) * (1 + np.cos(np.pi * progress / 2)), expected),
        }

    _compare(name, got, expected, variants,
             "α₀·t/W for t < W; α_min + ½(α₀ − α_min)(1 + cos(π(t − W)/(T − W))) for "
             "W ≤ t < T; α_min from T on")
    default_name = (f"cosine_warmup_lr(lr0={lr0:g}, warmup_steps={warmup_steps}, "
                    f"total_steps={total_steps}) without lr_min")
    got = _schedule(cosine_warmup_lr, default_name, steps, lr0=lr0, warmup_steps=warmup_steps,
                    total_steps=total_steps)
    expected = np.where(t < total_steps,
                        _cosine_torch(lr0, warmup_steps, total_steps, 0.0, steps), 0.0)
    _compare(default_name, got, expected, dict, "the default lr_min is 0.0")


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


def _plateau_torch(metrics, lr, threshold_mode="rel", **hyper) -> np.ndarray:
    """Rows (lr, best, num_bad_epochs, cooldown_counter) after each ReduceLROnPlateau step."""
    optimizer = _sgd(lr)
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, threshold_mode=threshold_mode,
                                               **hyper)
    rows = []
    for metric in metrics:
        optimizer.step()
        scheduler.step(float(metric))
        rows.append((optimizer.param_groups[0]["lr"], scheduler.best, scheduler.num_bad_epochs,
                     scheduler.cooldown_counter))
    return np.array(rows, dtype=float)


def _plateau_variants(metrics, lr, hyper: dict) -> dict:
    """Hints -> the rows that PyTorch gives with one hyper-parameter changed (a mistake)."""
    changes = {
        "during the cooldown (cooldown epochs after a cut) bad epochs are not counted: "
        "decrease cooldown_counter and reset num_bad_epochs to 0": {"cooldown": 0},
        "an improvement must beat best by the relative threshold: "
        "metric < best·(1 − threshold) in mode 'min'": {"threshold": 0.0},
        "the threshold is relative: metric < best·(1 − threshold) in mode 'min', not "
        "best − threshold": {"threshold_mode": "abs"},
        "cut when num_bad_epochs > patience, not ≥ patience": {
            "patience": hyper["patience"] - 1},
        "cut as soon as num_bad_epochs > patience, not one epoch later": {
            "patience": hyper["patience"] + 1},
        "never go below min_lr: new_lr = max(lr·factor, min_lr)": {"min_lr": 0.0},
        "skip a cut smaller than eps: apply new_lr only if lr − new_lr > eps": {"eps": 0.0},
        "mode 'max' means that larger is better (an accuracy), 'min' that smaller is": {
            "mode": "max" if hyper["mode"] == "min" else "min"},
    }
    variants = {}
    for hint, change in changes.items():
        altered = {**hyper, **change}
        if altered != hyper and altered["patience"] >= 0:
            variants[hint] = _plateau_torch(metrics, lr, **altered)
    return variants


def _scalar(value, name, what) -> float:
    array = as_float_array(value, name, what)
    if array.shape != ():
        raise AssertionError(f"{name}: the {what} has shape {array.shape}; return one number")
    return float(array)


def check_reduce_on_plateau(reduce_on_plateau, seed=0, steps=80, lr=0.1, factor=0.5,
                            patience=5, threshold=1e-4, cooldown=0, min_lr=0.0, mode="min",
                            eps=1e-8):
    """Drive the student's rule and ``ReduceLROnPlateau`` with the same metric sequence.

    The metric of epoch t comes from :func:`plateau_metrics`; after every call the new
    learning rate must equal PyTorch's to 1e-12 and the state must hold PyTorch's ``best``,
    ``num_bad_epochs`` and ``cooldown_counter``. The student's own returned lr and state are
    passed to the next call. Finally a short run without hyper-parameters follows PyTorch's
    defaults.
    """
    hyper = {"factor": factor, "patience": patience, "threshold": threshold,
             "cooldown": cooldown, "min_lr": min_lr, "mode": mode, "eps": eps}
    label = f"reduce_on_plateau(lr={lr:g}, {_label(**hyper)}, seed={seed})"
    steps = _horizon(steps)
    metrics = plateau_metrics(seed, steps, patience, threshold, mode)
    expected = _plateau_torch(metrics, lr, **hyper)
    _drive_plateau(reduce_on_plateau, label, metrics, lr, hyper, expected)

    defaults = {"factor": 0.1, "patience": 10, "threshold": 1e-4, "cooldown": 0,
                "min_lr": 0.0, "mode": "min", "eps": 1e-8}
    metrics = plateau_metrics(DEFAULTS_SEED, 80, defaults["patience"], defaults["threshold"])
    _drive_plateau(reduce_on_plateau, "reduce_on_plateau (called without hyper-parameters)",
                   metrics, lr, defaults, _plateau_torch(metrics, lr, **defaults), call={},
                   default_hint="the defaults are ReduceLROnPlateau's: factor=0.1, "
                                "patience=10, threshold=1e-4, cooldown=0, min_lr=0.0, "
                                "mode='min', eps=1e-8")


def _drive_plateau(student, label, metrics, lr, hyper, expected, call=None,
                   default_hint=None) -> None:
    call = hyper if call is None else call
    state, current, history = {}, lr, []
    for t, metric in enumerate(metrics, start=1):
        where = f"{label}, epoch {t} (metric {metric:.6g})"
        saved = snapshot_state(state)
        new_lr, new_state = _pair(student(float(metric), current, state, **call), where,
                                  "(new_lr, new_state)")
        assert_state_unchanged(where, saved, state)
        row = [_scalar(new_lr, where, "new learning rate")]
        require_state_keys(where, new_state, PLATEAU_KEYS)
        row += [_scalar(new_state[key], where, f"state['{key}']") for key in PLATEAU_KEYS]
        history.append(row)
        got = np.array(history)
        ok = np.isclose(got[-1], expected[t - 1], rtol=1e-12, atol=0.0)
        ok |= got[-1] == expected[t - 1]  # best = ±inf
        if not ok.all():
            column = int(np.argmin(ok))
            hint = default_hint or _diagnose(
                got, {h: rows[:t] for h, rows in _plateau_variants(metrics, lr, hyper).items()},
                _PLATEAU_HINTS[column])
            what = ("new learning rate" if column == 0
                    else f"state['{list(PLATEAU_KEYS)[column - 1]}']")
            raise AssertionError(f"{where}: expected {what} {expected[t - 1][column]:.10g}, "
                                 f"got {got[-1][column]:.10g} — {hint}")
        current, state = row[0], new_state


_PLATEAU_HINTS = [
    "cut to max(lr·factor, min_lr) when num_bad_epochs > patience (and the cut exceeds eps)",
    "best ← metric when it improves: metric < best·(1 − threshold) in mode 'min', "
    "metric > best·(1 + threshold) in mode 'max' (best = ±inf before the first call)",
    "num_bad_epochs: +1 without improvement, 0 after an improvement, during the cooldown "
    "and after a cut",
    "cooldown_counter: set to cooldown after a cut, then decreased by 1 each epoch while > 0",
]
