"""Checks for chapter 07: averages of an optimizer's iterates (Polyak averaging).

Every average of a trajectory θ_1, …, θ_T is a weighted sum Σ_k w_k θ_k, and each check's
oracle is that closed form, with the average's weights written out and the sum taken by
PyTorch in float64 (never the recursion a student writes):

- the tail average: w_k = 1/N on the last N = min(n, T) iterates;
- the running mean after k updates: w = 1/k on the first k;
- the EMA after t updates from m_0: ρ^t on m_0 and (1 − ρ)ρ^(t−k) on θ_k;
- the bias-corrected EMA: the EMA's weights divided by their own sum.

The averaging of a model's parameters is compared, after every update, with
``torch.optim.swa_utils.AveragedModel`` on a small float64 network fed the same parameter
snapshots (a seeded random walk): its equal (SWA) average, and its EMA through
``get_ema_multi_avg_fn`` or ``get_ema_avg_fn``.

The trajectories are drifting random walks plus independent noise, so that a wrong weight
anywhere shows. Whatever its arguments, each check also runs what the task states that its
arguments might not reach: the trajectory of the tail average as an array and as a list,
the EMA from m_0 = 0 and from an iterate, and the parameters as a dict and as a list.

When a result differs, the check recomputes it with a few classic mistakes (ρ and 1 − ρ
swapped, dividing by k instead of k + 1, no copy at the first update, TensorFlow's
num_updates warm-up, ...) and names the one the student's result matches as a misconception
(:mod:`descent.checks.misconceptions`); the verdict always comes from the oracle. Arguments
a check cannot use (no steps, a decay outside [0, 1], ...) are refused with a ValueError
before the student's function is called.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn

from descent.checks._arguments import SEED, array_shape, integer, number, one_of, require
from descent.checks._compare import (
    as_array_list,
    as_float_array,
    as_number,
    as_tuple,
    assert_close,
    assert_unchanged,
    compare_with_hint,
    diagnose,
    matches,
)
from descent.checks._oracle import float64_tensor
from descent.checks.misconceptions import on_page

#: PyTorch's default EMA decay (``get_ema_multi_avg_fn(decay=0.999)``), the course's too.
DEFAULT_DECAY = 0.999


# ---------------------------------------------------------------- the known mistakes

_PAGE = "07_polyak_averaging"
_TAIL = "The average of the last N iterates"
_RUNNING = "The running mean"
_EMA = "The exponential moving average"
_MODEL = "Averaging a model: SWA and `AveragedModel`"
_CONVENTIONS = "Where conventions differ"
_mistake = on_page(_PAGE)

TAIL_FIRST = _mistake(
    "tail-average.first-n",
    "average the LAST n iterates, trajectory[-n:], not the first n", _TAIL)
TAIL_SUM = _mistake(
    "tail-average.sum", "an average: divide the sum of the N iterates by N", _TAIL)
TAIL_BEYOND = _mistake(
    "tail-average.divide-by-n-beyond-t",
    "when n > T there are only T iterates: divide their sum by T, not by n "
    "(trajectory[-n:] then holds all T)", _CONVENTIONS)
TAIL_ONE_MORE = _mistake(
    "tail-average.one-too-many",
    "one iterate too many: the last N are θ_T down to θ_(T−N+1), trajectory[-n:]", _TAIL)
TAIL_ONE_FEWER = _mistake(
    "tail-average.one-too-few",
    "one iterate too few: the last N are θ_T down to θ_(T−N+1), trajectory[-n:]", _TAIL)
TAIL_NO_AXIS = _mistake(
    "tail-average.no-axis",
    "average over the first axis (time) only, mean(axis=0), which keeps the shape of one "
    "iterate; without an axis NumPy averages every entry into one number", _TAIL)
TAIL_WRONG_AXIS = _mistake(
    "tail-average.wrong-axis",
    "the iterates are stacked along the FIRST axis: average over axis 0 (time), not the last",
    _TAIL)

RUNNING_FIRST = _mistake(
    "running-mean.initial-mean-counted",
    "count = 0: nothing is averaged yet, so the new mean is θ itself (the mean you were "
    "given must be ignored)", _RUNNING)
RUNNING_HALF = _mistake(
    "running-mean.half-weight",
    "an equal average gives the new value weight 1/(number of values in the new average), "
    "not 1/2 (that is an EMA with decay 1/2)", _RUNNING)
RUNNING_BY_COUNT = _mistake(
    "running-mean.divide-by-count",
    "divide by count + 1, the number of iterates in the NEW mean (n_averaged + 1 for "
    "AveragedModel), not by count", _RUNNING)
RUNNING_UNWEIGHTED = _mistake(
    "running-mean.unweighted-old-mean",
    "weight the old mean by the count: (count·mean + θ)/(count + 1), not "
    "(mean + θ)/(count + 1)", _RUNNING)
COUNTER_STALE = _mistake(
    "averaging-counter.not-incremented",
    "return the counter plus one (count, step or n_averaged: the number of iterates in the "
    "new average); the caller passes it back at the next call", _CONVENTIONS)

EMA_SWAPPED = _mistake(
    "ema.decay-swapped",
    "the decay ρ weighs the OLD average: new = ρ·old + (1 − ρ)·new value; ρ and 1 − ρ are "
    "swapped (BatchNorm's momentum and torch.lerp(old, new, w) weigh the new value instead)",
    _EMA)
EMA_FIRST = _mistake(
    "ema.first-update-theta",
    "from m_0 = 0 the first update is (1 − ρ)·θ, not θ: the new iterate gets weight 1 − ρ, "
    "and ema_update returns the raw EMA (the bias correction is ema_debiased's job)", _EMA)
EMA_COPIES = _mistake(
    "ema.copies-first",
    "ema_update never copies: its first update is ρ·m_0 + (1 − ρ)·θ from whatever m_0 it is "
    "given (the copy is AveragedModel's, in average_parameters)", _EMA)
EMA_ASSUMES_ZERO = _mistake(
    "ema.assumes-zero-start",
    "the start m_0 is the caller's: use the ema you are given, also at step 0 (0 for Adam's "
    "moments, an iterate for AveragedModel's copy)", _EMA)
EMA_NO_ONE_MINUS = _mistake(
    "ema.no-one-minus-decay",
    "(1 − ρ) multiplies the new iterate: ema ← ρ·ema + (1 − ρ)·θ", _EMA)
EMA_CORRECTED = _mistake(
    "ema.corrected-in-update",
    "ema_update returns the raw EMA m_t; the bias correction is ema_debiased's job", _EMA)
EMA_WARMUP = _mistake(
    "ema.num-updates-warmup",
    "the decay is ρ at every update: TensorFlow's ExponentialMovingAverage(num_updates=…) "
    "lowers it to min(ρ, (1 + n)/(10 + n)) early on, PyTorch's AveragedModel does not",
    _CONVENTIONS)

DEBIASED_RAW = _mistake(
    "ema-debiased.raw", "this is the raw EMA: divide it by 1 − ρ^t", _EMA)
DEBIASED_NEXT = _mistake(
    "ema-debiased.next-power",
    "t is the number of updates (1 after the first): divide by 1 − ρ^t, not 1 − ρ^(t+1)", _EMA)
DEBIASED_PREVIOUS = _mistake(
    "ema-debiased.previous-power",
    "t is the number of updates (1 after the first): divide by 1 − ρ^t, not 1 − ρ^(t−1)", _EMA)
DEBIASED_ONE_MINUS = _mistake(
    "ema-debiased.one-minus-decay",
    "the weights sum to 1 − ρ^t, not 1 − ρ: divide by 1 − ρ^t", _EMA)
DEBIASED_MULTIPLIES = _mistake(
    "ema-debiased.multiplies", "divide by 1 − ρ^t, do not multiply", _EMA)
DEBIASED_TIMES_T = _mistake(
    "ema-debiased.decay-times-t", "ρ^t is a power of ρ, not ρ·t", _EMA)

MODEL_NO_COPY = _mistake(
    "averaged-model.no-first-copy",
    "the first update (n_averaged = 0) COPIES the parameters — in the EMA mode too: the model "
    "the average was created from is discarded", _MODEL)
MODEL_EMA_BY_DEFAULT = _mistake(
    "averaged-model.ema-by-default",
    "called without decay, the average is the equal one (the default is decay=None), not an "
    "EMA", _MODEL)
MODEL_EQUAL_WITH_DECAY = _mistake(
    "averaged-model.equal-with-decay",
    "with a decay the average is the EMA ρ·a + (1 − ρ)·p, not the equal average", _MODEL)
MODEL_CORRECTED = _mistake(
    "averaged-model.bias-corrected",
    "AveragedModel's EMA has no bias correction: it starts from a copy, whose weights already "
    "sum to 1", _MODEL)


# ---------------------------------------------------------------- arguments and data

_SHAPE = array_shape(1, why=" (the shape of one iterate)")
_DECAY = number(least=0, most=1, why=" (the weight of the old average)")


def _walk(seed: int, steps: int, shape=(), offset: float = 0.0) -> np.ndarray:
    """θ_1, …, θ_T of shape (T, *shape): a drifting random walk plus independent noise."""
    rng = np.random.default_rng(seed)
    drift = rng.normal(0.0, 0.3, size=(steps, *shape)).cumsum(axis=0)
    return offset + drift + rng.normal(size=(steps, *shape))


def _weighted(weights, trajectory) -> np.ndarray:
    """Σ_k w_k θ_k over the first axis of ``trajectory``, summed by PyTorch in float64."""
    return torch.tensordot(float64_tensor(weights), float64_tensor(trajectory), dims=1).numpy()


def _ema_weights(t: int, decay: float) -> np.ndarray:
    """The weights of m_t on (m_0, θ_1, …, θ_t): ρ^t, then (1 − ρ)ρ^(t−k) for k = 1..t."""
    powers = decay ** np.arange(t - 1, -1, -1, dtype=float)
    return np.concatenate([[decay**t], (1 - decay) * powers])


def _check_count(where, got, expected: int, what: str, hint: str) -> None:
    """A returned counter (count, step, n_averaged): one number equal to ``expected``."""
    try:
        assert_close(where, got, float(expected), what=what)
    except AssertionError:
        stale = _matches_number(got, expected - 1)
        assert_close(where, got, float(expected), what=what,
                     hint=COUNTER_STALE if stale else hint)


def _matches_number(got, number: float) -> bool:
    try:
        return bool(np.asarray(got, dtype=float).shape == () and float(got) == number)
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------- the tail average


def check_tail_average(tail_average, seed=0, shape=(20, 3), n=5, as_list=False):
    """θ̄ = mean of the last N = min(n, T) rows of a (T, ...) trajectory, against Σ w_k θ_k.

    Besides ``n``, every call also checks N = 1 (the last iterate) and n = T + 3 (all T).
    With ``as_list`` the trajectory is handed over as a list of T arrays, else as an array;
    then the same trajectory is handed over the other way (the task allows both).
    """
    check = "check_tail_average"
    require(check, SEED, seed=seed)
    require(check, array_shape(1, dims=1, why=" (T, then the shape of one iterate)"),
            shape=shape)
    require(check, integer(1), n=n)
    trajectory = _walk(seed, shape[0], shape[1:])
    for listed in (as_list, not as_list):
        for count in dict.fromkeys((n, 1, len(trajectory) + 3)):
            _tail_stage(tail_average, trajectory, count, listed)


def _tail_stage(tail_average, trajectory, count, listed) -> None:
    steps = len(trajectory)
    kept = min(count, steps)
    name = (f"tail_average (T = {steps}, n = {count}, the trajectory as "
            f"{'a list of arrays' if listed else 'an array'})")
    given = [row.copy() for row in trajectory] if listed else trajectory.copy()
    got = tail_average(given, count)
    assert_unchanged(name, trajectory, given, "the trajectory it was given")
    weights = np.zeros(steps)
    weights[steps - kept:] = 1.0 / kept

    def variants():
        last = trajectory[steps - kept:]
        found = {TAIL_FIRST: trajectory[:kept].mean(axis=0), TAIL_SUM: last.sum(axis=0)}
        if count > steps:
            found[TAIL_BEYOND] = last.sum(axis=0) / count
        if kept < steps:
            found[TAIL_ONE_MORE] = trajectory[steps - kept - 1:].mean(axis=0)
        if kept > 1:
            found[TAIL_ONE_FEWER] = trajectory[steps - kept + 1:].mean(axis=0)
        if trajectory.ndim > 1:
            found[TAIL_NO_AXIS] = last.mean()
            found[TAIL_WRONG_AXIS] = last.mean(axis=-1)
        return found

    compare_with_hint(
        name, got, _weighted(weights, trajectory), variants,
        "θ̄ = (1/N)·Σ_{i<N} θ_(T−i) with N = min(n, T): the mean over the first axis "
        "(time), an array of the shape of one iterate", "average")


# ---------------------------------------------------------------- the running mean


def check_running_mean_update(running_mean_update, seed=0, shape=(3,), steps=30, offset=0.0):
    """k calls from count = 0 give the mean of the first k iterates, and count = k.

    The first call gets a random ``mean`` (count = 0: it must be ignored), as AveragedModel
    starts from the model it copied. ``offset`` shifts the whole trajectory.
    """
    check = "check_running_mean_update"
    require(check, SEED, seed=seed)
    require(check, _SHAPE, shape=shape)
    require(check, integer(1), steps=steps)
    require(check, number(), offset=offset)
    trajectory = _walk(seed, steps, shape, offset)
    mean = np.random.default_rng(seed + 1).normal(offset, 5.0, size=shape)
    name = "running_mean_update"
    for k in range(1, steps + 1):
        theta = trajectory[k - 1]
        where = f"{name}, update {k} (count = {k - 1})"
        given_mean, given_theta = mean.copy(), theta.copy()
        result = running_mean_update(given_mean, given_theta, k - 1)
        assert_unchanged(name, mean, given_mean, "the mean it was given")
        assert_unchanged(name, theta, given_theta, "the theta it was given")
        new_mean, new_count = as_tuple(result, name, "(new_mean, new_count)")
        weights = np.zeros(steps)
        weights[:k] = 1.0 / k

        def variants(k=k, old=mean, theta=theta):
            # (old + θ)/2 is right at count = 1, so a divide-by-count mistake fails before.
            return {
                RUNNING_FIRST if k == 1 else RUNNING_HALF: (old + theta) / 2,
                RUNNING_BY_COUNT: old + (theta - old) / (k - 1),
                RUNNING_UNWEIGHTED: (old + theta) / k,
            }

        compare_with_hint(
            f"{where}, the mean", new_mean, _weighted(weights, trajectory), variants,
            "mean ← mean + (θ − mean)/(count + 1): the mean of all count + 1 iterates",
            "new mean")
        _check_count(where, new_count, k, "new count",
                     "return count + 1, the number of iterates in the new mean")
        mean = as_float_array(new_mean, name, "new mean")


# ---------------------------------------------------------------- the exponential moving average


def check_ema_update(ema_update, seed=0, shape=(3,), steps=30, decay=0.9, start="zeros"):
    """t calls give m_t = ρ^t m_0 + Σ_k (1 − ρ)ρ^(t−k) θ_k, and step = t.

    ``start``: "zeros" (m_0 = 0, as Adam's moments) or "first" (m_0 is an iterate, as
    AveragedModel's copy); then the other start, over the same number of steps (the task
    states both). Also checks that the default decay is PyTorch's 0.999.
    """
    check = "check_ema_update"
    require(check, SEED, seed=seed)
    require(check, _SHAPE, shape=shape)
    require(check, integer(1), steps=steps)
    require(check, _DECAY, decay=decay)
    require(check, one_of("zeros", "first"), start=start)
    for begin in dict.fromkeys((start, "first" if start == "zeros" else "zeros")):
        _ema_stage(ema_update, seed, shape, steps, decay, begin)

    # The default decay is PyTorch's.
    sequence = _walk(seed, 2, shape)
    theta, ema = sequence[1], sequence[0]
    name = "ema_update (called without decay)"
    got, _ = as_tuple(ema_update(ema.copy(), theta.copy(), 0), name, "(new_ema, new_step)")
    assert_close(name, got, _weighted(_ema_weights(1, DEFAULT_DECAY), sequence[:2]),
                 what="new ema", hint="the default decay is PyTorch's: decay=0.999")


def _ema_stage(ema_update, seed, shape, steps, decay, start) -> None:
    sequence = _walk(seed, steps + 1, shape)
    if start == "zeros":
        sequence[0] = 0.0
    name = f"ema_update (decay = {decay:g}, m_0 = {'0' if start == 'zeros' else 'an iterate'})"
    ema = sequence[0]
    for t in range(1, steps + 1):
        theta = sequence[t]
        where = f"{name}, update {t}"
        given_ema, given_theta = ema.copy(), theta.copy()
        result = ema_update(given_ema, given_theta, t - 1, decay=decay)
        assert_unchanged(name, ema, given_ema, "the ema it was given")
        assert_unchanged(name, theta, given_theta, "the theta it was given")
        new_ema, new_step = as_tuple(result, name, "(new_ema, new_step)")
        expected = _weighted(_ema_weights(t, decay), sequence[: t + 1])
        try:
            assert_close(f"{where}, the EMA", new_ema, expected, what="new ema")
        except AssertionError:
            with np.errstate(all="ignore"):
                hint = _ema_diagnosis(ema_update, new_ema, ema, sequence, t, decay, start,
                                      expected)
            assert_close(f"{where}, the EMA", new_ema, expected, what="new ema", hint=hint)
        _check_count(where, new_step, t, "new step",
                     "return step + 1, the number of updates done")
        ema = as_float_array(new_ema, name, "new ema")


def _ema_mistakes(old, theta, t: int, decay: float, start: str, expected) -> dict:
    """Known mistakes of update t (from the student's ``old`` average and the new θ_t)."""
    found = {EMA_SWAPPED: (1 - decay) * old + decay * theta}
    if t == 1:
        # From m_0 = 0 a copy and a corrected first update both give θ_1.
        found[EMA_FIRST if start == "zeros" else EMA_COPIES] = theta
        if start == "first":
            found[EMA_ASSUMES_ZERO] = (1 - decay) * theta
    found[EMA_NO_ONE_MINUS] = decay * old + theta
    if start == "zeros" and decay < 1 and expected is not None:
        found[EMA_CORRECTED] = expected / (1 - decay**t)
    warm = min(decay, t / (9 + t))  # TensorFlow's, with num_updates = step = t − 1
    found[EMA_WARMUP] = warm * old + (1 - warm) * theta
    return found


def _ema_diagnosis(ema_update, got, old, sequence, t, decay, start, expected):
    """The mistake ``got`` reproduces at update t. When several agree there (from m_0 = 0,
    ρ and 1 − ρ swapped and TensorFlow's warm-up both give 0.9·θ_1 for ρ = 0.9), one more
    call from the student's own result tells them apart; its failure only ends the search."""
    found = [m for m, v in _ema_mistakes(old, sequence[t], t, decay, start, expected).items()
             if matches(got, v)]
    if len(found) > 1 and t + 1 < len(sequence):
        try:
            current = as_float_array(got, "ema_update")
            after, _ = as_tuple(ema_update(current.copy(), sequence[t + 1].copy(), t, decay=decay),
                             "ema_update", "(new_ema, new_step)")
            next_mistakes = _ema_mistakes(current, sequence[t + 1], t + 1, decay, start, None)
            found = [m for m in found if matches(after, next_mistakes.get(m))] or found
        except Exception:  # the verdict is already known: this call only chose the hint
            pass
    return found[0] if found else "ema ← ρ·ema + (1 − ρ)·θ"


def check_ema_debiased(ema_debiased, seed=0, shape=(3,), steps=30, decay=0.9):
    """m̂_t = m_t/(1 − ρ^t) against the EMA's weights divided by their sum, t = 1..steps.

    First, the bias-corrected EMA of a constant sequence must be that constant at every step.
    """
    check = "check_ema_debiased"
    require(check, SEED, seed=seed)
    require(check, _SHAPE, shape=shape)
    require(check, integer(1), steps=steps)
    require(check, number(least=0, below=1, why=" (at ρ = 1 the correction divides by 0)"),
            decay=decay)
    name = f"ema_debiased (decay = {decay:g})"
    constant = np.random.default_rng(seed + 1).normal(3.0, 1.0, size=shape)
    trajectory = _walk(seed, steps, shape)
    for label, sequence in (("a constant sequence c", np.broadcast_to(constant, trajectory.shape)),
                            ("a random trajectory", trajectory)):
        zero_first = np.concatenate([np.zeros((1, *shape)), sequence])
        for t in range(1, steps + 1):
            weights = _ema_weights(t, decay)
            ema = _weighted(weights, zero_first[: t + 1])  # m_t from m_0 = 0
            given = ema.copy()
            got = ema_debiased(given, t, decay=decay)
            assert_unchanged(name, ema, given, "the ema it was given")

            def variants(ema=ema, t=t):
                return {
                    DEBIASED_RAW: ema,
                    DEBIASED_NEXT: ema / (1 - decay ** (t + 1)),
                    # (1 − ρ) is right at t = 1, so the t − 1 mistake fails before.
                    DEBIASED_ONE_MINUS: ema / (1 - decay),
                    DEBIASED_PREVIOUS: ema / (1 - decay ** (t - 1)),
                    DEBIASED_MULTIPLIES: ema * (1 - decay**t),
                    DEBIASED_TIMES_T: ema / (1 - decay * t),
                }

            expected = _weighted(weights[1:] / weights[1:].sum(), sequence[:t])
            hint = ("m̂_t = m_t / (1 − ρ^t): for a constant sequence c it is c at every step"
                    if label.startswith("a constant") else "m̂_t = m_t / (1 − ρ^t)")
            compare_with_hint(f"{name}, {label}, step t = {t}", got, expected, variants, hint,
                              "corrected EMA")

    ema = (1 - DEFAULT_DECAY) * constant
    assert_close("ema_debiased (called without decay), step t = 1",
                 ema_debiased(ema.copy(), 1), constant, what="corrected EMA",
                 hint="the default decay is PyTorch's: decay=0.999")


# ---------------------------------------------------------------- a model's parameters


def _network(layers) -> torch.nn.Module:
    """Linear layers of the given widths, in float64 (their values are set by the check)."""
    with torch.random.fork_rng(devices=[]):
        widths = zip(layers[:-1], layers[1:], strict=True)
        return torch.nn.Sequential(*[torch.nn.Linear(a, b) for a, b in widths]).double()


def _values(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {name: p.detach().numpy().copy() for name, p in module.named_parameters()}


def _averaged_model(model, decay, ema_fn: str) -> AveragedModel:
    if decay is None:
        return AveragedModel(model)
    if ema_fn == "multi_avg_fn":
        return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    if ema_fn == "avg_fn":
        return AveragedModel(model, avg_fn=get_ema_avg_fn(decay))
    raise ValueError(f"ema_fn must be 'multi_avg_fn' or 'avg_fn', not {ema_fn!r}")


def _read_average(where, got, names: list[str], container: str) -> dict[str, np.ndarray]:
    """The student's new averages as name -> float array, in the structure they were given."""
    if container == "dict":
        if not isinstance(got, dict):
            raise AssertionError(f"{where}: params was a dict, so return a dict with its keys "
                                 f"({', '.join(names)}), got a {type(got).__name__}")
        missing = [n for n in names if n not in got]
        if missing:
            raise AssertionError(f"{where}: the returned dict has no '{missing[0]}' — average "
                                 "every array of params, under its own key")
        return {n: as_float_array(got[n], where, f"average of '{n}'") for n in names}
    if not isinstance(got, list | tuple):
        raise AssertionError(f"{where}: params was a list, so return a list of arrays in the "
                             f"same order, got a {type(got).__name__}")
    return dict(zip(names, as_array_list(got, where, len(names)), strict=True))


def check_average_parameters(average_parameters, seed=0, layers=(3, 2, 1), snapshots=25,
                             decay=None, container="dict", ema_fn="multi_avg_fn"):
    """After every update, the averages equal ``AveragedModel``'s on the same snapshots.

    A network of Linear layers (widths ``layers``, float64) is copied into an
    ``AveragedModel`` (equal average when ``decay`` is None, else the EMA through
    ``get_ema_multi_avg_fn(decay)`` or, with ``ema_fn="avg_fn"``, ``get_ema_avg_fn``). Then
    ``snapshots`` parameter sets (a seeded random walk) are loaded into the network, each
    followed by ``update_parameters``. The student's function gets the same snapshots as a
    dict name -> array (``container="dict"``, the state_dict's keys) or a list of arrays,
    starting from the copied model's parameters and n_averaged = 0, and is called without
    ``decay`` in the equal mode (its default must be None). Then the same run is made with
    the other container (the task allows both).
    """
    check = "check_average_parameters"
    require(check, SEED, seed=seed)
    require(check, array_shape(1, dims=2, why=" (the widths of the layers, input first)"),
            layers=layers)
    require(check, integer(1), snapshots=snapshots)
    if decay is not None:
        require(check, _DECAY, decay=decay)
    require(check, one_of("dict", "list"), container=container)
    require(check, one_of("multi_avg_fn", "avg_fn"), ema_fn=ema_fn)
    for kind in (container, "list" if container == "dict" else "dict"):
        _average_stage(average_parameters, seed, layers, snapshots, decay, kind, ema_fn)


def _average_stage(average_parameters, seed, layers, snapshots, decay, container,
                   ema_fn) -> None:
    rng = np.random.default_rng(seed)
    model = _network(layers)
    names = [name for name, _ in model.named_parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(float64_tensor(rng.normal(size=tuple(p.shape))))
    swa = _averaged_model(model, decay, ema_fn)
    mode = "equal average" if decay is None else f"EMA, decay = {decay:g}"
    name = f"average_parameters ({mode}, {container} of {len(names)} arrays)"
    extra = {} if decay is None else {"decay": decay}
    rule = ("n_averaged = 0: copy; then a ← a + (p − a)/(n_averaged + 1)" if decay is None
            else "n_averaged = 0: copy; then a ← ρ·a + (1 − ρ)·p")
    averaged, current = _values(swa.module), _values(model)

    for k in range(1, snapshots + 1):
        current = {n: v + rng.normal(0.0, 0.5, size=v.shape) for n, v in current.items()}
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(float64_tensor(current[n]))
        swa.update_parameters(model)
        expected = _values(swa.module)

        if container == "dict":
            given_avg = {n: averaged[n].copy() for n in names}
            given_params = {n: current[n].copy() for n in names}
        else:
            given_avg = [averaged[n].copy() for n in names]
            given_params = [current[n].copy() for n in names]
        result = average_parameters(given_avg, given_params, k - 1, **extra)
        for given, before, what in ((given_avg, averaged, "averaged"),
                                    (given_params, current, "params")):
            _structure_unchanged(name, given, before, names, what)
        new_avg, new_n = as_tuple(result, name, "(new_averaged, new_n_averaged)")
        where = f"{name}, update {k} (n_averaged = {k - 1})"
        got = _read_average(where, new_avg, names, container)
        for n in names:
            old, p = averaged[n], current[n]
            compare_with_hint(
                f"{where}, '{n}'", got[n], expected[n],
                lambda old=old, p=p, k=k: _average_mistakes(old, p, k - 1, decay), rule,
                f"average of '{n}'")
        _check_count(where, new_n, int(swa.n_averaged), "new n_averaged",
                     "return n_averaged + 1, the number of snapshots in the new average")
        averaged = got


def _structure_unchanged(name, given, before: dict, names: list[str], what: str) -> None:
    """The dict or list handed to the student still holds the same arrays."""
    keys = names if isinstance(given, dict) else range(len(names))
    if (isinstance(given, dict) and set(given) != set(names)) or (
            isinstance(given, list) and len(given) != len(names)):
        raise AssertionError(f"{name}: {what} (its input) was modified in place (arrays "
                             "added or removed); build a new dict or list instead")
    for key, n in zip(keys, names, strict=True):
        assert_unchanged(name, before[n], given[key], f"{what}['{n}'] (its input)")


def _average_mistakes(old, p, n: int, decay) -> dict:
    """Known mistakes of one AveragedModel update of one array (old average, new snapshot p)."""
    if n == 0:
        if decay is None:
            return {MODEL_NO_COPY: (old + p) / 2}
        return {MODEL_NO_COPY: decay * old + (1 - decay) * p}
    if decay is None:
        return {
            RUNNING_BY_COUNT: old + (p - old) / n,
            MODEL_EMA_BY_DEFAULT: DEFAULT_DECAY * old + (1 - DEFAULT_DECAY) * p,
            RUNNING_HALF: (old + p) / 2,
        }
    ema = decay * old + (1 - decay) * p
    warm = min(decay, (1 + n) / (10 + n))  # TensorFlow's, with num_updates = n_averaged
    return {
        EMA_SWAPPED: (1 - decay) * old + decay * p,
        MODEL_EQUAL_WITH_DECAY: old + (p - old) / (n + 1),
        MODEL_CORRECTED: ema / (1 - decay ** (n + 1)) if decay < 1 else None,
        EMA_WARMUP: warm * old + (1 - warm) * p,
    }


# ---------------------------------------------------------------- the variance of an EMA

EMA_VAR_WINDOW = _mistake(
    "ema-variance.window",
    "σ²(1 − ρ) treats the EMA as a plain average of 1/(1 − ρ) samples; its unequal weights "
    "(1 − ρ)ρ^k average less well: Var = σ²·Σ(1 − ρ)²ρ^(2k) = σ²(1 − ρ)/(1 + ρ), the "
    "variance of an average of (1 + ρ)/(1 − ρ) samples", _EMA)
EMA_VAR_NOT_SQUARED = _mistake(
    "ema-variance.weights-not-squared",
    "independent terms add their variances with the SQUARED weights: Var(Σ w_k x_k) = "
    "σ²·Σ w_k², not σ²·Σ w_k", _EMA)
EMA_VAR_STD = _mistake(
    "ema-variance.standard-deviation",
    "return the variance, not the standard deviation (its square root)", _EMA)
EMA_VAR_SWAPPED = _mistake(
    "ema-variance.decay-swapped",
    "the weight of a sample k steps old is (1 − ρ)ρ^k: ρ weighs the old average, 1 − ρ the new "
    "sample (ρ and 1 − ρ are swapped)", _EMA)
EMA_VAR_POWER = _mistake(
    "ema-variance.power-t",
    "after t updates from m_0 = 0 the squared weights sum to (1 − ρ)²(1 − ρ^(2t))/(1 − ρ²): "
    "the power is 2t, not t", _EMA)
EMA_VAR_IGNORES_STEPS = _mistake(
    "ema-variance.ignores-steps",
    "with steps = t given, the EMA has only t samples in it: σ²(1 − ρ)(1 − ρ^(2t))/(1 + ρ), "
    "the stationary value only as t → ∞", _EMA)


def ema_noise_variance_weights(decay: float, noise_var: float, steps: int) -> float:
    """σ²·Σ w_k² with the weights written out, w_k = (1 − ρ)ρ^k for k = 0 … t − 1 (summed by
    PyTorch in float64): the variance of the EMA of t independent samples, from m_0 = 0."""
    k = torch.arange(steps, dtype=torch.float64)
    weights = (1.0 - decay) * decay ** k
    return float(noise_var * torch.sum(weights ** 2))


def ema_noise_variance_closed_form(decay: float, noise_var: float, steps=None) -> float:
    """σ²(1 − ρ)/(1 + ρ), times (1 − ρ^(2t)) after t updates from m_0 = 0."""
    stationary = noise_var * (1.0 - decay) / (1.0 + decay)
    return stationary if steps is None else stationary * (1.0 - decay ** (2 * steps))


#: (decay, steps) the visible call also tries, with σ² = 2: the stationary EMA at ρ = 0.9 and
#: at ρ = 0 (the last sample alone), one update, and ten updates at ρ = 0.9.
_EMA_VAR_CASES = ((0.9, None), (0.0, None), (0.9, 1), (0.9, 10), (0.5, 3))


def _check_one_ema_variance(ema_noise_variance, decay, noise_var, steps) -> None:
    shown = "" if steps is None else f", steps = {steps}"
    name = f"ema_noise_variance (ρ = {decay:g}, σ² = {noise_var:g}{shown})"
    result = (ema_noise_variance(decay, noise_var) if steps is None
              else ema_noise_variance(decay, noise_var, steps=steps))
    got = as_number(result, name, "variance", ", e.g. float(noise_var * (1 - decay) / (1 + decay))")
    if steps is None:
        expected = ema_noise_variance_closed_form(decay, noise_var)
    else:
        expected = ema_noise_variance_weights(decay, noise_var, steps)
    stationary = ema_noise_variance_closed_form(decay, noise_var)
    t = steps
    variants = [
        (EMA_VAR_WINDOW, lambda: noise_var * (1.0 - decay) * (1.0 if t is None
                                                               else 1.0 - decay ** (2 * t))),
        (EMA_VAR_NOT_SQUARED, lambda: noise_var * (1.0 if t is None else 1.0 - decay ** t)),
        (EMA_VAR_STD, lambda: np.sqrt(expected)),
        (EMA_VAR_SWAPPED, lambda: ema_noise_variance_closed_form(1.0 - decay, noise_var, t)),
    ]
    if t is not None:
        variants += [(EMA_VAR_POWER, lambda: stationary * (1.0 - decay ** t)),
                     (EMA_VAR_IGNORES_STEPS, stationary)]
    hint = diagnose(got, variants, "the EMA is Σ_k (1 − ρ)ρ^k·x_(t−k) (k = 0 … t − 1 from "
                    "m_0 = 0): its variance is σ² times the sum of the squared weights")
    assert_close(name, got, expected, rtol=1e-9, atol=1e-300, hint=hint, what="variance")


def check_ema_noise_variance(ema_noise_variance, decay=0.99, noise_var=1.0, steps=50):
    """The variance of an EMA m_t = ρm_(t−1) + (1 − ρ)x_t of independent samples x_t of
    variance σ²: after ``steps`` = t updates from m_0 = 0 (against σ²·Σ w_k², the weights
    written out), and at stationarity when called without steps (against σ²(1 − ρ)/(1 + ρ));
    relative tolerance 1e-9. Whatever the arguments, the visible call also tries ρ = 0.9 and 0
    at stationarity, and t = 1, 10 and 3 updates.
    """
    check = "check_ema_noise_variance"
    require(check, _DECAY, decay=decay)
    require(check, number(least=0, why=" (a variance)"), noise_var=noise_var)
    if steps is not None:
        require(check, integer(1), steps=steps)
    cases = [(float(decay), float(noise_var), None), (float(decay), float(noise_var), steps)]
    cases += [(d, 2.0, t) for d, t in _EMA_VAR_CASES]
    for case in dict.fromkeys(cases):
        _check_one_ema_variance(ema_noise_variance, *case)
