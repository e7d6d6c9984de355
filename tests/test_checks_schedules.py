"""The chapter 06 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from descent.answers import load
from descent.checks import schedules as checks

answers = load("06_schedules")

SCHEDULES = ["piecewise_linear_lr", "step_lr", "exponential_lr", "inverse_time_lr",
             "cosine_warmup_lr", "reduce_on_plateau"]


def check_of(name):
    return getattr(checks, f"check_{name}")


@pytest.mark.parametrize("name", SCHEDULES)
def test_model_answers_pass(name):
    check_of(name)(getattr(answers, name))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("piecewise_linear_lr", {"tau": 1}),
        ("piecewise_linear_lr", {"lr_tau": 0.0, "tau": 50}),
        ("piecewise_linear_lr", {"lr0": 0.5, "lr_tau": 0.99, "tau": 40}),  # momentum warm-up
        ("piecewise_linear_lr", {"lr0": 0.2, "lr_tau": 0.2}),
        ("step_lr", {"step_size": 1, "gamma": 0.9}),
        ("step_lr", {"gamma": 1.0}),
        ("exponential_lr", {"gamma": 1.0}),
        ("exponential_lr", {"gamma": 0.5, "lr0": 1.0}),
        ("inverse_time_lr", {"decay": 0.0}),
        ("inverse_time_lr", {"decay": 2.0, "steps": 200}),
        ("cosine_warmup_lr", {"warmup_steps": 0}),
        ("cosine_warmup_lr", {"warmup_steps": 1, "total_steps": 2, "lr_min": 0.01}),
        ("cosine_warmup_lr", {"warmup_steps": 49, "total_steps": 50, "lr_min": 0.0}),
        ("cosine_warmup_lr", {"lr0": 0.5, "lr_min": 0.5}),
        ("reduce_on_plateau", {"seed": 3, "cooldown": 3, "patience": 2}),
        ("reduce_on_plateau", {"seed": 4, "mode": "max", "cooldown": 1, "threshold": 1e-3}),
        ("reduce_on_plateau", {"seed": 5, "min_lr": 0.01, "patience": 1, "factor": 0.3}),
        ("reduce_on_plateau", {"seed": 6, "lr": 1e-7, "patience": 1}),
        ("reduce_on_plateau", {"seed": 7, "patience": 0, "threshold": 0.0, "steps": 120}),
        ("reduce_on_plateau", {"seed": 8, "patience": 10, "factor": 0.1}),
    ],
)
def test_model_answers_pass_at_edge_values(name, kwargs):
    check_of(name)(getattr(answers, name), **kwargs)


@pytest.mark.parametrize("name", SCHEDULES)
def test_stub_raises_not_implemented(name):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        check_of(name)(stub)


@pytest.mark.parametrize("name", SCHEDULES[:5])
def test_returns_nothing(name):
    with pytest.raises(AssertionError, match="is None — did you forget `return`"):
        check_of(name)(lambda *args, **kwargs: None)


@pytest.mark.parametrize("name", SCHEDULES[:5])
def test_returns_an_array(name):
    def as_array(*args, **kwargs):
        return np.array([getattr(answers, name)(*args, **kwargs)])

    with pytest.raises(AssertionError, match="return one number"):
        check_of(name)(as_array)


def test_tensor_and_numpy_results_are_read_as_numbers():
    import torch

    checks.check_exponential_lr(lambda *a, **k: torch.tensor(answers.exponential_lr(*a, **k),
                                                             dtype=torch.float64))
    checks.check_step_lr(lambda *a, **k: np.float64(answers.step_lr(*a, **k)))
    with pytest.raises(AssertionError, match="float64"):
        checks.check_step_lr(lambda *a, **k: np.float32(answers.step_lr(*a, **k)))


# ---------------------------------------------------------------- piecewise linear


def piecewise_integer_beta(step, lr0, lr_tau, tau):
    if step >= tau:
        return lr_tau
    beta = step // tau
    return (1 - beta) * lr0 + beta * lr_tau


def piecewise_swapped(step, lr0, lr_tau, tau):
    if step >= tau:
        return lr_tau
    beta = step / tau
    return beta * lr0 + (1 - beta) * lr_tau


def piecewise_no_floor(step, lr0, lr_tau, tau):
    beta = step / tau
    return (1 - beta) * lr0 + beta * lr_tau


def piecewise_late(step, lr0, lr_tau, tau):
    return answers.piecewise_linear_lr(max(step - 1, 0), lr0, lr_tau, tau)


@pytest.mark.parametrize(
    "mutant, hint",
    [
        (piecewise_integer_beta, "integer division"),
        (piecewise_swapped, "weights are swapped"),
        (piecewise_no_floor, "does not keep decreasing"),
        (piecewise_late, "one step late"),
    ],
)
def test_piecewise_mistakes(mutant, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_piecewise_linear_lr(mutant)


def test_piecewise_failure_names_the_first_step():
    with pytest.raises(AssertionError, match=r"at step = 0 expected 0\.1, got 0\.001"):
        checks.check_piecewise_linear_lr(piecewise_swapped)


def test_piecewise_ramp_up_is_checked():
    def clipped(step, lr0, lr_tau, tau):  # a decay only: never above lr0
        return min(answers.piecewise_linear_lr(step, lr0, lr_tau, tau), lr0)

    checks.check_piecewise_linear_lr(clipped)
    with pytest.raises(AssertionError, match="piecewise_linear_lr"):
        checks.check_piecewise_linear_lr(clipped, lr0=0.5, lr_tau=0.99, tau=40)


# ---------------------------------------------------------------- step and exponential


def step_early(step, lr0, step_size, gamma=0.1):
    """The WrongAnswer of tests/test_assignments.py: decays one step early."""
    return lr0 * gamma ** ((step + 1) // step_size)


def step_late(step, lr0, step_size, gamma=0.1):
    return lr0 * gamma ** (max(step - 1, 0) // step_size)


def step_every_step(step, lr0, step_size, gamma=0.1):
    return lr0 * gamma**step


def step_continuous(step, lr0, step_size, gamma=0.1):
    return lr0 * gamma ** (step / step_size)


def step_other_default(step, lr0, step_size, gamma=0.5):
    return answers.step_lr(step, lr0, step_size, gamma)


@pytest.mark.parametrize(
    "mutant, hint",
    [
        (step_early, r"at step = 9 .* not one step earlier"),
        (step_late, "not one step later"),
        (step_every_step, "not at every step"),
        (step_continuous, "whole number"),
        (step_other_default, "without gamma.* gamma=0.1"),
    ],
)
def test_step_mistakes(mutant, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_step_lr(mutant)


def exponential_shifted(step, lr0, gamma):
    return lr0 * gamma ** (step + 1)


def exponential_rate(step, lr0, gamma):
    return lr0 * math.exp(-gamma * step)


def exponential_one_minus(step, lr0, gamma):
    return lr0 * (1 - gamma) ** step


@pytest.mark.parametrize(
    "mutant, hint",
    [
        (exponential_shifted, "not t \\+ 1"),
        (exponential_rate, "not a rate"),
        (exponential_one_minus, r"not α₀·\(1 − γ\)\^t"),
    ],
)
def test_exponential_mistakes(mutant, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_exponential_lr(mutant)


# ---------------------------------------------------------------- inverse time


def inverse_shifted(step, lr0, decay):
    return lr0 / (1 + decay * (step + 1))


def inverse_sqrt(step, lr0, decay):
    return lr0 / math.sqrt(1 + decay * step)


def inverse_power(step, lr0, decay):
    return lr0 / (1 + decay) ** step


def inverse_linear(step, lr0, decay):
    return lr0 * (1 - decay * step)


@pytest.mark.parametrize(
    "mutant, hint",
    [
        (inverse_shifted, "not t \\+ 1"),
        (inverse_sqrt, "no square root"),
        (inverse_power, "not a power"),
        (inverse_linear, "divide"),
    ],
)
def test_inverse_time_mistakes(mutant, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_inverse_time_lr(mutant)


def test_inverse_time_matches_the_closed_form_from_lambda_lr():
    """The LambdaLR oracle agrees with α₀/(1 + k t) computed here."""
    got = checks._torch_lrs(lambda opt: checks.lr_scheduler.LambdaLR(
        opt, lambda t: 1 / (1 + 0.3 * t)), 0.2, 60)
    assert np.allclose(got, 0.2 / (1 + 0.3 * np.arange(61)), rtol=1e-15)


# ---------------------------------------------------------------- cosine with warm-up


def cosine_torch_periodic(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    """Follows the cosine past total_steps, as CosineAnnealingLR does."""
    if step < warmup_steps:
        return lr0 * step / warmup_steps
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return lr_min + 0.5 * (lr0 - lr_min) * (1 + math.cos(math.pi * progress))


def cosine_over_total(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    if step < warmup_steps:
        return lr0 * step / warmup_steps
    if step >= total_steps:
        return lr_min
    return lr_min + 0.5 * (lr0 - lr_min) * (1 + math.cos(math.pi * step / total_steps))


def cosine_no_lr_min(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    if step >= total_steps:
        return lr_min
    return answers.cosine_warmup_lr(step, lr0, warmup_steps, total_steps, 0.0)


def cosine_warmup_from_one(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    if step < warmup_steps:
        return lr0 * (step + 1) / warmup_steps
    return answers.cosine_warmup_lr(step, lr0, warmup_steps, total_steps, lr_min)


def cosine_offset_over_total(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    if warmup_steps <= step < total_steps:
        progress = (step - warmup_steps) / total_steps
        return lr_min + 0.5 * (lr0 - lr_min) * (1 + math.cos(math.pi * progress))
    return answers.cosine_warmup_lr(step, lr0, warmup_steps, total_steps, lr_min)


def cosine_half(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    if warmup_steps <= step < total_steps:
        progress = (step - warmup_steps) / (total_steps - warmup_steps)
        return lr_min + 0.5 * (lr0 - lr_min) * (1 + math.cos(math.pi * progress / 2))
    return answers.cosine_warmup_lr(step, lr0, warmup_steps, total_steps, lr_min)


def cosine_default_min(step, lr0, warmup_steps, total_steps, lr_min=1e-3):
    return answers.cosine_warmup_lr(step, lr0, warmup_steps, total_steps, lr_min)


@pytest.mark.parametrize(
    "mutant, hint",
    [
        (cosine_torch_periodic, r"at step = 61 .* follow the cosine back up"),
        (cosine_over_total, r"not t/T"),
        (cosine_offset_over_total, "over T − W steps"),
        (cosine_no_lr_min, "the cosine ends at α_min"),
        (cosine_warmup_from_one, "starts from 0 at step 0"),
        (cosine_half, r"not cos\(π·progress/2\)"),
        (cosine_default_min, "default lr_min is 0.0"),
    ],
)
def test_cosine_mistakes(mutant, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_cosine_warmup_lr(mutant)


def test_cosine_oracle_is_the_closed_form():
    """SequentialLR(LambdaLR, CosineAnnealingLR) is the course's formula up to T."""
    lr0, w, total, lr_min = 0.3, 7, 40, 0.02
    got = checks._cosine_torch(lr0, w, total, lr_min, total)
    t = np.arange(total + 1)
    closed = np.where(t < w, lr0 * t / w,
                      lr_min + 0.5 * (lr0 - lr_min) * (1 + np.cos(np.pi * (t - w) / (total - w))))
    assert np.allclose(got, closed, rtol=1e-12, atol=1e-15)


