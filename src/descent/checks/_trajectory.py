"""What the checks of update rules share: a PyTorch step from a given state, and hints.

An update rule is checked along a trajectory next to a ``torch.optim`` optimizer fed the
same gradients. When the two part, the check recomputes the failing step with a few
classic mistakes (a PyTorch step with altered hyper-parameters or state, or a small
tweak of the oracle's own quantities) and names the mistake whose result the student's
matches. Those variants only choose the hint; the verdict always comes from the oracle.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable

import numpy as np
import torch

from descent.checks._compare import assert_close, assert_unchanged
from descent.checks._oracle import float64_tensor


class WithNaN:
    """A known mistake's result whose NaNs are part of the mistake (say, the root of an
    average that went negative): it matches a student's result NaN for NaN. A plain
    variant never matches a NaN, so that a NaN cannot be blamed on a formula by accident."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class AnyOf:
    """Several results of one known mistake (written in different ways): a student's result
    reproduces the mistake when it matches any of them. Each may be a function of no
    argument, computed only when reached."""

    __slots__ = ("candidates",)

    def __init__(self, *candidates):
        self.candidates = candidates


def _matches(got, candidate) -> bool:
    equal_nan = isinstance(candidate, WithNaN)
    if equal_nan:
        candidate = candidate.value
    if got is None or candidate is None:
        return False
    try:
        got = np.asarray(got, dtype=float)
        candidate = np.asarray(candidate, dtype=float)
    except (TypeError, ValueError):
        return False
    return got.shape == candidate.shape and bool(
        np.allclose(got, candidate, rtol=1e-7, atol=1e-10, equal_nan=equal_nan))


