"""The chapter 06 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from checktools import WRONG_OUTPUTS, assert_refused, assert_teaches, fails_with, failure, wrong

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


def piecewise_early(step, lr0, lr_tau, tau):
    return answers.piecewise_linear_lr(step + 1, lr0, lr_tau, tau)


def piecewise_linspace(step, lr0, lr_tau, tau):
    """np.linspace(lr0, lr_tau, tau)[step]: reaches η_τ one step early."""
    if step >= tau - 1:
        return lr_tau
    return float(np.linspace(lr0, lr_tau, tau)[step])


def piecewise_decay_only(step, lr0, lr_tau, tau):
    """Right for a decay, clipped to η₀ when it should ramp up."""
    return min(answers.piecewise_linear_lr(step, lr0, lr_tau, tau), lr0)


@pytest.mark.parametrize(
    "mutant, misconception",
    [
        (piecewise_integer_beta, "piecewise.integer-beta"),
        (piecewise_swapped, "piecewise.weights-swapped"),
        (piecewise_no_floor, "piecewise.no-floor"),
        (piecewise_late, "piecewise.one-step-late"),
        (piecewise_early, "piecewise.one-step-early"),
        (piecewise_linspace, "piecewise.linspace-endpoint"),
        (piecewise_decay_only, "piecewise.decay-only"),
    ],
)
def test_piecewise_mistakes(mutant, misconception):
    fails_with(checks.check_piecewise_linear_lr, mutant, misconception)


def test_piecewise_failure_names_the_first_step():
    with pytest.raises(AssertionError, match=r"at step = 0: expected 0\.1, got 0\.001"):
        checks.check_piecewise_linear_lr(piecewise_swapped)


def test_piecewise_checks_both_directions_whatever_the_arguments():
    """The visible call decays; a ramp up (momentum warm-up) is checked too, and the other
    way round: a schedule that only ramps up fails a ramp-up call."""
    message = fails_with(checks.check_piecewise_linear_lr, piecewise_decay_only,
                         "piecewise.decay-only")
    assert "lr0=0.5, lr_tau=0.99, tau=40" in message

    def ramp_only(step, lr0, lr_tau, tau):
        return max(answers.piecewise_linear_lr(step, lr0, lr_tau, tau), lr0)

    checks._piecewise_stage(ramp_only, 0.5, 0.99, 40, 60)
    with pytest.raises(AssertionError, match=r"lr0=0\.1, lr_tau=0\.001, tau=30"):
        checks.check_piecewise_linear_lr(ramp_only, lr0=0.5, lr_tau=0.99, tau=40)


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


def step_one_minus(step, lr0, step_size, gamma=0.1):
    return lr0 * (1 - gamma) ** (step // step_size)


@pytest.mark.parametrize(
    "mutant, misconception",
    [
        (step_early, "step-decay.one-step-early"),
        (step_late, "step-decay.one-step-late"),
        (step_every_step, "step-decay.every-step"),
        (step_continuous, "step-decay.continuous-exponent"),
        (step_one_minus, "step-decay.one-minus-gamma"),  # d = 0.5 hides it: the default shows
    ],
)
def test_step_mistakes(mutant, misconception):
    fails_with(checks.check_step_lr, mutant, misconception)


def test_step_early_names_the_step():
    with pytest.raises(AssertionError, match="at step = 9: expected 0.1, got 0.05"):
        checks.check_step_lr(step_early)


def test_step_default_gamma():
    with pytest.raises(AssertionError, match="without gamma.* gamma=0.1"):
        checks.check_step_lr(step_other_default)


def exponential_shifted(step, lr0, gamma):
    return lr0 * gamma ** (step + 1)


def exponential_rate(step, lr0, gamma):
    return lr0 * math.exp(-gamma * step)


def exponential_one_minus(step, lr0, gamma):
    return lr0 * (1 - gamma) ** step


@pytest.mark.parametrize(
    "mutant, misconception",
    [
        (exponential_shifted, "exponential.one-step-early"),
        (exponential_rate, "exponential.gamma-as-rate"),
        (exponential_one_minus, "exponential.one-minus-gamma"),
    ],
)
def test_exponential_mistakes(mutant, misconception):
    fails_with(checks.check_exponential_lr, mutant, misconception)


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
    "mutant, misconception",
    [
        (inverse_shifted, "inverse-time.one-step-early"),
        (inverse_sqrt, "inverse-time.square-root"),
        (inverse_power, "inverse-time.power"),
        (inverse_linear, "inverse-time.linear"),
    ],
)
def test_inverse_time_mistakes(mutant, misconception):
    fails_with(checks.check_inverse_time_lr, mutant, misconception)


def test_inverse_time_matches_the_closed_form_from_lambda_lr():
    """The LambdaLR oracle agrees with η₀/(1 + k t) computed here."""
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


def cosine_off_by_one(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    """Reaches η_min at T − 1: progress (t − W)/(T − W − 1)."""
    if warmup_steps <= step < total_steps:
        progress = min((step - warmup_steps) / (total_steps - warmup_steps - 1), 1.0)
        return lr_min + 0.5 * (lr0 - lr_min) * (1 + math.cos(math.pi * progress))
    return answers.cosine_warmup_lr(step, lr0, warmup_steps, total_steps, lr_min)


def warmup_ends_early(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    if step < warmup_steps:
        return min(lr0 * step / (warmup_steps - 1), lr0)
    return answers.cosine_warmup_lr(step, lr0, warmup_steps, total_steps, lr_min)


def warmup_from_lr_min(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    """timm's convention: the warm-up starts from a floor instead of 0."""
    if step < warmup_steps:
        return lr_min + (lr0 - lr_min) * step / warmup_steps
    return answers.cosine_warmup_lr(step, lr0, warmup_steps, total_steps, lr_min)


