"""Comparisons shared by every chapter's checks.

Whatever a student's function returns is converted once, with
``np.asarray(value, dtype=float)``, into a fresh float64 array; only that copy is
ever compared. The NumPy functions used are bound at import time so a notebook
that reassigns, say, ``np.allclose`` does not change a verdict (real isolation
of student code is the grader's job).

Tolerances: results are compared in float64 with ``rtol=1e-7`` by default. A
correct implementation differs from PyTorch only by rounding, a few units of
1e-16 relative, amplified by at most a few orders of magnitude in the formulas
of this course (e.g. 1 - σ² near saturation), so 1e-7 is loose for right answers
and far tighter than any conceptual mistake.

Hints: when a comparison fails, :func:`diagnose` recomputes a few classic mistakes
(variants) and names the one the student's result reproduces; :func:`compare_with_hint`
does both. The variants only choose the hint: the verdict always comes from the oracle,
and a variant that cannot be computed is skipped, so that a wrong answer always ends in
the AssertionError of its verdict.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np

_asarray = np.asarray
_abs = np.abs
_isfinite = np.isfinite
_argmax = np.argmax
_unravel = np.unravel_index
_maximum = np.maximum


def as_float_array(value, name: str, what: str = "result") -> np.ndarray:
    """Return ``value`` as a fresh float64 array, or fail with a message that says why not."""
    if value is None:
        raise AssertionError(f"{name}: the {what} is None — did you forget `return`?")
    try:
        array = _asarray(value, dtype=float).copy()
    except (TypeError, ValueError, OverflowError) as error:  # OverflowError: 10**400
        raise AssertionError(
            f"{name}: the {what} is a {type(value).__name__}, which cannot be read as an "
            f"array of floats ({error})"
        ) from None
    return array


def as_number(value, name: str, what: str = "result", example: str = "") -> float:
    """One number a student returned (a float, a 0-d array or tensor); ``example`` shows how
    to return one: ", e.g. float(total) / len(X)"."""
    array = as_float_array(value, name, what)
    if array.shape != ():
        raise AssertionError(f"{name}: the {what} has shape {array.shape}; return one "
                             f"number{example}")
    return float(array)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def format_pair(expected: float, got: float) -> tuple[str, str]:
    """``expected`` and ``got`` with enough significant digits (6 to 17) that they differ,
    one more than the first that tells them apart (so rounding does not hide where)."""
    for digits in range(5, 17):
        if f"{expected:.{digits}g}" != f"{got:.{digits}g}":
            return f"{expected:.{digits + 1}g}", f"{got:.{digits + 1}g}"
    return repr(float(expected)), repr(float(got))


def describe_mismatch(expected: float, got: float) -> str:
    """"expected e, got g (relative error r)", digits enough to see the difference."""
    shown_expected, shown_got = format_pair(expected, got)
    text = f"expected {shown_expected}, got {shown_got}"
    if _isfinite(expected) and _isfinite(got):
        difference = abs(got - expected)
        if expected != 0:
            text += f" (relative error {difference / abs(expected):.2g})"
        else:
            text += f" (absolute error {difference:.2g})"
    return text


def assert_close(
    name: str,
    got,
    expected,
    *,
    inputs=None,
    input_name: str = "z",
    rtol: float = 1e-7,
    atol: float = 1e-10,
    hint="",
    what: str = "result",
) -> None:
    """Fail unless ``got`` matches ``expected`` element-wise within ``atol + rtol·|expected|``.

    The message names the array (``what``), the worst entry, both values with enough
    digits to differ and the relative error; ``inputs`` (same shape as ``expected``) lets
    it name the input there instead of the index: "sigmoid_grad: the result at z = 0:
    expected 0.25, got 0.5 (relative error 1) — hint". ``hint`` may be a
    :class:`~descent.checks.misconceptions.Misconception`, or a function of no argument
    returning one, called only when the check fails (a hint that is costly to compute).
    """
    expected = _asarray(expected, dtype=float)
    got = as_float_array(got, name, what)

    def suffix() -> str:
        text = hint() if callable(hint) else hint
        return f" — {text}" if text else ""

    if got.shape != expected.shape:
        raise AssertionError(
            f"{name}: the {what} has shape {got.shape}, expected {expected.shape}{suffix()}"
        )
    bad_finite = _isfinite(expected) & ~_isfinite(got)
    error = _abs(got - expected)
    error = error if error.ndim else error.reshape(1)
    tolerance = atol + rtol * _abs(expected)
    excess = (error - (tolerance if tolerance.ndim else tolerance.reshape(1))).reshape(-1)
    excess[bad_finite.reshape(-1)] = np.inf
    excess = np.nan_to_num(excess, nan=np.inf)
    worst = int(_argmax(excess))
    if excess[worst] <= 0:
        return
    where = ""
    if inputs is not None:
        flat_inputs = _asarray(inputs, dtype=float).reshape(-1)
        if flat_inputs.size == excess.size:
            where = f" at {input_name} = {_fmt(flat_inputs[worst])}"
    elif expected.ndim:
        where = f" at index {tuple(int(i) for i in _unravel(worst, expected.shape))}"
    expected_value = expected.reshape(-1)[worst]
    got_value = got.reshape(-1)[worst]
    raise AssertionError(
        f"{name}: the {what}{where}: {describe_mismatch(expected_value, got_value)}{suffix()}"
    )


def assert_unchanged(name: str, before, after, what: str = "its input") -> None:
    """Fail when a function modified ``what`` in place (also into something that no longer
    reads as numbers)."""
    before = _asarray(before, dtype=float)
    try:
        after = _asarray(after, dtype=float)
    except (TypeError, ValueError):
        after = None
    if after is None or before.shape != after.shape or not bool((before == after).all()):
        raise AssertionError(
            f"{name}: {what} was modified in place; return a new array instead "
            "(e.g. compute into a new variable, or copy first)"
        )


def as_tuple(result, name: str, what: str, size: int = 2) -> tuple:
    """A student's pair (or triple, ``size`` 3) of results, ``what`` naming its items:
    "(new_theta, new_state)"."""
    kind = {2: "pair", 3: "triple"}.get(size, f"tuple of {size}")
    if result is None:
        raise AssertionError(f"{name}: return a {kind} {what}, got None — did you forget "
                             "`return`?")
    if not isinstance(result, tuple | list) or len(result) != size:
        raise AssertionError(f"{name}: return a {kind} {what}, got a {type(result).__name__}"
                             + (f" of length {len(result)}" if isinstance(result, tuple | list)
                                else ""))
    return tuple(result)


def as_array_list(value, name: str, count: int) -> list[np.ndarray]:
    """Read a student's list of arrays (e.g. gradients), checking its length."""
    if isinstance(value, np.ndarray) or not hasattr(value, "__len__"):
        raise AssertionError(
            f"{name}: expected a list of {count} arrays, got a {type(value).__name__}"
        )
    if len(value) != count:
        raise AssertionError(f"{name}: expected a list of {count} arrays, got {len(value)}")
    return [as_float_array(v, name, f"array number {i}") for i, v in enumerate(value)]


