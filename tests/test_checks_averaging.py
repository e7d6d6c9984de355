"""The chapter 07 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from descent.answers import load
from descent.checks import averaging as checks

answers = load("07_polyak_averaging")


# ---------------------------------------------------------------- model answers pass


@pytest.mark.parametrize("shape, n", [((20, 3), 5), ((1,), 1), ((7,), 7), ((12, 2, 3), 40),
                                      ((30, 1), 29)])
@pytest.mark.parametrize("as_list", [False, True])
def test_tail_average_passes(shape, n, as_list):
    checks.check_tail_average(answers.tail_average, seed=3, shape=shape, n=n, as_list=as_list)


@pytest.mark.parametrize("shape", [(), (1,), (3, 4)])
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_running_mean_update_passes(shape, offset):
    checks.check_running_mean_update(answers.running_mean_update, seed=4, shape=shape, steps=40,
                                     offset=offset)


@pytest.mark.parametrize("shape", [(), (1,), (3, 4)])
@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9, 0.999, 1.0])
@pytest.mark.parametrize("start", ["zeros", "first"])
def test_ema_update_passes(shape, decay, start):
    checks.check_ema_update(answers.ema_update, seed=5, shape=shape, steps=50, decay=decay,
                            start=start)


@pytest.mark.parametrize("shape", [(), (1,), (3, 4)])
@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9, 0.999])
def test_ema_debiased_passes(shape, decay):
    checks.check_ema_debiased(answers.ema_debiased, seed=6, shape=shape, steps=60, decay=decay)


@pytest.mark.parametrize("decay", [None, 0.0, 0.5, 0.9, 0.999, 1.0])
@pytest.mark.parametrize("container", ["dict", "list"])
def test_average_parameters_passes(decay, container):
    checks.check_average_parameters(answers.average_parameters, seed=7, layers=(4, 3, 1),
                                    snapshots=25, decay=decay, container=container)


def test_average_parameters_passes_with_avg_fn():
    checks.check_average_parameters(answers.average_parameters, seed=8, decay=0.8,
                                    ema_fn="avg_fn")


CHECKS = {
    "tail_average": checks.check_tail_average,
    "running_mean_update": checks.check_running_mean_update,
    "ema_update": checks.check_ema_update,
    "ema_debiased": checks.check_ema_debiased,
    "average_parameters": checks.check_average_parameters,
}


@pytest.mark.parametrize("name", CHECKS)
def test_stub_raises_not_implemented(name):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        CHECKS[name](stub)


# ---------------------------------------------------------------- the tail average


def tail_first_rows(trajectory, n):
    return np.asarray(trajectory, dtype=float)[:n].mean(axis=0)


def tail_divides_by_n(trajectory, n):
    return np.asarray(trajectory, dtype=float)[-n:].sum(axis=0) / n


def tail_one_too_many(trajectory, n):
    return np.asarray(trajectory, dtype=float)[-n - 1:].mean(axis=0)


def tail_sum(trajectory, n):
    return np.asarray(trajectory, dtype=float)[-n:].sum(axis=0)


def tail_wrong_axis(trajectory, n):
    return np.asarray(trajectory, dtype=float)[-n:].mean(axis=-1)


def tail_all_rows(trajectory, n):
    return np.asarray(trajectory, dtype=float).mean(axis=0)


def tail_array_only(trajectory, n):
    return trajectory[-n:].mean(axis=0)  # a list has no .mean


def tail_in_place(trajectory, n):
    trajectory[-1] *= 1.0
    trajectory[0] = trajectory[-1]
    return np.asarray(trajectory, dtype=float)[-n:].mean(axis=0)


@pytest.mark.parametrize("mutant, kwargs, message", [
    (tail_first_rows, {}, "LAST n iterates"),
    (tail_divides_by_n, {}, "divide their sum by T, not by n"),
    (tail_one_too_many, {}, "one iterate too many"),
    (tail_sum, {}, "divide the sum of the N iterates by N"),
    (tail_wrong_axis, {}, r"has shape \(5,\), expected \(3,\) — .*the mean over the first axis"),
    (tail_all_rows, {}, r"tail_average \(T = 20, n = 5\)"),
    (tail_in_place, {}, "the trajectory it was given was modified in place"),
])
def test_tail_average_mutants(mutant, kwargs, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_tail_average(mutant, **kwargs)


def test_tail_average_needs_asarray_for_lists():
    with pytest.raises(AttributeError):
        checks.check_tail_average(tail_array_only, as_list=True)


# ---------------------------------------------------------------- the running mean


def running_divides_by_count(mean, theta, count):
    mean, theta = np.asarray(mean, dtype=float), np.asarray(theta, dtype=float)
    with np.errstate(all="ignore"):
        return mean + (theta - mean) / count, count + 1


def running_divides_by_count_after_first(mean, theta, count):
    """Special-cases the first call, then divides by count."""
    if count == 0:
        return np.array(theta, dtype=float), 1
    return mean + (theta - mean) / count, count + 1


def running_ema_half(mean, theta, count):
    if count == 0:
        return np.array(theta, dtype=float), 1
    return (np.asarray(mean) + theta) / 2, count + 1


def running_uses_initial_mean(mean, theta, count):
    """Counts the mean it was given at the first call as one iterate."""
    if count == 0:
        return (np.asarray(mean, dtype=float) + theta) / 2, 1
    return answers.running_mean_update(mean, theta, count)


def running_old_count(mean, theta, count):
    new, _ = answers.running_mean_update(mean, theta, count)
    return new, count


def running_unweighted(mean, theta, count):
    return (np.asarray(mean, dtype=float) + theta) / (count + 1), count + 1


def running_in_place(mean, theta, count):
    new, count = answers.running_mean_update(mean, theta, count)
    mean[...] = new
    return mean, count


@pytest.mark.parametrize("mutant, message", [
    (running_divides_by_count, "divide by count \\+ 1"),
    (running_divides_by_count_after_first, "update 2 .*divide by count \\+ 1"),
    (running_ema_half, "not 1/2"),
    (running_uses_initial_mean, "update 1 .*the mean you were given must be ignored"),
    (running_old_count, "return count \\+ 1"),
    (running_unweighted, "weight the old mean by the count"),
    (running_in_place, "the mean it was given was modified in place"),
])
def test_running_mean_update_mutants(mutant, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_running_mean_update(mutant)


# ---------------------------------------------------------------- the EMA


def ema_swapped(ema, theta, step, decay=0.999):
    return (1 - decay) * np.asarray(ema) + decay * np.asarray(theta), step + 1


def ema_no_one_minus(ema, theta, step, decay=0.999):
    return decay * np.asarray(ema) + np.asarray(theta), step + 1


def ema_corrected(ema, theta, step, decay=0.999):
    """Returns the bias-corrected value and keeps it as the average."""
    new, step = answers.ema_update(ema, theta, step, decay)
    return answers.ema_debiased(new, step, decay), step


def ema_other_default(ema, theta, step, decay=0.9):
    return answers.ema_update(ema, theta, step, decay)


def ema_step_not_returned(ema, theta, step, decay=0.999):
    return answers.ema_update(ema, theta, step, decay)[0], step


def ema_first_copies(ema, theta, step, decay=0.999):
    """AveragedModel's copy at the first update, in the wrong place."""
    if step == 0:
        return np.array(theta, dtype=float), 1
    return answers.ema_update(ema, theta, step, decay)