def test_cosine_check_refuses_a_bad_horizon():
    with pytest.raises(ValueError, match="total_steps > warmup_steps"):
        checks.check_cosine_warmup_lr(answers.cosine_warmup_lr, warmup_steps=10, total_steps=10)


# ---------------------------------------------------------------- reduce on plateau


def plateau_with(**fixed):
    """The model answer with some hyper-parameters forced (a mistake)."""
    def rule(metric, lr, state, **hyper):
        return answers.reduce_on_plateau(metric, lr, state, **{**hyper, **fixed})
    return rule


def plateau_greater_equal(metric, lr, state, factor=0.1, patience=10, threshold=1e-4,
                          cooldown=0, min_lr=0.0, mode="min", eps=1e-8):
    return answers.reduce_on_plateau(metric, lr, state, factor, patience - 1, threshold,
                                     cooldown, min_lr, mode, eps)


def plateau_absolute(metric, lr, state, factor=0.1, patience=10, threshold=1e-4, cooldown=0,
                     min_lr=0.0, mode="min", eps=1e-8):
    """Counts an improvement by an absolute margin, best − threshold (threshold_mode 'abs')."""
    best = state.get("best", math.inf if mode == "min" else -math.inf)
    bad, cool = state.get("num_bad_epochs", 0), state.get("cooldown_counter", 0)
    improved = metric < best - threshold if mode == "min" else metric > best + threshold
    best, bad = (metric, 0) if improved else (best, bad + 1)
    if cool > 0:
        cool, bad = cool - 1, 0
    if bad > patience:
        new_lr = max(lr * factor, min_lr)
        lr = new_lr if lr - new_lr > eps else lr
        cool, bad = cooldown, 0
    return lr, {"best": best, "num_bad_epochs": bad, "cooldown_counter": cool}