# ---------------------------------------------------------------- hints: which mistake is it?


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


def _readable(value) -> list[np.ndarray] | None:
    """``value`` as float arrays: one, or one per item of a list of arrays of different
    shapes (a list of gradients); None when it does not read as numbers."""
    try:
        return [_asarray(value, dtype=float)]
    except (TypeError, ValueError, OverflowError):
        pass
    if not isinstance(value, tuple | list) or not value:
        return None
    try:
        return [_asarray(item, dtype=float) for item in value]
    except (TypeError, ValueError, OverflowError):
        return None


def matches(got, candidate) -> bool:
    """Whether ``got`` reproduces ``candidate`` (an array, a list of arrays, or a
    :class:`WithNaN`) within the comparisons' default tolerances."""
    equal_nan = isinstance(candidate, WithNaN)
    if equal_nan:
        candidate = candidate.value
    if got is None or candidate is None:
        return False
    got, candidate = _readable(got), _readable(candidate)
    return got is not None and candidate is not None and len(got) == len(candidate) and all(
        g.shape == c.shape and bool(np.allclose(g, c, rtol=1e-7, atol=1e-10, equal_nan=equal_nan))
        for g, c in zip(got, candidate, strict=True))


def quietly(compute: Callable):
    """``compute()`` with floating-point warnings silenced, or None when it raises: a hint
    that cannot be computed is skipped, so that a wrong answer always ends in the
    AssertionError of its verdict."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return compute()
    except Exception:  # noqa: BLE001 - whatever a hint's arithmetic meets, the verdict stands
        return None


_END = object()


def diagnose(got, variants, default):
    """The hint of the first variant (a known mistake) that ``got`` reproduces, else ``default``.

    ``variants`` maps a hint (a string or a Misconception) to the result of that mistake,
    or is an iterable of (hint, result) pairs (where one hint may come several times); a
    result may be a function of no argument computing it, called only when reached, or an
    :class:`AnyOf`; ``variants`` itself may be such a function. A variant that cannot be
    computed is skipped.
    """
    if callable(variants):
        variants = quietly(variants) or {}
    pairs = iter(variants.items() if isinstance(variants, Mapping) else variants)
    while (pair := quietly(lambda: next(pairs, _END))) not in (None, _END):
        hint, candidate = pair
        if callable(candidate):
            candidate = quietly(candidate)
        for one in candidate.candidates if isinstance(candidate, AnyOf) else (candidate,):
            if callable(one):
                one = quietly(one)
            if quietly(lambda one=one: matches(got, one)):
                return hint
    return default


def compare_with_hint(where, got, expected, variants, default, what: str = "result") -> None:
    """assert_close; only when it fails, compute ``variants`` (hint -> result of a known
    mistake, see :func:`diagnose`) and name the mistake ``got`` reproduces."""
    assert_close(where, got, expected, what=what,
                 hint=lambda: diagnose(got, variants, default))