def warmup_inclusive(step, lr0, warmup_steps, total_steps, lr_min=0.0):
    """t ≤ W for the warm-up: right whenever W > 0 (η₀·W/W = η₀), wrong at step 0 if W = 0."""
    if step <= warmup_steps:
        return lr0 * step / max(warmup_steps, 1)
    return answers.cosine_warmup_lr(step, lr0, warmup_steps, total_steps, lr_min)


@pytest.mark.parametrize(
    "mutant, misconception",
    [
        (cosine_torch_periodic, "cosine.periodic-past-end"),
        (cosine_over_total, "cosine.progress-from-zero"),
        (cosine_offset_over_total, "cosine.period-includes-warmup"),
        (cosine_no_lr_min, "cosine.no-lr-min"),
        (cosine_warmup_from_one, "warmup.starts-at-one"),
        (cosine_half, "cosine.half-period"),
        (cosine_off_by_one, "cosine.off-by-one"),
        (warmup_ends_early, "warmup.ends-early"),
        (warmup_from_lr_min, "warmup.from-lr-min"),
        (warmup_inclusive, "warmup.when-none"),
    ],
)
def test_cosine_mistakes(mutant, misconception):
    fails_with(checks.check_cosine_warmup_lr, mutant, misconception)


def test_cosine_periodic_names_the_step_past_the_end():
    with pytest.raises(AssertionError, match="at step = 61: .* follow the cosine back up"):
        checks.check_cosine_warmup_lr(cosine_torch_periodic)


def test_cosine_default_lr_min():
    with pytest.raises(AssertionError, match="default lr_min is 0.0"):
        checks.check_cosine_warmup_lr(cosine_default_min)


def test_cosine_without_warmup_is_checked_whatever_the_arguments():
    message = fails_with(checks.check_cosine_warmup_lr, warmup_inclusive, "warmup.when-none")
    assert "warmup_steps=0" in message
    # ... and a warm-up is checked when the arguments have none.
    fails_with(checks.check_cosine_warmup_lr, cosine_warmup_from_one, "warmup.starts-at-one",
               warmup_steps=0)


def test_cosine_oracle_is_the_closed_form():
    """SequentialLR(LambdaLR, CosineAnnealingLR) is the course's formula up to T."""
    lr0, w, total, lr_min = 0.3, 7, 40, 0.02
    got = checks._cosine_torch(lr0, w, total, lr_min, total)
    t = np.arange(total + 1)
    closed = np.where(t < w, lr0 * t / w,
                      lr_min + 0.5 * (lr0 - lr_min) * (1 + np.cos(np.pi * (t - w) / (total - w))))
    assert np.allclose(got, closed, rtol=1e-12, atol=1e-15)


def test_cosine_check_refuses_a_bad_horizon():
    with pytest.raises(ValueError, match="total_steps=10 is not allowed.*total_steps > "
                                         "warmup_steps"):
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


def plateau_late(metric, lr, state, factor=0.1, patience=10, threshold=1e-4, cooldown=0,
                 min_lr=0.0, mode="min", eps=1e-8):
    return answers.reduce_on_plateau(metric, lr, state, factor, patience + 1, threshold,
                                     cooldown, min_lr, mode, eps)


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


