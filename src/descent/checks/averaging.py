"""Checks for chapter 07: averages of an optimizer's iterates (Polyak averaging).

Every average of a trajectory θ_1, …, θ_T is a weighted sum Σ_k w_k θ_k, and each check's
oracle is that closed form, with the average's weights written out and the sum taken by
PyTorch in float64 (never the recursion a student writes):

- the tail average: w_k = 1/N on the last N = min(n, T) iterates;
- the running mean after k updates: w = 1/k on the first k;
- the EMA after t updates from m_0: β^t on m_0 and (1 − β)β^(t−k) on θ_k;
- the bias-corrected EMA: the EMA's weights divided by their own sum.

The averaging of a model's parameters is compared, after every update, with
``torch.optim.swa_utils.AveragedModel`` on a small float64 network fed the same parameter
snapshots (a seeded random walk): its equal (SWA) average, and its EMA through
``get_ema_multi_avg_fn`` or ``get_ema_avg_fn``.

The trajectories are drifting random walks plus independent noise, so that a wrong weight
anywhere shows. When a result differs, the check recomputes it with a few classic mistakes
(β and 1 − β swapped, dividing by k instead of k + 1, no copy at the first update, ...) and
names the one the student's result matches; the verdict always comes from the oracle.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn

from descent.checks._compare import as_array_list, as_float_array, assert_close, assert_unchanged
from descent.checks._oracle import float64_tensor
from descent.checks._trajectory import _pair, compare_with_hint

#: PyTorch's default EMA decay (``get_ema_multi_avg_fn(decay=0.999)``), the course's too.
DEFAULT_DECAY = 0.999


def _walk(seed: int, steps: int, shape=(), offset: float = 0.0) -> np.ndarray:
    """θ_1, …, θ_T of shape (T, *shape): a drifting random walk plus independent noise."""
    rng = np.random.default_rng(seed)
    drift = rng.normal(0.0, 0.3, size=(steps, *shape)).cumsum(axis=0)
    return offset + drift + rng.normal(size=(steps, *shape))


def _weighted(weights, trajectory) -> np.ndarray:
    """Σ_k w_k θ_k over the first axis of ``trajectory``, summed by PyTorch in float64."""
    return torch.tensordot(float64_tensor(weights), float64_tensor(trajectory), dims=1).numpy()


def _ema_weights(t: int, decay: float) -> np.ndarray:
    """The weights of m_t on (m_0, θ_1, …, θ_t): β^t, then (1 − β)β^(t−k) for k = 1..t."""
    powers = decay ** np.arange(t - 1, -1, -1, dtype=float)
    return np.concatenate([[decay**t], (1 - decay) * powers])


def _check_count(where, got, expected: int, what: str, hint: str) -> None:
    """A returned counter (count, step, n_averaged): one number equal to ``expected``."""
    assert_close(f"{where}, the {what}", got, float(expected), what=what, hint=hint)


# ---------------------------------------------------------------- the tail average


def check_tail_average(tail_average, seed=0, shape=(20, 3), n=5, as_list=False):
    """θ̄ = mean of the last N = min(n, T) rows of a (T, ...) trajectory, against Σ w_k θ_k.

    Besides ``n``, every call also checks N = 1 (the last iterate) and n = T + 3 (all T).
    With ``as_list`` the trajectory is handed over as a list of T arrays.
    """
    trajectory = _walk(seed, shape[0], shape[1:])
    steps = len(trajectory)
    for count in dict.fromkeys((n, 1, steps + 3)):
        kept = min(count, steps)
        name = f"tail_average (T = {steps}, n = {count})"
        given = [row.copy() for row in trajectory] if as_list else trajectory.copy()
        got = tail_average(given, count)
        assert_unchanged(name, trajectory, np.asarray(given, dtype=float),
                         "the trajectory it was given")
        weights = np.zeros(steps)
        weights[steps - kept:] = 1.0 / kept

        def variants(kept=kept, count=count):
            last = trajectory[steps - kept:]
            found = {"average the LAST n iterates, trajectory[-n:], not the first n":
                     trajectory[:kept].mean(axis=0),
                     "an average: divide the sum of the N iterates by N": last.sum(axis=0)}
            if count > steps:
                found["when n > T there are only T iterates: divide their sum by T, not by n"] = \
                    last.sum(axis=0) / count
            if kept < steps:
                found["one iterate too many: the last N are θ_T down to θ_(T−N+1)"] = \
                    trajectory[steps - kept - 1:].mean(axis=0)
            if kept > 1:
                found["one iterate too few: the last N are θ_T down to θ_(T−N+1)"] = \
                    trajectory[steps - kept + 1:].mean(axis=0)
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
        new_mean, new_count = _pair(result, name, "(new_mean, new_count)")
        weights = np.zeros(steps)
        weights[:k] = 1.0 / k

        def variants(k=k, old=mean, theta=theta):
            # (old + θ)/2 is right at count = 1, so a divide-by-count mistake fails before.
            if k == 1:
                found = {"count = 0: nothing is averaged yet, so the new mean is θ itself (the "
                         "mean you were given must be ignored)": (old + theta) / 2}
            else:
                found = {"an equal average gives θ weight 1/(count + 1), not 1/2 (that is an "
                         "EMA with decay 1/2)": (old + theta) / 2}
            return {
                **found,
                "divide by count + 1, the number of iterates in the NEW mean (count is 0 on "
                "the first call)": old + (theta - old) / (k - 1),
                "weight the old mean by the count: (count·mean + θ)/(count + 1)":
                    (old + theta) / k,
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
    """t calls give m_t = β^t m_0 + Σ_k (1 − β)β^(t−k) θ_k, and step = t.

    ``start``: "zeros" (m_0 = 0, as Adam's moments) or "first" (m_0 is an iterate, as
    AveragedModel's copy). Also checks that the default decay is PyTorch's 0.999.
    """
    sequence = _walk(seed, steps + 1, shape)
    if start == "zeros":
        sequence[0] = 0.0
    elif start != "first":
        raise ValueError(f"start must be 'zeros' or 'first', not {start!r}")
    name = f"ema_update (decay = {decay:g}, m_0 = {'0' if start == 'zeros' else 'an iterate'})"
    ema = sequence[0]
    for t in range(1, steps + 1):
        theta = sequence[t]
        where = f"{name}, update {t}"
        given_ema, given_theta = ema.copy(), theta.copy()
        result = ema_update(given_ema, given_theta, t - 1, decay=decay)
        assert_unchanged(name, ema, given_ema, "the ema it was given")
        assert_unchanged(name, theta, given_theta, "the theta it was given")
        new_ema, new_step = _pair(result, name, "(new_ema, new_step)")
        expected = _weighted(_ema_weights(t, decay), sequence[: t + 1])

        def variants(old=ema, theta=theta, expected=expected, t=t):
            found = {"β is the weight of the OLD average: ema ← β·ema + (1 − β)·θ (you "
                     "swapped β and 1 − β)": (1 - decay) * old + decay * theta}
            if start == "zeros" and t == 1:
                # From m_0 = 0 both mistakes below give θ_1: name them together.
                found["from m_0 = 0 the first update is (1 − β)·θ, not θ: the new iterate "
                      "gets weight 1 − β, and ema_update returns the raw EMA (the bias "
                      "correction is ema_debiased's job)"] = theta
            found["(1 − β) multiplies the new iterate: ema ← β·ema + (1 − β)·θ"] = \
                decay * old + theta
            if start == "zeros" and decay < 1:
                found["ema_update returns the raw EMA m_t; the bias correction is "
                      "ema_debiased's job"] = expected / (1 - decay**t)
            return found

        compare_with_hint(f"{where}, the EMA", new_ema, expected, variants,
                          "ema ← β·ema + (1 − β)·θ", "new ema")
        _check_count(where, new_step, t, "new step",
                     "return step + 1, the number of updates done")
        ema = as_float_array(new_ema, name, "new ema")

    # The default decay is PyTorch's.
    theta, ema = sequence[1], sequence[0]
    got, _ = _pair(ema_update(ema.copy(), theta.copy(), 0), name, "(new_ema, new_step)")
    assert_close("ema_update (called without decay)", got,
                 _weighted(_ema_weights(1, DEFAULT_DECAY), sequence[:2]), what="new ema",
                 hint="the default decay is PyTorch's: decay=0.999")


def check_ema_debiased(ema_debiased, seed=0, shape=(3,), steps=30, decay=0.9):
    """m̂_t = m_t/(1 − β^t) against the EMA's weights divided by their sum, t = 1..steps.

    First, the bias-corrected EMA of a constant sequence must be that constant at every step.
    """
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
                    "this is the raw EMA: divide it by 1 − β^t": ema,
                    "t is the number of updates (1 after the first): divide by 1 − β^t, not "
                    "1 − β^(t+1)": ema / (1 - decay ** (t + 1)),
                    # (1 − β) is right at t = 1, so the t − 1 mistake fails before.
                    "the weights sum to 1 − β^t, not 1 − β": ema / (1 - decay),
                    "t is the number of updates (1 after the first): divide by 1 − β^t, not "
                    "1 − β^(t−1)": ema / (1 - decay ** (t - 1)),
                    "divide by 1 − β^t, do not multiply": ema * (1 - decay**t),
                    "β^t is a power of β, not β·t": ema / (1 - decay * t),
                }

            expected = _weighted(weights[1:] / weights[1:].sum(), sequence[:t])
            hint = ("m̂_t = m_t / (1 − β^t): for a constant sequence c it is c at every step"
                    if label.startswith("a constant") else "m̂_t = m_t / (1 − β^t)")
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
    if isinstance(got, dict):
        raise AssertionError(f"{where}: params was a list, so return a list of arrays in the "
                             "same order, got a dict")
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
    ``decay`` in the equal mode (its default must be None).
    """
    if container not in ("dict", "list"):
        raise ValueError(f"container must be 'dict' or 'list', not {container!r}")
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
            else "n_averaged = 0: copy; then a ← β·a + (1 − β)·p")
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
        for i, n in enumerate(names):
            key = n if container == "dict" else i
            assert_unchanged(name, averaged[n], given_avg[key], f"averaged['{n}'] (its input)")
            assert_unchanged(name, current[n], given_params[key], f"params['{n}'] (its input)")
        new_avg, new_n = _pair(result, name, "(new_averaged, new_n_averaged)")
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


