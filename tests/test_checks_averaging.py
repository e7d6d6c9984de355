"""The chapter 07 checks accept the model answers and reject plausible mistakes."""

from __future__ import annotations

import numpy as np
import pytest
from checktools import WRONG_OUTPUTS, assert_refused, assert_teaches, fails_with, failure, wrong

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
    "ema_noise_variance": checks.check_ema_noise_variance,
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


def tail_no_axis(trajectory, n):
    return np.asarray(trajectory, dtype=float)[-n:].mean()


def tail_arrays_only(trajectory, n):
    """Right for an array; a list's [-n:] is a list of arrays, summed by Python's sum."""
    if isinstance(trajectory, list):
        return sum(trajectory[-n:])
    return trajectory[-n:].mean(axis=0)


@pytest.mark.parametrize("mutant, misconception", [
    (tail_first_rows, "tail-average.first-n"),
    (tail_divides_by_n, "tail-average.divide-by-n-beyond-t"),
    (tail_one_too_many, "tail-average.one-too-many"),
    (tail_sum, "tail-average.sum"),
    (tail_wrong_axis, "tail-average.wrong-axis"),
    (tail_no_axis, "tail-average.no-axis"),
])
def test_tail_average_mutants(mutant, misconception):
    fails_with(checks.check_tail_average, mutant, misconception)


def test_tail_average_one_too_few():
    def one_too_few(trajectory, n):
        return np.asarray(trajectory, dtype=float)[-n + 1:].mean(axis=0) if n > 1 else \
            np.asarray(trajectory, dtype=float)[-1]

    fails_with(checks.check_tail_average, one_too_few, "tail-average.one-too-few")


def test_tail_average_names_the_call():
    with pytest.raises(AssertionError, match=r"tail_average \(T = 20, n = 5, the trajectory "
                                             r"as an array\)"):
        checks.check_tail_average(tail_all_rows)


def test_tail_average_in_place():
    with pytest.raises(AssertionError, match="the trajectory it was given was modified in place"):
        checks.check_tail_average(tail_in_place)


def test_tail_average_list_is_checked_by_the_visible_call():
    """The task allows a list of arrays: the visible call (an array) hands one over too."""
    checks._tail_stage(tail_arrays_only, checks._walk(0, 20, (3,)), 5, False)
    fails_with(checks.check_tail_average, tail_arrays_only, "tail-average.sum")
    # A student's own error on a list propagates unchanged, from the visible call too.
    with pytest.raises(AttributeError):
        checks.check_tail_average(tail_array_only)


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


@pytest.mark.parametrize("mutant, misconception, where", [
    (running_divides_by_count, "running-mean.divide-by-count", "update 1"),
    (running_divides_by_count_after_first, "running-mean.divide-by-count", "update 2"),
    (running_ema_half, "running-mean.half-weight", "update 3"),
    (running_uses_initial_mean, "running-mean.initial-mean-counted", "update 1"),
    (running_old_count, "averaging-counter.not-incremented", "update 1"),
    (running_unweighted, "running-mean.unweighted-old-mean", "update 1"),
])
def test_running_mean_update_mutants(mutant, misconception, where):
    message = fails_with(checks.check_running_mean_update, mutant, misconception)
    assert f"running_mean_update, {where} " in message


def test_running_mean_update_in_place():
    with pytest.raises(AssertionError, match="the mean it was given was modified in place"):
        checks.check_running_mean_update(running_in_place)


def test_running_mean_update_names_the_value_that_differs():
    with pytest.raises(AssertionError, match=r"update 1 \(count = 0\): the new count: "
                                             r"expected 1, got 0"):
        checks.check_running_mean_update(running_old_count)


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


def ema_tf_warmup(ema, theta, step, decay=0.999):
    """TensorFlow's ExponentialMovingAverage(num_updates=step)."""
    decay = min(decay, (1 + step) / (10 + step))
    return answers.ema_update(ema, theta, step, decay)


def ema_assumes_zero_start(ema, theta, step, decay=0.999):
    """Right from m_0 = 0 only: ignores the ema it is given at the first update."""
    if step == 0:
        return (1 - decay) * np.asarray(theta, dtype=float), 1
    return answers.ema_update(ema, theta, step, decay)