def plateau_no_reset(metric, lr, state, factor=0.1, patience=10, threshold=1e-4, cooldown=0,
                     min_lr=0.0, mode="min", eps=1e-8):
    """Forgets to reset num_bad_epochs after a cut: cuts at every following bad epoch."""
    new_lr, new_state = answers.reduce_on_plateau(metric, lr, state, factor, patience,
                                                  threshold, cooldown, min_lr, mode, eps)
    if new_lr != lr and new_state["cooldown_counter"] == 0:
        new_state = {**new_state, "num_bad_epochs": patience + 1}
    return new_lr, new_state


def plateau_in_place(metric, lr, state, **hyper):
    new_lr, new_state = answers.reduce_on_plateau(metric, lr, state, **hyper)
    state.update(new_state)
    return new_lr, state


def plateau_missing_key(metric, lr, state, **hyper):
    new_lr, new_state = answers.reduce_on_plateau(metric, lr, state, **hyper)
    return new_lr, {k: v for k, v in new_state.items() if k != "cooldown_counter"}


def plateau_lr_only(metric, lr, state, **hyper):
    return answers.reduce_on_plateau(metric, lr, state, **hyper)[0]


def plateau_other_defaults(metric, lr, state, factor=0.5, patience=10, threshold=1e-4,
                           cooldown=0, min_lr=0.0, mode="min", eps=1e-8):
    return answers.reduce_on_plateau(metric, lr, state, factor, patience, threshold, cooldown,
                                     min_lr, mode, eps)