def plateau_no_reset_natural(metric, lr, state, factor=0.1, patience=10, threshold=1e-4,
                             cooldown=0, min_lr=0.0, mode="min", eps=1e-8):
    """Never restarts the count after a cut: it keeps growing past patience."""
    before = state.get("num_bad_epochs", 0)
    new_lr, new_state = answers.reduce_on_plateau(metric, lr, state, factor, patience,
                                                  threshold, cooldown, min_lr, mode, eps)
    if before + 1 > patience and new_state["num_bad_epochs"] == 0 and \
            new_state["cooldown_counter"] == cooldown and new_state["best"] != metric:
        new_state = {**new_state, "num_bad_epochs": before + 1}
    return new_lr, new_state


@pytest.mark.parametrize(
    "mutant, kwargs, misconception",
    [
        (plateau_with(cooldown=0), {"seed": 11, "patience": 3, "factor": 0.5, "cooldown": 2},
         "plateau.counts-during-cooldown"),
        (plateau_with(threshold=0.0), {}, "plateau.no-threshold"),
        (plateau_greater_equal, {}, "plateau.cut-at-patience"),
        (plateau_with(min_lr=0.0), {"seed": 13, "patience": 2, "factor": 0.3, "min_lr": 0.004},
         "plateau.below-min-lr"),
        (plateau_with(eps=0.0), {"seed": 14, "lr": 1e-7, "patience": 1},
         "plateau.ignores-eps"),
        (plateau_with(mode="min"), {"seed": 12, "mode": "max"}, "plateau.mode-reversed"),
        (plateau_absolute, {"seed": 2, "threshold": 1e-2}, "plateau.absolute-threshold"),
        (plateau_no_reset, {}, "plateau.no-reset-after-cut"),
        (plateau_no_reset_natural, {}, "plateau.no-reset-after-cut"),
    ],
)
def test_plateau_mistakes(mutant, kwargs, misconception):
    fails_with(checks.check_reduce_on_plateau, mutant, misconception, **kwargs)


@pytest.mark.parametrize(
    "mutant, misconception",
    [
        (plateau_with(cooldown=0), "plateau.counts-during-cooldown"),
        (plateau_with(min_lr=0.0), "plateau.below-min-lr"),
        (plateau_with(eps=0.0), "plateau.ignores-eps"),
        (plateau_with(mode="min"), "plateau.mode-reversed"),
        (plateau_absolute, "plateau.absolute-threshold"),
        (plateau_late, "plateau.cut-late"),
    ],
)
def test_the_visible_plateau_call_checks_every_rule(mutant, misconception):
    """The notebook's visible call has no cooldown, mode 'min', no floor and a large rate:
    the stages the check adds catch what those arguments would not."""
    fails_with(checks.check_reduce_on_plateau, mutant, misconception)


@pytest.mark.parametrize(
    "mutant, message",
    [
        (plateau_in_place, "modified in place"),
        (plateau_missing_key, "no 'cooldown_counter'"),
        (plateau_lr_only, "return a pair"),
        (plateau_other_defaults, "without hyper-parameters.*defaults are"),
    ],
)
def test_plateau_interface_mistakes(mutant, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_reduce_on_plateau(mutant)


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


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    "name, kwargs, shown",
    [
        ("piecewise_linear_lr", {"tau": 0}, "tau=0"),
        ("piecewise_linear_lr", {"tau": 2.5}, "tau=2.5"),
        ("piecewise_linear_lr", {"lr0": 0.0}, "lr0=0.0"),
        ("piecewise_linear_lr", {"lr_tau": -0.1}, "lr_tau=-0.1"),
        ("piecewise_linear_lr", {"steps": -5}, "steps=-5"),
        ("step_lr", {"step_size": 0}, "step_size=0"),
        ("step_lr", {"gamma": 1.5}, "gamma=1.5"),
        ("step_lr", {"gamma": 0.0}, "gamma=0.0"),
        ("exponential_lr", {"gamma": -0.5}, "gamma=-0.5"),
        ("exponential_lr", {"lr0": float("nan")}, "lr0=nan"),
        ("exponential_lr", {"steps": 0}, "steps=0"),
        ("inverse_time_lr", {"decay": -0.1}, "decay=-0.1"),
        ("inverse_time_lr", {"lr0": -1.0}, "lr0=-1.0"),
        ("cosine_warmup_lr", {"warmup_steps": -1}, "warmup_steps=-1"),
        ("cosine_warmup_lr", {"total_steps": 5}, "total_steps=5"),
        ("cosine_warmup_lr", {"lr_min": 0.2}, "lr_min=0.2"),
        ("cosine_warmup_lr", {"past": -1}, "past=-1"),
        ("reduce_on_plateau", {"factor": 1.0}, "factor=1.0"),
        ("reduce_on_plateau", {"patience": -1}, "patience=-1"),
        ("reduce_on_plateau", {"cooldown": 1.5}, "cooldown=1.5"),
        ("reduce_on_plateau", {"mode": "maximum"}, "mode='maximum'"),
        ("reduce_on_plateau", {"lr": 0.0}, "lr=0.0"),
        ("reduce_on_plateau", {"steps": 0}, "steps=0"),
        ("reduce_on_plateau", {"eps": -1e-8}, "eps=-1e-08"),
        ("reduce_on_plateau", {"threshold": -1e-4}, "threshold=-0.0001"),
        ("reduce_on_plateau", {"min_lr": -0.1}, "min_lr=-0.1"),
        ("reduce_on_plateau", {"seed": -1}, "seed=-1"),
    ],
)
def test_bad_arguments_are_refused_before_the_student_runs(name, kwargs, shown):
    assert_refused(check_of(name), kwargs, shown)