@pytest.mark.parametrize("mutant, kwargs, misconception", [
    (ema_swapped, {}, "ema.decay-swapped"),
    (ema_no_one_minus, {}, "ema.no-one-minus-decay"),  # told apart by the next update
    (ema_no_one_minus, {"start": "first"}, "ema.no-one-minus-decay"),
    (ema_corrected, {}, "ema.first-update-theta"),
    (ema_corrected, {"decay": 0.5}, "ema.first-update-theta"),
    (ema_step_not_returned, {}, "averaging-counter.not-incremented"),
    (ema_first_copies, {}, "ema.first-update-theta"),
    (ema_first_copies, {"start": "first"}, "ema.copies-first"),
    (ema_tf_warmup, {}, "ema.num-updates-warmup"),
    (ema_tf_warmup, {"start": "first", "decay": 0.999}, "ema.num-updates-warmup"),
    (ema_assumes_zero_start, {}, "ema.assumes-zero-start"),  # the visible call's extra stage
])
def test_ema_update_mutants(mutant, kwargs, misconception):
    fails_with(checks.check_ema_update, mutant, misconception, **kwargs)


def test_ema_update_corrected_after_the_first_update():
    """From step 2 on, the bias-corrected value kept as the average is named as such."""
    def corrected_later(ema, theta, step, decay=0.999):
        if step == 0:
            return answers.ema_update(ema, theta, step, decay)
        return ema_corrected(ema, theta, step, decay)

    fails_with(checks.check_ema_update, corrected_later, "ema.corrected-in-update")


def test_ema_update_default_decay():
    with pytest.raises(AssertionError, match="default decay is PyTorch's"):
        checks.check_ema_update(ema_other_default)


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


@pytest.mark.parametrize("mutant, misconception, where", [
    (debiased_none, "ema-debiased.raw", "a constant sequence c, step t = 1"),
    (debiased_next_power, "ema-debiased.next-power", "step t = 1"),
    (debiased_previous_power, "ema-debiased.previous-power", "step t = 1"),
    (debiased_multiplies, "ema-debiased.multiplies", "step t = 1"),
    (debiased_times_t, "ema-debiased.decay-times-t", "step t = 2"),
    (debiased_one_minus_decay, "ema-debiased.one-minus-decay", "step t = 2"),
])
def test_ema_debiased_mutants(mutant, misconception, where):
    message = fails_with(checks.check_ema_debiased, mutant, misconception)
    assert f"{where}:" in message


def test_ema_debiased_default_decay():
    with pytest.raises(AssertionError, match="default decay is PyTorch's"):
        checks.check_ema_debiased(debiased_other_default)


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


def tf_warmup(avg, p, n, decay):
    if n == 0:
        return p
    if decay is None:
        return avg + (p - avg) / (n + 1)
    decay = min(decay, (1 + n) / (10 + n))
    return decay * avg + (1 - decay) * p


@pytest.mark.parametrize("mutant, kwargs, misconception", [
    (each(no_copy), {}, "averaged-model.no-first-copy"),
    (each(ema_without_copy), {"decay": 0.9}, "averaged-model.no-first-copy"),
    (each(divides_by_n), {}, "running-mean.divide-by-count"),
    (each(swapped_decay), {"decay": 0.9}, "ema.decay-swapped"),
    (each(always_equal), {"decay": 0.9}, "averaged-model.equal-with-decay"),
    (each(debiased_ema), {"decay": 0.9}, "averaged-model.bias-corrected"),
    (each(tf_warmup), {"decay": 0.999}, "ema.num-updates-warmup"),
    (ema_by_default, {}, "averaged-model.ema-by-default"),
    (keeps_count, {}, "averaging-counter.not-incremented"),
])
def test_average_parameters_mutants(mutant, kwargs, misconception):
    fails_with(checks.check_average_parameters, mutant, misconception, **kwargs)