def _average_mistakes(old, p, n: int, decay) -> dict:
    """Known mistakes of one AveragedModel update of one array (old average, new snapshot p)."""
    if n == 0:
        copy_hint = ("the first update (n_averaged = 0) COPIES the parameters — in the EMA mode "
                     "too: the model the average was created from is discarded")
        if decay is None:
            return {copy_hint: (old + p) / 2}
        return {copy_hint: decay * old + (1 - decay) * p}
    if decay is None:
        return {
            "divide by n_averaged + 1, the number of snapshots in the new average":
                old + (p - old) / n,
            "called without decay, the average is the equal one (the default is decay=None), "
            "not an EMA": DEFAULT_DECAY * old + (1 - DEFAULT_DECAY) * p,
            "the equal average gives the new snapshot weight 1/(n_averaged + 1), not 1/2":
                (old + p) / 2,
        }
    ema = decay * old + (1 - decay) * p
    return {
        "β is the weight of the OLD average: a ← β·a + (1 − β)·p (you swapped them)":
            (1 - decay) * old + decay * p,
        "with a decay the average is the EMA β·a + (1 − β)·p, not the equal average":
            old + (p - old) / (n + 1),
        "AveragedModel's EMA has no bias correction: it starts from a copy, whose weights "
        "already sum to 1": ema / (1 - decay ** (n + 1)) if decay < 1 else None,
    }