# ---------------------------------------------------------------- generic wrong answers


def _battery(answer):
    """Generic wrong schedules: each must fail with an AssertionError that teaches."""
    return {
        "None": lambda *a, **k: None,
        "a string": lambda *a, **k: "a learning rate",
        "NaN": lambda *a, **k: math.nan,
        "infinity": lambda *a, **k: math.inf,
        "an array": lambda *a, **k: np.full(3, answer(*a, **k)),
        "a list": lambda *a, **k: [answer(*a, **k)],
        "a pair": lambda *a, **k: (answer(*a, **k), 0),
        "negated": lambda *a, **k: -answer(*a, **k),
        "scaled by 1.01": lambda *a, **k: 1.01 * answer(*a, **k),
        "a constant": lambda *a, **k: 0.1,
        "a string of the number": lambda *a, **k: str(answer(*a, **k)) + "!",
    }


BATTERY = [(name, wrong) for name in SCHEDULES[:5] for wrong in _battery(answers.step_lr)]


@pytest.mark.parametrize("name, wrong", BATTERY)
def test_generic_wrong_schedules_fail_with_a_teaching_message(name, wrong):
    student = _battery(getattr(answers, name))[wrong]
    with pytest.raises(AssertionError) as error:
        check_of(name)(student)
    message = str(error.value)
    assert message.startswith(name), message
    assert any(word in message for word in ("expected", "return", "cannot be read")), message


def _plateau_battery():
    rule = answers.reduce_on_plateau

    def replace(lr=None, state=None, **keys):
        def wrong(metric, current, old, **hyper):
            new_lr, new_state = rule(metric, current, old, **hyper)
            new_state = {**new_state, **keys} if state is None else state
            return (new_lr if lr is None else lr(new_lr)), new_state
        return wrong

    return {
        "None": lambda *a, **k: None,
        "a string": lambda *a, **k: "lower the rate",
        "a triple": lambda *a, **k: (*rule(*a, **k), 0),
        "lr None": replace(lambda lr: None),
        "lr NaN": replace(lambda lr: math.nan),
        "lr a string": replace(lambda lr: "0.1"),
        "lr a list": replace(lambda lr: [lr]),
        "lr an array": replace(lambda lr: np.full(2, lr)),
        "lr negated": replace(lambda lr: -lr),
        "lr scaled by 1.01": replace(lambda lr: 1.01 * lr),
        "lr constant": replace(lambda lr: 0.1),
        "state None": lambda *a, **k: (rule(*a, **k)[0], None),
        "best None": replace(best=None),
        "state a list": replace(state=[1.0, 0, 0]),
        "state empty": replace(state={}),
        "best NaN": replace(best=math.nan),
        "best a string": replace(best="best"),
        "best a list": replace(best=[1.0, 2.0]),
        "num_bad_epochs negated": lambda *a, **k: (lambda r: (r[0], {
            **r[1], "num_bad_epochs": -r[1]["num_bad_epochs"] - 1}))(rule(*a, **k)),
        "cooldown_counter scaled": replace(cooldown_counter=1.01),
    }


@pytest.mark.parametrize("wrong", list(_plateau_battery()))
def test_generic_wrong_plateau_rules_fail_with_a_teaching_message(wrong):
    with pytest.raises(AssertionError) as error:
        checks.check_reduce_on_plateau(_plateau_battery()[wrong])
    message = str(error.value)
    assert message.startswith("reduce_on_plateau"), message
    assert any(word in message for word in ("expected", "return", "cannot be read", "must",
                                            "no '", "is None")), message


# ---------------------------------------------------------------- the noise floor