def _quietly(compute: Callable):
    """``compute()`` with floating-point warnings silenced, or None when it raises: a hint
    that cannot be computed is skipped, so that a wrong answer always ends in the
    AssertionError of its verdict."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compute()
    except Exception:  # noqa: BLE001 - whatever a hint's arithmetic meets, the verdict stands
        return None


def _diagnose(got, variants, default):
    """The hint of the first variant (a known mistake) that ``got`` reproduces.

    ``variants`` maps a hint (a string or a Misconception) to the result of that mistake,
    or to a function of no argument computing it, called only when reached; ``variants``
    itself may be such a function. A variant that cannot be computed is skipped.
    """
    if callable(variants):
        variants = _quietly(variants) or {}
    for hint, candidate in variants.items():
        if callable(candidate):
            candidate = _quietly(candidate)
        for one in candidate.candidates if isinstance(candidate, AnyOf) else (candidate,):
            if callable(one):
                one = _quietly(one)
            if _quietly(lambda one=one: _matches(got, one)):
                return hint
    return default


def _pair(result, name, what) -> tuple:
    if result is None:
        raise AssertionError(f"{name}: return a pair {what}, got None — did you forget "
                             "`return`?")
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise AssertionError(f"{name}: return a pair {what}, got a {type(result).__name__}"
                             + (f" of length {len(result)}" if isinstance(result, tuple | list)
                                else ""))
    return result[0], result[1]


def _torch_run(optimizer_class, theta, grad, state: dict, **hyper) -> tuple[np.ndarray, dict]:
    """θ and the optimizer's state after one step of ``optimizer_class`` started from ``state``.

    ``state`` uses PyTorch's names (``step`` is the number of steps already taken); its
    values are converted to float64 tensors, and those of the returned state back to NumPy
    arrays (floats for scalars).
    """
    param = float64_tensor(theta, grad=True)
    optimizer = optimizer_class([param], foreach=False, **hyper)
    optimizer.state[param] = {
        key: torch.tensor(float(value)) if key == "step" else float64_tensor(value)
        for key, value in state.items() if value is not None
    }
    param.grad = float64_tensor(grad)
    optimizer.step()
    after = {key: float(value) if value.ndim == 0 else value.detach().numpy().copy()
             for key, value in optimizer.state[param].items() if value is not None}
    return param.detach().numpy().copy(), after


def _torch_step(optimizer_class, theta, grad, state: dict, **hyper) -> np.ndarray:
    """θ after one step of a ``torch.optim`` optimizer started from ``state``.

    The known mistakes of the checks are built from PyTorch steps (and plain arithmetic
    around them), so that the library never spells out the update a student writes.
    """
    return _torch_run(optimizer_class, theta, grad, state, **hyper)[0]


def snapshot_state(state) -> tuple[set, dict]:
    """The keys and float copies of a state dict, to prove later that it was not mutated."""
    if not isinstance(state, dict):
        return set(), {}
    saved = {}
    for key, value in state.items():
        try:
            saved[key] = np.array(value, dtype=float)
        except (TypeError, ValueError):
            continue
    return set(state), saved


def assert_state_unchanged(name, snapshot, state) -> None:
    keys, saved = snapshot
    if isinstance(state, dict) and set(state) != keys:
        raise AssertionError(f"{name}: the state dict it was given was modified in place (keys "
                             "added or removed); build a new dict, e.g. new_state = dict(state)")
    for key, before in saved.items():
        what = f"state['{key}'] (the state it was given)"
        try:
            after = np.array(state[key], dtype=float)
        except (TypeError, ValueError):
            after = None  # replaced in place by something that is not numbers
        if after is None or after.shape != before.shape:
            raise AssertionError(f"{name}: {what} was modified in place; return a new array "
                                 "instead (e.g. compute into a new variable, or copy first)")
        assert_unchanged(name, before, after, what)


def compare_with_hint(where, got, expected, variants, default, what: str = "result") -> None:
    """assert_close; only when it fails, compute ``variants`` (hint -> result of a known
    mistake, see :func:`_diagnose`) and name the mistake ``got`` reproduces."""
    try:
        assert_close(where, got, expected, what=what)
    except AssertionError:
        hint = _diagnose(got, variants, default)
        assert_close(where, got, expected, what=what, hint=hint)


def require_state_keys(where, state, keys: dict[str, str]) -> dict:
    """``state`` itself, once it is a dict holding every key (key -> what it stores)."""
    if not isinstance(state, dict):
        raise AssertionError(f"{where}: the new state must be a dict (keys {', '.join(keys)}), "
                             f"got a {type(state).__name__}")
    for key, what in keys.items():
        if key not in state:
            raise AssertionError(f"{where}: the returned state has no '{key}' — store {what} "
                                 "there so the next call can read it")
    return state


# ---------------------------------------------------------------- a check's own arguments


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _is_count(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


#: What a trajectory check accepts for its own arguments: name -> (test, what is allowed).
TRAJECTORY_ARGUMENTS = {
    "seed": (lambda x: _is_count(x) and x >= 0,
             "the seed must be an int ≥ 0 (NumPy's generators refuse negative seeds)"),
    "shape": (lambda x: isinstance(x, tuple | list) and all(_is_count(n) and n >= 1 for n in x),
              "the shape must be a tuple of ints ≥ 1, e.g. () or (5,) or (3, 4)"),
    "steps": (lambda x: _is_count(x) and x >= 1, "steps must be an int ≥ 1"),
    "scale": (lambda x: _is_real(x) and x > 0,
              "the gradients' scale must be a finite number > 0"),
}


def refuse_bad_arguments(check: str, arguments: dict, allowed: dict) -> None:
    """Raise ValueError for the first argument of ``check`` that ``allowed`` (name -> (test,
    what is allowed and why)) refuses, before any student code runs: a check called with a
    meaningless argument must say so, not crash in its oracle or blame the student."""
    for name, value in arguments.items():
        if name not in allowed:
            continue
        test, rule = allowed[name]
        try:
            ok = bool(test(value))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{check}: {name}={_show(value)} is not allowed: {rule}")