@pytest.mark.parametrize("mutant, kwargs, message", [
    (first_only, {}, "the returned dict has no '0.bias'"),
    (first_only, {"container": "list"}, "expected a list of 4 arrays, got 1"),
    (returns_list_for_dict, {}, "return a dict with its keys"),
    (returns_dict_for_list, {"container": "list"}, "return a list of arrays in the same order"),
    (returns_dict_for_list, {}, r"list of 4 arrays\), update 1 .*return a list of arrays"),
    (params_in_place, {}, "params\\['0.weight'\\] \\(its input\\) was modified in place"),
])
def test_average_parameters_interface_mistakes(mutant, kwargs, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_average_parameters(mutant, **kwargs)


def test_average_parameters_input_structure_changed():
    def pops(averaged, params, n_averaged, decay=None):
        new = answers.average_parameters(averaged, params, n_averaged, decay)
        params.pop()
        return new

    with pytest.raises(AssertionError, match=r"params \(its input\) was modified in place"):
        checks.check_average_parameters(pops, container="list")


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


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("name, kwargs, shown", [
    ("tail_average", {"n": 0}, "n=0"),
    ("tail_average", {"n": 2.5}, "n=2.5"),
    ("tail_average", {"shape": ()}, "shape=()"),
    ("tail_average", {"shape": (0, 3)}, "shape=(0, 3)"),
    ("tail_average", {"seed": -1}, "seed=-1"),
    ("running_mean_update", {"steps": 0}, "steps=0"),
    ("running_mean_update", {"shape": (3, -1)}, "shape=(3, -1)"),
    ("running_mean_update", {"offset": float("inf")}, "offset=inf"),
    ("ema_update", {"decay": 1.5}, "decay=1.5"),
    ("ema_update", {"decay": -0.1}, "decay=-0.1"),
    ("ema_update", {"start": "ones"}, "start='ones'"),
    ("ema_update", {"steps": -3}, "steps=-3"),
    ("ema_debiased", {"decay": 1.0}, "decay=1.0"),
    ("ema_debiased", {"steps": 0}, "steps=0"),
    ("average_parameters", {"decay": 2.0}, "decay=2.0"),
    ("average_parameters", {"snapshots": 0}, "snapshots=0"),
    ("average_parameters", {"layers": (3,)}, "layers=(3,)"),
    ("average_parameters", {"layers": (3, 0, 1)}, "layers=(3, 0, 1)"),
    ("average_parameters", {"container": "tuple"}, "container='tuple'"),
    ("average_parameters", {"ema_fn": "lerp"}, "ema_fn='lerp'"),
])
def test_bad_arguments_are_refused_before_the_student_runs(name, kwargs, shown):
    assert_refused(CHECKS[name], kwargs, shown)


# ---------------------------------------------------------------- generic wrong answers


def _wrong_values(right):
    """Generic wrong versions of a correct array ``right``: name -> value."""
    right = np.asarray(right, dtype=float)
    return {
        "None": None,
        "a string": "the average",
        "NaN": np.full(right.shape, np.nan),
        "the wrong shape": np.zeros(right.size + 1),
        "a nested list": [[1.0, 2.0], [3.0]],
        "negated": -right - 1.0,
        "scaled by 1.01": 1.01 * right + 1e-3,
        "a constant": np.full(right.shape, 0.5),
    }


WRONG = list(_wrong_values(0.0))


def _wrong_counts(count):
    return {"None": None, "a string": "one more", "a list": [count], "NaN": np.nan,
            "negated": -count, "a constant": 7}


def pair_battery(answer, wrong: str, which: str):
    """``answer`` with the array (which = 'value') or the counter ('count') of its result
    replaced by a generic wrong one."""
    def student(*args, **kwargs):
        value, count = answer(*args, **kwargs)
        if which == "value":
            return _wrong_values(value)[wrong], count
        return value, _wrong_counts(count)[wrong]
    return student


def _teaches(message: str, name: str) -> None:
    assert_teaches(message, name, ("expected", "return", "cannot be read", "None", "shape"))


@pytest.mark.parametrize("wrong", WRONG)
@pytest.mark.parametrize("name", ["tail_average", "ema_debiased"])
def test_generic_wrong_arrays_fail_with_a_teaching_message(name, wrong):
    answer = getattr(answers, name)
    with pytest.raises(AssertionError) as error:
        CHECKS[name](lambda *a, **k: _wrong_values(answer(*a, **k))[wrong])
    _teaches(str(error.value), name)


PAIR_CASES = ([(which, wrong) for wrong in WRONG for which in ("value",)]
              + [("count", wrong) for wrong in _wrong_counts(1)])


@pytest.mark.parametrize("which, wrong", PAIR_CASES)
@pytest.mark.parametrize("name", ["running_mean_update", "ema_update"])
def test_generic_wrong_pairs_fail_with_a_teaching_message(name, which, wrong):
    with pytest.raises(AssertionError) as error:
        CHECKS[name](pair_battery(getattr(answers, name), wrong, which))
    _teaches(str(error.value), name)


@pytest.mark.parametrize("result", [None, "averaged", 3.0, (None, 1), ([], 1)])
@pytest.mark.parametrize("name", ["running_mean_update", "ema_update", "average_parameters"])
def test_a_result_that_is_no_pair_fails_with_a_teaching_message(name, result):
    with pytest.raises(AssertionError) as error:
        CHECKS[name](lambda *a, **k: result)
    _teaches(str(error.value), name)


def averages_battery(wrong: str, which: str):
    """average_parameters with every array (which = 'value'), the container ('container')
    or the counter ('count') replaced by a generic wrong one."""
    def student(averaged, params, n_averaged, decay=None):
        new, count = answers.average_parameters(averaged, params, n_averaged, decay)
        if which == "count":
            return new, _wrong_counts(count)[wrong]
        if which == "container":
            return {"None": None, "a string": "weights", "a set": {1, 2},
                    "a tuple of arrays": tuple(new.values()) if isinstance(new, dict) else
                    tuple(new)}[wrong], count
        keys = list(new) if isinstance(new, dict) else range(len(new))
        for key in keys:
            new[key] = _wrong_values(new[key])[wrong]
        return new, count
    return student


AVERAGES_CASES = ([("value", wrong) for wrong in WRONG]
                  + [("count", wrong) for wrong in _wrong_counts(1)]
                  + [("container", wrong) for wrong in ("None", "a string", "a set",
                                                         "a tuple of arrays")])


@pytest.mark.parametrize("which, wrong", AVERAGES_CASES)
@pytest.mark.parametrize("container", ["dict", "list"])
def test_generic_wrong_averages_fail_with_a_teaching_message(container, which, wrong):
    with pytest.raises(AssertionError) as error:
        checks.check_average_parameters(averages_battery(wrong, which), container=container,
                                        decay=0.9)
    _teaches(str(error.value), "average_parameters")


# ---------------------------------------------------------------- the variance of an EMA


@pytest.mark.parametrize("kwargs", [{}, {"steps": None}, {"decay": 0.0, "steps": 1},
                                    {"decay": 1.0}, {"decay": 0.9999, "steps": 100_000},
                                    {"noise_var": 0.0}])
def test_ema_noise_variance_passes(kwargs):
    checks.check_ema_noise_variance(answers.ema_noise_variance, **kwargs)


@pytest.mark.parametrize("decay, steps", [(0.9, 1), (0.9, 10), (0.99, 50), (0.5, 200)])
def test_ema_noise_variance_closed_form_is_the_weights_and_a_simulation(decay, steps):
    """The closed form against the weights written out, and against 200 000 simulated EMAs
    (sample variance: relative standard error √(2/n) ≈ 0.3 %; tolerance 2 %)."""
    closed = checks.ema_noise_variance_closed_form(decay, 2.0, steps)
    assert checks.ema_noise_variance_weights(decay, 2.0, steps) == pytest.approx(closed,
                                                                                  rel=1e-12)
    rng = np.random.default_rng(1)
    m = np.zeros(200_000)
    for _ in range(steps):
        m = decay * m + (1 - decay) * np.sqrt(2.0) * rng.standard_normal(m.shape)
    assert m.var() == pytest.approx(closed, rel=0.02)


def test_ema_noise_variance_is_an_average_of_19_samples_at_09():
    """ρ = 0.9 removes as much noise as an equal average of (1 + ρ)/(1 − ρ) = 19 samples."""
    assert 1.0 / checks.ema_noise_variance_closed_form(0.9, 1.0) == pytest.approx(19.0)


def ema_var_window(decay, noise_var, steps=None):
    factor = 1.0 if steps is None else 1.0 - decay ** (2 * steps)
    return noise_var * (1 - decay) * factor


def ema_var_not_squared(decay, noise_var, steps=None):
    return noise_var * (1.0 if steps is None else 1.0 - decay ** steps)


def ema_var_std(decay, noise_var, steps=None):
    return np.sqrt(answers.ema_noise_variance(decay, noise_var, steps))


def ema_var_swapped(decay, noise_var, steps=None):
    return answers.ema_noise_variance(1.0 - decay, noise_var, steps)


def ema_var_power_t(decay, noise_var, steps=None):
    stationary = answers.ema_noise_variance(decay, noise_var)
    return stationary if steps is None else stationary * (1 - decay ** steps)


def ema_var_ignores_steps(decay, noise_var, steps=None):
    return answers.ema_noise_variance(decay, noise_var)


@pytest.mark.parametrize("mutant, misconception", [
    (ema_var_window, "ema-variance.window"),
    (ema_var_not_squared, "ema-variance.weights-not-squared"),
    (ema_var_std, "ema-variance.standard-deviation"),
    (ema_var_swapped, "ema-variance.decay-swapped"),
    (ema_var_power_t, "ema-variance.power-t"),
    (ema_var_ignores_steps, "ema-variance.ignores-steps"),
])
def test_ema_noise_variance_mutants(mutant, misconception):
    fails_with(checks.check_ema_noise_variance, mutant, misconception)


@pytest.mark.parametrize("change", WRONG_OUTPUTS)
def test_ema_noise_variance_generic_wrong_answers_teach(change):
    message = failure(checks.check_ema_noise_variance,
                      wrong(answers.ema_noise_variance, WRONG_OUTPUTS[change]))
    assert_teaches(message, "ema_noise_variance")


@pytest.mark.parametrize("kwargs", [{"decay": 1.5}, {"decay": -0.1}, {"noise_var": -1.0},
                                    {"steps": 0}, {"steps": 2.5}])
def test_ema_noise_variance_bad_arguments_are_refused(kwargs):
    assert_refused(checks.check_ema_noise_variance, kwargs)