@pytest.mark.parametrize("kwargs", [{}, {"lr": 0.999, "curvature": 2.0},
                                    {"lr": 1e-4, "curvature": 1e3, "noise_var": 1e-6},
                                    {"noise_var": 0.0}, {"lr": 5.0}])
def test_noise_floor_passes(kwargs):
    checks.check_noise_floor_variance(answers.noise_floor_variance, **kwargs)


def test_noise_floor_stub_raises_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        checks.check_noise_floor_variance(stub)


@pytest.mark.parametrize("lr, curvature, noise_var", [(0.1, 2.0, 1.0), (0.95, 2.0, 0.5),
                                                      (0.01, 30.0, 3.0)])
def test_noise_floor_is_the_fixed_point_of_the_recursion_and_of_simulated_runs(
        lr, curvature, noise_var):
    """The closed form against the exact recursion v ← (1 − ηλ)²v + η²σ² (iterated), and
    against 20 000 simulated runs (the sample variance of a Gaussian sample of n has a
    relative standard error √(2/n) = 1 %: the tolerance is 5 %)."""
    expected = checks.noise_floor_closed_form(lr, curvature, noise_var)
    assert checks.noise_floor_recursion(lr, curvature, noise_var) == pytest.approx(expected,
                                                                                    rel=1e-12)
    rng = np.random.default_rng(0)
    theta = np.zeros(20_000)
    burn_in = int(np.ceil(40 / -np.log(abs(1 - lr * curvature) + 1e-300)))
    for _ in range(max(burn_in, 50)):
        theta = theta - lr * (curvature * theta + np.sqrt(noise_var) * rng.standard_normal(
            theta.shape))
    assert theta.var() == pytest.approx(expected, rel=0.05)


def test_noise_floor_book_numbers():
    """η = 0.1, λ = 2, σ² = 1: 0.0278 against the small-step 0.025; ηλ = 1.9: 20 times."""
    assert checks.noise_floor_closed_form(0.1, 2.0, 1.0) == pytest.approx(1 / 36)
    assert (checks.noise_floor_closed_form(0.95, 2.0, 1.0) / (0.95 / 4)) == pytest.approx(20.0)
    assert checks.noise_floor_closed_form(1.0, 2.0, 1.0) == math.inf


def floor_small_lr(lr, curvature, noise_var):
    return math.inf if lr * curvature >= 2 else lr * noise_var / (2 * curvature)


def floor_lr_once(lr, curvature, noise_var):
    return math.inf if lr * curvature >= 2 else noise_var / (curvature * (2 - lr * curvature))


def floor_not_squared(lr, curvature, noise_var):
    return math.inf if lr * curvature >= 2 else lr * noise_var / curvature


def floor_std(lr, curvature, noise_var):
    return math.sqrt(answers.noise_floor_variance(lr, curvature, noise_var))


def floor_loss(lr, curvature, noise_var):
    return 0.5 * curvature * answers.noise_floor_variance(lr, curvature, noise_var)


def floor_formula_everywhere(lr, curvature, noise_var):
    return lr * noise_var / (curvature * (2.0 - lr * curvature))  # ZeroDivisionError at ηλ = 2


def floor_nan_when_unstable(lr, curvature, noise_var):
    if lr * curvature >= 2:
        return math.nan
    return answers.noise_floor_variance(lr, curvature, noise_var)


@pytest.mark.parametrize("mutant, misconception", [
    (floor_small_lr, "noise-floor.small-lr-approximation"),
    (floor_lr_once, "noise-floor.noise-lr-once"),
    (floor_not_squared, "noise-floor.contraction-not-squared"),
    (floor_std, "noise-floor.standard-deviation"),
    (floor_loss, "noise-floor.loss-not-variance"),
    (floor_formula_everywhere, "noise-floor.unstable"),
    (floor_nan_when_unstable, "noise-floor.unstable"),
])
def test_noise_floor_mistakes_are_named(mutant, misconception):
    fails_with(checks.check_noise_floor_variance, mutant, misconception)


@pytest.mark.parametrize("change", WRONG_OUTPUTS)
def test_noise_floor_generic_wrong_answers_teach(change):
    message = failure(checks.check_noise_floor_variance,
                      wrong(answers.noise_floor_variance, WRONG_OUTPUTS[change]))
    assert_teaches(message, "noise_floor_variance")


@pytest.mark.parametrize("kwargs", [{"lr": 0.0}, {"curvature": -1.0}, {"noise_var": -0.1},
                                    {"lr": float("inf")}, {"noise_var": "1"}])
def test_noise_floor_bad_arguments_are_refused(kwargs):
    assert_refused(checks.check_noise_floor_variance, kwargs)