@pytest.mark.parametrize(
    "mutant, kwargs, hint",
    [
        (plateau_with(cooldown=0), {"seed": 11, "patience": 3, "factor": 0.5, "cooldown": 2},
         "during the cooldown"),
        (plateau_with(threshold=0.0), {}, "relative threshold"),
        (plateau_greater_equal, {}, "not ≥ patience"),
        (plateau_with(min_lr=0.0), {"seed": 13, "patience": 2, "factor": 0.3, "min_lr": 0.004},
         "never go below min_lr"),
        (plateau_with(eps=0.0), {"seed": 14, "lr": 1e-7, "patience": 1}, "smaller than eps"),
        (plateau_with(mode="min"), {"seed": 12, "mode": "max"}, "larger is better"),
        (plateau_absolute, {"seed": 2, "threshold": 1e-2}, "not best − threshold"),
        (plateau_no_reset, {}, r"state\['num_bad_epochs'\]|new learning rate"),
        (plateau_in_place, {}, "modified in place"),
        (plateau_missing_key, {}, "no 'cooldown_counter'"),
        (plateau_lr_only, {}, "return a pair"),
        (plateau_other_defaults, {}, "without hyper-parameters.*defaults are"),
    ],
)
def test_plateau_mistakes(mutant, kwargs, hint):
    with pytest.raises(AssertionError, match=hint):
        checks.check_reduce_on_plateau(mutant, **kwargs)


def test_plateau_counts_are_checked_before_the_lr_changes():
    """A wrong counter fails at once, not only at the cut it eventually causes."""
    def lazy_best(metric, lr, state, **hyper):
        new_lr, new_state = answers.reduce_on_plateau(metric, lr, state, **hyper)
        return new_lr, {**new_state, "best": metric}

    with pytest.raises(AssertionError, match=r"epoch \d+ .*state\['best'\]"):
        checks.check_reduce_on_plateau(lazy_best)


def test_plateau_metrics_have_plateaus_and_creeps():
    metrics = checks.plateau_metrics(0, 200, 5, 1e-4)
    ratios = metrics[1:] / metrics[:-1]
    assert np.all(metrics > 0)
    assert np.any(ratios < 0.99)  # descents
    assert np.any(ratios > 1.0)  # plateaus (worse than the level)
    assert np.any((ratios < 1) & (ratios > 1 - 1e-4))  # creeps below the threshold
    assert np.allclose(checks.plateau_metrics(0, 200, 5, 1e-4, "max"), 1 / metrics)


@pytest.mark.parametrize("kwargs", [{}, {"seed": 11, "patience": 3, "factor": 0.5,
                                         "cooldown": 2}])
def test_plateau_check_sequences_contain_cuts(kwargs):
    """The visible and a hidden metric sequence make PyTorch cut the rate several times."""
    hyper = {"factor": 0.5, "patience": 5, "threshold": 1e-4, "cooldown": 0, "min_lr": 0.0,
             "mode": "min", "eps": 1e-8}
    seed = kwargs.pop("seed", 0)
    hyper.update(kwargs)
    rows = checks._plateau_torch(checks.plateau_metrics(seed, 80, hyper["patience"], 1e-4),
                                 0.1, **hyper)
    assert len(set(rows[:, 0])) >= 4