@pytest.mark.parametrize("mutant, kwargs, message", [
    (ema_swapped, {}, "you swapped β and 1 − β"),
    (ema_no_one_minus, {}, "update 1, the EMA.*the new iterate gets weight 1 − β"),
    (ema_no_one_minus, {"start": "first"}, "\\(1 − β\\) multiplies the new iterate"),
    (ema_corrected, {}, "update 1, the EMA.*the bias correction is ema_debiased's job"),
    (ema_other_default, {}, "default decay is PyTorch's"),
    (ema_step_not_returned, {}, "return step \\+ 1"),
    (ema_first_copies, {}, "update 1, the EMA"),
])
def test_ema_update_mutants(mutant, kwargs, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_ema_update(mutant, **kwargs)


def debiased_none(ema, step, decay=0.999):
    return np.asarray(ema, dtype=float)


def debiased_next_power(ema, step, decay=0.999):
    return np.asarray(ema, dtype=float) / (1 - decay ** (step + 1))


def debiased_previous_power(ema, step, decay=0.999):
    with np.errstate(all="ignore"):
        return np.asarray(ema, dtype=float) / (1 - decay ** (step - 1))


def debiased_multiplies(ema, step, decay=0.999):
    return np.asarray(ema, dtype=float) * (1 - decay**step)


def debiased_times_t(ema, step, decay=0.999):
    return np.asarray(ema, dtype=float) / (1 - decay * step)


def debiased_one_minus_decay(ema, step, decay=0.999):
    return np.asarray(ema, dtype=float) / (1 - decay)


def debiased_other_default(ema, step, decay=0.9):
    return answers.ema_debiased(ema, step, decay)


@pytest.mark.parametrize("mutant, message", [
    (debiased_none, "a constant sequence c, step t = 1.*this is the raw EMA"),
    (debiased_next_power, "not 1 − β\\^\\(t\\+1\\)"),
    (debiased_previous_power, "not 1 − β\\^\\(t−1\\)"),
    (debiased_multiplies, "do not multiply"),
    (debiased_times_t, "not β·t"),
    (debiased_one_minus_decay, "step t = 2.*sum to 1 − β\\^t, not 1 − β$"),
    (debiased_other_default, "default decay is PyTorch's"),
])
def test_ema_debiased_mutants(mutant, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_ema_debiased(mutant)


# ---------------------------------------------------------------- a model's parameters


def keys_of(params):
    return list(params) if isinstance(params, dict) else range(len(params))


def each(fn):
    """An average_parameters that applies ``fn(avg, p, n, decay)`` to each array."""
    def average_parameters(averaged, params, n_averaged, decay=None):
        keys = keys_of(params)
        values = [fn(np.asarray(averaged[k], dtype=float), np.asarray(params[k], dtype=float),
                     n_averaged, decay) for k in keys]
        new = dict(zip(keys, values, strict=True)) if isinstance(params, dict) else values
        return new, n_averaged + 1
    return average_parameters


def no_copy(avg, p, n, decay):
    if decay is None:
        return avg + (p - avg) / (n + 1) if n else (avg + p) / 2
    return decay * avg + (1 - decay) * p


def ema_without_copy(avg, p, n, decay):
    if decay is None:
        return p if n == 0 else avg + (p - avg) / (n + 1)
    return decay * avg + (1 - decay) * p


def divides_by_n(avg, p, n, decay):
    if n == 0:
        return p
    if decay is None:
        return avg + (p - avg) / n
    return decay * avg + (1 - decay) * p


def swapped_decay(avg, p, n, decay):
    if n == 0:
        return p
    if decay is None:
        return avg + (p - avg) / (n + 1)
    return (1 - decay) * avg + decay * p


def always_equal(avg, p, n, decay):
    return p if n == 0 else avg + (p - avg) / (n + 1)


def debiased_ema(avg, p, n, decay):
    if n == 0:
        return p
    if decay is None:
        return avg + (p - avg) / (n + 1)
    raw = decay * avg + (1 - decay) * p
    return raw / (1 - decay ** (n + 1))


def first_only(averaged, params, n_averaged, decay=None):
    """Averages only the first array."""
    new, n = answers.average_parameters(averaged, params, n_averaged, decay)
    if isinstance(new, dict):
        first = next(iter(new))
        return {first: new[first]}, n
    return new[:1], n


def returns_list_for_dict(averaged, params, n_averaged, decay=None):
    new, n = answers.average_parameters(averaged, params, n_averaged, decay)
    return list(new.values()) if isinstance(new, dict) else new, n


def returns_dict_for_list(averaged, params, n_averaged, decay=None):
    new, n = answers.average_parameters(averaged, params, n_averaged, decay)
    return (dict(enumerate(new)) if isinstance(new, list) else new), n


def keeps_count(averaged, params, n_averaged, decay=None):
    return answers.average_parameters(averaged, params, n_averaged, decay)[0], n_averaged


def ema_by_default(averaged, params, n_averaged, decay=0.999):
    return answers.average_parameters(averaged, params, n_averaged, decay)


def params_in_place(averaged, params, n_averaged, decay=None):
    new, n = answers.average_parameters(averaged, params, n_averaged, decay)
    for k in keys_of(params):
        params[k] *= 2.0
        params[k] /= 2.0
        params[k] += 1.0
    return new, n


@pytest.mark.parametrize("mutant, kwargs, message", [
    (each(no_copy), {}, "update 1 .*COPIES the parameters"),
    (each(ema_without_copy), {"decay": 0.9}, "update 1 .*COPIES the parameters — in the EMA"),
    (each(divides_by_n), {}, "update 2 .*divide by n_averaged \\+ 1"),
    (each(swapped_decay), {"decay": 0.9}, "you swapped them"),
    (each(always_equal), {"decay": 0.9}, "not the equal average"),
    (each(debiased_ema), {"decay": 0.9}, "has no bias correction"),
    (ema_by_default, {}, "the default is decay=None"),
    (first_only, {}, "the returned dict has no '0.bias'"),
    (first_only, {"container": "list"}, "expected a list of 4 arrays, got 1"),
    (returns_list_for_dict, {}, "return a dict with its keys"),
    (returns_dict_for_list, {"container": "list"}, "return a list of arrays in the same order"),
    (keeps_count, {}, "return n_averaged \\+ 1"),
    (params_in_place, {}, "params\\['0.weight'\\] \\(its input\\) was modified in place"),
])
def test_average_parameters_mutants(mutant, kwargs, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_average_parameters(mutant, **kwargs)


def test_average_parameters_matches_averaged_model_by_construction():
    # The oracle really is AveragedModel: its equal average of three constant snapshots
    # 1, 2, 3 is 2, and its EMA with decay 1/2 of them is (1 + 2)/2 → (1.5 + 3)/2 = 2.25.
    import torch
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    model = torch.nn.Linear(1, 1).double()
    swa = AveragedModel(model)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.5))
    for value in (1.0, 2.0, 3.0):
        with torch.no_grad():
            model.weight.fill_(value)
        swa.update_parameters(model)
        ema.update_parameters(model)
    assert float(swa.module.weight.detach()) == 2.0
    assert float(ema.module.weight.detach()) == 2.25
    averaged, n = {"weight": np.zeros((1, 1))}, 0
    for value in (1.0, 2.0, 3.0):
        averaged, n = answers.average_parameters(averaged, {"weight": np.full((1, 1), value)}, n,
                                                 decay=0.5)
    assert float(averaged["weight"][0, 0]) == 2.25 and n == 3
